package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/netguard"
	"github.com/agentq/agentq/shared/task"
)

const taskID = "81250b20-e9d7-4b3b-9995-07dc72b4bb59"

// captured is what the agent server saw of a call.
type captured struct {
	method, path string
	header       http.Header
	body         dispatch.HTTPRequest
	raw          map[string]json.RawMessage
}

// recorder holds the last call an agent server saw.
type recorder struct {
	mu   sync.Mutex
	last captured
}

func (r *recorder) get() captured {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// agentServer starts an agent on 127.0.0.1 that answers every call with status and body, and
// records the last call.
func agentServer(t *testing.T, status int, contentType, body string) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c := captured{method: r.Method, path: r.URL.Path, header: r.Header.Clone()}
		_ = json.Unmarshal(b, &c.body)
		_ = json.Unmarshal(b, &c.raw)
		rec.mu.Lock()
		rec.last = c
		rec.mu.Unlock()
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

func httpAgent(endpoint string) agent.Agent {
	return agent.Agent{ID: "echo", Version: "1", Protocol: agent.HTTP, Endpoint: endpoint, Auth: agent.AuthNone}
}

func baseCall(a agent.Agent) dispatch.Call {
	return dispatch.Call{TaskID: taskID, Tenant: "org-1", Agent: a, ThreadID: "thread-1", Text: "hello",
		Request: json.RawMessage(`{"input":{"text":"hello","delay_ms":0},"title":"T"}`), Attempt: 2}
}

// wantError checks that err is a *dispatch.Error with the reason and retryability.
func wantError(t *testing.T, err error, reason string, retryable bool) *dispatch.Error {
	t.Helper()
	var de *dispatch.Error
	if !errors.As(err, &de) {
		t.Fatalf("err = %v (%T), want *dispatch.Error", err, err)
	}
	if de.Reason != reason || de.Retryable != retryable {
		t.Errorf("error = %+v, want reason %s, retryable %v", de, reason, retryable)
	}
	if dispatch.Retryable(err) != retryable {
		t.Errorf("Retryable(%v) = %v, want %v", err, !retryable, retryable)
	}
	return de
}

func TestSuccessfulAnswers(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		wantText    string
		wantOutput  string
	}{
		{"json output", 200, "application/json", `{"output":"hi back","task_id":"x"}`, "hi back", `{"output":"hi back","task_id":"x"}`},
		{"json result", 200, "application/json", `{"result":"r"}`, "r", `{"result":"r"}`},
		{"json text", 200, "application/json", `{"text":"t"}`, "t", `{"text":"t"}`},
		{"json message", 200, "application/json", `{"message":"m"}`, "m", `{"message":"m"}`},
		{"output wins", 200, "application/json", `{"message":"m","output":"o","result":"r"}`, "o", `{"message":"m","output":"o","result":"r"}`},
		{"empty output falls through", 200, "application/json", `{"output":"","result":"r"}`, "r", `{"output":"","result":"r"}`},
		{"non-string output falls through", 200, "application/json", `{"output":{"a":1},"text":"t"}`, "t", `{"output":{"a":1},"text":"t"}`},
		{"json without a text field", 200, "application/json", `{"amount":15}`, `{"amount":15}`, `{"amount":15}`},
		{"json with whitespace", 201, "application/json", "\n {\"output\":\"x\"} \n", "x", `{"output":"x"}`},
		{"plain text", 200, "text/plain", "just text", "just text", ""},
		{"json array is text", 200, "application/json", `[1,2]`, `[1,2]`, ""},
		{"broken json is text", 200, "application/json", `{"output":`, `{"output":`, ""},
		{"no content", 204, "", "", "", ""},
		{"2xx other than 200", 202, "text/plain", "accepted", "accepted", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := agentServer(t, tt.status, tt.contentType, tt.body)
			res, err := dispatch.New(srv.Client()).Call(context.Background(), baseCall(httpAgent(srv.URL)))
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if res.Text != tt.wantText {
				t.Errorf("Text = %q, want %q", res.Text, tt.wantText)
			}
			if string(res.Output) != tt.wantOutput {
				t.Errorf("Output = %s, want %s", res.Output, tt.wantOutput)
			}
		})
	}
}

func TestFailedAnswers(t *testing.T) {
	tests := []struct {
		status    int
		body      string
		reason    string
		retryable bool
	}{
		{400, `{"error":"bad input"}`, task.ReasonAgentRejected, false},
		{401, "", task.ReasonAgentRejected, false},
		{403, "forbidden", task.ReasonAgentRejected, false},
		{404, "", task.ReasonAgentRejected, false},
		{422, `{"error":"echo was asked to fail"}`, task.ReasonAgentRejected, false},
		{302, "", task.ReasonAgentRejected, false},
		{408, "", task.ReasonAgentUnavailable, true},
		{429, "slow down", task.ReasonAgentUnavailable, true},
		{500, "oops", task.ReasonAgentUnavailable, true},
		{502, "", task.ReasonAgentUnavailable, true},
		{503, `{"error":"echo was asked to fail transiently"}`, task.ReasonAgentUnavailable, true},
		{504, "", task.ReasonAgentUnavailable, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			srv, _ := agentServer(t, tt.status, "text/plain", tt.body)
			_, err := dispatch.New(dispatch.HTTPClient(testGuard)).Call(context.Background(), baseCall(httpAgent(srv.URL)))
			de := wantError(t, err, tt.reason, tt.retryable)
			want := fmt.Sprintf("agent answered %d", tt.status)
			if tt.body != "" {
				want += ": " + tt.body
			}
			if de.Message != want {
				t.Errorf("Message = %q, want %q", de.Message, want)
			}
			if de.Error() != tt.reason+": "+want {
				t.Errorf("Error() = %q", de.Error())
			}
		})
	}
}

func TestErrorDetailIsTruncated(t *testing.T) {
	srv, _ := agentServer(t, 400, "text/plain", strings.Repeat("e", 1000))
	_, err := dispatch.New(srv.Client()).Call(context.Background(), baseCall(httpAgent(srv.URL)))
	de := wantError(t, err, task.ReasonAgentRejected, false)
	if want := "agent answered 400: " + strings.Repeat("e", 200) + "..."; de.Message != want {
		t.Errorf("Message = %q (%d bytes), want the first 200 bytes of the answer", de.Message, len(de.Message))
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed.Store(true) }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	_, err := dispatch.New(dispatch.HTTPClient(testGuard)).Call(context.Background(), baseCall(httpAgent(srv.URL)))
	wantError(t, err, task.ReasonAgentRejected, false)
	if followed.Load() {
		t.Error("the redirect was followed")
	}
}

func TestAnswerSizeLimit(t *testing.T) {
	tests := []struct {
		name string
		size int
		ok   bool
	}{
		{"at the limit", dispatch.MaxResponseBytes, true},
		{"one byte over", dispatch.MaxResponseBytes + 1, false},
		{"far over", 4 * dispatch.MaxResponseBytes, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := agentServer(t, 200, "text/plain", strings.Repeat("a", tt.size))
			res, err := dispatch.New(srv.Client()).Call(context.Background(), baseCall(httpAgent(srv.URL)))
			if tt.ok {
				if err != nil || len(res.Text) != tt.size {
					t.Errorf("Call = %d bytes, %v; want the whole answer", len(res.Text), err)
				}
				return
			}
			wantError(t, err, task.ReasonInvalidResponse, false)
		})
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		case <-time.After(10 * time.Second):
		}
	}))
	defer srv.Close()
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := dispatch.New(dispatch.HTTPClient(testGuard)).Call(ctx, baseCall(httpAgent(srv.URL)))
	wantError(t, err, task.ReasonAgentTimeout, true)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("call took %v, want it cut at the context's deadline", d)
	}
}

func TestUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := srv.URL + "/agent?api_key=ENDPOINT-SECRET"
	srv.Close() // nothing listens there any more
	_, err := dispatch.New(dispatch.HTTPClient(testGuard)).Call(context.Background(), baseCall(httpAgent(endpoint)))
	de := wantError(t, err, task.ReasonAgentUnavailable, true)
	if strings.Contains(de.Message, "ENDPOINT-SECRET") {
		t.Errorf("message leaks the endpoint's query: %s", de.Message)
	}
	if !strings.HasPrefix(de.Message, "could not reach the agent: ") {
		t.Errorf("Message = %q", de.Message)
	}
}

func TestRequestSent(t *testing.T) {
	srv, rec := agentServer(t, 200, "application/json", `{"output":"ok"}`)
	a := httpAgent(srv.URL + "/run")
	c := baseCall(a)
	c.Secrets = map[string]json.RawMessage{
		"user_tokens":     json.RawMessage(`{"github":"ghp-SECRET"}`),
		"user_oidc_token": json.RawMessage(`"oidc-SECRET"`),
	}
	c.Credentials.AuthToken = "auth-SECRET"
	if _, err := dispatch.New(srv.Client()).Call(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	got := rec.get()
	if got.method != http.MethodPost || got.path != "/run" {
		t.Errorf("request = %s %s, want POST /run", got.method, got.path)
	}
	for h, want := range map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/plain", "Idempotency-Key": taskID} {
		if v := got.header.Get(h); v != want {
			t.Errorf("%s = %q, want %q", h, v, want)
		}
	}
	want := dispatch.HTTPRequest{TaskID: taskID, AgentID: "echo", Tenant: "org-1", ThreadID: dispatch.ConversationID("org-1", "thread-1"), Text: "hello",
		Input: json.RawMessage(`{"text":"hello","delay_ms":0}`), Attempt: 2}
	gotBody := got.body
	gotBody.Request = nil
	if !reflect.DeepEqual(gotBody, want) {
		t.Errorf("body = %+v\nwant   %+v", gotBody, want)
	}
	// The caller's request is forwarded with its secrets put back.
	var req map[string]any
	if err := json.Unmarshal(got.body.Request, &req); err != nil {
		t.Fatal(err)
	}
	wantReq := map[string]any{"input": map[string]any{"text": "hello", "delay_ms": float64(0)}, "title": "T",
		"user_tokens": map[string]any{"github": "ghp-SECRET"}, "user_oidc_token": "oidc-SECRET"}
	if !reflect.DeepEqual(req, wantReq) {
		t.Errorf("request = %v\nwant      %v", req, wantReq)
	}
	// The auth token travels only as a header, and only to agents that ask for it.
	if b, _ := json.Marshal(got.raw); strings.Contains(string(b), "auth-SECRET") {
		t.Errorf("auth token in the body: %s", b)
	}
	if v := got.header.Get("Authorization"); v != "" {
		t.Errorf("Authorization = %q sent to an agent with auth none", v)
	}
}

func TestRequestWithoutOptionalFields(t *testing.T) {
	srv, rec := agentServer(t, 200, "text/plain", "ok")
	c := dispatch.Call{TaskID: taskID, Agent: httpAgent(srv.URL), Text: "pay", Request: json.RawMessage(`{"message":"pay"}`), Attempt: 1}
	if _, err := dispatch.New(srv.Client()).Call(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	got := rec.get()
	for _, k := range []string{"thread_id", "input"} {
		if _, ok := got.raw[k]; ok {
			t.Errorf("%s sent though empty: %s", k, got.raw[k])
		}
	}
	if string(got.raw["request"]) != `{"message":"pay"}` {
		t.Errorf("request = %s, want the body as stored", got.raw["request"])
	}
}

func TestAuthorizationForwarding(t *testing.T) {
	tests := []struct {
		auth  agent.Auth
		token string
		want  string
	}{
		{agent.AuthForward, "tok-1", "Bearer tok-1"},
		{agent.AuthForward, "", ""},
		{agent.AuthNone, "tok-1", ""},
		{"", "tok-1", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%q", tt.auth, tt.token), func(t *testing.T) {
			srv, rec := agentServer(t, 200, "text/plain", "ok")
			a := httpAgent(srv.URL)
			a.Auth = tt.auth
			c := baseCall(a)
			c.Credentials.AuthToken = tt.token
			if _, err := dispatch.New(srv.Client()).Call(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			if v := rec.get().header.Get("Authorization"); v != tt.want {
				t.Errorf("Authorization = %q, want %q", v, tt.want)
			}
		})
	}
}

func TestUnsupportedProtocol(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	for _, p := range []agent.Protocol{"smtp", ""} {
		t.Run(string(p), func(t *testing.T) {
			a := httpAgent(srv.URL)
			a.Protocol = p
			_, err := dispatch.New(srv.Client()).Call(context.Background(), baseCall(a))
			de := wantError(t, err, task.ReasonAgentFailed, false)
			if !strings.Contains(de.Message, "not supported") {
				t.Errorf("Message = %q", de.Message)
			}
		})
	}
	if hits.Load() != 0 {
		t.Errorf("an unsupported protocol made %d HTTP calls", hits.Load())
	}
}

func TestBadEndpoint(t *testing.T) {
	_, err := dispatch.New(dispatch.HTTPClient(testGuard)).Call(context.Background(), baseCall(httpAgent("http://[::1]:namedport")))
	wantError(t, err, task.ReasonAgentFailed, false)
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{errors.New("anything else"), true},
		{&dispatch.Error{Retryable: true}, true},
		{&dispatch.Error{Retryable: false}, false},
		{fmt.Errorf("wrapped: %w", &dispatch.Error{Retryable: false}), false},
	}
	for _, tt := range tests {
		if got := dispatch.Retryable(tt.err); got != tt.want {
			t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestHistorySent(t *testing.T) {
	srv, rec := agentServer(t, 200, "text/plain", "ok")
	c := baseCall(httpAgent(srv.URL))
	at := time.Date(2026, 2, 7, 2, 13, 26, 0, time.UTC)
	c.History = []dispatch.Message{
		{Role: "user", Content: "q1", TaskID: "t0", CreatedAt: at},
		{Role: "agent", Content: "a1", TaskID: "t0", CreatedAt: at.Add(time.Second)},
	}
	if _, err := dispatch.New(srv.Client()).Call(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if got := rec.get().body.History; !reflect.DeepEqual(got, c.History) {
		t.Errorf("history = %+v, want %+v", got, c.History)
	}
}

// testGuard lets the tests' agents, all on 127.0.0.1, be reached.
var testGuard = netguard.Policy{AllowLoopback: true}
