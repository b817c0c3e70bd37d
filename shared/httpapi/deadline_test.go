package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/deadline"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/task"
)

// hungReader is a task store that never answers: it waits for its caller to give up.
type hungReader struct{ deadlines chan time.Duration }

func (h hungReader) Get(ctx context.Context, _ string) (*task.Task, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		return nil, context.Canceled // no deadline: the test must not hang, and fails below
	}
	h.deadlines <- time.Until(dl)
	<-ctx.Done()
	return nil, ctx.Err()
}

// A read of a store that hangs is answered 503 store_unavailable with Retry-After once the
// request's budget is spent, and the budget is the request's own plus the wait it asked for.
func TestReadOfAHungStoreIsBounded(t *testing.T) {
	budget := deadline.Budget{Request: 200 * time.Millisecond, Answer: time.Second}
	reader := hungReader{deadlines: make(chan time.Duration, 4)}
	h := httpapi.New(httpapi.Config{Reader: reader, Keys: keys, Budget: budget})
	for _, tc := range []struct {
		path    string
		d       task.Dialect
		atLeast time.Duration
	}{
		{"/v1/tasks/" + taskID, task.Xpander, 0},
		{"/v1/receipts/" + taskID, task.ServiceNet, 0},
		// A long poll's wait comes on top of the budget.
		{"/v1/tasks/" + taskID + "?wait=2", task.Xpander, 2 * time.Second},
	} {
		r := do(t, h, http.MethodGet, tc.path, "", authed()...)
		wantError(t, r, tc.d, http.StatusServiceUnavailable, "store_unavailable")
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", tc.path)
		}
		if left := <-reader.deadlines; left > tc.atLeast+budget.Request || left < tc.atLeast {
			t.Errorf("%s: the read had %v, want at most %v", tc.path, left, tc.atLeast+budget.Request)
		}
	}
}

// The production budget holds when a handler is built without one.
func TestDefaultBudgetBoundsReads(t *testing.T) {
	reader := hungReader{deadlines: make(chan time.Duration, 1)}
	// The caller's own deadline (a Lambda function's) is short: the handler answers inside it.
	h := httpapi.New(httpapi.Config{Reader: reader, Keys: keys})
	req := requestWithDeadline(t, http.MethodGet, "/v1/tasks/"+taskID, 1500*time.Millisecond)
	rec := serve(h, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d: %s", rec.Code, rec.Body)
	}
	if left := <-reader.deadlines; left > 500*time.Millisecond {
		t.Errorf("the read had %v: the caller's deadline less Budget.Answer (1s) leaves 500ms", left)
	}
}

func requestWithDeadline(t *testing.T, method, path string, d time.Duration) *http.Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, method, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", apiKey)
	return req
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
