package dialect_test

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/task"
)

var allStates = []task.State{task.Queued, task.Running, task.Paused, task.Succeeded, task.Failed, task.Error, task.Canceled, task.Rejected}

func TestXpanderStatus(t *testing.T) {
	want := map[task.State]string{
		task.Queued: "pending", task.Running: "executing", task.Paused: "paused", task.Succeeded: "completed",
		task.Failed: "failed", task.Error: "error", task.Canceled: "stopped", task.Rejected: "failed",
	}
	// The reference's status vocabulary; nothing else may appear.
	vocabulary := []string{"pending", "executing", "paused", "error", "failed", "completed", "stopped"}
	for _, s := range allStates {
		t.Run(string(s), func(t *testing.T) {
			got := dialect.XpanderStatus(s)
			if got != want[s] {
				t.Errorf("XpanderStatus(%s) = %q, want %q", s, got, want[s])
			}
			if !slices.Contains(vocabulary, got) {
				t.Errorf("XpanderStatus(%s) = %q is not in the xpander vocabulary", s, got)
			}
		})
	}
}

func TestServiceNetStatus(t *testing.T) {
	want := map[task.State]string{
		task.Queued: "running", task.Running: "running", task.Paused: "running", task.Succeeded: "succeeded",
		task.Failed: "failed", task.Error: "failed", task.Canceled: "failed", task.Rejected: "rejected",
	}
	for _, s := range allStates {
		t.Run(string(s), func(t *testing.T) {
			if got := dialect.ServiceNetStatus(s); got != want[s] {
				t.Errorf("ServiceNetStatus(%s) = %q, want %q", s, got, want[s])
			}
		})
	}
}

var (
	created  = time.Date(2026, 2, 7, 2, 13, 26, 325626000, time.UTC)
	started  = created.Add(time.Second)
	finished = created.Add(15 * time.Second)
)

// xpanderTask returns a task as accept records it from xpanderFull, in state s.
func xpanderTask(t *testing.T, s task.State) *task.Task {
	t.Helper()
	inv, err := dialect.DecodeXpander([]byte(xpanderFull))
	if err != nil {
		t.Fatal(err)
	}
	tk := &task.Task{
		ID: "81250b20-e9d7-4b3b-9995-07dc72b4bb59", Tenant: "org-1", AgentID: "echo", AgentVersion: "3",
		Dialect: task.Xpander, Source: "api", ThreadID: inv.ThreadID, State: s, Version: 1,
		Request: inv.Body, Text: inv.Text, CostUnits: 2, CreatedAt: created, UpdatedAt: created,
	}
	if s != task.Queued {
		tk.StartedAt, tk.Attempts = started, 1
	}
	if s.Terminal() {
		tk.FinishedAt = finished
	}
	return tk
}

// marshal renders v as JSON and reads it back as a generic object, the way a client sees it.
func marshal(t *testing.T, v any) (string, map[string]any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return string(b), m
}

func TestXpanderEchoesTheRequest(t *testing.T) {
	tk := xpanderTask(t, task.Running)
	raw, got := marshal(t, dialect.Xpander(tk))
	var req map[string]any
	if err := json.Unmarshal([]byte(xpanderFull), &req); err != nil {
		t.Fatal(err)
	}
	// Fields the task shape shares with the request are echoed as sent.
	for _, k := range []string{"input", "payload_extension", "source", "worker_id", "additional_context",
		"instructions_override", "expected_output", "test_run_node_id", "output_format", "output_schema",
		"events_streaming", "mcp_servers", "triggering_agent_id", "title", "think_mode",
		"disable_attachment_injection", "return_metrics", "llm_model_provider", "llm_model_name", "llm_reasoning_effort"} {
		if !reflect.DeepEqual(got[k], req[k]) {
			t.Errorf("%s = %v, want %v", k, got[k], req[k])
		}
	}
	wantFields := map[string]any{
		// xpander's id names the conversation; task_id names this turn.
		"id": "a37db9a1-e483-4544-9136-b32120ae8c81", "task_id": tk.ID,
		"agent_id": "echo", "organization_id": "org-1", "status": "executing",
		"internal_status": "running", "agent_version": "3", "parent_execution": req["parent_execution_id"],
		"thread_id": "a37db9a1-e483-4544-9136-b32120ae8c81", "execution_attempts": float64(1), "cost_units": float64(2),
		"created_at": "2026-02-07T02:13:26.325626Z", "started_at": "2026-02-07T02:13:27.325626Z",
		"finished_at": nil, "paused_at": nil, "result": nil, "is_background": true, "is_manually_stopped": false,
	}
	for k, want := range wantFields {
		if !reflect.DeepEqual(got[k], want) {
			t.Errorf("%s = %#v, want %#v", k, got[k], want)
		}
	}
	if _, ok := got["error"]; ok {
		t.Errorf("a running task shows an error: %v", got["error"])
	}
	// Secrets are never shown, however they came.
	for _, secret := range []string{"ghp_user_token_value", "oidc-token-value"} {
		if strings.Contains(raw, secret) {
			t.Errorf("xpander view shows secret %q: %s", secret, raw)
		}
	}
	if !reflect.DeepEqual(got["user_tokens"], map[string]any{}) || got["user_oidc_token"] != nil {
		t.Errorf("user_tokens = %v, user_oidc_token = %v; want {} and null", got["user_tokens"], got["user_oidc_token"])
	}
}

func TestXpanderNeverShowsSecretsEvenIfStored(t *testing.T) {
	tk := xpanderTask(t, task.Succeeded)
	tk.Request = json.RawMessage(xpanderFull) // a body that kept its secrets must not leak them
	raw, got := marshal(t, dialect.Xpander(tk))
	for _, secret := range []string{"ghp_user_token_value", "oidc-token-value"} {
		if strings.Contains(raw, secret) {
			t.Errorf("xpander view shows secret %q: %s", secret, raw)
		}
	}
	if got["user_oidc_token"] != nil {
		t.Errorf("user_oidc_token = %v, want null", got["user_oidc_token"])
	}
}

func TestXpanderResultOnlyWhenSucceeded(t *testing.T) {
	for _, s := range allStates {
		t.Run(string(s), func(t *testing.T) {
			tk := xpanderTask(t, s)
			tk.Result = "the answer"
			_, got := marshal(t, dialect.Xpander(tk))
			want := any(nil)
			if s == task.Succeeded {
				want = "the answer"
			}
			if got["result"] != want {
				t.Errorf("result = %#v, want %#v", got["result"], want)
			}
			if got["status"] != dialect.XpanderStatus(s) || got["internal_status"] != string(s) {
				t.Errorf("status = %v / %v, want %s / %s", got["status"], got["internal_status"], dialect.XpanderStatus(s), s)
			}
			if (got["finished_at"] != nil) != s.Terminal() {
				t.Errorf("finished_at = %v for a %s task", got["finished_at"], s)
			}
			if got["is_manually_stopped"] != (s == task.Canceled) {
				t.Errorf("is_manually_stopped = %v for a %s task", got["is_manually_stopped"], s)
			}
		})
	}
	// An empty answer is still an answer: "" and not null.
	tk := xpanderTask(t, task.Succeeded)
	_, got := marshal(t, dialect.Xpander(tk))
	if got["result"] != "" {
		t.Errorf("result of a succeeded task with an empty answer = %#v, want \"\"", got["result"])
	}
}

func TestErrorInfo(t *testing.T) {
	tests := []struct {
		state  task.State
		reason string
		want   bool
	}{
		{task.Failed, task.ReasonAgentRejected, true},
		{task.Error, task.ReasonDeadLettered, true},
		{task.Canceled, "canceled", true},
		{task.Rejected, "approval_required", true},
		{task.Failed, "", false},
		{task.Queued, task.ReasonAgentUnavailable, false}, // the last attempt's failure, not an outcome
		{task.Running, task.ReasonAgentTimeout, false},
		{task.Succeeded, task.ReasonAgentUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.state)+"/"+tt.reason, func(t *testing.T) {
			tk := xpanderTask(t, tt.state)
			tk.Reason, tk.ReasonMessage = tt.reason, "agent answered 400: bad"
			want := any(nil)
			if tt.want {
				want = map[string]any{"code": tt.reason, "message": "agent answered 400: bad"}
			}
			_, x := marshal(t, dialect.Xpander(tk))
			if !reflect.DeepEqual(x["error"], want) {
				t.Errorf("xpander error = %v, want %v", x["error"], want)
			}
			_, r := marshal(t, dialect.ServiceNet(tk))
			if !reflect.DeepEqual(r["error"], want) {
				t.Errorf("servicenet error = %v, want %v", r["error"], want)
			}
		})
	}
}

func TestXpanderOfAServiceNetTask(t *testing.T) {
	inv, err := dialect.DecodeServiceNet([]byte(serviceNetExample))
	if err != nil {
		t.Fatal(err)
	}
	tk := &task.Task{ID: "f1e2d3c4-0000-0000-0000-000000000002", Tenant: "org-1", AgentID: "stripe-agent",
		Dialect: task.ServiceNet, Source: "api", State: task.Queued, Request: inv.Body, Text: inv.Text, CreatedAt: created}
	raw, got := marshal(t, dialect.Xpander(tk))
	if got["id"] != tk.ID || got["task_id"] != tk.ID {
		t.Errorf("id, task_id = %v, %v; want the receipt id for both", got["id"], got["task_id"])
	}
	if !reflect.DeepEqual(got["input"], map[string]any{"text": "Create a payment link for 15 AUD"}) {
		t.Errorf("input = %v, want the message as input.text", got["input"])
	}
	if got["source"] != "api" || got["output_format"] != "text" || got["think_mode"] != "default" {
		t.Errorf("defaults: source %v, output_format %v, think_mode %v", got["source"], got["output_format"], got["think_mode"])
	}
	if !reflect.DeepEqual(got["mcp_servers"], []any{}) || !reflect.DeepEqual(got["sub_executions"], []any{}) {
		t.Errorf("lists must be [] not null: mcp_servers %v, sub_executions %v", got["mcp_servers"], got["sub_executions"])
	}
	if got["agent_version"] != nil || got["thread_id"] != nil {
		t.Errorf("empty agent_version / thread_id must be null: %v / %v", got["agent_version"], got["thread_id"])
	}
	if strings.Contains(raw, "secret-token") {
		t.Errorf("view shows the auth token: %s", raw)
	}
}

func TestServiceNetAccepted(t *testing.T) {
	tk := &task.Task{ID: "f1e2d3c4-0000-0000-0000-000000000002", AgentID: "stripe-agent", Tenant: "org-1",
		State: task.Queued, Text: "Create a payment link for 15 AUD", Request: json.RawMessage(`{"message":"x"}`),
		CreatedAt: created, ThreadID: "ctx", CostUnits: 3}
	b, err := json.Marshal(dialect.ServiceNetAccepted(tk))
	if err != nil {
		t.Fatal(err)
	}
	// Exactly the reference's example response, key for key.
	want := `{"agent_id":"stripe-agent","status":"running","receipt_id":"f1e2d3c4-0000-0000-0000-000000000002","message":"ServiceNet invocation accepted","raw":{}}`
	if string(b) != want {
		t.Errorf("ServiceNetAccepted = %s\nwant                 %s", b, want)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(keys))
	if want := []string{"agent_id", "message", "raw", "receipt_id", "status"}; !slices.Equal(got, want) {
		t.Errorf("keys = %v, want %v", got, want)
	}
}

// execution_attempts reads 1 on a new task, as the reference's do, and counts claims from there.
func TestXpanderExecutionAttempts(t *testing.T) {
	tests := []struct {
		state    task.State
		attempts int
		want     int
	}{
		{task.Queued, 0, 1},    // new: its first attempt is the one it waits for
		{task.Running, 1, 1},   // the first attempt runs
		{task.Queued, 1, 1},    // it failed in a retryable way; the retry has not started
		{task.Running, 2, 2},   // the retry runs
		{task.Succeeded, 3, 3}, // ended on the third
	}
	for _, tt := range tests {
		got := dialect.Xpander(&task.Task{ID: "t", State: tt.state, Attempts: tt.attempts}).ExecutionAttempts
		if got != tt.want {
			t.Errorf("%s after %d claims: execution_attempts = %d, want %d", tt.state, tt.attempts, got, tt.want)
		}
	}
}

func TestXpanderItem(t *testing.T) {
	created := time.Date(2026, 2, 7, 2, 13, 26, 0, time.UTC)
	tk := &task.Task{
		ID: "t1", Tenant: "org-1", AgentID: "echo", Dialect: task.Xpander, State: task.Succeeded, Result: "done",
		Request:      json.RawMessage(`{"input":{"text":"hi","user":{"id":"u-1","email":"u@example.com"}},"source_node_type":"sdk","parent_execution_id":"p-1"}`),
		ParentTaskID: "p-1", UserID: "u-1", CreatedAt: created, UpdatedAt: created.Add(time.Minute),
	}
	b, err := json.Marshal(dialect.XpanderItem(tk))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"id": "t1", "agent_id": "echo", "organization_id": "org-1", "status": "completed", "result": "done",
		"user_id": "u-1", "parent_task_id": "p-1", "source_node_type": "sdk", "updated_at": "2026-02-07T02:14:26Z",
		"created_at": "2026-02-07T02:13:26Z", "title": nil, "triggering_agent_id": nil,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	// A task never written since its creation was last updated then.
	tk.UpdatedAt = time.Time{}
	if it := dialect.XpanderItem(tk); !it.UpdatedAt.Equal(created) {
		t.Errorf("updated_at = %v, want the creation", it.UpdatedAt)
	}
}
