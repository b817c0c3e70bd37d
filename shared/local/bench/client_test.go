package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestOneTaskComesBackWhenTold checks that the bench's caller reads as the client's Wait does: its
// first long poll no sooner than the accept's Retry-After, and, after an answer that came back
// unfinished at once, the next no sooner than that answer's Retry-After; two reads in all for a
// task the second read finds ended. The times are lower bounds, not speeds.
func TestOneTaskComesBackWhenTold(t *testing.T) {
	var (
		mu    sync.Mutex
		at    []time.Time
		waits []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, time.Now())
		w.Header().Set("Retry-After", "1")
		if r.Method == http.MethodPost {
			fmt.Fprint(w, `{"id":"t1","task_id":"t1","status":"pending"}`)
			return
		}
		waits = append(waits, r.URL.Query().Get("wait"))
		status := "executing"
		if len(waits) > 1 {
			status = "completed"
		}
		fmt.Fprintf(w, `{"id":"t1","task_id":"t1","status":%q}`, status)
	}))
	defer srv.Close()
	api := &tenants{clients: []*client{newClient(srv.URL, "k")}, owner: map[string]*client{}}
	b := &Bench{api: api, ctx: context.Background(), cfg: Config{Agent: time.Second}}
	if _, _, err := b.oneTask(false, 0); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 3 || fmt.Sprint(waits) != "[20 20]" {
		t.Fatalf("%d requests, reads asked wait=%v: want the accept and two long polls", len(at), waits)
	}
	for i, what := range []string{"the accept", "the first read"} {
		if gap := at[i+1].Sub(at[i]); gap < time.Second {
			t.Errorf("read %d came %v after %s, want at least its Retry-After's 1 s", i+1, gap, what)
		}
	}
}
