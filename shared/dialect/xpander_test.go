package dialect_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/task"
)

// xpanderFull is the reference's full request example with its placeholders filled in.
const xpanderFull = `{
  "input": {
    "text": "Analyze competitor pricing for Q1 2026",
    "files": ["https://example.com/q1.pdf"],
    "user": {
      "email": "ada@example.com",
      "id": "user-42",
      "first_name": "Ada",
      "last_name": "Lovelace",
      "display_name": "Ada L.",
      "additional_attributes": {"team": "pricing"},
      "role": "member",
      "is_super_admin": false,
      "timezone": "Europe/London"
    }
  },
  "id": "a37db9a1-e483-4544-9136-b32120ae8c81",
  "payload_extension": {"trace": "abc"},
  "parent_execution_id": "550e8400-e29b-41d4-a716-446655440000",
  "worker_id": "worker-1",
  "source": "api-integration",
  "output_format": "json",
  "output_schema": {"type": "object"},
  "run_locally": false,
  "additional_context": "This is for executive leadership.",
  "instructions_override": "Be brief.",
  "test_run_node_id": "node-1",
  "expected_output": "A 500-word summary",
  "events_streaming": false,
  "mcp_servers": [{"name": "search", "url": "https://mcp.example.com"}],
  "triggering_agent_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
  "title": "Q4 Sales Analysis",
  "think_mode": "harder",
  "disable_attachment_injection": false,
  "user_tokens": {"github": "ghp_user_token_value"},
  "user_oidc_token": "oidc-token-value",
  "return_metrics": true,
  "llm_model_provider": "anthropic",
  "llm_model_name": "claude",
  "llm_reasoning_effort": "high",
  "source_node_type": "sdk"
}`

func TestDecodeXpanderValid(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		wantText   string
		wantThread string
	}{
		{"reference basic example", `{"input": {"text": "Analyze competitor pricing for Q1 2026"}}`, "Analyze competitor pricing for Q1 2026", ""},
		{"reference full example", xpanderFull, "Analyze competitor pricing for Q1 2026", "a37db9a1-e483-4544-9136-b32120ae8c81"},
		{"user null", `{"input": {"text": "t", "user": null}}`, "t", ""},
		{"nulls everywhere", `{"input": {"text": "t", "files": null}, "id": null, "output_schema": null, "think_mode": null, "mcp_servers": null, "user_tokens": null}`, "t", ""},
		{"empty objects", `{"input": {"text": "t"}, "output_schema": {}, "payload_extension": {}, "user_tokens": {}}`, "t", ""},
		{"unknown fields are kept", `{"input": {"text": "t"}, "future_field": [1, 2]}`, "t", ""},
		{"text at its limit", `{"input": {"text": "` + strings.Repeat("a", 256<<10) + `"}}`, strings.Repeat("a", 256<<10), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := dialect.DecodeXpander([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeXpander: %v", err)
			}
			if inv.Dialect != task.Xpander {
				t.Errorf("Dialect = %q, want xpander", inv.Dialect)
			}
			if inv.Text != tt.wantText {
				t.Errorf("Text = %.40q, want %.40q", inv.Text, tt.wantText)
			}
			if inv.ThreadID != tt.wantThread {
				t.Errorf("ThreadID = %q, want %q", inv.ThreadID, tt.wantThread)
			}
			if inv.AuthToken != "" {
				t.Errorf("AuthToken = %q; xpander has no auth_token", inv.AuthToken)
			}
			// Body is the request as sent, minus its secrets.
			var want map[string]any
			if err := json.Unmarshal([]byte(tt.body), &want); err != nil {
				t.Fatal(err)
			}
			delete(want, "user_tokens")
			delete(want, "user_oidc_token")
			wantBody, _ := json.Marshal(want)
			if !jsonEqual(t, inv.Body, wantBody) {
				t.Errorf("Body = %.200s, want %.200s", inv.Body, wantBody)
			}
		})
	}
}

func TestDecodeXpanderSecrets(t *testing.T) {
	inv, err := dialect.DecodeXpander([]byte(xpanderFull))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"ghp_user_token_value", "oidc-token-value", "user_tokens", "user_oidc_token"} {
		if strings.Contains(string(inv.Body), secret) {
			t.Errorf("Body holds %q: %s", secret, inv.Body)
		}
	}
	if len(inv.Secrets) != 2 {
		t.Fatalf("Secrets = %v, want user_tokens and user_oidc_token", inv.Secrets)
	}
	if !jsonEqual(t, inv.Secrets["user_tokens"], []byte(`{"github": "ghp_user_token_value"}`)) {
		t.Errorf("Secrets[user_tokens] = %s", inv.Secrets["user_tokens"])
	}
	if string(inv.Secrets["user_oidc_token"]) != `"oidc-token-value"` {
		t.Errorf("Secrets[user_oidc_token] = %s", inv.Secrets["user_oidc_token"])
	}

	// Without secret fields there is no Secrets map at all.
	inv, err = dialect.DecodeXpander([]byte(`{"input":{"text":"t"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Secrets != nil {
		t.Errorf("Secrets = %v, want nil", inv.Secrets)
	}
}

func TestDecodeXpanderInvalid(t *testing.T) {
	user := func(fields string) string { return `{"input":{"text":"t","user":{` + fields + `}}}` }
	with := func(fields string) string { return `{"input":{"text":"t"},` + fields + `}` }
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		body string
		loc  string
		typ  string
	}{
		{"no input", `{}`, "body.input", "missing"},
		{"input null", `{"input": null}`, "body.input", "missing"},
		{"no text", `{"input": {}}`, "body.input.text", "missing"},
		{"text null", `{"input": {"text": null}}`, "body.input.text", "missing"},
		{"text empty", `{"input": {"text": ""}}`, "body.input.text", "empty"},
		{"text blank", `{"input": {"text": " \n\t"}}`, "body.input.text", "empty"},
		{"text too long", `{"input": {"text": "` + long(256<<10+1) + `"}}`, "body.input.text", "too_long"},
		{"user without id", user(`"email":"a@example.com"`), "body.input.user.id", "missing"},
		{"user with empty id", user(`"id":"","email":"a@example.com"`), "body.input.user.id", "missing"},
		{"user without email", user(`"id":"u1"`), "body.input.user.email", "missing"},
		{"user with bad email", user(`"id":"u1","email":"not-an-address"`), "body.input.user.email", "missing"},
		{"empty user", user(``), "body.input.user.id", "missing"},
		{"user role", user(`"id":"u1","email":"a@example.com","role":"root"`), "body.input.user.role", "enum"},
		{"user attributes array", user(`"id":"u1","email":"a@example.com","additional_attributes":[]`), "body.input.user.additional_attributes", "type_error"},
		{"user attributes string", user(`"id":"u1","email":"a@example.com","additional_attributes":"x"`), "body.input.user.additional_attributes", "type_error"},
		{"output_format", with(`"output_format":"xml"`), "body.output_format", "enum"},
		{"output_format case", with(`"output_format":"JSON"`), "body.output_format", "enum"},
		{"think_mode", with(`"think_mode":"hard"`), "body.think_mode", "enum"},
		{"llm_reasoning_effort", with(`"llm_reasoning_effort":"max"`), "body.llm_reasoning_effort", "enum"},
		{"source_node_type", with(`"source_node_type":"cli"`), "body.source_node_type", "enum"},
		{"multitask_strategy", with(`"multitask_strategy":"queue"`), "body.multitask_strategy", "enum"},
		{"output_schema array", with(`"output_schema":[]`), "body.output_schema", "type_error"},
		{"output_schema string", with(`"output_schema":"{}"`), "body.output_schema", "type_error"},
		{"output_schema number", with(`"output_schema":1`), "body.output_schema", "type_error"},
		{"output_schema boolean", with(`"output_schema":true`), "body.output_schema", "type_error"},
		{"payload_extension", with(`"payload_extension":[1]`), "body.payload_extension", "type_error"},
		{"user_tokens", with(`"user_tokens":"tok"`), "body.user_tokens", "type_error"},
		{"mcp server not an object", with(`"mcp_servers":[{"name":"a"},"b"]`), "body.mcp_servers.1", "type_error"},
		{"id too long", with(`"id":"` + long(dialect.MaxThreadIDBytes+1) + `"`), "body.id", "too_long"},
		{"output_schema reads a file", with(`"output_schema":{"$ref":"file:///etc/passwd"}`), "body.output_schema", "output_schema_ref"},
		{"output_schema too wide", with(`"output_schema":{"anyOf":[` + strings.Repeat(`{},`, 16) + `{}]}`), "body.output_schema", "output_schema_fan_out"},
		{"output_schema not a schema", with(`"output_schema":{"type":12}`), "body.output_schema", "output_schema_invalid"},
		{"title too long", with(`"title":"` + long(1<<10+1) + `"`), "body.title", "too_long"},
		{"additional_context too long", with(`"additional_context":"` + long(64<<10+1) + `"`), "body.additional_context", "too_long"},
		{"instructions_override too long", with(`"instructions_override":"` + long(64<<10+1) + `"`), "body.instructions_override", "too_long"},
		{"expected_output too long", with(`"expected_output":"` + long(64<<10+1) + `"`), "body.expected_output", "too_long"},
		// Wrong JSON types are reported with the field's path.
		{"input a string", `{"input": "hi"}`, "body.input", "type_error"},
		{"text a number", `{"input": {"text": 5}}`, "body.input.text", "type_error"},
		{"files not an array", `{"input": {"text": "t", "files": "a.pdf"}}`, "body.input.files", "type_error"},
		{"file not a string", `{"input": {"text": "t", "files": [1]}}`, "body.input.files", "type_error"},
		{"user an array", `{"input": {"text": "t", "user": []}}`, "body.input.user", "type_error"},
		{"user id a number", user(`"id":1,"email":"a@example.com"`), "body.input.user.id", "type_error"},
		{"is_super_admin a string", user(`"id":"u","email":"a@example.com","is_super_admin":"no"`), "body.input.user.is_super_admin", "type_error"},
		{"run_locally a string", with(`"run_locally":"yes"`), "body.run_locally", "type_error"},
		{"mcp_servers an object", with(`"mcp_servers":{}`), "body.mcp_servers", "type_error"},
		{"user_oidc_token a number", with(`"user_oidc_token":42`), "body.user_oidc_token", "type_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := checked.Xpander([]byte(tt.body))
			if inv != nil {
				t.Errorf("got an invocation for an invalid body")
			}
			wantProblem(t, problems(t, err), tt.loc, tt.typ)
		})
	}
}

func TestDecodeXpanderReportsEveryProblem(t *testing.T) {
	body := `{"input": {"text": "", "user": {"role": "guest"}}, "think_mode": "x", "output_schema": [], "output_format": "pdf"}`
	ps := problems(t, func() error { _, err := dialect.DecodeXpander([]byte(body)); return err }())
	for _, want := range []struct{ loc, typ string }{
		{"body.input.text", "empty"},
		{"body.input.user.id", "missing"},
		{"body.input.user.email", "missing"},
		{"body.input.user.role", "enum"},
		{"body.think_mode", "enum"},
		{"body.output_schema", "type_error"},
		{"body.output_format", "enum"},
	} {
		wantProblem(t, ps, want.loc, want.typ)
	}
	if len(ps) != 7 {
		t.Errorf("got %d problems, want 7: %+v", len(ps), ps)
	}
}

func TestDecodeXpanderTypeErrorMessage(t *testing.T) {
	_, err := dialect.DecodeXpander([]byte(`{"input": {"text": "t"}, "run_locally": "yes"}`))
	ps := problems(t, err)
	if len(ps) != 1 || ps[0].Msg != "expected a boolean, got string" {
		t.Errorf("problems = %+v, want one saying \"expected a boolean, got string\"", ps)
	}
}

// A sub-task names its parent and the agent that delegated it: lists filter on them.
func TestDecodeXpanderSubTask(t *testing.T) {
	inv, err := dialect.DecodeXpander([]byte(`{"input":{"text":"look it up","user":{"id":"u-1","email":"u@example.com"}},"parent_execution_id":"p-1","triggering_agent_id":"planner"}`))
	if err != nil {
		t.Fatal(err)
	}
	if inv.ParentTaskID != "p-1" || inv.TriggeringAgentID != "planner" || inv.UserID != "u-1" {
		t.Errorf("parent %q, triggering agent %q, user %q", inv.ParentTaskID, inv.TriggeringAgentID, inv.UserID)
	}
	if inv, _ = dialect.DecodeXpander([]byte(`{"input":{"text":"hi"}}`)); inv.ParentTaskID != "" || inv.TriggeringAgentID != "" {
		t.Errorf("a task of its own has parent %q, triggering agent %q", inv.ParentTaskID, inv.TriggeringAgentID)
	}
}
