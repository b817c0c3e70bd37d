package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/task/tasktest"
	"github.com/agentq/agentq/shared/worker"
)

// fakeLoader serves staged requests by reference.
type fakeLoader struct {
	request json.RawMessage
	text    string
	err     error
	refs    []string
}

func (l *fakeLoader) LoadRequest(_ context.Context, ref string) (json.RawMessage, string, error) {
	l.refs = append(l.refs, ref)
	return l.request, l.text, l.err
}

// withRequests rebuilds the harness's processor with a request loader (nil for none).
func withRequests(t *testing.T, h *harness, l worker.RequestLoader) {
	t.Helper()
	h.p = worker.New(worker.Config{
		Store: h.store, Requests: l, Dispatcher: h.disp, Queue: h.queue, DeadLetterARN: dlqARN,
		Logger:  slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backoff: backoff, OrphanAfter: 2 * time.Minute, Now: func() time.Time { return now },
	})
}

func TestStagedRequests(t *testing.T) {
	const ref = "requests/" + id1 + ".json"
	big := json.RawMessage(`{"message":"` + strings.Repeat("m", 200_000) + `"}`)
	tests := []struct {
		name     string
		loader   *fakeLoader // nil: the worker has none
		msgText  string
		wantText string
		retried  bool
	}{
		{name: "body and text from the store", loader: &fakeLoader{request: big, text: "the long text"}, wantText: "the long text"},
		{name: "body from the store, text from the message", loader: &fakeLoader{request: big}, msgText: "hello", wantText: "hello"},
		{name: "store unavailable", loader: &fakeLoader{err: errors.New("get blob: SlowDown")}, retried: true},
		{name: "no request store", retried: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tasktest.New(newTask(id1, task.Queued)))
			var l worker.RequestLoader
			if tt.loader != nil {
				l = tt.loader
			}
			withRequests(t, h, l)
			m := message(id1)
			m.Request, m.Text, m.RequestRef = nil, tt.msgText, ref
			failed := handle(t, h, record(t, m, workARN, 2))
			if tt.retried {
				if len(failed) != 1 || h.queue.postponed["rh-msg-"+id1] != backoff(2) {
					t.Fatalf("failed %v, postponed %v; want a retry after the backoff", failed, h.queue.postponed)
				}
				if len(h.store.Claims()) != 0 || len(h.disp.calls) != 0 {
					t.Errorf("claimed %d times and called the agent %d times without the request", len(h.store.Claims()), len(h.disp.calls))
				}
				return
			}
			if len(failed) != 0 || len(h.disp.calls) != 1 {
				t.Fatalf("failed %v, %d calls", failed, len(h.disp.calls))
			}
			if got := h.disp.calls[0]; string(got.Request) != string(big) || got.Text != tt.wantText {
				t.Errorf("agent called with %d bytes of body and text %q; want %d and %q", len(got.Request), got.Text, len(big), tt.wantText)
			}
			if len(tt.loader.refs) != 1 || tt.loader.refs[0] != ref {
				t.Errorf("loaded %v, want [%s]", tt.loader.refs, ref)
			}
		})
	}
}

// refuseAnswers makes st a store with no blob store: it refuses any transition that records an
// answer, as the DynamoDB store without blobs does with one too large for the item.
func refuseAnswers(st *tasktest.Store) *tasktest.Store {
	st.TransitionHook = func(id string, c task.Change) error {
		if c.Result != "" || len(c.Output) > 0 {
			return fmt.Errorf("transition task %s to %s: %w", id, c.To, task.ErrTooLarge)
		}
		return nil
	}
	return st
}

// TestAnswerTooLargeToKeepFailsTheTask: without a blob store, an answer over the inline limit
// fails its task, saying why, rather than being cut short or retried.
func TestAnswerTooLargeToKeepFailsTheTask(t *testing.T) {
	st := tasktest.New(newTask(id1, task.Queued))
	h := newHarness(t, st)
	h.p = worker.New(worker.Config{Store: refuseAnswers(st), Dispatcher: h.disp, Queue: h.queue, Backoff: backoff,
		Now: func() time.Time { return now }})
	answer := strings.Repeat("a", task.InlineLimit+1)
	h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) {
		return dispatch.Result{Text: answer}, nil
	}
	if failed := handle(t, h, record(t, message(id1), workARN, 1)); len(failed) != 0 {
		t.Fatalf("failed = %v, want the record done", failed)
	}
	got := st.Task(id1)
	if got.State != task.Failed || got.Reason != task.ReasonInvalidResponse || got.Result != "" ||
		!strings.Contains(got.ReasonMessage, "too large") || !strings.Contains(got.ReasonMessage, fmt.Sprint(len(answer))) {
		t.Errorf("task = %s %s %q (result %d bytes); want failed %s saying the answer is too large",
			got.State, got.Reason, got.ReasonMessage, len(got.Result), task.ReasonInvalidResponse)
	}
	if len(st.Changes()) != 2 || st.Changes()[1].Version != st.Changes()[0].Version {
		t.Errorf("changes = %+v; want the refused one, then the failure at the same version", st.Changes())
	}
}
