package demoagent_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/local/demoagent"
	"github.com/agentq/agentq/shared/task"
)

// call posts an agent request with the given input to the echo agent.
func call(t *testing.T, ctx context.Context, input string) *httptest.ResponseRecorder {
	t.Helper()
	body := `{"task_id":"t1","agent_id":"echo","text":"hi there","attempt":3`
	if input != "" {
		body += `,"input":` + input
	}
	body += "}"
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)).WithContext(ctx)
	rec := httptest.NewRecorder()
	demoagent.Handler().ServeHTTP(rec, req)
	return rec
}

func TestEcho(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		status int
	}{
		{"no input", "", 200},
		{"plain input", `{"text":"hi there"}`, 200},
		{"input not an object", `"just a string"`, 200},
		{"fail false", `{"fail":false}`, 200},
		{"fail empty", `{"fail":""}`, 200},
		{"fail null", `{"fail":null}`, 200},
		{"fail permanent", `{"fail":"permanent"}`, http.StatusUnprocessableEntity},
		{"fail true", `{"fail":true}`, http.StatusUnprocessableEntity},
		{"fail anything else", `{"fail":"yes"}`, http.StatusUnprocessableEntity},
		{"fail transient", `{"fail":"transient"}`, http.StatusServiceUnavailable},
		{"delay then fail", `{"fail":"transient","delay_ms":1}`, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := call(t, context.Background(), tt.input)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("answer is not JSON: %q", rec.Body)
			}
			if tt.status == 200 {
				want := map[string]any{"output": "hi there", "task_id": "t1", "attempt": float64(3)}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("answer = %v, want %v", got, want)
				}
			} else if got["error"] == nil {
				t.Errorf("failure without an error: %v", got)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	const delay = 30 * time.Millisecond
	start := time.Now()
	rec := call(t, context.Background(), `{"delay_ms":30}`)
	if took := time.Since(start); took < delay {
		t.Errorf("answered after %v, want at least %v", took, delay)
	}
	if rec.Code != 200 {
		t.Errorf("status = %d", rec.Code)
	}
}

// A delayed answer stops when the caller gives up.
func TestDelayEndsWithTheRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- call(t, ctx, `{"delay_ms":600000}`) }()
	cancel()
	select {
	case rec := <-done:
		if rec.Body.Len() != 0 {
			t.Errorf("answered %q to a caller that left", rec.Body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler kept waiting after the request ended")
	}
}

// delay_ms is capped at MaxDelay, never turned into no delay by an overflow.
func TestHugeDelayIsCapped(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- call(t, ctx, `{"delay_ms":9223372036854775807}`) }()
	select {
	case rec := <-done:
		t.Errorf("answered %d at once; want a wait of up to %v", rec.Code, demoagent.MaxDelay)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestBadRequests(t *testing.T) {
	tests := []struct {
		method, body string
		status       int
	}{
		{http.MethodGet, "", http.StatusMethodNotAllowed},
		{http.MethodPut, `{"text":"x"}`, http.StatusMethodNotAllowed},
		{http.MethodDelete, "", http.StatusMethodNotAllowed},
		{http.MethodPost, "not json", http.StatusBadRequest},
		{http.MethodPost, "", http.StatusBadRequest},
		{http.MethodPost, `{"text":5}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.body, func(t *testing.T) {
			rec := httptest.NewRecorder()
			demoagent.Handler().ServeHTTP(rec, httptest.NewRequest(tt.method, "/", strings.NewReader(tt.body)))
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			if tt.status == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q, want POST", rec.Header().Get("Allow"))
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Errorf("answer is not JSON: %q", rec.Body)
			}
		})
	}
}

// TestThroughDispatch calls the echo agent the way the worker does, over HTTP on 127.0.0.1.
func TestThroughDispatch(t *testing.T) {
	srv := httptest.NewServer(demoagent.Handler())
	defer srv.Close()
	client := dispatch.New(srv.Client())
	echo := agent.Agent{ID: "echo", Protocol: agent.HTTP, Endpoint: srv.URL}
	tests := []struct {
		input     string
		reason    string
		retryable bool
	}{
		{`{"text":"hello"}`, "", false},
		{`{"text":"hello","fail":"permanent"}`, task.ReasonAgentRejected, false},
		{`{"text":"hello","fail":"transient"}`, task.ReasonAgentUnavailable, true},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			res, err := client.Call(context.Background(), dispatch.Call{TaskID: "t1", Agent: echo, Text: "hello",
				Request: json.RawMessage(`{"input":` + tt.input + `}`), Attempt: 1})
			if tt.reason == "" {
				if err != nil || res.Text != "hello" {
					t.Errorf("Call = %+v, %v; want the text echoed", res, err)
				}
				return
			}
			var de *dispatch.Error
			if !errors.As(err, &de) || de.Reason != tt.reason || de.Retryable != tt.retryable {
				t.Errorf("err = %v, want reason %s retryable %v", err, tt.reason, tt.retryable)
			}
		})
	}
}
