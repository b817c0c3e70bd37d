package client_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/agentq/agentq/client"
	"github.com/agentq/agentq/shared/notify"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tasklog"
	"github.com/agentq/agentq/shared/webhook"
)

// TestWebhookProgressEventDecodes: the body the notifier sends for a task.progress delivery
// decodes into the client's WebhookProgressEvent, naming the task and the event's seq and type.
func TestWebhookProgressEventDecodes(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	tk := &task.Task{ID: "81250b20-5d4f-4c1e-9a53-6a3c1f0b9e11", Tenant: "acme", AgentID: "echo", Dialect: task.Xpander}
	detail, err := notify.NewProgressDetail(tk, tasklog.Event{Seq: 3, Type: tasklog.Status, At: at, Data: json.RawMessage(`{"message":"thinking"}`)})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(webhook.Event{Type: "task.progress", Timestamp: at, Data: detail})
	if err != nil {
		t.Fatal(err)
	}
	var ev client.WebhookProgressEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if ev.Type != "task.progress" || ev.Data.TaskId.String() != tk.ID || ev.Data.Seq != 3 || string(ev.Data.Type) != "status" ||
		ev.Data.Data == nil || (*ev.Data.Data)["message"] != "thinking" {
		t.Errorf("decoded %+v from %s", ev, body)
	}
}
