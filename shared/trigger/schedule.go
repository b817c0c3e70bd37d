package trigger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// The EventBridge Scheduler context attributes a schedule's input may hold: Scheduler replaces
// each with its value when it invokes the target.
const (
	// ScheduleExecutionID is the unique id of the invocation: the envelope's id, and so the
	// idempotency key (scheduler:<id>) when the invocation names none.
	ScheduleExecutionID = "<aws.scheduler.execution-id>"
	ScheduledTime       = "<aws.scheduler.scheduled-time>"
	ScheduleARN         = "<aws.scheduler.schedule-arn>"
)

// ScheduleInput returns the input of a schedule whose target is the trigger function: an
// EventBridge-shaped envelope (source SourceScheduler, detail-type DetailTypeScheduled) around
// detail, the invocation object (agent_id, the body in its dialect, the control fields). The
// stack passes it as the target's input object (CDK's ScheduleTargetInput.fromObject), or as
// text from ScheduleInputJSON.
func ScheduleInput(detail map[string]any) map[string]any {
	return map[string]any{
		"version":     "0",
		"id":          ScheduleExecutionID,
		"detail-type": DetailTypeScheduled,
		"source":      SourceScheduler,
		"time":        ScheduledTime,
		"resources":   []any{ScheduleARN},
		"detail":      detail,
	}
}

// ScheduleInputJSON returns ScheduleInput(detail) as JSON text for a schedule target's Input.
// Use it rather than json.Marshal, which escapes '<' and '>' (as \u003c, \u003e): Scheduler would
// then not find its context attributes to replace.
func ScheduleInputJSON(detail map[string]any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ScheduleInput(detail)); err != nil {
		return "", fmt.Errorf("encode schedule input: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}
