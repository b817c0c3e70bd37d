package dialect_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/task"
)

// serviceNetExample is the reference's request example.
const serviceNetExample = `{
    "message": "Create a payment link for 15 AUD",
    "auth_token": "secret-token",
    "region": "AU"
  }`

const serviceNetFull = `{
  "input": {"amount": 15, "currency": "AUD"},
  "message": "Create a payment link for 15 AUD",
  "task_id": "a2a-task-1",
  "context_id": "ctx-7f3a",
  "skill_id": "payment-links",
  "auth_token": "secret-token",
  "auth_context_id": "3f1c2a9e-6a47-4a59-9a47-0d2f6c1b9e10",
  "region": "au",
  "confirm_risky": true,
  "max_cost_units": 10,
  "settlement": {"currency": "AUD"},
  "agent_envelope": {"jsonrpc": "2.0"}
}`

func TestDecodeServiceNetValid(t *testing.T) {
	intp := func(v int) *int { return &v }
	tests := []struct {
		name         string
		body         string
		wantText     string
		wantThread   string
		wantToken    string
		wantRegion   string
		wantConfirm  bool
		wantMaxUnits *int
	}{
		{name: "reference example", body: serviceNetExample, wantText: "Create a payment link for 15 AUD", wantToken: "secret-token", wantRegion: "AU"},
		{name: "all fields", body: serviceNetFull, wantText: "Create a payment link for 15 AUD", wantThread: "ctx-7f3a",
			wantToken: "secret-token", wantRegion: "AU", wantConfirm: true, wantMaxUnits: intp(10)},
		{name: "message only", body: `{"message": "hi"}`, wantText: "hi"},
		{name: "input text", body: `{"input": {"text": "from input"}}`, wantText: "from input"},
		{name: "input message", body: `{"input": {"message": "from input message"}}`, wantText: "from input message"},
		{name: "input text before input message", body: `{"input": {"message": "m", "text": "t"}}`, wantText: "t"},
		{name: "blank message falls back to input", body: `{"message": "  ", "input": {"text": "t"}}`, wantText: "t"},
		{name: "message wins over input", body: `{"message": "m", "input": {"text": "t"}}`, wantText: "m"},
		{name: "structured input without text", body: `{"input": {"amount": 15}}`, wantText: ""},
		{name: "input text of another type", body: `{"input": {"text": 5}}`, wantText: ""},
		{name: "agent envelope alone", body: `{"agent_envelope": {"jsonrpc": "2.0", "method": "message/send"}}`, wantText: ""},
		{name: "max_cost_units zero", body: `{"message": "m", "max_cost_units": 0}`, wantText: "m", wantMaxUnits: intp(0)},
		{name: "confirm_risky false", body: `{"message": "m", "confirm_risky": false}`, wantText: "m"},
		{name: "auth_context_id uppercase UUID", body: `{"message": "m", "auth_context_id": "3F1C2A9E-6A47-4A59-9A47-0D2F6C1B9E10"}`, wantText: "m"},
		{name: "nulls", body: `{"message": "m", "input": null, "region": null, "settlement": null, "max_cost_units": null}`, wantText: "m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := dialect.DecodeServiceNet([]byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeServiceNet: %v", err)
			}
			if inv.Dialect != task.ServiceNet {
				t.Errorf("Dialect = %q, want servicenet", inv.Dialect)
			}
			if inv.Text != tt.wantText {
				t.Errorf("Text = %q, want %q", inv.Text, tt.wantText)
			}
			if inv.ThreadID != tt.wantThread {
				t.Errorf("ThreadID = %q, want %q", inv.ThreadID, tt.wantThread)
			}
			if inv.AuthToken != tt.wantToken {
				t.Errorf("AuthToken = %q, want %q", inv.AuthToken, tt.wantToken)
			}
			if inv.Ask.Region != tt.wantRegion || inv.Ask.ConfirmRisky != tt.wantConfirm {
				t.Errorf("Ask = %+v, want region %q confirm %v", inv.Ask, tt.wantRegion, tt.wantConfirm)
			}
			switch got := inv.Ask.MaxCostUnits; {
			case (got == nil) != (tt.wantMaxUnits == nil):
				t.Errorf("Ask.MaxCostUnits = %v, want %v", got, tt.wantMaxUnits)
			case got != nil && *got != *tt.wantMaxUnits:
				t.Errorf("Ask.MaxCostUnits = %d, want %d", *got, *tt.wantMaxUnits)
			}
			if inv.Secrets != nil {
				t.Errorf("Secrets = %v; ServiceNet carries its secret in AuthToken", inv.Secrets)
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(tt.body), &want); err != nil {
				t.Fatal(err)
			}
			delete(want, "auth_token")
			wantBody, _ := json.Marshal(want)
			if !jsonEqual(t, inv.Body, wantBody) {
				t.Errorf("Body = %s, want %s", inv.Body, wantBody)
			}
			if strings.Contains(string(inv.Body), "secret-token") {
				t.Errorf("Body holds the auth token: %s", inv.Body)
			}
		})
	}
}

func TestDecodeServiceNetInvalid(t *testing.T) {
	with := func(fields string) string { return `{"message":"m",` + fields + `}` }
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		body string
		loc  string
		typ  string
	}{
		{"nothing to do", `{}`, "body.message", "missing"},
		{"empty message", `{"message": ""}`, "body.message", "missing"},
		{"blank message", `{"message": "   "}`, "body.message", "missing"},
		{"empty input", `{"input": {}}`, "body.message", "missing"},
		{"null input", `{"input": null}`, "body.message", "missing"},
		{"empty envelope", `{"agent_envelope": {}}`, "body.message", "missing"},
		{"only options", `{"region": "AU", "confirm_risky": true}`, "body.message", "missing"},
		{"region three letters", with(`"region":"AUS"`), "body.region", "region"},
		{"region with digit", with(`"region":"A1"`), "body.region", "region"},
		{"region empty", with(`"region":""`), "body.region", "region"},
		{"region with newline", with(`"region":"AU\n"`), "body.region", "region"},
		{"auth_context_id not a UUID", with(`"auth_context_id":"ctx-1"`), "body.auth_context_id", "uuid"},
		{"auth_context_id empty", with(`"auth_context_id":""`), "body.auth_context_id", "uuid"},
		{"max_cost_units negative", with(`"max_cost_units":-1`), "body.max_cost_units", "range"},
		{"max_cost_units fractional", with(`"max_cost_units":1.5`), "body.max_cost_units", "type_error"},
		{"max_cost_units string", with(`"max_cost_units":"5"`), "body.max_cost_units", "type_error"},
		{"max_cost_units huge", with(`"max_cost_units":1e40`), "body.max_cost_units", "type_error"},
		{"confirm_risky string", with(`"confirm_risky":"yes"`), "body.confirm_risky", "type_error"},
		{"multitask_strategy", with(`"multitask_strategy":"interrupt"`), "body.multitask_strategy", "enum"},
		{"message a number", `{"message": 5}`, "body.message", "type_error"},
		{"auth_token an object", with(`"auth_token":{"t":1}`), "body.auth_token", "type_error"},
		{"input a string", `{"input": "hi"}`, "body.input", "type_error"},
		{"input an array", `{"input": [{"text": "hi"}]}`, "body.input", "type_error"},
		{"settlement an array", with(`"settlement":[]`), "body.settlement", "type_error"},
		{"agent_envelope a string", with(`"agent_envelope":"{}"`), "body.agent_envelope", "type_error"},
		{"message too long", `{"message": "` + long(256<<10+1) + `"}`, "body.message", "too_long"},
		{"task_id too long", with(`"task_id":"` + long(8<<10+1) + `"`), "body.task_id", "too_long"},
		{"context_id too long", with(`"context_id":"` + long(dialect.MaxThreadIDBytes+1) + `"`), "body.context_id", "too_long"},
		{"envelope contextId", with(`"agent_envelope":{"parts":[{"kind":"text","text":"x"}],"contextId":"victim"}`), "body.agent_envelope.contextId", "reserved"},
		{"envelope taskId in params", with(`"agent_envelope":{"message":{"parts":[],"TaskID":"t"}}`), "body.agent_envelope.message.TaskID", "reserved"},
		{"envelope push config", with(`"agent_envelope":{"jsonrpc":"2.0","method":"message/send","params":{"message":{"parts":[]},"configuration":{"pushNotificationConfig":{"url":"http://127.0.0.1:1/"}}}}`),
			"body.agent_envelope.params.configuration.pushNotificationConfig", "reserved"},
		{"envelope 1.0 push config", with(`"agent_envelope":{"message":{"parts":[]},"configuration":{"taskPushNotificationConfig":{"url":"http://127.0.0.1:1/"}}}`),
			"body.agent_envelope.configuration.taskPushNotificationConfig", "reserved"},
		{"envelope agent-side tenant", with(`"agent_envelope":{"jsonrpc":"2.0","method":"SendMessage","params":{"tenant":"other","message":{"parts":[]}}}`),
			"body.agent_envelope.params.tenant", "reserved"},
		{"envelope references", with(`"agent_envelope":{"parts":[],"referenceTaskIds":["t"]}`), "body.agent_envelope.referenceTaskIds", "reserved"},
		{"auth_token with CR LF", with(`"auth_token":"tok\r\nX-Injected: 1"`), "body.auth_token", "header_value"},
		{"auth_token with NUL", with(`"auth_token":"tok\u0000"`), "body.auth_token", "header_value"},
		{"skill_id too long", with(`"skill_id":"` + long(8<<10+1) + `"`), "body.skill_id", "too_long"},
		{"auth_token too long", with(`"auth_token":"` + long(8<<10+1) + `"`), "body.auth_token", "too_long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := dialect.DecodeServiceNet([]byte(tt.body))
			if inv != nil {
				t.Errorf("got an invocation for an invalid body")
			}
			wantProblem(t, problems(t, err), tt.loc, tt.typ)
		})
	}
}

func TestDecodeServiceNetProblemsNeverQuoteTheToken(t *testing.T) {
	body := `{"auth_token": "` + strings.Repeat("k", 8<<10+1) + `", "region": "nowhere", "auth_context_id": "secret-token-ctx"}`
	_, err := dialect.DecodeServiceNet([]byte(body))
	ps := problems(t, err)
	if len(ps) != 4 { // auth_token, auth_context_id, region, message
		t.Errorf("got %d problems, want 4: %+v", len(ps), ps)
	}
	if msg := err.Error(); strings.Contains(msg, "kkkk") || strings.Contains(msg, "secret-token-ctx") {
		t.Errorf("error quotes request values: %.200s", msg)
	}
}
