package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A duplicate is a call that begins once the agent answered the task, or while another call for
// it is in flight; a call cut off before its answer (a worker killed mid-call) answered nothing.
func TestCallCounterDuplicates(t *testing.T) {
	release := make(chan struct{})
	agent := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "slow") {
			select {
			case <-r.Context().Done():
				return
			case <-release:
			}
		}
		_, _ = w.Write([]byte(`{"output":"ok"}`))
	})
	c := newCallCounter(agent)
	srv := httptest.NewServer(c)
	defer srv.Close()
	call := func(ctx context.Context, path, id string, attempt int) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, strings.NewReader(fmt.Sprintf(`{"task_id":%q,"attempt":%d}`, id, attempt)))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}

	// Answered, then called again: one duplicate.
	call(context.Background(), "/", "a", 1)
	call(context.Background(), "/", "a", 2)
	// Cut off before answering, then called again: a retry, not a duplicate.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	call(ctx, "/slow", "b", 1)
	cancel()
	waitUntil(t, func() bool { return c.inFlight("b") == 0 })
	call(context.Background(), "/", "b", 2)
	// Two calls at once: the second is a duplicate.
	done := make(chan struct{})
	go func() { call(context.Background(), "/slow", "c", 1); close(done) }()
	waitUntil(t, func() bool { return c.inFlight("c") == 1 })
	go call(context.Background(), "/", "c", 2)
	waitUntil(t, func() bool { return c.get("c") == 2 })
	close(release)
	<-done

	// Recorded by the first answer (a: attempt 1, b: attempt 2, c: attempt 2, which answered first).
	waitUntil(t, func() bool { return c.inFlight("c") == 0 })
	for id, tc := range map[string]struct{ recorded, want int }{"a": {1, 1}, "b": {2, 0}, "c": {2, 1}} {
		if got, lost := c.duplicates(id, tc.recorded); got != tc.want || lost {
			t.Errorf("duplicates(%s) = %d (lost %v), want %d", id, got, lost, tc.want)
		}
	}
	// Recorded by a later attempt: the first answer was lost with its worker, no duplicate.
	if got, lost := c.duplicates("a", 2); got != 0 || !lost {
		t.Errorf("duplicates(a, recorded by attempt 2) = %d, %v; want 0, lost", got, lost)
	}
	if c.total() != 6 {
		t.Errorf("total = %d, want 6", c.total())
	}
}

func (c *callCounter) inFlight(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tc := c.tasks[id]; tc != nil {
		return tc.inFlight
	}
	return -1
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
