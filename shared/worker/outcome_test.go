package worker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/task/tasktest"
	"github.com/agentq/agentq/shared/worker"
)

var errTimeout = errors.New("dynamodb: operation error: request canceled, context deadline exceeded")

// faultyStore injects failures into the outcome writes (Transition) of the in-memory store: fault
// says, for the n-th write (from 1), whether the write lands and what error its caller sees.
type faultyStore struct {
	*tasktest.Store
	mu     sync.Mutex
	writes int
	fault  func(n int) (lands bool, err error)
}

func (s *faultyStore) Transition(ctx context.Context, id string, c task.Change) (*task.Task, error) {
	s.mu.Lock()
	s.writes++
	n, fault := s.writes, s.fault
	s.mu.Unlock()
	lands, err := true, error(nil)
	if fault != nil {
		lands, err = fault(n)
	}
	if !lands {
		return nil, err
	}
	t, terr := s.Store.Transition(ctx, id, c)
	if err != nil {
		return nil, err // it landed, but the answer was lost
	}
	return t, terr
}

// The invariant: whatever fails between the agent's answer and its record, the agent is called
// exactly once and the answer is recorded. Each failure runs every message the worker leaves
// (the delivery, and what it sends on) until none is left.
func TestAgentCalledOnceWhateverFailsAfterItAnswers(t *testing.T) {
	window := 0 // writes in one outcome window: found by the "down for the window" case below
	faults := []struct {
		name  string
		fault func(n int) (bool, error)
	}{
		{"nothing fails", nil},
		{"one write times out", func(n int) (bool, error) {
			if n == 1 {
				return false, errTimeout
			}
			return true, nil
		}},
		{"a write lands but its answer is lost", func(n int) (bool, error) {
			if n == 1 {
				return true, errTimeout
			}
			return true, nil
		}},
		{"two writes land, their answers lost", func(n int) (bool, error) {
			if n <= 2 {
				return true, errTimeout
			}
			return true, nil
		}},
		{"the store is down for the whole window", func(n int) (bool, error) {
			if n == 1 {
				window = 0
			}
			window++
			return false, errTimeout
		}},
	}
	answers := []struct {
		name string
		call func(context.Context, dispatch.Call) (dispatch.Result, error)
		want task.State
	}{
		{"success", nil, task.Succeeded},
		{"permanent failure", func(context.Context, dispatch.Call) (dispatch.Result, error) {
			return dispatch.Result{}, &dispatch.Error{Reason: task.ReasonAgentFailed, Message: "bad request"}
		}, task.Failed},
		{"input required", func(context.Context, dispatch.Call) (dispatch.Result, error) {
			return dispatch.Result{}, &dispatch.NeedsInput{RemoteTaskID: "r-1", State: "input-required", Message: "which one?"}
		}, task.Paused},
	}
	for _, f := range faults {
		for _, a := range answers {
			t.Run(f.name+"/"+a.name, func(t *testing.T) {
				fs := &faultyStore{Store: tasktest.New(newTask(id1, task.Queued)), fault: f.fault}
				h := newHarness(t, fs.Store)
				h.p = newProcessorOver(t, h, fs)
				h.disp.call = a.call
				if f.name == "the store is down for the whole window" {
					// It comes back before the kept outcome is delivered.
					fault := f.fault
					fs.fault = func(n int) (bool, error) {
						if window > 0 && n > window {
							return true, nil
						}
						return fault(n)
					}
				}
				drain(t, h, record(t, message(id1), workARN, 1))
				if n := h.disp.count(); n != 1 {
					t.Errorf("the agent was called %d times, want exactly once", n)
				}
				if got := fs.Task(id1); got.State != a.want {
					t.Errorf("task = %s, want %s", got.State, a.want)
				}
			})
		}
	}
}

// drain handles rec, then every message the worker sent on carrying a kept outcome, until the
// worker leaves none. A record it asks to redeliver is redelivered too, a few times at most.
func drain(t *testing.T, h *harness, rec batch.Record) {
	t.Helper()
	pending := []batch.Record{rec}
	for round := 0; len(pending) > 0; round++ {
		if round > 10 {
			t.Fatalf("the worker kept messages going for %d rounds", round)
		}
		var next []batch.Record
		for _, r := range pending {
			if failed := handle(t, h, r); len(failed) > 0 {
				r.ReceiveCount = round + 2
				next = append(next, r)
			}
		}
		h.queue.mu.Lock()
		sent := h.queue.sent
		h.queue.sent = nil
		h.queue.mu.Unlock()
		for i, m := range sent {
			if m.Outcome == nil {
				t.Fatalf("sent on a message without the outcome: %+v", m)
			}
			next = append(next, record(t, m, workARN, 1))
			next[len(next)-1].ID = fmt.Sprintf("kept-%d-%d", round, i)
		}
		pending = next
	}
}

// A give-back (a retryable agent failure) whose write landed although its answer was lost keeps
// its message: dropping it would leave a queued task with no message, for the sweeper.
func TestAppliedGiveBackKeepsItsMessage(t *testing.T) {
	fs := &faultyStore{Store: tasktest.New(newTask(id1, task.Queued)), fault: func(n int) (bool, error) {
		if n == 1 {
			return true, errTimeout
		}
		return true, nil
	}}
	h := newHarness(t, fs.Store)
	h.p = newProcessorOver(t, h, fs)
	h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) {
		return dispatch.Result{}, &dispatch.Error{Reason: task.ReasonAgentUnavailable, Message: "503", Retryable: true}
	}
	rec := record(t, message(id1), workARN, 2)
	if failed := handle(t, h, rec); !slices.Equal(failed, []string{rec.ID}) {
		t.Fatalf("failed = %v, want the message kept for the retry", failed)
	}
	if got := fs.Task(id1); got.State != task.Queued {
		t.Errorf("task = %s, want queued", got.State)
	}
}

// A conflict that leaves the task neither ended nor held by a live lease keeps the message: the
// task must not wait for the sweeper.
func TestSupersededByAGiveBackKeepsTheMessage(t *testing.T) {
	st := tasktest.New(newTask(id1, task.Queued))
	h := newHarness(t, st)
	h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) {
		// Meanwhile another writer gave the task back (its version moved on).
		tk := st.Task(id1)
		tk.State, tk.Version, tk.LeaseUntil = task.Queued, tk.Version+2, time.Time{}
		st.Put(&tk)
		return dispatch.Result{Text: "ours"}, nil
	}
	rec := record(t, message(id1), workARN, 1)
	if failed := handle(t, h, rec); !slices.Equal(failed, []string{rec.ID}) {
		t.Fatalf("failed = %v, want the message kept", failed)
	}
}

// A kept outcome that reaches the dead-letter queue is still recorded, not failed as
// dead-lettered.
func TestKeptOutcomeFromTheDeadLetterQueue(t *testing.T) {
	tk := newTask(id1, task.Running)
	tk.Version, tk.LeaseUntil = 2, now.Add(-time.Minute)
	st := tasktest.New(tk)
	h := newHarness(t, st)
	m := message(id1)
	m.Outcome = &queue.Outcome{Version: 2, State: string(task.Succeeded), Result: "kept"}
	if failed := handle(t, h, record(t, m, dlqARN, 1)); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	if got := st.Task(id1); got.State != task.Succeeded || got.Result != "kept" || h.disp.count() != 0 {
		t.Errorf("task = %s %q, agent calls %d; want the kept answer recorded without a call", got.State, got.Result, h.disp.count())
	}
}

// newProcessorOver is the harness's processor over another store.
func newProcessorOver(t *testing.T, h *harness, st worker.Store) *worker.Processor {
	t.Helper()
	return worker.New(worker.Config{
		Store: st, Dispatcher: h.disp, Queue: h.queue, DeadLetterARN: dlqARN,
		Logger:  slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backoff: backoff, OrphanAfter: 2 * time.Minute, Now: func() time.Time { return now }, Budget: testBudget,
	})
}

// A message whose task was never recorded is retried while the write may still land; past
// OrphanAfter its task is recorded failed, so a caller told it was accepted sees it end, and a
// record landing later cannot run.
func TestOrphanedMessage(t *testing.T) {
	for _, tc := range []struct {
		name      string
		age       time.Duration
		wantRetry bool
	}{
		{"young: the write may not have landed yet", time.Minute, true},
		{"old: the write never landed", 3 * time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tasktest.New()
			h := newHarness(t, st)
			m := message(id1)
			m.AcceptedAt, m.Dialect = now.Add(-tc.age), string(task.ServiceNet)
			failed := handle(t, h, record(t, m, workARN, 1))
			if (len(failed) > 0) != tc.wantRetry || h.disp.count() != 0 {
				t.Fatalf("failed = %v, agent calls %d; want retry %v and no call", failed, h.disp.count(), tc.wantRetry)
			}
			got := st.Task(id1)
			ok := got.ID != ""
			if tc.wantRetry {
				if ok {
					t.Errorf("a young orphan's task was recorded: %+v", got)
				}
				return
			}
			if !ok || got.State != task.Failed || got.Reason != task.ReasonDispatchFailed || got.Dialect != task.ServiceNet || got.Tenant != "org-1" {
				t.Errorf("orphan's task = %+v, want it recorded failed", got)
			}
		})
	}
}
