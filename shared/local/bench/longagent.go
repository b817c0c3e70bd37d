package bench

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"

	"github.com/agentq/agentq/shared/agent"
)

// LongAgentID is the long-running A2A agent the bench publishes beside echo.
const LongAgentID = "long"

// longAgent is an A2A 1.0 agent (the a2a-go SDK's server) on 127.0.0.1 that works on every
// task for the time its text names (a Go duration, "10s"; otherwise its default): its first answer is the task, working; the task completes in the
// background after the time, which a caller learns by asking (GetTask). It is what the worker
// must not wait on: a call answered at once, then checks.
type longAgent struct {
	work time.Duration
	srv  *http.Server
	url  string
}

// startLongAgent starts the agent; Close stops it.
func startLongAgent(work time.Duration) (*longAgent, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the long-running agent: %w", err)
	}
	la := &longAgent{work: work, url: "http://" + ln.Addr().String() + "/"}
	rpc := a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(la, a2asrv.WithLogger(slog.New(slog.DiscardHandler))))
	card := &a2a.AgentCard{Name: "long", Description: "works on every task for a fixed time", Version: "1",
		DefaultInputModes: []string{"text/plain"}, DefaultOutputModes: []string{"text/plain"},
		Skills:              []a2a.AgentSkill{{ID: "wait", Name: "wait", Description: "waits", Tags: []string{"bench"}}},
		SupportedInterfaces: []*a2a.AgentInterface{{URL: la.url, ProtocolBinding: a2a.TransportProtocolJSONRPC, ProtocolVersion: a2a.Version}}}
	cardHandler := a2asrv.NewAgentCardHandler(a2asrv.AgentCardProducerFn(func(context.Context) (*a2a.AgentCard, error) { return card, nil }))
	la.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == a2asrv.WellKnownAgentCardPath {
			cardHandler.ServeHTTP(w, r)
			return
		}
		rpc.ServeHTTP(w, r)
	})}
	go func() { _ = la.srv.Serve(ln) }()
	return la, nil
}

// Agent is the agent's registry entry.
func (la *longAgent) Agent() agent.Agent {
	return agent.Agent{ID: LongAgentID, Name: "Long", Description: "An A2A agent that works on every task for a fixed time.",
		Protocol: agent.A2A, Endpoint: la.url, A2AVersion: agent.A2AVersion1, Timeout: agent.Duration(30 * time.Second)}
}

// Close stops the agent.
func (la *longAgent) Close() error {
	if err := la.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Execute implements a2asrv.AgentExecutor: the task, working, then completed after the agent's
// time (or nothing more once the server stops).
func (la *longAgent) Execute(ctx context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	work := la.work
	if ec.Message != nil {
		var text string
		for _, p := range ec.Message.Parts {
			text += p.Text()
		}
		if d, err := time.ParseDuration(strings.TrimSpace(text)); err == nil && d > 0 {
			work = d
		}
	}
	return func(yield func(a2a.Event, error) bool) {
		task := &a2a.Task{ID: ec.TaskID, ContextID: ec.ContextID, Status: a2a.TaskStatus{State: a2a.TaskStateWorking}}
		if !yield(task, nil) {
			return
		}
		select {
		case <-time.After(work):
		case <-ctx.Done():
			return
		}
		yield(&a2a.Task{ID: ec.TaskID, ContextID: ec.ContextID, Status: a2a.TaskStatus{State: a2a.TaskStateCompleted},
			Artifacts: []*a2a.Artifact{{ID: "a1", Parts: a2a.ContentParts{a2a.NewTextPart("done")}}}}, nil)
	}
}

// Cancel implements a2asrv.AgentExecutor: a canceled task is canceled.
func (la *longAgent) Cancel(_ context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		yield(a2a.NewStatusUpdateEvent(ec, a2a.TaskStateCanceled, nil), nil)
	}
}
