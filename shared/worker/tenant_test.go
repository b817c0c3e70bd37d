package worker_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/task/tasktest"
	"github.com/agentq/agentq/shared/worker"
)

// branching is a schema whose check would take 2^depth evaluations of an answer depth levels deep.
const branching = `{"$ref":"#/$defs/n","$defs":{"n":{"anyOf":[
	{"type":"object","properties":{"x":{"$ref":"#/$defs/n"}},"required":["y"]},
	{"type":"object","properties":{"x":{"$ref":"#/$defs/n"}},"required":["z"]}]}}}`

// TestHostileSchemaFailsOnce: an answer too costly to check against its schema fails the task
// once, at once, without a retry (which would call the agent again).
func TestHostileSchemaFailsOnce(t *testing.T) {
	h := newHarness(t, tasktest.New(newTask(id1, task.Queued)))
	deep := strings.Repeat(`{"x":`, 60) + `0` + strings.Repeat(`}`, 60)
	h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) { return dispatch.Result{Text: deep}, nil }
	m := message(id1)
	m.Request = json.RawMessage(`{"input":{"text":"x"},"output_format":"json","output_schema":` + branching + `}`)
	if failed := handle(t, h, record(t, m, workARN, 1)); len(failed) != 0 {
		t.Fatalf("failed = %v: the message would come back and call the agent again", failed)
	}
	got := h.store.Task(id1)
	if got.State != task.Failed || got.Reason != task.ReasonOutputSchemaMismatch || !strings.Contains(got.ReasonMessage, "budget") {
		t.Fatalf("task = %s %s %q, want failed on the check's budget", got.State, got.Reason, got.ReasonMessage)
	}
	if h.disp.count() != 1 {
		t.Errorf("agent called %d times, want once", h.disp.count())
	}
}

// TestUnusableSchemaFailsWithoutACall: a schema outside the bounds (one accepted before they
// existed) fails the task before its agent is called, and reads no file.
func TestUnusableSchemaFailsWithoutACall(t *testing.T) {
	h := newHarness(t, tasktest.New(newTask(id1, task.Queued)))
	m := message(id1)
	m.Request = json.RawMessage(`{"input":{"text":"x"},"output_format":"json","output_schema":{"$ref":"file:///etc/passwd"}}`)
	if failed := handle(t, h, record(t, m, workARN, 1)); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	got := h.store.Task(id1)
	if got.State != task.Failed || got.Reason != task.ReasonOutputSchemaMismatch {
		t.Fatalf("task = %s %s %q", got.State, got.Reason, got.ReasonMessage)
	}
	if strings.Contains(got.ReasonMessage, "invalid character") || strings.Contains(got.ReasonMessage, "root") {
		t.Errorf("the reason quotes the file: %q", got.ReasonMessage)
	}
	if h.disp.count() != 0 {
		t.Errorf("agent called %d times, want never", h.disp.count())
	}
}

// TestHistoryIsBounded: the history an agent receives holds at most MaxHistoryBytes of content,
// the newest turns kept.
func TestHistoryIsBounded(t *testing.T) {
	const t1, t2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
	big := strings.Repeat("a", worker.MaxHistoryBytes/2+1)
	first := threadTask(t1, 1, "", task.Succeeded)
	first.Text, first.Result = "q1", big
	second := threadTask(t2, 2, t1, task.Succeeded)
	second.Text, second.Result = "q2", big
	h := newHarness(t, tasktest.New(first, second, threadTask(id1, 3, t2, task.Queued)))
	if failed := handle(t, h, record(t, threadMessage(id1, 0), workARN, 1)); len(failed) != 0 {
		t.Fatalf("failed = %v", failed)
	}
	hist := h.disp.calls[0].History
	size := 0
	for _, m := range hist {
		size += len(m.Content)
	}
	if size > worker.MaxHistoryBytes || len(hist) == 0 || hist[len(hist)-1].Content != big || hist[0].TaskID != t2 {
		t.Errorf("history of %d messages, %d bytes, first of %s; want the newest within %d bytes", len(hist), size, hist[0].TaskID, worker.MaxHistoryBytes)
	}
}
