package system

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/dispatch/a2atest"
	"github.com/agentq/agentq/shared/notify"
)

// publishA2A publishes the agent under a fresh id and returns the id. fields are more fields of
// its definition, as JSON members (`"a2a_version":"0.3"`).
func publishA2A(t *testing.T, ag *a2atest.Agent, fields ...string) string {
	t.Helper()
	id := "a2a-" + uuid.NewString()[:8]
	extra := ""
	for _, f := range fields {
		extra += "," + f
	}
	code, body := request(t, http.MethodPut, "/v1/agents/"+id, testAdminKey,
		fmt.Sprintf(`{"protocol":"a2a","endpoint":%q,"timeout":"10s","publish":true%s}`, ag.URL, extra))
	if code != http.StatusOK {
		t.Fatalf("publish = %d %v", code, body)
	}
	return id
}

func TestA2AImmediateAnswer(t *testing.T) {
	id := publishA2A(t, a2atest.New(t, 1))
	_, body := post(t, "/v1/agents/"+id+"/invoke/async", `{"input":{"text":"echo hello there"}}`)
	if done := waitFor(t, "/v1/tasks/"+body["task_id"].(string), "completed", "failed", "error"); done["result"] != "a2a: echo hello there" {
		t.Fatalf("task = %v", done)
	}
}

// TestA2ALongRunningTask: the agent keeps its task working past the call; the worker is not held,
// and checks back until the task completes. The agent speaks A2A 1.0 (its card or its definition
// says so) or 0.3 (it has neither card nor a2a_version).
func TestA2ALongRunningTask(t *testing.T) {
	tests := []struct {
		name      string
		agent     func(t *testing.T) *a2atest.Agent
		fields    []string
		send, get string
	}{
		{"1.0 from its card", func(t *testing.T) *a2atest.Agent { return a2atest.New(t, 40) }, nil, "SendMessage", "GetTask"},
		{"1.0 from its definition", func(t *testing.T) *a2atest.Agent { return a2atest.New(t, 40, a2atest.NoCard()) },
			[]string{`"a2a_version":"1.0"`}, "SendMessage", "GetTask"},
		{"0.3 without a card", func(t *testing.T) *a2atest.Agent { return a2atest.New(t, 40, a2atest.Legacy(), a2atest.NoCard()) },
			nil, "message/send", "tasks/get"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ag := tt.agent(t)
			id := publishA2A(t, ag, tt.fields...)
			_, body := post(t, "/v1/agents/"+id+"/invoke-async", `{"message":"slow please"}`)
			done := waitFor(t, "/v1/receipts/"+body["receipt_id"].(string), "succeeded", "failed")
			// The receipt's output is the agent's JSON answer, the A2A task; its text is the task's result.
			if _, _, x := call(t, http.MethodGet, "/v1/tasks/"+body["receipt_id"].(string), ""); statusOf(done) != "succeeded" || x["result"] != "slow result" {
				t.Fatalf("receipt = %v, task result %v", done, x["result"])
			}
			if n := ag.Count(tt.send); n != 1 {
				t.Errorf("%s sent %d times, want 1: checks must not send the task again", tt.send, n)
			}
			if n := ag.Count(tt.get); n < 40 {
				t.Errorf("%s %d times, want at least 40", tt.get, n)
			}
		})
	}
}

// TestA2AInputRequiredThenResumed: the agent pauses for input; the next turn on the same
// conversation answers it and the agent's task completes.
func TestA2AInputRequiredThenResumed(t *testing.T) {
	id := publishA2A(t, a2atest.New(t, 1))
	thread := "pay-" + uuid.NewString()
	_, first := post(t, "/v1/agents/"+id+"/invoke/async", fmt.Sprintf(`{"input":{"text":"ask me"},"id":%q,"completion_event":true}`, thread))
	paused := waitFor(t, "/v1/tasks/"+first["task_id"].(string), "paused", "failed", "error")
	hitl, _ := paused["hitl_request"].(map[string]any)
	if paused["status"] != "paused" || hitl["message"] != "which currency?" {
		t.Fatalf("first turn = %v", paused)
	}
	// The pause is told on the bus, with what the agent asked (events_test.go).
	if _, d := busEvent(t, first["task_id"].(string), notify.DetailPaused); d.State != "paused" || !strings.Contains(fmt.Sprint(d.Task), "which currency?") {
		t.Errorf("paused event detail = %+v", d)
	}
	_, second := post(t, "/v1/agents/"+id+"/invoke/async", fmt.Sprintf(`{"input":{"text":"AUD"},"id":%q}`, thread))
	done := waitFor(t, "/v1/tasks/"+second["task_id"].(string), "completed", "failed", "error")
	if done["result"] != "paid in AUD" {
		t.Fatalf("answering turn = %v", done)
	}
	if _, _, firstNow := call(t, http.MethodGet, "/v1/tasks/"+first["task_id"].(string), ""); firstNow["status"] != "completed" {
		t.Errorf("the answered turn is %v, want completed", firstNow["status"])
	}
}

// TestA2AStopCancelsAtTheAgent: stopping a task the agent works on asynchronously cancels it there.
func TestA2AStopCancelsAtTheAgent(t *testing.T) {
	ag := a2atest.New(t, 1)
	id := publishA2A(t, ag)
	_, body := post(t, "/v1/agents/"+id+"/invoke/async", `{"input":{"text":"hold on"}}`)
	taskID := body["task_id"].(string)
	// Wait until the agent has the task (the first check has happened).
	deadline := time.Now().Add(20 * time.Second)
	for ag.Count("GetTask") == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	code, stopped := post(t, "/v1/tasks/"+taskID+"/stop", "")
	if code != http.StatusOK || stopped["status"] != "stopped" {
		t.Fatalf("stop = %d %v", code, stopped)
	}
	for ag.Count("CancelTask") == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if ag.Count("CancelTask") == 0 {
		t.Fatal("the agent was never asked to cancel")
	}
	if _, _, now := call(t, http.MethodGet, "/v1/tasks/"+taskID, ""); now["status"] != "stopped" {
		t.Errorf("task after cancel = %v", now["status"])
	}
}
