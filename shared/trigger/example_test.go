package trigger_test

import (
	"fmt"

	"github.com/agentq/agentq/shared/trigger"
)

// A schedule that invokes the echo agent every night: its target's input is the envelope, in
// which Scheduler fills in its execution id, time and ARN.
func ExampleScheduleInputJSON() {
	input, err := trigger.ScheduleInputJSON(map[string]any{
		"agent_id": "echo",
		"tenant":   "acme",
		"input":    map[string]any{"text": "Summarize yesterday's orders"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(input)
	// Output:
	// {"detail":{"agent_id":"echo","input":{"text":"Summarize yesterday's orders"},"tenant":"acme"},"detail-type":"Scheduled Agent Invocation","id":"<aws.scheduler.execution-id>","resources":["<aws.scheduler.schedule-arn>"],"source":"aws.scheduler","time":"<aws.scheduler.scheduled-time>","version":"0"}
}
