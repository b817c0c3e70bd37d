package reason_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/reason"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/webhook"
	"github.com/agentq/agentq/shared/webhook/settings"
)

func TestOf(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		d         task.Dialect
		kind      reason.Kind
		code      string
		retryable bool
		known     bool
		taskID    string
	}{
		{"validation", &dialect.ValidationError{}, task.Xpander, reason.Invalid, "validation_failed", false, true, ""},
		{"malformed", fmt.Errorf("%w: x", dialect.ErrMalformed), task.Xpander, reason.Malformed, "malformed_json", false, true, ""},
		{"policy", &agent.PolicyError{Code: "approval_required", Message: "confirm"}, task.Xpander, reason.Forbidden, "approval_required", false, true, ""},
		{"send failed, task abandoned", &accept.DispatchError{Task: &task.Task{ID: "t1"}, Err: fmt.Errorf("%w: sqs", accept.ErrQueueUnavailable)}, task.Xpander, reason.Unavailable, "queue_unavailable", true, true, "t1"},
		{"write failed, task abandoned", &accept.DispatchError{Task: &task.Task{ID: "t2"}, Err: fmt.Errorf("%w: ddb", accept.ErrStoreUnavailable)}, task.ServiceNet, reason.Unavailable, "store_unavailable", true, true, "t2"},
		{"store down", fmt.Errorf("x: %w", accept.ErrStoreUnavailable), task.Xpander, reason.Unavailable, "store_unavailable", true, true, ""},
		{"task", fmt.Errorf("get: %w", task.ErrNotFound), task.Xpander, reason.NotFound, "task_not_found", false, true, ""},
		{"receipt", fmt.Errorf("get: %w", task.ErrNotFound), task.ServiceNet, reason.NotFound, "receipt_not_found", false, true, ""},
		{"delivery", webhook.ErrNotFound, task.Xpander, reason.NotFound, "delivery_not_found", false, true, ""},
		{"webhook url", settings.ErrInvalidURL, task.ServiceNet, reason.Unprocessable, "validation_failed", false, true, ""},
		{"thread busy", accept.ErrThreadBusy, task.Xpander, reason.Conflict, "thread_busy", false, true, ""},
		{"unknown", errors.New("boom"), task.Xpander, reason.Unavailable, "unavailable", true, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, known := reason.Of(tt.err, tt.d, "echo")
			if r.Kind != tt.kind || r.Code != tt.code || r.Retryable != tt.retryable || known != tt.known || r.TaskID != tt.taskID {
				t.Errorf("Of = %+v known %v; want kind %d code %s retryable %v known %v task %q", r, known, tt.kind, tt.code, tt.retryable, tt.known, tt.taskID)
			}
			if r.Message == "" {
				t.Error("a reason needs a message")
			}
		})
	}
}

// A submission that failed halfway names its task in its final state, in the dialect's words:
// the caller learns the task will not run.
func TestDispatchNamesTheFailedTask(t *testing.T) {
	de := &accept.DispatchError{Task: &task.Task{ID: "t1", State: task.Failed}, Err: fmt.Errorf("%w: sqs", accept.ErrQueueUnavailable)}
	for _, d := range []task.Dialect{task.Xpander, task.ServiceNet} {
		r, _ := reason.Of(de, d, "echo")
		want := dialect.XpanderStatus(task.Failed)
		if d == task.ServiceNet {
			want = dialect.ServiceNetStatus(task.Failed)
		}
		if r.TaskID != "t1" || r.TaskStatus != want || want == "" {
			t.Errorf("%s: task %q status %q; want t1 %q", d, r.TaskID, r.TaskStatus, want)
		}
	}
}
