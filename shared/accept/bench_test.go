package accept_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
)

// nopStore and nopQueue accept everything, so the benchmark measures the accept core itself.
type nopStore struct{ *fakeStore }

func (nopStore) Submit(context.Context, *task.Task, task.SubmitOptions) error { return nil }

type nopQueue struct{}

func (nopQueue) Send(context.Context, *queue.Message, time.Duration) error { return nil }

// BenchmarkSubmit measures the accept core's own cost per invocation (decode excluded): agent
// lookup, policy, task and message construction, and the concurrent write and send.
func BenchmarkSubmit(b *testing.B) {
	inv, err := dialect.DecodeServiceNet([]byte(`{"message":"Create a payment link for 15 AUD","auth_token":"secret-token","region":"AU"}`))
	if err != nil {
		b.Fatal(err)
	}
	svc := accept.New(accept.Config{Store: nopStore{newFakeStore()}, Queue: nopQueue{}, Registry: registry, TTL: time.Hour})
	sub := accept.Submission{Tenant: "acme", AgentID: "echo", Source: "api", Invocation: inv}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Submit(ctx, sub); err != nil {
			b.Fatal(err)
		}
	}
}
