package worker

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
)

// TestDecide covers every fate an agent call can give a task; decide does no I/O, so each row is
// the whole decision.
func TestDecide(t *testing.T) {
	now := time.Date(2026, 2, 7, 2, 14, 0, 0, time.UTC)
	const schema = `{"type":"object","required":["total"]}`
	plain := &queue.Message{TaskID: "t1", Agent: agent.Agent{ID: "a", MaxDuration: agent.Duration(time.Hour)},
		Request: json.RawMessage(`{"input":{"text":"x"}}`), AcceptedAt: now.Add(-time.Minute)}
	withSchema := *plain
	withSchema.Request = json.RawMessage(`{"input":{"text":"x"},"output_format":"json","output_schema":` + schema + `}`)
	late := *plain
	late.AcceptedAt = now.Add(-2 * time.Hour)
	claimed := &task.Task{ID: "t1", State: task.Running, Version: 7}
	used := task.Usage{Tokens: task.Tokens{Prompt: 3, Completion: 4}, Actions: 1, Cost: 0.002}

	tests := []struct {
		name    string
		m       *queue.Message
		res     dispatch.Result
		err     error
		want    task.Change
		wantHIT bool
		cancel  string
	}{
		{name: "success", m: plain, res: dispatch.Result{Text: "hi", Usage: used},
			want: task.Change{To: task.Succeeded, Result: "hi", Usage: used}},
		{name: "success matching the schema", m: &withSchema, res: dispatch.Result{Text: `{"total":1}`, Output: json.RawMessage(`{"total":1}`)},
			want: task.Change{To: task.Succeeded, Result: `{"total":1}`, Output: json.RawMessage(`{"total":1}`)}},
		{name: "schema violation keeps the answer", m: &withSchema, res: dispatch.Result{Text: `{"sum":1}`},
			want: task.Change{To: task.Failed, Result: `{"sum":1}`, Reason: task.ReasonOutputSchemaMismatch}},
		{name: "retryable", m: plain, err: &dispatch.Error{Reason: task.ReasonAgentTimeout, Message: "slow", Retryable: true},
			want: task.Change{To: task.Queued, Reason: task.ReasonAgentTimeout, ReasonMessage: "slow"}},
		{name: "unclassified error is retried", m: plain, err: errors.New("connection reset"),
			want: task.Change{To: task.Queued, Reason: task.ReasonAgentUnavailable, ReasonMessage: "connection reset"}},
		{name: "permanent", m: plain, err: &dispatch.Error{Reason: task.ReasonAgentRejected, Message: "no"},
			want: task.Change{To: task.Failed, Reason: task.ReasonAgentRejected, ReasonMessage: "no"}},
		{name: "remote task still working", m: plain, err: &dispatch.Pending{RemoteTaskID: "r1", State: "working"},
			want: task.Change{To: task.Running, RemoteTaskID: "r1", ReleaseLease: true}},
		{name: "deadline", m: &late, err: &dispatch.Pending{RemoteTaskID: "r1", State: "working"},
			want: task.Change{To: task.Error, Reason: task.ReasonDeadlineExceeded, ReasonMessage: "the agent did not finish within 1h0m0s"}, cancel: "r1"},
		{name: "input required", m: plain, err: &dispatch.NeedsInput{RemoteTaskID: "r2", State: "input-required", Message: "which?"},
			want: task.Change{To: task.Paused, RemoteTaskID: "r2"}, wantHIT: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := decide(tt.m, claimed, tt.res, tt.err, now)
			got := v.change
			if len(got.From) != 1 || got.From[0] != task.Running || got.Version != claimed.Version || !got.Now.Equal(now) {
				t.Errorf("condition = from %v version %d at %v; want from running, version %d, at now", got.From, got.Version, got.Now, claimed.Version)
			}
			if tt.want.Reason == task.ReasonOutputSchemaMismatch && got.ReasonMessage != "" {
				tt.want.ReasonMessage = got.ReasonMessage // the validator's words
			}
			if got.To != tt.want.To || got.Reason != tt.want.Reason || got.ReasonMessage != tt.want.ReasonMessage ||
				got.Result != tt.want.Result || string(got.Output) != string(tt.want.Output) || got.Usage != tt.want.Usage ||
				got.RemoteTaskID != tt.want.RemoteTaskID || got.ReleaseLease != tt.want.ReleaseLease {
				t.Errorf("change = %+v\nwant     %+v", got, tt.want)
			}
			if tt.want.Reason == task.ReasonOutputSchemaMismatch && got.ReasonMessage == "" {
				t.Error("a schema violation must say what did not match")
			}
			if (len(got.HITL) > 0) != tt.wantHIT {
				t.Errorf("hitl_request = %s, want one: %v", got.HITL, tt.wantHIT)
			}
			if v.cancel != tt.cancel {
				t.Errorf("cancel = %q, want %q", v.cancel, tt.cancel)
			}
		})
	}
}

// TestSuperseded: an outcome that lost the race to a stop cancels the agent's task it started;
// one that lost to another delivery leaves it be.
func TestSuperseded(t *testing.T) {
	tests := []struct {
		name    string
		change  task.Change
		current task.State
		want    string
	}{
		{"stop requested while the agent took the task on", task.Change{To: task.Running, RemoteTaskID: "r1"}, task.Canceled, "r1"},
		{"stop requested, no agent task", task.Change{To: task.Succeeded}, task.Canceled, ""},
		{"another delivery finished first", task.Change{To: task.Running, RemoteTaskID: "r1"}, task.Succeeded, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := superseded(tt.change, &task.Task{State: tt.current}); got != tt.want {
				t.Errorf("cancel = %q, want %q", got, tt.want)
			}
		})
	}
}
