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
		{"dispatch", &accept.DispatchError{Task: &task.Task{ID: "t1"}, Err: errors.New("sqs")}, task.Xpander, reason.DispatchFailed, "dispatch_failed", true, true, "t1"},
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
