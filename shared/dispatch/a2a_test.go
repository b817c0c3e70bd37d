package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/dispatch/a2atest"
	"github.com/agentq/agentq/shared/task"
)

// wait bounds every wait of these tests.
const wait = 10 * time.Second

// a2aAgent is the test agent (package a2atest), as this package's tests use it.
type a2aAgent struct{ *a2atest.Agent }

func newA2AAgent(t *testing.T, slowChecks int32) a2aAgent {
	return a2aAgent{a2atest.New(t, slowChecks)}
}

func (ag a2aAgent) agent() agent.Agent {
	return agent.Agent{ID: "a2a-echo", Version: "1", Protocol: agent.A2A, Endpoint: ag.URL, Auth: agent.AuthNone}
}

func a2aCall(a agent.Agent, text string) dispatch.Call {
	return dispatch.Call{TaskID: taskID, Tenant: "org-1", Agent: a, ThreadID: "thread-1", Text: text,
		Request: json.RawMessage(fmt.Sprintf(`{"message":%q}`, text)), Attempt: 1}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

func TestA2AOutcomes(t *testing.T) {
	ag := newA2AAgent(t, 1)
	tests := []struct {
		text       string
		wantText   string
		wantUsage  task.Usage
		wantOutput string // a key of the JSON output
		reason     string // for failures
		wantMsg    string
		needs      string // for *NeedsInput: the state
	}{
		{text: "hello", wantText: "hi there", wantUsage: task.Usage{Tokens: task.Tokens{Prompt: 1, Completion: 2, Total: 3}}, wantOutput: "messageId"},
		{text: "complete", wantText: "link: https://pay/1\nvalid 24h", wantUsage: task.Usage{Tokens: task.Tokens{Prompt: 3, Completion: 4, Total: 7}}, wantOutput: "artifacts"},
		{text: "data", wantText: `{"amount":15}`, wantOutput: "artifacts", wantUsage: task.Usage{Tokens: task.Tokens{Prompt: 3, Completion: 4, Total: 7}}},
		{text: "fail", reason: task.ReasonAgentFailed, wantMsg: "the agent's task ended failed: card declined"},
		{text: "reject", reason: task.ReasonAgentFailed, wantMsg: "the agent's task ended rejected"},
		{text: "ask", needs: "input-required", wantMsg: "which currency?"},
		{text: "login", needs: "auth-required", wantMsg: "sign in first"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			res, err := dispatch.New(dispatch.HTTPClient(testGuard)).Call(testCtx(t), a2aCall(ag.agent(), tt.text))
			switch {
			case tt.needs != "":
				ni, ok := errors.AsType[*dispatch.NeedsInput](err)
				if !ok {
					t.Fatalf("err = %v (%T), want *NeedsInput", err, err)
				}
				if ni.State != tt.needs || ni.Message != tt.wantMsg || ni.RemoteTaskID == "" {
					t.Errorf("NeedsInput = %+v, want state %s, message %q", ni, tt.needs, tt.wantMsg)
				}
				var raw map[string]any
				if json.Unmarshal(ni.Raw, &raw) != nil || raw["id"] != ni.RemoteTaskID || raw["history"] != nil {
					t.Errorf("Raw = %s, want the task without history", ni.Raw)
				}
			case tt.reason != "":
				de := wantError(t, err, tt.reason, false)
				if de.Message != tt.wantMsg {
					t.Errorf("Message = %q, want %q", de.Message, tt.wantMsg)
				}
			default:
				if err != nil {
					t.Fatalf("Call: %v", err)
				}
				if res.Text != tt.wantText || res.Usage != tt.wantUsage {
					t.Errorf("Result = %q %+v, want %q %+v", res.Text, res.Usage, tt.wantText, tt.wantUsage)
				}
				var out map[string]any
				if err := json.Unmarshal(res.Output, &out); err != nil || out[tt.wantOutput] == nil {
					t.Errorf("Output = %s, want JSON with %q", res.Output, tt.wantOutput)
				}
			}
		})
	}
}

// pending checks that err is a *Pending and returns it.
func pending(t *testing.T, err error) *dispatch.Pending {
	t.Helper()
	p, ok := errors.AsType[*dispatch.Pending](err)
	if !ok {
		t.Fatalf("err = %v (%T), want *Pending", err, err)
	}
	if p.RemoteTaskID == "" || (p.State != "submitted" && p.State != "working") {
		t.Fatalf("Pending = %+v", p)
	}
	if !dispatch.Retryable(err) {
		t.Error("Retryable(*Pending) = false; the worker is told to look for *Pending first")
	}
	return p
}

func TestA2ALongRunningTask(t *testing.T) {
	const checks = 3
	ag := newA2AAgent(t, checks)
	cl := dispatch.New(dispatch.HTTPClient(testGuard))
	ctx := testCtx(t)
	_, err := cl.Call(ctx, a2aCall(ag.agent(), "slow"))
	p := pending(t, err)

	var res dispatch.Result
	pendings := 0
	for {
		res, err = cl.Check(ctx, ag.agent(), p.RemoteTaskID, dispatch.Credentials{})
		if _, ok := errors.AsType[*dispatch.Pending](err); !ok {
			break
		}
		pendings++
		if ctx.Err() != nil {
			t.Fatal("the task never completed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if res.Text != "slow result" {
		t.Errorf("Text = %q, want the task's artifact", res.Text)
	}
	if pendings < checks-1 {
		t.Errorf("%d checks answered pending, want at least %d", pendings, checks-1)
	}
	methods, _ := ag.Requests()
	if methods[0] != "SendMessage" || ag.Count("SendMessage") != 1 || ag.Count("GetTask") != len(methods)-1 {
		t.Errorf("methods = %v, want one SendMessage, then GetTask only", methods)
	}
}

func TestA2AWait(t *testing.T) {
	t.Run("completes within the wait", func(t *testing.T) {
		ag := newA2AAgent(t, 2)
		res, err := dispatch.New(dispatch.HTTPClient(testGuard), dispatch.WithA2AWait(wait)).Call(testCtx(t), a2aCall(ag.agent(), "slow"))
		if err != nil || res.Text != "slow result" {
			t.Fatalf("Call = %q, %v; want the result without a later check", res.Text, err)
		}
	})
	t.Run("still working after the wait", func(t *testing.T) {
		ag := newA2AAgent(t, 1)
		start := time.Now()
		_, err := dispatch.New(dispatch.HTTPClient(testGuard), dispatch.WithA2AWait(300*time.Millisecond)).Call(testCtx(t), a2aCall(ag.agent(), "hold"))
		pending(t, err)
		if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
			t.Errorf("Call took %v, want about the wait", d)
		}
		if methods, _ := ag.Requests(); len(methods) < 3 {
			t.Errorf("methods = %v, want checks during the wait", methods)
		}
	})
	t.Run("the call's deadline ends the wait", func(t *testing.T) {
		ag := newA2AAgent(t, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := dispatch.New(dispatch.HTTPClient(testGuard), dispatch.WithA2AWait(time.Hour)).Call(ctx, a2aCall(ag.agent(), "hold"))
		pending(t, err) // not agent_timeout: the task exists, its id must not be lost
	})
}

func TestA2ACancel(t *testing.T) {
	ag := newA2AAgent(t, 1)
	cl := dispatch.New(dispatch.HTTPClient(testGuard))
	ctx := testCtx(t)
	_, err := cl.Call(ctx, a2aCall(ag.agent(), "hold"))
	p := pending(t, err)
	if err := cl.Cancel(ctx, ag.agent(), p.RemoteTaskID, dispatch.Credentials{}); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	_, err = cl.Check(ctx, ag.agent(), p.RemoteTaskID, dispatch.Credentials{})
	if de := wantError(t, err, task.ReasonAgentFailed, false); de.Message != "the agent's task ended canceled" {
		t.Errorf("Check after Cancel: %q", de.Message)
	}
	if err := cl.Cancel(ctx, ag.agent(), p.RemoteTaskID, dispatch.Credentials{}); err != nil {
		t.Errorf("Cancel of a canceled task: %v, want nil", err)
	}

	_, err = cl.Call(ctx, a2aCall(ag.agent(), "ask"))
	ni, ok := errors.AsType[*dispatch.NeedsInput](err)
	if !ok {
		t.Fatalf("err = %v, want *NeedsInput", err)
	}
	// The SDK's server answers a cancel with an internal error while the execution that asked
	// for input is still winding down, just after it answered; so this one may take a few tries.
	for err := cl.Cancel(ctx, ag.agent(), ni.RemoteTaskID, dispatch.Credentials{}); err != nil; err = cl.Cancel(ctx, ag.agent(), ni.RemoteTaskID, dispatch.Credentials{}) {
		if ctx.Err() != nil {
			t.Fatalf("Cancel of a task waiting for input: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = cl.Check(ctx, ag.agent(), ni.RemoteTaskID, dispatch.Credentials{})
	wantError(t, err, task.ReasonAgentFailed, false)

	// A task the agent does not know: a JSON-RPC error.
	wantError(t, cl.Cancel(ctx, ag.agent(), "no-such-task", dispatch.Credentials{}), task.ReasonAgentRejected, false)
	_, err = cl.Check(ctx, ag.agent(), "no-such-task", dispatch.Credentials{})
	if de := wantError(t, err, task.ReasonAgentRejected, false); !strings.Contains(de.Message, "JSON-RPC error") {
		t.Errorf("Message = %q", de.Message)
	}
}

func TestA2ACancelEndedTask(t *testing.T) {
	ag := newA2AAgent(t, 1)
	cl := dispatch.New(dispatch.HTTPClient(testGuard))
	ctx := testCtx(t)
	_, err := cl.Call(ctx, a2aCall(ag.agent(), "slow"))
	p := pending(t, err)
	for {
		if _, err = cl.Check(ctx, ag.agent(), p.RemoteTaskID, dispatch.Credentials{}); err == nil {
			break
		}
		pending(t, err)
		time.Sleep(10 * time.Millisecond)
	}
	wantError(t, cl.Cancel(ctx, ag.agent(), p.RemoteTaskID, dispatch.Credentials{}), task.ReasonAgentRejected, false)
}

func TestA2ACheckAndCancelNeedAnA2ATask(t *testing.T) {
	cl := dispatch.New(dispatch.HTTPClient(testGuard))
	a := httpAgent("http://127.0.0.1:1")
	_, err := cl.Check(context.Background(), a, "t1", dispatch.Credentials{})
	wantError(t, err, task.ReasonAgentFailed, false)
	wantError(t, cl.Cancel(context.Background(), a, "t1", dispatch.Credentials{}), task.ReasonAgentFailed, false)
	a.Protocol = agent.A2A
	_, err = cl.Check(context.Background(), a, "", dispatch.Credentials{})
	wantError(t, err, task.ReasonAgentFailed, false)
}

func TestA2ARequestSent(t *testing.T) {
	ag := newA2AAgent(t, 1)
	cl := dispatch.New(dispatch.HTTPClient(testGuard))
	ctx := testCtx(t)

	c := a2aCall(ag.agent(), "ask for a payment link")
	c.Request = json.RawMessage(`{"message":"ask for a payment link","skill_id":"payment-links","context_id":"ctx-ignored"}`)
	_, err := cl.Call(ctx, c)
	ni, ok := errors.AsType[*dispatch.NeedsInput](err)
	if !ok {
		t.Fatalf("err = %v, want *NeedsInput", err)
	}
	m := ag.LastMessage()
	want := &a2a.Message{ID: taskID, ContextID: dispatch.ConversationID("org-1", "thread-1"), Role: a2a.MessageRoleUser,
		Parts:    a2a.ContentParts{a2a.NewTextPart("ask for a payment link")},
		Metadata: map[string]any{"skill_id": "payment-links", dispatch.TenantMetadata: "org-1"}}
	sameMessage(t, m, want)
	_, hdrs := ag.Requests()
	if h := hdrs[0]; h.Get("Idempotency-Key") != taskID || h.Get("Authorization") != "" || h.Get("A2A-Version") != "1.0" ||
		h.Get(dispatch.TenantHeader) != "org-1" {
		t.Errorf("headers = %v", h)
	}

	// A task id in the body is the caller's word only: it never names the agent's task, which
	// could be another tenant's.
	c1 := a2aCall(ag.agent(), "hijack")
	c1.TaskID = "other-turn"
	c1.Request = json.RawMessage(fmt.Sprintf(`{"message":"hijack","task_id":%q}`, ni.RemoteTaskID))
	_, _ = cl.Call(ctx, c1)
	if m := ag.LastMessage(); m.TaskID != "" {
		t.Errorf("a body's task_id reached the agent as the task to continue: %+v", m)
	}

	// The caller answers: the next turn continues the task its paused turn recorded.
	c2 := a2aCall(ag.agent(), "EUR")
	c2.TaskID = "next-turn"
	c2.ResumeTaskID = ni.RemoteTaskID
	c2.Request = json.RawMessage(`{"message":"EUR"}`)
	// As in TestA2ACancel, the SDK's server refuses (internal error) a message for the task while
	// the execution that asked is still winding down.
	var res dispatch.Result
	for res, err = cl.Call(ctx, c2); err != nil && ctx.Err() == nil && strings.Contains(err.Error(), "internal error"); res, err = cl.Call(ctx, c2) {
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil || res.Text != "paid in EUR" {
		t.Fatalf("answer = %q, %v", res.Text, err)
	}
	if m := ag.LastMessage(); string(m.TaskID) != ni.RemoteTaskID || m.ID != "next-turn" {
		t.Errorf("message = %+v, want the remote task id and the turn's id", m)
	}

	// Without a thread, the body's context_id (scoped to the tenant); without text, the input as a
	// data part.
	c3 := a2aCall(ag.agent(), "")
	c3.ThreadID = ""
	c3.Request = json.RawMessage(`{"input":{"amount":15},"context_id":"ctx-7f3a"}`)
	_, err = cl.Call(ctx, c3)
	wantError(t, err, task.ReasonAgentFailed, false) // the agent does not know what to do with data
	m = ag.LastMessage()
	if m.ContextID != dispatch.ConversationID("org-1", "ctx-7f3a") || len(m.Parts) != 1 {
		t.Errorf("message = %+v", m)
	} else if d, _ := m.Parts[0].Data().(map[string]any); d["amount"] != float64(15) {
		t.Errorf("part = %+v, want the input as data", m.Parts[0])
	}

	// Nothing to send.
	c4 := a2aCall(ag.agent(), "")
	c4.Request = json.RawMessage(`{"title":"x"}`)
	_, err = cl.Call(ctx, c4)
	wantError(t, err, task.ReasonAgentRejected, false)
}

func TestA2AAuthorization(t *testing.T) {
	tests := []struct {
		auth  agent.Auth
		token string
		want  string
	}{
		{agent.AuthForward, "tok-1", "Bearer tok-1"},
		{agent.AuthForward, "", ""},
		{agent.AuthNone, "tok-1", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%q", tt.auth, tt.token), func(t *testing.T) {
			ag := newA2AAgent(t, 1)
			a := ag.agent()
			a.Auth = tt.auth
			cl := dispatch.New(dispatch.HTTPClient(testGuard))
			c := a2aCall(a, "hold")
			c.Credentials.AuthToken = tt.token
			ctx := testCtx(t)
			_, err := cl.Call(ctx, c)
			p := pending(t, err)
			// Check and Cancel take the same credentials as Call.
			if _, err := cl.Check(ctx, a, p.RemoteTaskID, c.Credentials); err == nil {
				t.Fatal("Check: the task should still be working")
			}
			if err := cl.Cancel(ctx, a, p.RemoteTaskID, c.Credentials); err != nil {
				t.Fatal(err)
			}
			methods, hdrs := ag.Requests()
			for i, h := range hdrs {
				if got := h.Get("Authorization"); got != tt.want {
					t.Errorf("%s: Authorization = %q, want %q", methods[i], got, tt.want)
				}
			}
			if len(hdrs) != 3 {
				t.Errorf("methods = %v", methods)
			}
		})
	}
}

// sameMessage checks that got is want, comparing them as the JSON that went over the wire.
func sameMessage(t *testing.T, got, want *a2a.Message) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("message = %s\nwant      %s", g, w)
	}
}

func TestA2AEnvelope(t *testing.T) {
	caller := func(role string) string {
		return `{"messageId":"m-caller","role":"` + role + `","contextId":"ctx-caller",` +
			`"parts":[{"text":"hello from the envelope"},{"data":{"k":"v"}}],` +
			`"metadata":{"skill_id":"caller-skill","trace":"t1"},"referenceTaskIds":["r1"]}`
	}
	message := caller("ROLE_USER")
	legacyMessage := `{"kind":"message","messageId":"m-caller","role":"user","contextId":"ctx-caller",` +
		`"parts":[{"kind":"text","text":"hello from the envelope"},{"kind":"data","data":{"k":"v"}}],` +
		`"metadata":{"skill_id":"caller-skill","trace":"t1"},"referenceTaskIds":["r1"]}`
	// The envelope's contextId and referenceTaskIds never reach the agent: the conversation is
	// the tenant's thread's, and tasks are agentq's to name.
	scoped := dispatch.ConversationID("org-1", "thread-1")
	wantCaller := &a2a.Message{ID: "m-caller", Role: a2a.MessageRoleUser, ContextID: scoped,
		Parts:    a2a.ContentParts{a2a.NewTextPart("hello from the envelope"), a2a.NewDataPart(map[string]any{"k": "v"})},
		Metadata: map[string]any{"skill_id": "caller-skill", "trace": "t1", dispatch.TenantMetadata: "org-1"}}
	wantFilled := &a2a.Message{ID: taskID, Role: a2a.MessageRoleUser, ContextID: scoped,
		Parts: a2a.ContentParts{a2a.NewTextPart("hello bare")}, Metadata: map[string]any{"skill_id": "s1", dispatch.TenantMetadata: "org-1"}}
	tests := []struct {
		name     string
		envelope string
		want     *a2a.Message
		reason   string
	}{
		{"json-rpc request", `{"jsonrpc":"2.0","id":7,"method":"SendMessage","params":{"message":` + message + `,"configuration":{"returnImmediately":false}}}`, wantCaller, ""},
		{"params", `{"message":` + message + `}`, wantCaller, ""},
		{"message, gaps filled", `{"parts":[{"text":"hello bare"}]}`, wantFilled, ""},
		{"0.3 json-rpc request", `{"jsonrpc":"2.0","id":7,"method":"message/send","params":{"message":` + legacyMessage + `,"configuration":{"blocking":true}}}`, wantCaller, ""},
		{"0.3 params", `{"message":` + legacyMessage + `}`, wantCaller, ""},
		{"0.3 message, gaps filled", `{"kind":"message","parts":[{"kind":"text","text":"hello bare"}]}`, wantFilled, ""},
		{"other method", `{"jsonrpc":"2.0","method":"CancelTask","params":{"id":"x"}}`, nil, task.ReasonAgentRejected},
		{"other 0.3 method", `{"jsonrpc":"2.0","method":"tasks/cancel","params":{"id":"x"}}`, nil, task.ReasonAgentRejected},
		{"no params", `{"jsonrpc":"2.0","method":"SendMessage"}`, nil, task.ReasonAgentRejected},
		{"no parts", `{"message":{"role":"ROLE_USER","parts":[]}}`, nil, task.ReasonAgentRejected},
		{"no 0.3 parts", `{"message":{"kind":"message","role":"user","parts":[]}}`, nil, task.ReasonAgentRejected},
		{"unknown part", `{"message":{"role":"ROLE_USER","parts":[{"video":"x"}]}}`, nil, task.ReasonAgentRejected},
		{"unknown 0.3 part", `{"message":{"role":"user","parts":[{"kind":"video"}]}}`, nil, task.ReasonAgentRejected},
		{"the agent's role", `{"message":` + caller("ROLE_AGENT") + `}`, nil, task.ReasonAgentRejected},
		{"neither", `{"text":"hello"}`, nil, task.ReasonAgentRejected},
	}
	for _, version := range []string{agent.A2AVersion1, agent.A2AVersion03} {
		var opts []a2atest.Option
		if version == agent.A2AVersion03 {
			opts = append(opts, a2atest.Legacy())
		}
		ag := a2aAgent{a2atest.New(t, 1, opts...)}
		cl := dispatch.New(dispatch.HTTPClient(testGuard))
		for _, tt := range tests {
			t.Run(version+"/"+tt.name, func(t *testing.T) {
				before, _ := ag.Requests()
				c := a2aCall(ag.agent(), "the dialect's text")
				c.Request = json.RawMessage(`{"message":"the dialect's text","skill_id":"s1","agent_envelope":` + tt.envelope + `}`)
				res, err := cl.Call(testCtx(t), c)
				if tt.reason != "" {
					wantError(t, err, tt.reason, false)
					if after, _ := ag.Requests(); len(after) != len(before) {
						t.Error("a refused envelope reached the agent")
					}
					return
				}
				if err != nil || res.Text != "hi there" {
					t.Fatalf("Call = %q, %v", res.Text, err)
				}
				sameMessage(t, ag.LastMessage(), tt.want)
				// Whatever the envelope asked, agentq does not wait for the agent's task.
				if !strings.Contains(lastBody(ag.Agent), immediateConfig[version]) {
					t.Errorf("request = %s, want %s", lastBody(ag.Agent), immediateConfig[version])
				}
			})
		}
	}
}

// immediateConfig is how each version's request says not to wait for the agent's task.
var immediateConfig = map[string]string{
	agent.A2AVersion1:  `"returnImmediately":true`,
	agent.A2AVersion03: `"blocking":false`,
}

// lastBody returns the body of the last JSON-RPC request the agent received.
func lastBody(ag *a2atest.Agent) string {
	bodies := ag.Bodies()
	if len(bodies) == 0 {
		return ""
	}
	return string(bodies[len(bodies)-1])
}

// rawServer answers every request with status and body.
func rawServer(t *testing.T, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestA2AFailures(t *testing.T) {
	bigText := strings.Repeat("a", dispatch.MaxResponseBytes)
	type answer struct{ v1, v03 string } // the same answer in each version
	tests := []struct {
		name      string
		status    int
		body      answer
		reason    string
		retryable bool
		msg       answer
	}{
		{"503", 503, answer{"overloaded", "overloaded"}, task.ReasonAgentUnavailable, true, answer{"agent answered 503: overloaded", "agent answered 503: overloaded"}},
		{"500", 500, answer{}, task.ReasonAgentUnavailable, true, answer{"agent answered 500", "agent answered 500"}},
		{"429", 429, answer{}, task.ReasonAgentUnavailable, true, answer{"agent answered 429", "agent answered 429"}},
		{"401", 401, answer{"who are you", "who are you"}, task.ReasonAgentRejected, false, answer{"agent answered 401: who are you", "agent answered 401: who are you"}},
		{"404", 404, answer{}, task.ReasonAgentRejected, false, answer{"agent answered 404", "agent answered 404"}},
		{"json-rpc error", 200, answer{
			`{"jsonrpc":"2.0","id":"1","error":{"code":-32601,"message":"Method not found"}}`,
			`{"jsonrpc":"2.0","id":"1","error":{"code":-32601,"message":"Method not found"}}`,
		}, task.ReasonAgentRejected, false, answer{"the agent answered with a JSON-RPC error: Method not found", "the agent answered with a JSON-RPC error: Method not found"}},
		{"not json", 200, answer{"hello", "hello"}, task.ReasonInvalidResponse, false, answer{}},
		{"unknown result", 200, answer{
			`{"jsonrpc":"2.0","id":"1","result":{"statusUpdate":{"taskId":"t"}}}`,
			`{"jsonrpc":"2.0","id":"1","result":{"kind":"status-update"}}`,
		}, task.ReasonInvalidResponse, false, answer{}},
		{"too large", 200, answer{
			`{"jsonrpc":"2.0","id":"1","result":{"message":{"messageId":"m","role":"ROLE_AGENT","parts":[{"text":"` + bigText + `"}]}}}`,
			`{"jsonrpc":"2.0","id":"1","result":{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"text","text":"` + bigText + `"}]}}`,
		}, task.ReasonInvalidResponse, false, answer{
			fmt.Sprintf("the agent's answer is larger than %d bytes", dispatch.MaxResponseBytes),
			fmt.Sprintf("the agent's answer is larger than %d bytes", dispatch.MaxResponseBytes),
		}},
		{"task in an unknown state", 200, answer{
			`{"jsonrpc":"2.0","id":"1","result":{"task":{"id":"t","contextId":"c","status":{"state":"TASK_STATE_DREAMING"}}}}`,
			`{"jsonrpc":"2.0","id":"1","result":{"kind":"task","id":"t","contextId":"c","status":{"state":"unknown"}}}`,
		}, task.ReasonInvalidResponse, false, answer{`the agent's task is in state "TASK_STATE_DREAMING"`, `the agent's task is in state "TASK_STATE_UNSPECIFIED"`}},
		{"pending task without id", 200, answer{
			`{"jsonrpc":"2.0","id":"1","result":{"task":{"contextId":"c","status":{"state":"TASK_STATE_WORKING"}}}}`,
			`{"jsonrpc":"2.0","id":"1","result":{"kind":"task","contextId":"c","status":{"state":"working"}}}`,
		}, task.ReasonInvalidResponse, false, answer{}},
	}
	for _, tt := range tests {
		for _, version := range []string{agent.A2AVersion1, agent.A2AVersion03} {
			body, msg := tt.body.v1, tt.msg.v1
			if version == agent.A2AVersion03 {
				body, msg = tt.body.v03, tt.msg.v03
			}
			t.Run(version+"/"+tt.name, func(t *testing.T) {
				srv := rawServer(t, tt.status, body)
				// Pinned: these are answers to the call, not to a request for the agent card.
				a := agent.Agent{ID: "a", Protocol: agent.A2A, Endpoint: srv.URL, A2AVersion: version}
				_, err := dispatch.New(dispatch.HTTPClient(testGuard)).Call(testCtx(t), a2aCall(a, "hello"))
				de := wantError(t, err, tt.reason, tt.retryable)
				if msg != "" && de.Message != msg {
					t.Errorf("Message = %q, want %q", de.Message, msg)
				}
			})
		}
	}
}

func TestA2AUnreachableAndTimeout(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := srv.URL + "/a2a?key=ENDPOINT-SECRET"
	srv.Close()
	a := agent.Agent{ID: "a", Protocol: agent.A2A, Endpoint: endpoint}
	_, err := dispatch.New(dispatch.HTTPClient(testGuard)).Call(testCtx(t), a2aCall(a, "hello"))
	if de := wantError(t, err, task.ReasonAgentUnavailable, true); strings.Contains(de.Message, "ENDPOINT-SECRET") {
		t.Errorf("message leaks the endpoint's query: %s", de.Message)
	}

	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	a.Endpoint = slow.URL
	_, err = dispatch.New(dispatch.HTTPClient(testGuard)).Call(ctx, a2aCall(a, "hello"))
	wantError(t, err, task.ReasonAgentTimeout, true)

	a.Endpoint = "ftp://example.com/a2a"
	_, err = dispatch.New(dispatch.HTTPClient(testGuard)).Call(context.Background(), a2aCall(a, "hello"))
	wantError(t, err, task.ReasonAgentFailed, false)
}
