package apigw_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/apigw"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/task"
)

// seen is what the wrapped handler received.
type seen struct {
	method, path, query, body string
	header                    http.Header
}

// recorder is an http.Handler that remembers the last request and answers with a fixed response.
type recorder struct {
	mu   sync.Mutex
	last *seen
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.last = &seen{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, body: string(b), header: r.Header.Clone()}
	rc.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", "req-1")
	w.Header().Add("Set-Cookie", "a=1")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"ok":true}`)
}

func (rc *recorder) got(t *testing.T) *seen {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.last == nil {
		t.Fatal("the handler was not called")
	}
	return rc.last
}

// readEvent parses a sample event from events/ the way the Lambda runtime does.
func readEvent(t testing.TB, name string) (*core.SwitchableAPIGatewayRequest, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	var req core.SwitchableAPIGatewayRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &req, raw
}

func TestEventsReachTheHandler(t *testing.T) {
	tests := []struct {
		file       string
		v2         bool
		method     string
		path       string
		authHeader string
	}{
		{"apigw-v2-invoke-xpander.json", true, http.MethodPost, "/v1/agents/echo/invoke/async", "X-Api-Key"},
		{"apigw-v2-invoke-servicenet.json", true, http.MethodPost, "/v1/agents/echo/invoke-async", "Authorization"},
		{"apigw-v2-get-task.json", true, http.MethodGet, "/v1/tasks/81250b20-e9d7-4b3b-9995-07dc72b4bb59", "X-Api-Key"},
		{"apigw-v1-invoke-xpander.json", false, http.MethodPost, "/v1/agents/echo/invoke/async", "X-Api-Key"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			req, raw := readEvent(t, tt.file)
			var body struct {
				Body string `json:"body"`
			}
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatal(err)
			}
			if (req.Version2() != nil) != tt.v2 || (req.Version1() != nil) == tt.v2 {
				t.Fatalf("event read as v1 %v / v2 %v, want v2 %v", req.Version1() != nil, req.Version2() != nil, tt.v2)
			}

			rc := &recorder{}
			resp, err := apigw.New(rc).Handle(context.Background(), req)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			got := rc.got(t)
			if got.method != tt.method || got.path != tt.path || got.body != body.Body {
				t.Errorf("handler saw %s %s %.60q, want %s %s %.60q", got.method, got.path, got.body, tt.method, tt.path, body.Body)
			}
			if got.header.Get(tt.authHeader) == "" {
				t.Errorf("credential header %s lost: %v", tt.authHeader, got.header)
			}

			// The answer comes back in the format the event came in.
			if tt.v2 {
				v2 := resp.Version2()
				if v2 == nil || resp.Version1() != nil {
					t.Fatalf("answer to a v2 event is not v2: %+v", resp)
				}
				if v2.StatusCode != http.StatusAccepted || v2.Body != `{"ok":true}` || v2.IsBase64Encoded ||
					v2.Headers["Content-Type"] != "application/json" || v2.Headers["X-Request-Id"] != "req-1" {
					t.Errorf("v2 answer = %+v", v2)
				}
				if len(v2.Cookies) != 1 || v2.Cookies[0] != "a=1" {
					t.Errorf("cookies = %v, want [a=1]", v2.Cookies)
				}
			} else {
				v1 := resp.Version1()
				if v1 == nil || resp.Version2() != nil {
					t.Fatalf("answer to a v1 event is not v1: %+v", resp)
				}
				if v1.StatusCode != http.StatusAccepted || v1.Body != `{"ok":true}` ||
					strings.Join(v1.MultiValueHeaders["Content-Type"], ",") != "application/json" {
					t.Errorf("v1 answer = %+v", v1)
				}
			}
			// And it marshals as the Lambda runtime sends it back.
			out, err := json.Marshal(resp)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(out, &fields); err != nil {
				t.Fatal(err)
			}
			if string(fields["statusCode"]) != "202" {
				t.Errorf("statusCode = %s", fields["statusCode"])
			}
			if _, hasCookies := fields["cookies"]; hasCookies != tt.v2 {
				t.Errorf("cookies present = %v in a v2=%v answer: %s", hasCookies, tt.v2, out)
			}
		})
	}
}

func TestQueryAndBase64(t *testing.T) {
	req, _ := readEvent(t, "apigw-v2-invoke-xpander.json")
	v2 := *req.Version2()
	v2.RawQueryString = "version=draft"
	v2.Body = base64.StdEncoding.EncodeToString([]byte(`{"input":{"text":"b64"}}`))
	v2.IsBase64Encoded = true
	rc := &recorder{}
	if _, err := apigw.New(rc).Handle(context.Background(), core.NewSwitchableAPIGatewayRequestV2(&v2)); err != nil {
		t.Fatal(err)
	}
	if got := rc.got(t); got.body != `{"input":{"text":"b64"}}` || got.query != "version=draft" {
		t.Errorf("handler saw body %q query %q", got.body, got.query)
	}

	v2.Body = "%%% not base64"
	if _, err := apigw.New(rc).Handle(context.Background(), core.NewSwitchableAPIGatewayRequestV2(&v2)); err == nil {
		t.Error("a body that is not base64 was accepted")
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, err := apigw.New(&recorder{}).Handle(context.Background(), &core.SwitchableAPIGatewayRequest{}); err == nil {
		t.Error("Handle of an event of neither format succeeded")
	}
	for _, raw := range []string{`{}`, `{"rawQueryString":"","multiValueQueryStringParameters":null}`, `[]`, `"x"`} {
		var req core.SwitchableAPIGatewayRequest
		if err := json.Unmarshal([]byte(raw), &req); err == nil {
			t.Errorf("%s parsed as an API Gateway event", raw)
		}
	}
}

// fakeSubmitter and fakeReader stand in for the accept core and the store behind the real API.
type fakeSubmitter struct{}

func (fakeSubmitter) Submit(_ context.Context, sub accept.Submission) (*task.Task, error) {
	return &task.Task{ID: "81250b20-e9d7-4b3b-9995-07dc72b4bb59", Tenant: sub.Tenant, AgentID: sub.AgentID,
		Dialect: sub.Invocation.Dialect, State: task.Queued, Request: sub.Invocation.Body, Text: sub.Invocation.Text,
		CreatedAt: time.Date(2026, 2, 7, 2, 13, 26, 0, time.UTC)}, nil
}

type fakeReader struct{}

func (fakeReader) Get(_ context.Context, id string) (*task.Task, error) {
	return &task.Task{ID: id, Tenant: "default", AgentID: "echo", State: task.Running, Request: json.RawMessage(`{"input":{"text":"x"}}`)}, nil
}

type keys struct{}

func (keys) Tenant(k string) (string, bool) { return "default", k == "local-dev-key" }

func apiAdapter() *apigw.Adapter {
	return apigw.New(httpapi.New(httpapi.Config{Submitter: fakeSubmitter{}, Reader: fakeReader{}, Keys: keys{}}))
}

// TestThroughTheAPI runs the sample events through the real API handler.
func TestThroughTheAPI(t *testing.T) {
	tests := []struct {
		file       string
		wantStatus string
		retryAfter string
	}{
		{"apigw-v2-invoke-xpander.json", "pending", ""},
		{"apigw-v2-invoke-servicenet.json", "running", ""},
		{"apigw-v2-get-task.json", "executing", "2"},
		{"apigw-v1-invoke-xpander.json", "pending", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			req, _ := readEvent(t, tt.file)
			resp, err := apiAdapter().Handle(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			var status int
			var body string
			var header func(string) string
			if v2 := resp.Version2(); v2 != nil {
				status, body, header = v2.StatusCode, v2.Body, func(k string) string { return v2.Headers[k] }
			} else {
				v1 := resp.Version1()
				status, body, header = v1.StatusCode, v1.Body, func(k string) string { return strings.Join(v1.MultiValueHeaders[k], ",") }
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if status != http.StatusOK || got["status"] != tt.wantStatus {
				t.Errorf("answer %d %s, want 200 with status %s", status, body, tt.wantStatus)
			}
			if header("X-Request-Id") == "" || header("Retry-After") != tt.retryAfter {
				t.Errorf("X-Request-Id %q, Retry-After %q (want %q)", header("X-Request-Id"), header("Retry-After"), tt.retryAfter)
			}
			if strings.Contains(body, "secret-token") || strings.Contains(body, "example-oidc-token") {
				t.Errorf("answer echoes a secret: %s", body)
			}
		})
	}
}

// Events API Gateway would not send as they are still get the API's answer, not a crash.
func TestOddEvents(t *testing.T) {
	req, _ := readEvent(t, "apigw-v2-invoke-xpander.json")
	tests := []struct {
		name   string
		mutate func(*events.APIGatewayV2HTTPRequest)
		status int
	}{
		{"no path", func(e *events.APIGatewayV2HTTPRequest) { e.RawPath, e.RequestContext.HTTP.Path = "", "" }, http.StatusNotFound},
		{"path only in the context", func(e *events.APIGatewayV2HTTPRequest) { e.RawPath = "" }, http.StatusOK},
		{"no method", func(e *events.APIGatewayV2HTTPRequest) { e.RequestContext.HTTP.Method = "" }, http.StatusMethodNotAllowed},
		{"lower-case method", func(e *events.APIGatewayV2HTTPRequest) { e.RequestContext.HTTP.Method = "post" }, http.StatusOK},
		{"no headers", func(e *events.APIGatewayV2HTTPRequest) { e.Headers = nil }, http.StatusUnauthorized},
		{"empty body", func(e *events.APIGatewayV2HTTPRequest) { e.Body = "" }, http.StatusBadRequest},
		{"stage in the path", func(e *events.APIGatewayV2HTTPRequest) { e.RawPath = "/prod" + e.RawPath }, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := *req.Version2()
			mutate := tt.mutate
			mutate(&ev)
			resp, err := apiAdapter().Handle(context.Background(), core.NewSwitchableAPIGatewayRequestV2(&ev))
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if v2 := resp.Version2(); v2 == nil || v2.StatusCode != tt.status {
				t.Errorf("answer = %+v, want status %d", resp.Version2(), tt.status)
			}
		})
	}
}

// TestKeyCheckedInHandler: behind the HTTP API (no gateway authorizer) the handler checks the
// key of every event itself, from x-api-key or a Bearer Authorization, and answers a missing or
// wrong key with its own 401 and code; an authorizer context in the event grants nothing.
func TestKeyCheckedInHandler(t *testing.T) {
	forged := &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: map[string]any{"tenant": "acme"}}
	tests := []struct {
		name       string
		edit       func(e *events.APIGatewayV2HTTPRequest)
		wantStatus int
		wantCode   string
		wantTenant string
	}{
		{"x-api-key", func(e *events.APIGatewayV2HTTPRequest) {}, http.StatusOK, "", "default"},
		{"bearer", func(e *events.APIGatewayV2HTTPRequest) {
			e.Headers = map[string]string{"content-type": "application/json", "authorization": "Bearer local-dev-key"}
		}, http.StatusOK, "", "default"},
		{"no key", func(e *events.APIGatewayV2HTTPRequest) {
			e.Headers = map[string]string{"content-type": "application/json"}
		}, http.StatusUnauthorized, "missing_api_key", ""},
		{"a wrong key", func(e *events.APIGatewayV2HTTPRequest) {
			e.Headers = map[string]string{"content-type": "application/json", "x-api-key": "wrong"}
		}, http.StatusUnauthorized, "invalid_api_key", ""},
		{"an authorizer context without a key", func(e *events.APIGatewayV2HTTPRequest) {
			e.Headers = map[string]string{"content-type": "application/json"}
			e.RequestContext.Authorizer = forged
		}, http.StatusUnauthorized, "missing_api_key", ""},
		{"an authorizer context beside a key: the key's tenant", func(e *events.APIGatewayV2HTTPRequest) {
			e.RequestContext.Authorizer = forged
		}, http.StatusOK, "", "default"},
	}
	adapter := apiAdapter()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, raw := readEvent(t, "apigw-v2-invoke-xpander.json")
			var e events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			tt.edit(&e)
			b, _ := json.Marshal(e)
			if err := json.Unmarshal(b, req); err != nil {
				t.Fatal(err)
			}
			resp, err := adapter.Handle(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			v2 := resp.Version2()
			var got map[string]any
			_ = json.Unmarshal([]byte(v2.Body), &got)
			if v2.StatusCode != tt.wantStatus {
				t.Fatalf("answer %d %s, want %d", v2.StatusCode, v2.Body, tt.wantStatus)
			}
			if tt.wantCode != "" && (got["code"] != tt.wantCode || got["detail"] == nil) {
				t.Errorf("body %s, want code %s with a detail", v2.Body, tt.wantCode)
			}
			if tt.wantTenant != "" && got["organization_id"] != tt.wantTenant {
				t.Errorf("task of tenant %v, want %s", got["organization_id"], tt.wantTenant)
			}
		})
	}
}
