package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// script is an API that answers GET /v1/tasks/t1 from a list of (status code, task status,
// Retry-After) answers at once, never holding a request, and records the wait parameter of each.
type script struct {
	mu      sync.Mutex
	answers []answer
	waits   []string
}

type answer struct {
	code       int
	status     string
	retryAfter string
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, r.URL.Query().Get("wait"))
	a := s.answers[0]
	if len(s.answers) > 1 {
		s.answers = s.answers[1:]
	}
	if a.retryAfter != "" {
		w.Header().Set("Retry-After", a.retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.code)
	if a.code != http.StatusOK {
		fmt.Fprintf(w, `{"detail":"busy","code":"store_unavailable"}`)
		return
	}
	fmt.Fprintf(w, `{"id":"t1","task_id":"5f0c2b7e-3f5c-4a43-9a53-1a2b3c4d5e6f","status":%q,"created_at":"2026-01-01T00:00:00Z"}`, a.status)
}

func TestWaitHonoursRetryAfterAndRetriesTemporaryErrors(t *testing.T) {
	s := &script{answers: []answer{
		{200, "pending", "2"},
		{503, "", "7"},
		{200, "executing", "2"},
		{200, "executing", "3"}, // no change, answered at once: the rest of 3 s is waited out
		{200, "completed", ""},
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, err := New(srv.URL, WithLongPoll(5))
	if err != nil {
		t.Fatal(err)
	}
	var slept []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	var seen []TaskStatus
	task, err := c.Wait(context.Background(), "t1", func(t *Task) { seen = append(seen, t.Status) })
	if err != nil {
		t.Fatal(err)
	}
	if task.Status != "completed" {
		t.Fatalf("Wait answered %s", task.Status)
	}
	if fmt.Sprint(seen) != "[pending executing completed]" {
		t.Fatalf("progress saw %v", seen)
	}
	if len(slept) != 2 || slept[0] != 7*time.Second || slept[1] <= 2*time.Second || slept[1] > 3*time.Second {
		t.Fatalf("slept %v: want the 503's 7 s, then the rest of the unchanged answer's 3 s", slept)
	}
	for _, w := range s.waits {
		if w != "5" {
			t.Fatalf("requests asked wait=%v, want every one a long poll of 5", s.waits)
		}
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	srv := httptest.NewServer(&script{answers: []answer{{200, "executing", "30"}}})
	defer srv.Close()
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Wait(ctx, "t1", func(*Task) { cancel() })
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Wait went on after its context ended")
	}
}

func TestNewRefusesLongPollOutOfRange(t *testing.T) {
	for _, s := range []int{0, 26} {
		if _, err := New(DefaultURL, WithLongPoll(s)); err == nil {
			t.Errorf("long poll %d accepted", s)
		}
	}
}

// A receipt waiting for input (running, with a hitl_request) ends WaitReceipt: the server answers
// a paused task's poll at once, so waiting on would only poll it again and again.
func TestWaitReceiptEndsWhenTheTaskWaitsForInput(t *testing.T) {
	var polls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		polls++
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "2")
		hitl := ""
		if polls > 1 {
			hitl = `,"hitl_request":{"message":"approve?"}`
		}
		fmt.Fprintf(w, `{"receipt":{"receipt_id":"5f0c2b7e-3f5c-4a43-9a53-1a2b3c4d5e6f","agent_id":"a","provider_id":"agentq","invoke_mode":"async",`+
			`"status":"running","verification":"not_required","request_digest":"00","started_at":"2026-01-01T00:00:00Z"},"task_id":"5f0c2b7e-3f5c-4a43-9a53-1a2b3c4d5e6f","attempts":1%s}`, hitl)
	}))
	defer srv.Close()
	c, err := New(srv.URL, WithLongPoll(5))
	if err != nil {
		t.Fatal(err)
	}
	c.sleep = func(context.Context, time.Duration) error { return nil }
	r, err := c.WaitReceipt(context.Background(), "5f0c2b7e-3f5c-4a43-9a53-1a2b3c4d5e6f", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.HitlRequest == nil || polls != 2 {
		t.Fatalf("WaitReceipt answered after %d polls with hitl_request %v; want the second, waiting for input", polls, r.HitlRequest)
	}
}
