package workertest_test

import (
	"context"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/worker"
	"github.com/agentq/agentq/shared/worker/workertest"
)

// cancels records the remote tasks it is asked to cancel; the worker needs no store for them.
type cancels struct {
	worker.Dispatcher
	ids []string
}

func (c *cancels) Cancel(_ context.Context, _ agent.Agent, id string, _ dispatch.Credentials) error {
	c.ids = append(c.ids, id)
	return nil
}

func TestRunCarriesTheMessageAndItsDelivery(t *testing.T) {
	const dlq = "arn:aws:sqs:us-east-1:123456789012:work-dlq"
	tests := []struct {
		name      string
		delivery  workertest.Delivery
		wantCalls int
	}{
		{"work queue", workertest.Delivery{}, 1},
		{"dead-letter queue gives the cancel up", workertest.Delivery{Source: dlq, Received: 5}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &cancels{}
			p := worker.New(worker.Config{Dispatcher: d, DeadLetterARN: dlq})
			m := &queue.Message{Kind: queue.KindCancel, TaskID: "t1", Tenant: "org-1", RemoteTaskID: "remote-1",
				Agent: agent.Agent{ID: "a", Protocol: agent.A2A, Endpoint: "http://127.0.0.1:9/"}, AcceptedAt: time.Now()}
			o, err := workertest.Run(context.Background(), p, m, tt.delivery)
			if err != nil {
				t.Fatal(err)
			}
			if _, retry := o.Retry(); retry {
				t.Errorf("outcome = %v, want done", o)
			}
			if len(d.ids) != tt.wantCalls || (tt.wantCalls == 1 && d.ids[0] != "remote-1") {
				t.Errorf("cancels = %v, want %d of remote-1", d.ids, tt.wantCalls)
			}
		})
	}
}
