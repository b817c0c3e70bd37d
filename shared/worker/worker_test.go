package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/deadline"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/task/tasktest"
	"github.com/agentq/agentq/shared/tasklog"
	"github.com/agentq/agentq/shared/tasklog/tasklogtest"
	"github.com/agentq/agentq/shared/worker"
)

const (
	workARN = "arn:aws:sqs:us-east-1:123456789012:agentq-work"
	dlqARN  = "arn:aws:sqs:us-east-1:123456789012:agentq-work-dlq"
)

var now = time.Date(2026, 2, 7, 2, 14, 0, 0, time.UTC)

// fakeDispatcher answers every call with call's answer (success with "ok" when nil).
type fakeDispatcher struct {
	mu    sync.Mutex
	calls []dispatch.Call
	ctxs  []context.Context
	call  func(ctx context.Context, c dispatch.Call) (dispatch.Result, error)
}

func (d *fakeDispatcher) Call(ctx context.Context, c dispatch.Call) (dispatch.Result, error) {
	d.mu.Lock()
	d.calls = append(d.calls, c)
	d.ctxs = append(d.ctxs, ctx)
	call := d.call
	d.mu.Unlock()
	if call != nil {
		return call(ctx, c)
	}
	return dispatch.Result{Text: "ok"}, nil
}

func (d *fakeDispatcher) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

// fakeQueue records postponements and messages sent back to wait.
type fakeQueue struct {
	mu        sync.Mutex
	postponed map[string]time.Duration
	sent      []*queue.Message
	delays    []time.Duration
	// traces are the trace headers the messages were sent under (queue.TraceHeader).
	traces []string
	err    error
}

func (q *fakeQueue) Send(ctx context.Context, m *queue.Message, delay time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sent = append(q.sent, m)
	q.traces = append(q.traces, queue.TraceHeader(ctx))
	q.delays = append(q.delays, delay)
	return q.err
}

func (q *fakeQueue) Postpone(_ context.Context, receiptHandle string, d time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.postponed == nil {
		q.postponed = map[string]time.Duration{}
	}
	q.postponed[receiptHandle] = d
	return q.err
}

// backoff is recognisable: n minutes.
func backoff(n int) time.Duration { return time.Duration(n) * time.Minute }

type harness struct {
	p     *worker.Processor
	store *tasktest.Store
	disp  *fakeDispatcher
	queue *fakeQueue
	logs  *bytes.Buffer
}

func newHarness(t *testing.T, st *tasktest.Store) *harness {
	t.Helper()
	h := &harness{store: st, disp: &fakeDispatcher{}, queue: &fakeQueue{}, logs: &bytes.Buffer{}}
	h.p = worker.New(worker.Config{
		Store: st, Dispatcher: h.disp, Queue: h.queue, DeadLetterARN: dlqARN,
		Logger:  slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backoff: backoff, OrphanAfter: 2 * time.Minute, Now: func() time.Time { return now }, Budget: testBudget,
	})
	return h
}

// testBudget is the production budget with an outcome window of milliseconds: the retries are
// exercised, not waited out.
var testBudget = func() deadline.Budget {
	b := deadline.Default()
	b.Outcome, b.OutcomeBackoff = 200*time.Millisecond, 5*time.Millisecond
	return b
}()

var echo = agent.Agent{ID: "echo", Version: "1", Protocol: agent.HTTP, Endpoint: "http://127.0.0.1:9/",
	Timeout: agent.Duration(30 * time.Second), Auth: agent.AuthForward}

func newTask(id string, s task.State) *task.Task {
	return &task.Task{ID: id, Tenant: "org-1", AgentID: "echo", State: s, Version: 1, Text: "hello",
		Request: json.RawMessage(`{"input":{"text":"hello"}}`), CreatedAt: now.Add(-time.Minute)}
}

func message(id string) *queue.Message {
	return &queue.Message{Kind: queue.KindInvoke, TaskID: id, Tenant: "org-1", Agent: echo, ThreadID: "thread-1",
		Text: "hello", Request: json.RawMessage(`{"input":{"text":"hello"}}`),
		Secrets:   map[string]json.RawMessage{"user_oidc_token": json.RawMessage(`"oidc-SECRET"`)},
		AuthToken: "auth-SECRET", AcceptedAt: now.Add(-time.Minute)}
}

// record wraps a message as an SQS record from the queue arn, received count times.
func record(t *testing.T, m *queue.Message, arn string, count int) batch.Record {
	t.Helper()
	body, err := queue.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return rawRecord("msg-"+m.TaskID, body, arn, count)
}

func rawRecord(id, body, arn string, count int) batch.Record {
	return batch.Record{ID: id, ReceiptHandle: "rh-" + id, Body: body, Source: arn, ReceiveCount: count}
}

func handle(t *testing.T, h *harness, recs ...batch.Record) []string {
	t.Helper()
	return h.p.Handle(context.Background(), recs)
}

const id1 = "81250b20-e9d7-4b3b-9995-07dc72b4bb59"

func TestSuccess(t *testing.T) {
	h := newHarness(t, tasktest.New(newTask(id1, task.Queued)))
	h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) {
		return dispatch.Result{Text: "hi back", Output: json.RawMessage(`{"output":"hi back"}`)}, nil
	}
	if failed := handle(t, h, record(t, message(id1), workARN, 1)); len(failed) != 0 {
		t.Fatalf("failed = %v, want none", failed)
	}
	got := h.store.Task(id1)
	if got.State != task.Succeeded || got.Result != "hi back" || string(got.Output) != `{"output":"hi back"}` || got.Attempts != 1 {
		t.Errorf("task = %+v, want succeeded with the answer", got)
	}
	if !got.LeaseUntil.IsZero() {
		t.Errorf("lease kept after the outcome: %v", got.LeaseUntil)
	}
	wantCall := dispatch.Call{TaskID: id1, Tenant: "org-1", Agent: echo, ThreadID: "thread-1", Text: "hello",
		Request: json.RawMessage(`{"input":{"text":"hello"}}`),
		Secrets: map[string]json.RawMessage{"user_oidc_token": json.RawMessage(`"oidc-SECRET"`)}, Credentials: dispatch.Credentials{Tenant: "org-1", AuthToken: "auth-SECRET"}, Attempt: 1}
	if len(h.disp.calls) != 1 || !reflect.DeepEqual(h.disp.calls[0], wantCall) {
		t.Errorf("calls = %+v\nwant  %+v", h.disp.calls, wantCall)
	}
	// The lease covers the call and the time to record its outcome.
	if want := 30*time.Second + 15*time.Second; len(h.store.Claims()) != 1 || h.store.Claims()[0] != want {
		t.Errorf("claimed with leases %v, want [%v]", h.store.Claims(), want)
	}
	c := h.store.Changes()[0]
	if c.Version != 2 || !reflect.DeepEqual(c.From, []task.State{task.Running}) || !c.Now.Equal(now) {
		t.Errorf("change = %+v, want from running at version 2", c)
	}
	if len(h.queue.postponed) != 0 {
		t.Errorf("postponed %v on success", h.queue.postponed)
	}
	if logs := h.logs.String(); strings.Contains(logs, "SECRET") || !strings.Contains(logs, `"task_id":"`+id1+`"`) {
		t.Errorf("log lacks the task id or holds a secret: %s", logs)
	}
}

func TestAgentFailure(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		received    int
		wantState   task.State
		wantReason  string
		wantMessage string
		wantRetry   bool
	}{
		{"permanent", &dispatch.Error{Reason: task.ReasonAgentRejected, Message: "agent answered 400"}, 1,
			task.Failed, task.ReasonAgentRejected, "agent answered 400", false},
		{"invalid answer", &dispatch.Error{Reason: task.ReasonInvalidResponse, Message: "too big"}, 2,
			task.Failed, task.ReasonInvalidResponse, "too big", false},
		{"retryable", &dispatch.Error{Reason: task.ReasonAgentUnavailable, Message: "agent answered 503", Retryable: true}, 3,
			task.Queued, task.ReasonAgentUnavailable, "agent answered 503", true},
		{"timeout", &dispatch.Error{Reason: task.ReasonAgentTimeout, Message: "late", Retryable: true}, 4,
			task.Queued, task.ReasonAgentTimeout, "late", true},
		{"wrapped retryable", fmt.Errorf("call: %w", &dispatch.Error{Reason: task.ReasonAgentTimeout, Message: "late", Retryable: true}), 1,
			task.Queued, task.ReasonAgentTimeout, "late", true},
		{"unclassified error", errors.New("connection reset"), 2, task.Queued, task.ReasonAgentUnavailable, "connection reset", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tasktest.New(newTask(id1, task.Queued)))
			h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) { return dispatch.Result{}, tt.err }
			rec := record(t, message(id1), workARN, tt.received)
			failed := handle(t, h, rec)

			got := h.store.Task(id1)
			if got.State != tt.wantState || got.Reason != tt.wantReason || got.ReasonMessage != tt.wantMessage {
				t.Errorf("task = %s %s %q, want %s %s %q", got.State, got.Reason, got.ReasonMessage, tt.wantState, tt.wantReason, tt.wantMessage)
			}
			if tt.wantRetry {
				if !slices.Equal(failed, []string{rec.ID}) {
					t.Errorf("failed = %v, want [%s]", failed, rec.ID)
				}
				if d, ok := h.queue.postponed[rec.ReceiptHandle]; !ok || d != backoff(tt.received) {
					t.Errorf("postponed by %v (%v), want the backoff for %d receives, %v", d, ok, tt.received, backoff(tt.received))
				}
			} else {
				if len(failed) != 0 || len(h.queue.postponed) != 0 {
					t.Errorf("a permanent failure is redelivered: failed %v, postponed %v", failed, h.queue.postponed)
				}
			}
		})
	}
}

func TestNotClaimed(t *testing.T) {
	live := newTask(id1, task.Running)
	live.LeaseUntil = now.Add(40 * time.Second)
	expired := newTask(id1, task.Running)
	expired.LeaseUntil, expired.Attempts, expired.Version = now.Add(-time.Second), 1, 2
	young, old := message(id1), message(id1)
	young.AcceptedAt, old.AcceptedAt = now.Add(-10*time.Second), now.Add(-10*time.Minute)

	tests := []struct {
		name        string
		task        *task.Task
		msg         *queue.Message
		claimErr    error
		wantCall    bool
		wantRetry   bool
		wantDelay   time.Duration
		wantState   task.State
		wantAttempt int
	}{
		{"succeeded: duplicate delivery", newTask(id1, task.Succeeded), message(id1), nil, false, false, 0, task.Succeeded, 0},
		{"failed: duplicate delivery", newTask(id1, task.Failed), message(id1), nil, false, false, 0, task.Failed, 0},
		{"canceled", newTask(id1, task.Canceled), message(id1), nil, false, false, 0, task.Canceled, 0},
		{"paused", newTask(id1, task.Paused), message(id1), nil, false, false, 0, task.Paused, 0},
		{"running under a live lease", live, message(id1), nil, false, true, 41 * time.Second, task.Running, 0},
		{"lease expired: take over", expired, message(id1), nil, true, false, 0, task.Succeeded, 2},
		{"not recorded, young: retry", nil, young, nil, false, true, time.Second, "", 0},
		{"not recorded, old: drop", nil, old, nil, false, false, 0, "", 0},
		{"store down", newTask(id1, task.Queued), message(id1), errors.New("dynamodb: 500"), false, true, backoff(1), task.Queued, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tasktest.New()
			if tt.task != nil {
				st = tasktest.New(tt.task)
			}
			st.ClaimErr = tt.claimErr
			h := newHarness(t, st)
			rec := record(t, tt.msg, workARN, 2)
			failed := handle(t, h, rec)

			if got := h.disp.count() > 0; got != tt.wantCall {
				t.Errorf("agent called = %v, want %v", got, tt.wantCall)
			}
			if tt.wantCall && h.disp.calls[0].Attempt != tt.wantAttempt {
				t.Errorf("attempt = %d, want %d", h.disp.calls[0].Attempt, tt.wantAttempt)
			}
			if got := len(failed) == 1; got != tt.wantRetry {
				t.Errorf("retried = %v (%v), want %v", got, failed, tt.wantRetry)
			}
			if d, ok := h.queue.postponed[rec.ReceiptHandle]; ok != tt.wantRetry || d != tt.wantDelay {
				t.Errorf("postponed = %v (%v), want %v (%v)", d, ok, tt.wantDelay, tt.wantRetry)
			}
			if tt.task != nil {
				if got := h.store.Task(id1); got.State != tt.wantState {
					t.Errorf("state = %s, want %s", got.State, tt.wantState)
				}
			}
			if !tt.wantCall && len(h.store.Changes()) != 0 {
				t.Errorf("recorded an outcome without a call: %+v", h.store.Changes())
			}
		})
	}
}

func TestMalformedMessage(t *testing.T) {
	bodies := map[string]string{
		"not json":        "not json",
		"wrong kind":      `{"kind":"nope","task_id":"x","agent":{"id":"echo","protocol":"http","endpoint":"http://127.0.0.1:9/"}}`,
		"no task":         `{"kind":"invoke","agent":{"id":"echo","protocol":"http","endpoint":"http://127.0.0.1:9/"}}`,
		"agent not valid": `{"kind":"invoke","task_id":"x","agent":{"id":"echo","protocol":"smtp","endpoint":"x"}}`,
	}
	for name, body := range bodies {
		for _, arn := range []string{workARN, dlqARN} {
			onDLQ := arn == dlqARN
			t.Run(fmt.Sprintf("%s/dlq=%v", name, onDLQ), func(t *testing.T) {
				st := tasktest.New()
				h := newHarness(t, st)
				rec := rawRecord("m1", body, arn, 1)
				failed := handle(t, h, rec)
				if onDLQ {
					// Nothing can ever be done with it: drop it.
					if len(failed) != 0 {
						t.Errorf("malformed dead letter kept: %v", failed)
					}
				} else {
					// Left to SQS, which moves it to the dead-letter queue after enough receives.
					if !slices.Equal(failed, []string{"m1"}) {
						t.Errorf("failed = %v, want [m1]", failed)
					}
					if d, ok := h.queue.postponed["rh-m1"]; !ok || d != 0 {
						t.Errorf("postponed = %v (%v), want 0", d, ok)
					}
				}
				if h.disp.count() != 0 || len(st.Claims()) != 0 || st.Gets() != 0 {
					t.Errorf("a malformed message reached the store or the agent")
				}
			})
		}
	}
}

func TestDeadLetter(t *testing.T) {
	queued := newTask(id1, task.Queued)
	queued.Reason, queued.ReasonMessage, queued.Attempts = task.ReasonAgentUnavailable, "agent answered 503", 5
	liveRunning := newTask(id1, task.Running)
	liveRunning.LeaseUntil = now.Add(time.Minute)
	lapsedRunning := newTask(id1, task.Running)
	lapsedRunning.LeaseUntil = now.Add(-time.Minute)

	tests := []struct {
		name        string
		task        *task.Task
		getErr      error
		transErr    error
		wantState   task.State
		wantRetry   bool
		wantMessage string
	}{
		{"queued after retries", queued, nil, nil, task.Failed, false,
			"the task was delivered 5 times without an outcome; last error: agent answered 503"},
		{"running under a lapsed lease", lapsedRunning, nil, nil, task.Failed, false,
			"the task was delivered 5 times without an outcome"},
		{"running under a live lease", liveRunning, nil, nil, task.Running, true, ""},
		{"already succeeded", newTask(id1, task.Succeeded), nil, nil, task.Succeeded, false, ""},
		{"already failed", newTask(id1, task.Failed), nil, nil, task.Failed, false, ""},
		{"never recorded", nil, nil, nil, "", false, ""},
		{"store down on read", newTask(id1, task.Queued), errors.New("dynamodb: 500"), nil, task.Queued, true, ""},
		{"store down on write", newTask(id1, task.Queued), nil, errors.New("dynamodb: 500"), task.Queued, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tasktest.New()
			if tt.task != nil {
				cp := *tt.task
				st = tasktest.New(&cp)
			}
			st.GetErr, st.TransitionErr = tt.getErr, tt.transErr
			h := newHarness(t, st)
			rec := record(t, message(id1), dlqARN, 1)
			failed := handle(t, h, rec)

			if h.disp.count() != 0 || len(st.Claims()) != 0 {
				t.Errorf("a dead letter was run")
			}
			if got := len(failed) == 1; got != tt.wantRetry {
				t.Errorf("retried = %v, want %v", got, tt.wantRetry)
			}
			if len(h.queue.postponed) != 0 {
				t.Errorf("a dead-letter record was postponed on the work queue: %v", h.queue.postponed)
			}
			if tt.task == nil {
				return
			}
			got := h.store.Task(id1)
			if got.State != tt.wantState {
				t.Fatalf("state = %s, want %s", got.State, tt.wantState)
			}
			if tt.wantState == task.Failed && tt.task.State != task.Failed {
				if got.Reason != task.ReasonDeadLettered || got.ReasonMessage != tt.wantMessage {
					t.Errorf("reason = %s %q, want dead_lettered %q", got.Reason, got.ReasonMessage, tt.wantMessage)
				}
				c := st.Changes()[0]
				if c.Version != tt.task.Version || !slices.Equal(c.From, []task.State{tt.task.State}) {
					t.Errorf("change = %+v, want guarded by state %s and version %d", c, tt.task.State, tt.task.Version)
				}
			}
		})
	}
}

// A dead letter whose task moves between the read and the write is decided again later.
func TestDeadLetterRace(t *testing.T) {
	st := tasktest.New(newTask(id1, task.Queued))
	h := newHarness(t, st)
	rs := racingStore{st}
	h.p = worker.New(worker.Config{Store: rs, Dispatcher: h.disp, Queue: h.queue, DeadLetterARN: dlqARN,
		Backoff: backoff, Now: func() time.Time { return now }})
	failed := handle(t, h, record(t, message(id1), dlqARN, 1))
	if len(failed) != 1 {
		t.Errorf("failed = %v, want the record retried after a conflict", failed)
	}
	if got := st.Task(id1); got.State != task.Queued || got.Version != 2 {
		t.Errorf("task = %s v%d, want left as the other writer put it", got.State, got.Version)
	}
}

// racingStore bumps a task's version right after every Get, as a concurrent writer would.
type racingStore struct{ *tasktest.Store }

func (r racingStore) Get(ctx context.Context, id string) (*task.Task, error) {
	t, err := r.Store.Get(ctx, id)
	cur := r.Task(id)
	cur.Version++
	r.Put(&cur)
	return t, err
}

func TestOutcomeSuperseded(t *testing.T) {
	st := tasktest.New(newTask(id1, task.Queued))
	h := newHarness(t, st)
	// While the agent runs, our lease lapses and another delivery takes the task and finishes it.
	h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) {
		t := st.Task(id1)
		t.State, t.Version, t.Attempts, t.Result = task.Succeeded, t.Version+2, t.Attempts+1, "theirs"
		st.Put(&t)
		return dispatch.Result{Text: "ours"}, nil
	}
	rec := record(t, message(id1), workARN, 1)
	if failed := handle(t, h, rec); len(failed) != 0 {
		t.Errorf("failed = %v, want the record done", failed)
	}
	if got := st.Task(id1); got.Result != "theirs" {
		t.Errorf("result = %q, want the other delivery's outcome to stand", got.Result)
	}
	if len(st.Changes()) != 1 {
		t.Errorf("changes = %+v, want exactly one attempt to record", st.Changes())
	}
}

// An outcome the store will not take, nor SQS keep, leaves the message to be redelivered.
func TestOutcomeNotRecordedNorKept(t *testing.T) {
	st := tasktest.New(newTask(id1, task.Queued))
	h := newHarness(t, st)
	st.TransitionErr = errors.New("dynamodb: 500")
	h.queue.err = errors.New("sqs: 500")
	rec := record(t, message(id1), workARN, 3)
	if failed := handle(t, h, rec); !slices.Equal(failed, []string{rec.ID}) {
		t.Errorf("failed = %v, want the record retried", failed)
	}
	if d := h.queue.postponed[rec.ReceiptHandle]; d != backoff(3) {
		t.Errorf("postponed by %v, want %v", d, backoff(3))
	}
	if len(st.Changes()) < 2 {
		t.Errorf("the outcome write was tried %d times, want retries within the window", len(st.Changes()))
	}
}

// TestBatchRunsConcurrently: the dispatcher does not answer until every record's call is in
// flight, which only happens if the records are processed at the same time.
func TestBatchRunsConcurrently(t *testing.T) {
	const n = 6
	var ts []*task.Task
	var recs []batch.Record
	for i := range n {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		ts = append(ts, newTask(id, task.Queued))
		recs = append(recs, record(t, message(id), workARN, 1))
	}
	st := tasktest.New(ts...)
	h := newHarness(t, st)
	var wg sync.WaitGroup
	wg.Add(n)
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	h.disp.call = func(ctx context.Context, c dispatch.Call) (dispatch.Result, error) {
		wg.Done()
		select {
		case <-all:
			return dispatch.Result{Text: "ok " + c.TaskID}, nil
		case <-time.After(5 * time.Second):
			return dispatch.Result{}, &dispatch.Error{Reason: "test", Message: "records were not processed concurrently"}
		}
	}
	if failed := handle(t, h, recs...); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	for _, tk := range ts {
		if got := st.Task(tk.ID); got.State != task.Succeeded || got.Result != "ok "+tk.ID {
			t.Errorf("task %s = %s %q, want succeeded with its own answer (%s)", tk.ID, got.State, got.Result, got.ReasonMessage)
		}
	}
}

func TestMixedBatch(t *testing.T) {
	ok, bad := "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
	st := tasktest.New(newTask(ok, task.Queued), newTask(bad, task.Queued))
	h := newHarness(t, st)
	h.disp.call = func(_ context.Context, c dispatch.Call) (dispatch.Result, error) {
		if c.TaskID == bad {
			return dispatch.Result{}, &dispatch.Error{Reason: task.ReasonAgentUnavailable, Message: "503", Retryable: true}
		}
		return dispatch.Result{Text: "fine"}, nil
	}
	recs := []batch.Record{record(t, message(ok), workARN, 1), rawRecord("junk", "{", workARN, 1), record(t, message(bad), workARN, 1)}
	failed := handle(t, h, recs...)
	slices.Sort(failed)
	if want := []string{"junk", "msg-" + bad}; !slices.Equal(failed, want) {
		t.Errorf("failed = %v, want %v", failed, want)
	}
}

func TestDeadlineBoundsTheCall(t *testing.T) {
	slow := echo
	slow.Timeout = agent.Duration(10 * time.Minute)
	tests := []struct {
		name      string
		deadline  time.Duration
		wantCall  bool
		maxCall   time.Duration
		wantRetry bool
	}{
		{"no time left", 2 * time.Second, false, 0, true},
		{"call shortened to the invocation", 20 * time.Second, true, 17 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tasktest.New(newTask(id1, task.Queued))
			h := newHarness(t, st)
			var callDeadline time.Duration
			h.disp.call = func(ctx context.Context, _ dispatch.Call) (dispatch.Result, error) {
				dl, _ := ctx.Deadline()
				callDeadline = time.Until(dl)
				return dispatch.Result{Text: "ok"}, nil
			}
			m := message(id1)
			m.Agent = slow
			ctx, cancel := context.WithTimeout(context.Background(), tt.deadline)
			defer cancel()
			failed := h.p.Handle(ctx, []batch.Record{record(t, m, workARN, 1)})
			if got := len(failed) == 1; got != tt.wantRetry {
				t.Errorf("retried = %v, want %v", got, tt.wantRetry)
			}
			if got := h.disp.count() == 1; got != tt.wantCall {
				t.Fatalf("called = %v, want %v", got, tt.wantCall)
			}
			if !tt.wantCall {
				if len(st.Claims()) != 0 {
					t.Errorf("claimed a task it had no time to run")
				}
				return
			}
			if callDeadline <= 0 || callDeadline > tt.maxCall {
				t.Errorf("call deadline in %v, want within %v", callDeadline, tt.maxCall)
			}
			if lease := st.Claims()[0]; lease > tt.maxCall+15*time.Second || lease < tt.maxCall {
				t.Errorf("lease = %v, want about %v", lease, tt.maxCall+15*time.Second)
			}
		})
	}
}

func TestPostponeFailureStillRetries(t *testing.T) {
	st := tasktest.New(newTask(id1, task.Queued))
	h := newHarness(t, st)
	h.queue.err = errors.New("sqs down")
	h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) {
		return dispatch.Result{}, &dispatch.Error{Reason: task.ReasonAgentUnavailable, Retryable: true}
	}
	if failed := handle(t, h, record(t, message(id1), workARN, 1)); len(failed) != 1 {
		t.Errorf("failed = %v, want the record retried even though it could not be postponed", failed)
	}
	if !strings.Contains(h.logs.String(), "postpone redelivery") {
		t.Errorf("postpone failure not logged")
	}
}

func TestNoQueueNoPostpone(t *testing.T) {
	st := tasktest.New()
	p := worker.New(worker.Config{Store: st, Dispatcher: &fakeDispatcher{}, Now: func() time.Time { return now }})
	if failed := p.Handle(context.Background(), []batch.Record{rawRecord("m", "x", workARN, 1)}); len(failed) != 1 {
		t.Errorf("Handle = %v; want one failure", failed)
	}
}

func TestReceiveCount(t *testing.T) {
	for _, tt := range []struct {
		count int
		want  time.Duration
	}{{4, backoff(4)}, {1, backoff(1)}, {0, backoff(1)}, {-3, backoff(1)}} {
		t.Run(strconv.Itoa(tt.count), func(t *testing.T) {
			st := tasktest.New(newTask(id1, task.Queued))
			h := newHarness(t, st)
			h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) {
				return dispatch.Result{}, &dispatch.Error{Reason: task.ReasonAgentUnavailable, Retryable: true}
			}
			rec := record(t, message(id1), workARN, 1)
			rec.ReceiveCount = tt.count
			handle(t, h, rec)
			if got := h.queue.postponed[rec.ReceiptHandle]; got != tt.want {
				t.Errorf("postponed by %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	for _, n := range []int{0, 1, 2, 5, 9, 10, 100} {
		ceiling := min(time.Duration(1<<min(n, 9))*time.Second, 5*time.Minute)
		for range 50 {
			d := worker.Backoff(n)
			if d < time.Second || d >= time.Second+ceiling {
				t.Fatalf("Backoff(%d) = %v, want in [1s, %v)", n, d, time.Second+ceiling)
			}
		}
	}
}

func TestEmptyBatch(t *testing.T) {
	h := newHarness(t, tasktest.New())
	if failed := handle(t, h); len(failed) != 0 {
		t.Errorf("failed = %v", failed)
	}
}

// threadTask is turn seq of thread "th", after prev.
func threadTask(id string, seq int, prev string, s task.State) *task.Task {
	t := newTask(id, s)
	t.ThreadID, t.ThreadSeq, t.PrevTaskID = "th", seq, prev
	return t
}

func threadMessage(id string, waits int) *queue.Message {
	m := message(id)
	m.ThreadID, m.ThreadTurn, m.Waits = "th", true, waits
	return m
}

func TestTurnWaitsForThePreviousOne(t *testing.T) {
	const prevID = "00000000-0000-4000-8000-000000000001"
	tests := []struct {
		prev      task.State
		waits     int
		wantDelay time.Duration
	}{
		{task.Running, 0, time.Second},
		{task.Queued, 1, 2 * time.Second},
		{task.Queued, 3, 8 * time.Second},
		{task.Running, 10, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/waits=%d", tt.prev, tt.waits), func(t *testing.T) {
			st := tasktest.New(threadTask(prevID, 1, "", tt.prev), threadTask(id1, 2, prevID, task.Queued))
			h := newHarness(t, st)
			if failed := handle(t, h, record(t, threadMessage(id1, tt.waits), workARN, 1)); len(failed) != 0 {
				t.Errorf("failed = %v; a waiting turn is sent back fresh, not redelivered", failed)
			}
			if h.disp.count() != 0 || len(st.Claims()) != 0 {
				t.Fatalf("a turn ran before the previous one ended")
			}
			if len(h.queue.sent) != 1 {
				t.Fatalf("sent %d copies, want 1", len(h.queue.sent))
			}
			if m := h.queue.sent[0]; m.TaskID != id1 || m.Waits != tt.waits+1 || h.queue.delays[0] != tt.wantDelay {
				t.Errorf("sent %s waits %d after %v, want %s waits %d after %v", m.TaskID, m.Waits, h.queue.delays[0], id1, tt.waits+1, tt.wantDelay)
			}
			if got := st.Task(id1); got.State != task.Queued {
				t.Errorf("waiting turn is %s, want queued", got.State)
			}
		})
	}
}

func TestTurnRunsWithHistory(t *testing.T) {
	const t1, t2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
	first := threadTask(t1, 1, "", task.Succeeded)
	first.Text, first.Result = "q1", "a1"
	second := threadTask(t2, 2, t1, task.Failed)
	second.Text = "q2"
	st := tasktest.New(first, second, threadTask(id1, 3, t2, task.Queued))
	h := newHarness(t, st)
	if failed := handle(t, h, record(t, threadMessage(id1, 0), workARN, 1)); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	if h.disp.count() != 1 {
		t.Fatalf("agent called %d times, want once", h.disp.count())
	}
	type line struct{ role, content, taskID string }
	var got []line
	for _, m := range h.disp.calls[0].History {
		got = append(got, line{m.Role, m.Content, m.TaskID})
	}
	want := []line{{"user", "q1", t1}, {"agent", "a1", t1}, {"user", "q2", t2}}
	if !slices.Equal(got, want) {
		t.Errorf("history = %v, want %v", got, want)
	}
	if got := st.Task(id1); got.State != task.Succeeded {
		t.Errorf("turn is %s, want succeeded", got.State)
	}
}

// A task deleted while its agent worked has nowhere to record the outcome: the message is done.
func TestOutcomeOfADeletedTask(t *testing.T) {
	st := tasktest.New(newTask(id1, task.Queued))
	// Deleted while the agent worked: the outcome's write finds no task.
	st.TransitionHook = func(string, task.Change) error { return fmt.Errorf("transition: %w", task.ErrNotFound) }
	h := newHarness(t, st)
	if failed := handle(t, h, record(t, message(id1), workARN, 1)); len(failed) != 0 {
		t.Errorf("failed = %v, want the message done", failed)
	}
	if !strings.Contains(h.logs.String(), "outcome dropped") {
		t.Errorf("log = %s", h.logs.String())
	}
}

// TestProgressTarget: the agent is told where to report progress, and when the progress key
// cannot be had (KMS down, say) it runs without a target rather than its task failing.
func TestProgressTarget(t *testing.T) {
	target := &dispatch.Progress{URL: "https://s.example/v1/tasks/" + id1 + "/progress", Token: "aqp_x"}
	for name, tt := range map[string]struct {
		err  error
		want *dispatch.Progress
	}{
		"a target":         {want: target},
		"no key to be had": {err: errors.New("kms unavailable")},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, tasktest.New(newTask(id1, task.Queued)))
			var asked []string
			h.p = worker.New(worker.Config{
				Store: h.store, Dispatcher: h.disp, Queue: h.queue, DeadLetterARN: dlqARN,
				Logger:  slog.New(slog.NewJSONHandler(h.logs, nil)),
				Backoff: backoff, Now: func() time.Time { return now }, Budget: testBudget,
				Progress: func(_ context.Context, tenant, id string) (*dispatch.Progress, error) {
					asked = append(asked, tenant+"/"+id)
					return tt.want, tt.err
				},
			})
			h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) { return dispatch.Result{Text: "ok"}, nil }
			if failed := handle(t, h, record(t, message(id1), workARN, 1)); len(failed) != 0 {
				t.Fatalf("failed = %v", failed)
			}
			if got := h.store.Task(id1); got.State != task.Succeeded {
				t.Fatalf("task %s, want succeeded", got.State)
			}
			if len(asked) != 1 || asked[0] != "org-1/"+id1 {
				t.Errorf("asked for targets of %v", asked)
			}
			if len(h.disp.calls) != 1 || h.disp.calls[0].Progress != tt.want {
				t.Errorf("the agent was given %+v, want %+v", h.disp.calls[0].Progress, tt.want)
			}
			if tt.err != nil && !strings.Contains(h.logs.String(), "no progress target") {
				t.Errorf("the missing target is not logged: %s", h.logs.String())
			}
		})
	}
}

// TestStreamedEventsFollowTheImpliedAttempt: what an agent streams during its task's first
// attempt is logged after the attempt the claim implies (seq 3 on): the worker tells the log the
// task has been claimed, so the number the record implies is never taken by a report.
func TestStreamedEventsFollowTheImpliedAttempt(t *testing.T) {
	st := tasktest.New(newTask(id1, task.Queued))
	log := tasklogtest.New()
	h := newHarness(t, st)
	h.p = worker.New(worker.Config{Store: st, Dispatcher: h.disp, Queue: h.queue, DeadLetterARN: dlqARN, Events: log,
		Backoff: backoff, OrphanAfter: 2 * time.Minute, Now: func() time.Time { return now }, Budget: testBudget})
	h.disp.call = func(_ context.Context, c dispatch.Call) (dispatch.Result, error) {
		c.OnEvent(progress.Report{Type: tasklog.Chunk, Data: json.RawMessage(`{"text":"hi"}`)})
		return dispatch.Result{Text: "hi back"}, nil
	}
	if failed := handle(t, h, record(t, message(id1), workARN, 1)); len(failed) != 0 {
		t.Fatalf("redelivered %v", failed)
	}
	evs, _ := log.Read(context.Background(), id1, 0, 0)
	if len(evs) != 1 || evs[0].Type != tasklog.Chunk || evs[0].Seq != tasklog.AttemptSeq+1 {
		t.Fatalf("stored %+v, want the chunk at seq %d", evs, tasklog.AttemptSeq+1)
	}
	claimed := st.Task(id1)
	all, _ := tasklog.ReadTask(context.Background(), log, &claimed, 0, 0)
	if len(all) != 3 || all[1].Type != tasklog.Attempt || all[2].Seq != 3 {
		t.Fatalf("log %+v, want created, the attempt, the chunk", all)
	}
}
