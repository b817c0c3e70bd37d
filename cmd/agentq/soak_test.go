package main

import (
	"context"
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
	call := func(ctx context.Context, path, id string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+path, strings.NewReader(`{"task_id":"`+id+`"}`))
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}

	// Answered, then called again: one duplicate.
	call(context.Background(), "/", "a")
	call(context.Background(), "/", "a")
	// Cut off before answering, then called again: a retry, not a duplicate.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	call(ctx, "/slow", "b")
	cancel()
	waitUntil(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.inFlight["b"] == 0 })
	call(context.Background(), "/", "b")
	// Two calls at once: the second is a duplicate.
	done := make(chan struct{})
	go func() { call(context.Background(), "/slow", "c"); close(done) }()
	waitUntil(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return c.inFlight["c"] == 1 })
	go call(context.Background(), "/", "c")
	waitUntil(t, func() bool { return c.get("c") == 2 })
	close(release)
	<-done

	for id, want := range map[string]int{"a": 1, "b": 0, "c": 1} {
		if got := c.duplicates(id); got != want {
			t.Errorf("duplicates(%s) = %d, want %d", id, got, want)
		}
	}
	if c.total() != 6 {
		t.Errorf("total = %d, want 6", c.total())
	}
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
