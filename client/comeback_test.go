package client

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const receiptID = "5f0c2b7e-3f5c-4a43-9a53-1a2b3c4d5e6f"

// acceptScript is an API that accepts one invocation, answering acceptRetry in Retry-After (and
// 202 on the sync route, the fallback of a task that outlasted the wait), then answers every read
// with the task ended. It records, in order, the requests and what the client slept.
type acceptScript struct {
	acceptRetry string
	mu          sync.Mutex
	log         []string
	at          []time.Time // when each request came
}

func (s *acceptScript) add(e string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, e)
}

func (s *acceptScript) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.at = append(s.at, time.Now())
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodPost {
		s.add("accept")
		if s.acceptRetry != "" {
			w.Header().Set("Retry-After", s.acceptRetry)
		}
		sync := strings.HasSuffix(r.URL.Path, "/invoke")
		if sync {
			w.WriteHeader(http.StatusAccepted)
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/invoke-async"):
			fmt.Fprintf(w, `{"agent_id":"a","status":"running","receipt_id":%q,"message":"accepted","raw":{}}`, receiptID)
		case sync && strings.Contains(readAll(r), `"message"`):
			fmt.Fprintf(w, `{"agent_id":"a","status":"running","receipt_id":%q}`, receiptID)
		default:
			fmt.Fprintf(w, `{"id":"t1","task_id":%q,"status":"pending","created_at":"2026-01-01T00:00:00Z"}`, receiptID)
		}
		return
	}
	s.add("read wait=" + r.URL.Query().Get("wait"))
	if strings.HasPrefix(r.URL.Path, "/v1/receipts/") {
		fmt.Fprintf(w, `{"receipt":{"receipt_id":%q,"agent_id":"a","provider_id":"agentq","invoke_mode":"async",`+
			`"status":"succeeded","verification":"not_required","request_digest":"00","started_at":"2026-01-01T00:00:00Z"},"task_id":%q,"attempts":1}`, receiptID, receiptID)
		return
	}
	fmt.Fprintf(w, `{"id":"t1","task_id":%q,"status":"completed","created_at":"2026-01-01T00:00:00Z"}`, receiptID)
}

func readAll(r *http.Request) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// TestWaitComesBackWhenTheAcceptSaid checks that Wait and WaitReceipt wait out the Retry-After of
// the answer that accepted the task (the agent's expected duration) before their first read, and
// then read once: in both dialects, async and the sync route's 202; without Retry-After, or for a
// task this client did not accept, they read at once; the wait is taken once.
func TestWaitComesBackWhenTheAcceptSaid(t *testing.T) {
	xpander := InvokeRequest{}
	xpander.Input.Text = "hi"
	msg := "hi"
	snReq := ServiceNetRequest{Message: &msg}
	invoke := func(ctx context.Context, c *Client) error {
		_, err := c.Invoke(ctx, "a", xpander, InvokeOptions{})
		return err
	}
	invokeSN := func(ctx context.Context, c *Client) error {
		_, err := c.InvokeServiceNet(ctx, "a", snReq, InvokeOptions{})
		return err
	}
	wait := func(ctx context.Context, c *Client) error { _, err := c.Wait(ctx, receiptID, nil); return err }
	waitSN := func(ctx context.Context, c *Client) error { _, err := c.WaitReceipt(ctx, receiptID, nil); return err }
	tests := []struct {
		name        string
		acceptRetry string
		accept      func(context.Context, *Client) error
		wait        func(context.Context, *Client) error
		want        string // the log; "sleep" is a sleep of more than 2 s and at most 3
	}{
		{"xpander", "3", invoke, wait, "accept sleep read"},
		{"servicenet", "3", invokeSN, waitSN, "accept sleep read"},
		{"xpander sync fallback", "3", func(ctx context.Context, c *Client) error {
			_, err := c.InvokeSync(ctx, "a", xpander, InvokeOptions{}, nil)
			return err
		}, nil, "accept sleep read"},
		{"servicenet sync fallback", "3", func(ctx context.Context, c *Client) error {
			_, err := c.InvokeServiceNetSync(ctx, "a", snReq, InvokeOptions{})
			return err
		}, waitSN, "accept sleep read"},
		{"no Retry-After", "", invoke, wait, "accept read"},
		{"another task", "3", invoke, func(ctx context.Context, c *Client) error {
			_, err := c.Wait(ctx, "t2", nil)
			return err
		}, "accept read"},
		{"taken once", "3", invoke, func(ctx context.Context, c *Client) error {
			if err := wait(ctx, c); err != nil {
				return err
			}
			return wait(ctx, c)
		}, "accept sleep read read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &acceptScript{acceptRetry: tt.acceptRetry}
			srv := httptest.NewServer(s)
			defer srv.Close()
			c, err := New(srv.URL, WithLongPoll(5))
			if err != nil {
				t.Fatal(err)
			}
			c.sleep = func(_ context.Context, d time.Duration) error {
				if d <= 2*time.Second || d > 3*time.Second {
					s.add(fmt.Sprintf("sleep(%v)", d))
				} else {
					s.add("sleep")
				}
				return nil
			}
			ctx := context.Background()
			if err := tt.accept(ctx, c); err != nil {
				t.Fatal(err)
			}
			if tt.wait != nil {
				if err := tt.wait(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			got := strings.ReplaceAll(strings.Join(s.log, " "), "read wait=5", "read")
			if got != tt.want {
				t.Errorf("log = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWaitFirstReadsAfterTheAcceptsRetryAfter checks, with the client's own sleep, that the first
// read of a task accepted with Retry-After: 1 reaches the server no sooner than a second after
// the accept did (a lower bound, not a speed).
func TestWaitFirstReadsAfterTheAcceptsRetryAfter(t *testing.T) {
	s := &acceptScript{acceptRetry: "1"}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, err := New(srv.URL, WithLongPoll(5))
	if err != nil {
		t.Fatal(err)
	}
	req := InvokeRequest{}
	req.Input.Text = "hi"
	tk, err := c.Invoke(context.Background(), "a", req, InvokeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(context.Background(), tk.TaskId.String(), nil); err != nil {
		t.Fatal(err)
	}
	if len(s.at) != 2 {
		t.Fatalf("%d requests (%v), want the accept and one read", len(s.at), s.log)
	}
	if gap := s.at[1].Sub(s.at[0]); gap < time.Second {
		t.Errorf("first read %v after the accept, want at least the Retry-After's 1 s", gap)
	}
}

// TestComeBackForgets checks the accepts' remembered Retry-After: an answer without one is not
// remembered, take forgets what it answers, and once many are remembered those whose time has
// passed are forgotten, so a client that never waits does not grow without bound.
func TestComeBackForgets(t *testing.T) {
	with := func(v string) *http.Response {
		h := http.Header{}
		if v != "" {
			h.Set("Retry-After", v)
		}
		return &http.Response{Header: h}
	}
	var c comeBack
	c.note("none", with(""))
	c.note("zero", with("0"))
	c.note("later", with("30"))
	if len(c.at) != 1 {
		t.Fatalf("remembered %v, want only the task with a Retry-After", c.at)
	}
	if d := c.take("later"); d <= 29*time.Second || d > 30*time.Second {
		t.Errorf("take = %v, want about 30 s", d)
	}
	if d := c.take("later"); d != 0 {
		t.Errorf("second take = %v, want 0: taken once", d)
	}
	past := time.Now().Add(-time.Second)
	for i := range comeBackPrune {
		c.at[fmt.Sprint("old-", i)] = past
	}
	c.at["pending"] = time.Now().Add(time.Hour)
	c.note("new", with("5"))
	if len(c.at) != 2 || c.at["pending"].IsZero() || c.at["new"].IsZero() {
		t.Errorf("after pruning %d remembered, want the pending and the new one", len(c.at))
	}
	// Bounded: past comeBackMax tasks still to come back to, a new one is not remembered.
	for i := range comeBackMax {
		c.at[fmt.Sprint("pending-", i)] = time.Now().Add(time.Hour)
	}
	c.note("one-too-many", with("5"))
	if _, ok := c.at["one-too-many"]; ok || len(c.at) > comeBackMax+2 {
		t.Errorf("remembered %d, past the bound of %d", len(c.at), comeBackMax)
	}
}
