package worker_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/task/tasktest"
	"github.com/agentq/agentq/shared/worker"
)

// remoteCalls records the fake dispatcher's checks and cancels; the fake itself is in
// worker_test.go, and these methods complete it for tasks that run at the agent.
var remoteCalls struct {
	mu      sync.Mutex
	check   func(remoteID string) (dispatch.Result, error)
	checks  []string
	cancels []string
}

func (d *fakeDispatcher) Check(_ context.Context, _ agent.Agent, remoteID string, _ dispatch.Credentials) (dispatch.Result, error) {
	remoteCalls.mu.Lock()
	remoteCalls.checks = append(remoteCalls.checks, remoteID)
	check := remoteCalls.check
	remoteCalls.mu.Unlock()
	if check != nil {
		return check(remoteID)
	}
	return dispatch.Result{Text: "done at last"}, nil
}

func (d *fakeDispatcher) Cancel(_ context.Context, _ agent.Agent, remoteID string, _ dispatch.Credentials) error {
	remoteCalls.mu.Lock()
	defer remoteCalls.mu.Unlock()
	remoteCalls.cancels = append(remoteCalls.cancels, remoteID)
	return nil
}

func resetRemote() {
	remoteCalls.mu.Lock()
	defer remoteCalls.mu.Unlock()
	remoteCalls.check, remoteCalls.checks, remoteCalls.cancels = nil, nil, nil
}

func TestLongRunningAgentIsCheckedLater(t *testing.T) {
	resetRemote()
	h := newHarness(t, tasktest.New(newTask(id1, task.Queued)))
	h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) {
		return dispatch.Result{}, &dispatch.Pending{RemoteTaskID: "remote-1", State: "working"}
	}
	if failed := handle(t, h, record(t, message(id1), workARN, 1)); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	got := h.store.Task(id1)
	if got.State != task.Running || got.RemoteTaskID != "remote-1" {
		t.Fatalf("task = %s %q, want running with the remote id", got.State, got.RemoteTaskID)
	}
	if c := h.store.Changes()[len(h.store.Changes())-1]; !c.ReleaseLease {
		t.Errorf("the lease was kept while nobody works on the task: %+v", c)
	}
	if len(h.queue.sent) != 1 || h.queue.sent[0].Checks != 1 || h.queue.delays[0] != worker.CheckBackoff(0) {
		t.Fatalf("check messages = %+v delays %v", h.queue.sent, h.queue.delays)
	}

	// The check message comes back: the agent is asked how it goes, never sent the task again.
	if failed := handle(t, h, record(t, h.queue.sent[0], workARN, 1)); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	got = h.store.Task(id1)
	if got.State != task.Succeeded || got.Result != "done at last" {
		t.Fatalf("task = %s %q", got.State, got.Result)
	}
	if h.disp.count() != 1 || len(remoteCalls.checks) != 1 || remoteCalls.checks[0] != "remote-1" {
		t.Errorf("calls %d, checks %v; want one send and one check", h.disp.count(), remoteCalls.checks)
	}
}

// TestTraceCarriedThroughTheQueue: a record's AWSTraceHeader (the trace of the request that
// accepted the task) is the trace of the record's work: the check message it sends carries it on,
// and its log lines name the trace.
func TestTraceCarriedThroughTheQueue(t *testing.T) {
	resetRemote()
	const header = "Root=1-67891233-abcdef012345678912345678;Parent=463ac35c9f6413ad;Sampled=1"
	h := newHarness(t, tasktest.New(newTask(id1, task.Queued)))
	h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) {
		return dispatch.Result{}, &dispatch.Pending{RemoteTaskID: "remote-1", State: "working"}
	}
	rec := record(t, message(id1), workARN, 1)
	rec.Trace = header
	if failed := handle(t, h, rec); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	if len(h.queue.traces) != 1 || h.queue.traces[0] != header {
		t.Errorf("check message sent under trace %q, want %q", h.queue.traces, header)
	}
	if !strings.Contains(h.logs.String(), `"trace_id":"1-67891233-abcdef012345678912345678"`) {
		t.Errorf("log lines do not name the trace:\n%s", h.logs)
	}

	// A record without one sends without one.
	h2 := newHarness(t, tasktest.New(newTask(id1, task.Queued)))
	h2.disp.call = h.disp.call
	if failed := handle(t, h2, record(t, message(id1), workARN, 1)); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	if len(h2.queue.traces) != 1 || h2.queue.traces[0] != "" {
		t.Errorf("check message sent under trace %q, want none", h2.queue.traces)
	}
}

func TestLongRunningAgentPastItsDeadline(t *testing.T) {
	resetRemote()
	h := newHarness(t, tasktest.New(newTask(id1, task.Queued)))
	h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) {
		return dispatch.Result{}, &dispatch.Pending{RemoteTaskID: "remote-1", State: "working"}
	}
	m := message(id1)
	m.Agent.MaxDuration = agent.Duration(30 * time.Second) // accepted a minute ago
	handle(t, h, record(t, m, workARN, 1))
	got := h.store.Task(id1)
	if got.State != task.Error || got.Reason != task.ReasonDeadlineExceeded {
		t.Fatalf("task = %s %s", got.State, got.Reason)
	}
	if len(remoteCalls.cancels) != 1 || len(h.queue.sent) != 0 {
		t.Errorf("cancels %v, checks scheduled %d", remoteCalls.cancels, len(h.queue.sent))
	}
}

func TestAgentAsksForInput(t *testing.T) {
	resetRemote()
	h := newHarness(t, tasktest.New(newTask(id1, task.Queued)))
	h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) {
		return dispatch.Result{}, &dispatch.NeedsInput{RemoteTaskID: "remote-9", State: "input-required", Message: "which currency?"}
	}
	handle(t, h, record(t, message(id1), workARN, 1))
	got := h.store.Task(id1)
	if got.State != task.Paused || got.RemoteTaskID != "remote-9" {
		t.Fatalf("task = %s %q", got.State, got.RemoteTaskID)
	}
	var hitl map[string]any
	if err := json.Unmarshal(got.HITL, &hitl); err != nil || hitl["message"] != "which currency?" || hitl["state"] != "input-required" {
		t.Fatalf("hitl_request = %s", got.HITL)
	}
}

func TestNextTurnResumesAPausedOne(t *testing.T) {
	resetRemote()
	paused := threadTask("paused-1", 1, "", task.Paused)
	paused.RemoteTaskID, paused.HITL = "remote-9", json.RawMessage(`{"message":"which currency?"}`)
	next := threadTask("turn-2", 2, "paused-1", task.Queued)
	h := newHarness(t, tasktest.New(paused, next))
	var resumed string
	h.disp.call = func(_ context.Context, c dispatch.Call) (dispatch.Result, error) {
		resumed = c.ResumeTaskID
		return dispatch.Result{Text: "AUD it is"}, nil
	}
	if failed := handle(t, h, record(t, threadMessage("turn-2", 0), workARN, 1)); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	if resumed != "remote-9" {
		t.Errorf("ResumeTaskID = %q, want the paused turn's remote task", resumed)
	}
	if got := h.store.Task("turn-2"); got.State != task.Succeeded {
		t.Errorf("answering turn = %s", got.State)
	}
	if got := h.store.Task("paused-1"); got.State != task.Succeeded || got.Result != "which currency?" || got.Reason != task.ReasonAnswered {
		t.Errorf("paused turn = %s %q %s, want succeeded (answered)", got.State, got.Result, got.Reason)
	}
}

func TestCancelMessage(t *testing.T) {
	resetRemote()
	h := newHarness(t, tasktest.New())
	m := &queue.Message{Kind: queue.KindCancel, TaskID: id1, Tenant: "org-1", Agent: echo, RemoteTaskID: "remote-5", AcceptedAt: now}
	if failed := handle(t, h, record(t, m, workARN, 1)); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	if len(remoteCalls.cancels) != 1 || remoteCalls.cancels[0] != "remote-5" || h.disp.count() != 0 {
		t.Fatalf("cancels %v, calls %d", remoteCalls.cancels, h.disp.count())
	}
	if logs := h.logs.String(); !strings.Contains(logs, "canceled the agent's task") {
		t.Errorf("logs = %s", logs)
	}
}

// A paused task a person approved is sent the approval as a message of the agent's paused task,
// not checked on and not sent its request again; the agent's reported usage is recorded.
func TestApprovedTaskResumes(t *testing.T) {
	resetRemote()
	approved := newTask(id1, task.Queued) // paused, then approved: queued with the agent's task
	approved.RemoteTaskID = "remote-9"
	h := newHarness(t, tasktest.New(approved))
	used := task.Usage{Tokens: task.Tokens{Prompt: 4, Completion: 6, Total: 10}, Actions: 2, Cost: 0.003}
	var got dispatch.Call
	h.disp.call = func(_ context.Context, c dispatch.Call) (dispatch.Result, error) {
		got = c
		return dispatch.Result{Text: "shipped", Usage: used}, nil
	}
	m := message(id1)
	m.Answer = "go ahead"
	if failed := handle(t, h, record(t, m, workARN, 1)); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	if got.ResumeTaskID != "remote-9" || got.Text != "go ahead" || got.Request != nil || got.TaskID == id1 {
		t.Errorf("call = %+v, want the answer to remote-9 under a message id of its own", got)
	}
	if len(remoteCalls.checks) != 0 {
		t.Errorf("checked %v instead of sending the approval", remoteCalls.checks)
	}
	if c := h.store.Changes()[len(h.store.Changes())-1]; c.To != task.Succeeded || c.Usage != used {
		t.Errorf("outcome = %s usage %+v, want succeeded with %+v", c.To, c.Usage, used)
	}
}

// Once the approval is sent, a long-running agent is checked on: the checks never send it again.
func TestApprovalSentOnce(t *testing.T) {
	resetRemote()
	approved := newTask(id1, task.Queued)
	approved.RemoteTaskID = "remote-9"
	h := newHarness(t, tasktest.New(approved))
	h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) {
		return dispatch.Result{}, &dispatch.Pending{RemoteTaskID: "remote-9", State: "working"}
	}
	m := message(id1)
	m.Answer = "go ahead"
	handle(t, h, record(t, m, workARN, 1))
	if len(h.queue.sent) != 1 || h.queue.sent[0].Answer != "" {
		t.Fatalf("check messages = %+v, want one without the answer", h.queue.sent)
	}
	handle(t, h, record(t, h.queue.sent[0], workARN, 1))
	if h.disp.count() != 1 || len(remoteCalls.checks) != 1 {
		t.Errorf("sends %d, checks %v; want one send, then a check", h.disp.count(), remoteCalls.checks)
	}
}
