package a2atest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	legacy "github.com/a2aproject/a2a-go/a2a"
	legacysrv "github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	legacypush "github.com/a2aproject/a2a-go/a2asrv/push"
)

// Pusher03 is a real A2A 0.3 agent that pushes: a2a-go v0.3's own server (not v2's
// compatibility layer), whose push sender posts the whole task, in 0.3's shape, with
// X-A2A-Notification-Token, after every update. Its card (0.3's shape) declares push
// notifications. Every message starts a "progress" task: it works ("on it"); once the test calls
// Proceed, it reports two status updates ("step 1", "step 2") and an artifact ("draft"), then
// completes with a second artifact ("progress result").
type Pusher03 struct {
	// URL is the agent's JSON-RPC endpoint.
	URL string

	proceed   chan struct{}
	proceeded sync.Once
}

// NewPusher03 starts a 0.3 pushing agent; the test's cleanup stops it.
func NewPusher03(t testing.TB) *Pusher03 {
	t.Helper()
	ag := &Pusher03{proceed: make(chan struct{})}
	handler := legacysrv.NewHandler(ag, legacysrv.WithLogger(slog.New(slog.DiscardHandler)),
		legacysrv.WithPushNotifications(legacypush.NewInMemoryStore(), legacypush.NewHTTPPushSender(&legacypush.HTTPSenderConfig{Timeout: 5 * time.Second})))
	rpc := legacysrv.NewJSONRPCHandler(handler)
	card := &legacy.AgentCard{Name: "pusher03", Description: "a 0.3 test agent that pushes", Version: "1",
		ProtocolVersion: "0.3.0", PreferredTransport: legacy.TransportProtocolJSONRPC,
		DefaultInputModes: []string{"text/plain"}, DefaultOutputModes: []string{"text/plain"},
		Skills:       []legacy.AgentSkill{{ID: "test", Name: "test", Description: "test", Tags: []string{"test"}}},
		Capabilities: legacy.AgentCapabilities{PushNotifications: true}}
	cardHandler := legacysrv.NewAgentCardHandler(legacysrv.AgentCardProducerFn(func(context.Context) (*legacy.AgentCard, error) { return card, nil }))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == legacysrv.WellKnownAgentCardPath {
			cardHandler.ServeHTTP(w, r)
			return
		}
		rpc.ServeHTTP(w, r)
	}))
	ag.URL = srv.URL
	card.URL = srv.URL
	t.Cleanup(func() {
		ag.Proceed()
		srv.Close()
	})
	return ag
}

// Proceed lets the task report its progress.
func (ag *Pusher03) Proceed() { ag.proceeded.Do(func() { close(ag.proceed) }) }

var _ legacysrv.AgentExecutor = (*Pusher03)(nil)

// Execute implements the v0.3 server's AgentExecutor.
func (ag *Pusher03) Execute(ctx context.Context, rc *legacysrv.RequestContext, q eventqueue.Queue) error {
	say := func(text string) *legacy.Message {
		return legacy.NewMessageForTask(legacy.MessageRoleAgent, rc, legacy.TextPart{Text: text})
	}
	task := &legacy.Task{ID: rc.TaskID, ContextID: rc.ContextID, Status: legacy.TaskStatus{State: legacy.TaskStateWorking, Message: say("on it")}}
	if err := q.Write(ctx, task); err != nil {
		return err
	}
	select {
	case <-ag.proceed:
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, step := range []string{"step 1", "step 2"} {
		if err := q.Write(ctx, legacy.NewStatusUpdateEvent(rc, legacy.TaskStateWorking, say(step))); err != nil {
			return err
		}
	}
	if err := q.Write(ctx, legacy.NewArtifactEvent(rc, legacy.TextPart{Text: "draft"})); err != nil {
		return err
	}
	done := legacy.NewStatusUpdateEvent(rc, legacy.TaskStateCompleted, nil)
	done.Final = true
	if err := q.Write(ctx, legacy.NewArtifactEvent(rc, legacy.TextPart{Text: "progress result"})); err != nil {
		return err
	}
	return q.Write(ctx, done)
}

// Cancel implements the v0.3 server's AgentExecutor.
func (ag *Pusher03) Cancel(ctx context.Context, rc *legacysrv.RequestContext, q eventqueue.Queue) error {
	return q.Write(ctx, legacy.NewStatusUpdateEvent(rc, legacy.TaskStateCanceled, nil))
}
