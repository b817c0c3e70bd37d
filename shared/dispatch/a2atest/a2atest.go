// Package a2atest is a real A2A agent for tests: the official SDK's server on 127.0.0.1, whose
// answer depends on the first word of the message's text:
//
//	hello     answers with a message ("hi there")
//	complete  completes a task with two artifacts at once
//	data      completes a task whose only artifact is a data part
//	slow      works until it has been asked (tasks/get) slowChecks times, then completes
//	hold      works until it is canceled
//	ask       asks which currency; an answer to its task completes it ("paid in <answer>")
//	login     asks the caller to authenticate
//	echo      answers with a message echoing the text ("a2a: <text>")
//	fail      fails; reject rejects; anything else fails as an unknown instruction
//
// It records every request's JSON-RPC method and headers, and every message it executed.
package a2atest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
)

// Agent is a running test agent.
type Agent struct {
	// URL is the agent's JSON-RPC endpoint.
	URL string

	slowChecks int32
	gets       atomic.Int32
	release    chan struct{}
	once       sync.Once

	mu      sync.Mutex
	msgs    []*a2a.Message // messages executed, in order
	headers []http.Header  // HTTP headers of every request, in order
	methods []string       // JSON-RPC methods, in order
}

// New starts an agent whose "slow" tasks complete once they have been checked slowChecks times;
// the test's cleanup stops it.
func New(t testing.TB, slowChecks int32) *Agent {
	t.Helper()
	ag := &Agent{slowChecks: slowChecks, release: make(chan struct{})}
	rpc := a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(ag, a2asrv.WithLogger(slog.New(slog.DiscardHandler))))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Method string `json:"method"`
		}
		_ = json.Unmarshal(body, &req)
		ag.mu.Lock()
		ag.headers = append(ag.headers, r.Header.Clone())
		ag.methods = append(ag.methods, req.Method)
		ag.mu.Unlock()
		if req.Method == "tasks/get" && ag.gets.Add(1) >= ag.slowChecks {
			ag.once.Do(func() { close(ag.release) })
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rpc.ServeHTTP(w, r)
	}))
	ag.URL = srv.URL
	t.Cleanup(func() {
		ag.once.Do(func() { close(ag.release) }) // let a slow task end
		srv.Close()
	})
	return ag
}

// LastMessage returns the last message the agent executed, or nil.
func (ag *Agent) LastMessage() *a2a.Message {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	if len(ag.msgs) == 0 {
		return nil
	}
	return ag.msgs[len(ag.msgs)-1]
}

// Requests returns the JSON-RPC method and the HTTP headers of every request, in order.
func (ag *Agent) Requests() ([]string, []http.Header) {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	return append([]string(nil), ag.methods...), append([]http.Header(nil), ag.headers...)
}

// Count returns how many requests called method.
func (ag *Agent) Count(method string) int {
	methods, _ := ag.Requests()
	n := 0
	for _, m := range methods {
		if m == method {
			n++
		}
	}
	return n
}

// Execute implements a2asrv.AgentExecutor.
func (ag *Agent) Execute(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	ag.mu.Lock()
	ag.msgs = append(ag.msgs, rc.Message)
	ag.mu.Unlock()
	var text string
	for _, p := range rc.Message.Parts {
		if tp, ok := p.(a2a.TextPart); ok {
			text += tp.Text
		}
	}
	word, _, _ := strings.Cut(text, " ")
	status := func(state a2a.TaskState, msg string) error {
		var m *a2a.Message
		if msg != "" {
			m = a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: msg})
		}
		ev := a2a.NewStatusUpdateEvent(rc, state, m)
		ev.Final = state.Terminal() || state == a2a.TaskStateInputRequired || state == a2a.TaskStateAuthRequired
		return q.Write(ctx, ev)
	}
	done := func(artifacts ...*a2a.Artifact) error {
		return q.Write(ctx, &a2a.Task{ID: rc.TaskID, ContextID: rc.ContextID, Artifacts: artifacts,
			Status:   a2a.TaskStatus{State: a2a.TaskStateCompleted},
			Metadata: map[string]any{"usage": map[string]any{"input_tokens": 3, "output_tokens": 4}}})
	}
	if rc.StoredTask != nil { // the answer to a question
		return done(&a2a.Artifact{ID: "answer", Parts: a2a.ContentParts{a2a.TextPart{Text: "paid in " + text}}})
	}
	switch word {
	case "hello":
		m := a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: "hi "}, a2a.TextPart{Text: "there"})
		m.ContextID = rc.ContextID
		m.Metadata = map[string]any{"tokens": map[string]any{"prompt_tokens": 1, "completion_tokens": 2}}
		return q.Write(ctx, m)
	case "complete":
		return done(&a2a.Artifact{ID: "a1", Parts: a2a.ContentParts{a2a.TextPart{Text: "link: "}, a2a.TextPart{Text: "https://pay/1"}}},
			&a2a.Artifact{ID: "a2", Parts: a2a.ContentParts{a2a.TextPart{Text: "valid 24h"}}})
	case "data":
		return done(&a2a.Artifact{ID: "a1", Parts: a2a.ContentParts{a2a.DataPart{Data: map[string]any{"amount": 15}}}})
	case "slow":
		if err := status(a2a.TaskStateWorking, "on it"); err != nil {
			return err
		}
		select {
		case <-ag.release:
		case <-ctx.Done():
			return nil
		}
		return done(&a2a.Artifact{ID: "a1", Parts: a2a.ContentParts{a2a.TextPart{Text: "slow result"}}})
	case "hold":
		if err := status(a2a.TaskStateWorking, ""); err != nil {
			return err
		}
		<-ctx.Done() // canceled, or the server closed
		return nil
	case "ask":
		return status(a2a.TaskStateInputRequired, "which currency?")
	case "login":
		return status(a2a.TaskStateAuthRequired, "sign in first")
	case "fail":
		return status(a2a.TaskStateFailed, "card declined")
	case "reject":
		return status(a2a.TaskStateRejected, "")
	case "echo":
		return q.Write(ctx, a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: "a2a: " + text}))
	default:
		return status(a2a.TaskStateFailed, "unknown instruction "+word)
	}
}

// Cancel implements a2asrv.AgentExecutor.
func (ag *Agent) Cancel(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	ev := a2a.NewStatusUpdateEvent(rc, a2a.TaskStateCanceled, nil)
	ev.Final = true
	return q.Write(ctx, ev)
}
