// Package a2atest is a real A2A agent for tests: the official Go SDK's server (a2a-go v2) on
// 127.0.0.1, speaking A2A 1.0 or, through the SDK's compatibility package, A2A 0.3, with its
// agent card at /.well-known/agent-card.json. Its answer depends on the first word of the
// message's text:
//
//	hello     answers with a message ("hi there")
//	complete  completes a task with two artifacts at once
//	data      completes a task whose only artifact is a data part
//	slow      works until it has been asked (GetTask) slowChecks times, then completes
//	hold      works until it is canceled
//	ask       asks which currency; an answer to its task completes it ("paid in <answer>")
//	login     asks the caller to authenticate
//	echo      answers with a message echoing the text ("a2a: <text>")
//	stream    works, reports two status updates ("step 1", "step 2") and an artifact update at
//	          once, then completes ("stream result"): with Streams, a streaming call sees them all
//	progress  works; once the test calls Proceed, reports two status updates ("step 1", "step 2")
//	          and an artifact update, then completes as slow does (with Pushes, every update is
//	          pushed to the push configuration the message carries)
//	fail      fails; reject rejects; anything else fails as an unknown instruction
//
// It records every JSON-RPC request's method, headers and body, every message it executed, and
// how often its card was asked for.
package a2atest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2acompat/a2av0"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/a2aproject/a2a-go/v2/a2asrv/push"
)

// Agent is a running test agent.
type Agent struct {
	// URL is the agent's JSON-RPC endpoint.
	URL string

	slowChecks int32
	gets       atomic.Int32
	release    chan struct{}
	once       sync.Once
	proceed    chan struct{}
	proceeded  sync.Once

	mu      sync.Mutex
	msgs    []*a2a.Message // messages executed, in order
	headers []http.Header  // HTTP headers of every JSON-RPC request, in order
	methods []string       // JSON-RPC methods, in order
	bodies  [][]byte       // JSON-RPC request bodies, in order
	cards   int            // agent card requests
}

// Option configures a test agent.
type Option func(*config)

type config struct {
	legacy bool
	noCard bool
	push   bool
	stream bool
}

// Streams makes the agent's card declare streaming (SendStreamingMessage).
func Streams() Option { return func(c *config) { c.stream = true } }

// Pushes makes the agent support push notifications: its card says so, and it pushes every
// update of a task to the push configuration the message carried, as 1.0 StreamResponses even
// with Legacy (the SDK's compatibility server pushes with v2's sender; Pusher03 is an agent
// that pushes as 0.3 does).
func Pushes() Option { return func(c *config) { c.push = true } }

// Legacy makes the agent speak A2A 0.3 (the SDK's a2av0 JSON-RPC server) and publish its card in
// the 0.3 shape.
func Legacy() Option { return func(c *config) { c.legacy = true } }

// NoCard makes the agent publish no agent card (its card path answers 404), as agents written
// before agent cards were common do.
func NoCard() Option { return func(c *config) { c.noCard = true } }

// New starts an agent whose "slow" tasks complete once they have been checked slowChecks times;
// the test's cleanup stops it. By default it speaks A2A 1.0 and publishes its card.
func New(t testing.TB, slowChecks int32, opts ...Option) *Agent {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	ag := &Agent{slowChecks: slowChecks, release: make(chan struct{}), proceed: make(chan struct{})}
	hopts := []a2asrv.RequestHandlerOption{a2asrv.WithLogger(slog.New(slog.DiscardHandler))}
	if cfg.push {
		hopts = append(hopts, a2asrv.WithPushNotifications(push.NewInMemoryStore(), push.NewHTTPPushSender(&push.HTTPSenderConfig{Timeout: 5 * time.Second})))
	}
	handler := a2asrv.NewHandler(ag, hopts...)
	var rpc http.Handler
	version := a2a.Version
	if cfg.legacy {
		rpc, version = a2av0.NewJSONRPCHandler(handler), a2av0.Version
	} else {
		rpc = a2asrv.NewJSONRPCHandler(handler)
	}
	card := &a2a.AgentCard{Name: "a2atest", Description: "a test agent", Version: "1",
		DefaultInputModes: []string{"text/plain"}, DefaultOutputModes: []string{"text/plain"},
		Skills:       []a2a.AgentSkill{{ID: "test", Name: "test", Description: "test", Tags: []string{"test"}}},
		Capabilities: a2a.AgentCapabilities{PushNotifications: cfg.push, Streaming: cfg.stream}}
	// The card names the endpoint, so it is complete only once the server listens: it is produced
	// on each request.
	var producer a2asrv.AgentCardProducer = a2asrv.AgentCardProducerFn(func(context.Context) (*a2a.AgentCard, error) { return card, nil })
	if cfg.legacy {
		producer = a2av0.NewAgentCardProducer(producer)
	}
	var cardHandler http.Handler = a2asrv.NewAgentCardHandler(producer)
	if cfg.noCard {
		cardHandler = http.NotFoundHandler()
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == a2asrv.WellKnownAgentCardPath {
			ag.mu.Lock()
			ag.cards++
			ag.mu.Unlock()
			cardHandler.ServeHTTP(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Method string `json:"method"`
		}
		_ = json.Unmarshal(body, &req)
		ag.mu.Lock()
		ag.headers = append(ag.headers, r.Header.Clone())
		ag.methods = append(ag.methods, req.Method)
		ag.bodies = append(ag.bodies, body)
		ag.mu.Unlock()
		if (req.Method == "GetTask" || req.Method == "tasks/get") && ag.gets.Add(1) >= ag.slowChecks {
			ag.once.Do(func() { close(ag.release) })
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rpc.ServeHTTP(w, r)
	}))
	ag.URL = srv.URL
	card.SupportedInterfaces = []*a2a.AgentInterface{{URL: ag.URL, ProtocolBinding: a2a.TransportProtocolJSONRPC, ProtocolVersion: version}}
	t.Cleanup(func() {
		ag.Proceed()
		ag.once.Do(func() { close(ag.release) }) // let a slow task end
		srv.Close()
	})
	return ag
}

// Proceed lets "progress" tasks report their progress.
func (ag *Agent) Proceed() { ag.proceeded.Do(func() { close(ag.proceed) }) }

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

// Bodies returns the body of every JSON-RPC request, in order.
func (ag *Agent) Bodies() [][]byte {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	return append([][]byte(nil), ag.bodies...)
}

// CardRequests returns how many times the agent card was asked for.
func (ag *Agent) CardRequests() int {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	return ag.cards
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

var _ a2asrv.AgentExecutor = (*Agent)(nil)

// Execute implements a2asrv.AgentExecutor. A task's first event is the task itself, in the state
// the instruction calls for, so that a caller that asked to return immediately sees that state.
func (ag *Agent) Execute(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	ag.mu.Lock()
	ag.msgs = append(ag.msgs, ec.Message)
	ag.mu.Unlock()
	var text string
	for _, p := range ec.Message.Parts {
		text += p.Text()
	}
	word, _, _ := strings.Cut(text, " ")
	return func(yield func(a2a.Event, error) bool) {
		task := func(state a2a.TaskState, msg string, artifacts ...*a2a.Artifact) *a2a.Task {
			t := &a2a.Task{ID: ec.TaskID, ContextID: ec.ContextID, Artifacts: artifacts, Status: a2a.TaskStatus{State: state}}
			if msg != "" {
				t.Status.Message = a2a.NewMessageForTask(a2a.MessageRoleAgent, ec, a2a.NewTextPart(msg))
			}
			if state == a2a.TaskStateCompleted {
				t.Metadata = map[string]any{"usage": map[string]any{"input_tokens": 3, "output_tokens": 4}}
			}
			return t
		}
		if ec.StoredTask != nil { // the answer to a question
			yield(task(a2a.TaskStateCompleted, "", &a2a.Artifact{ID: "answer", Parts: a2a.ContentParts{a2a.NewTextPart("paid in " + text)}}), nil)
			return
		}
		switch word {
		case "hello":
			m := a2a.NewMessage(a2a.MessageRoleAgent, a2a.NewTextPart("hi "), a2a.NewTextPart("there"))
			m.ContextID = ec.ContextID
			m.Metadata = map[string]any{"tokens": map[string]any{"prompt_tokens": 1, "completion_tokens": 2}}
			yield(m, nil)
		case "complete":
			yield(task(a2a.TaskStateCompleted, "",
				&a2a.Artifact{ID: "a1", Parts: a2a.ContentParts{a2a.NewTextPart("link: "), a2a.NewTextPart("https://pay/1")}},
				&a2a.Artifact{ID: "a2", Parts: a2a.ContentParts{a2a.NewTextPart("valid 24h")}}), nil)
		case "data":
			yield(task(a2a.TaskStateCompleted, "", &a2a.Artifact{ID: "a1", Parts: a2a.ContentParts{a2a.NewDataPart(map[string]any{"amount": 15})}}), nil)
		case "slow":
			if !yield(task(a2a.TaskStateWorking, "on it"), nil) {
				return
			}
			select {
			case <-ag.release:
			case <-ctx.Done():
				return
			}
			yield(task(a2a.TaskStateCompleted, "", &a2a.Artifact{ID: "a1", Parts: a2a.ContentParts{a2a.NewTextPart("slow result")}}), nil)
		case "stream":
			if !yield(task(a2a.TaskStateWorking, "on it"), nil) {
				return
			}
			if !reportProgress(ec, yield) {
				return
			}
			yield(task(a2a.TaskStateCompleted, "", &a2a.Artifact{ID: "a1", Parts: a2a.ContentParts{a2a.NewTextPart("stream result")}}), nil)
		case "progress":
			if !yield(task(a2a.TaskStateWorking, "on it"), nil) {
				return
			}
			select {
			case <-ag.proceed:
			case <-ctx.Done():
				return
			}
			if !reportProgress(ec, yield) {
				return
			}
			select {
			case <-ag.release:
			case <-ctx.Done():
				return
			}
			yield(task(a2a.TaskStateCompleted, "", &a2a.Artifact{ID: "a1", Parts: a2a.ContentParts{a2a.NewTextPart("progress result")}}), nil)
		case "hold":
			if !yield(task(a2a.TaskStateWorking, ""), nil) {
				return
			}
			<-ctx.Done() // canceled, or the server closed
		case "ask":
			yield(task(a2a.TaskStateInputRequired, "which currency?"), nil)
		case "login":
			yield(task(a2a.TaskStateAuthRequired, "sign in first"), nil)
		case "fail":
			yield(task(a2a.TaskStateFailed, "card declined"), nil)
		case "reject":
			yield(task(a2a.TaskStateRejected, ""), nil)
		case "echo":
			yield(a2a.NewMessage(a2a.MessageRoleAgent, a2a.NewTextPart("a2a: "+text)), nil)
		default:
			yield(task(a2a.TaskStateFailed, "unknown instruction "+word), nil)
		}
	}
}

// reportProgress yields the progress of a "stream" or "progress" task: two status updates and
// an artifact update. It answers false when the consumer stopped.
func reportProgress(ec *a2asrv.ExecutorContext, yield func(a2a.Event, error) bool) bool {
	for _, step := range []string{"step 1", "step 2"} {
		if !yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateWorking, a2a.NewMessageForTask(a2a.MessageRoleAgent, ec, a2a.NewTextPart(step))), nil) {
			return false
		}
	}
	return yield(a2a.NewArtifactEvent(ec, a2a.NewTextPart("draft")), nil)
}

// Cancel implements a2asrv.AgentExecutor.
func (ag *Agent) Cancel(_ context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCanceled, nil), nil)
	}
}
