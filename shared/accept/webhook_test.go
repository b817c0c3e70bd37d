package accept_test

import (
	"context"
	"errors"
	"testing"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
)

// fakeWebhooks refuses the URLs and tenants a test names.
type fakeWebhooks struct {
	err     error
	checked []string
}

func (w *fakeWebhooks) CheckWebhook(_ context.Context, tenant, url string) error {
	w.checked = append(w.checked, tenant+" "+url)
	return w.err
}

func TestSubmitWebhookURL(t *testing.T) {
	refused := errors.New("no signing secret")
	const body = `{"input":{"text":"hello"},"webhook_url":"https://hooks.example.com/agentq"}`
	tests := []struct {
		name     string
		webhooks *fakeWebhooks // nil: webhooks not configured
		wantErr  error
	}{
		{"checked and recorded", &fakeWebhooks{}, nil},
		{"refused by the check", &fakeWebhooks{err: refused}, refused},
		{"webhooks not configured", nil, accept.ErrWebhooksUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			cfg := accept.Config{Store: h.store, Queue: h.queue, Registry: registry, NewID: func() string { return taskID }}
			if tc.webhooks != nil {
				cfg.Webhooks = tc.webhooks
			}
			svc := accept.New(cfg)
			got, err := svc.Submit(context.Background(), accept.Submission{
				Tenant: "org-1", AgentID: "echo", Source: "api", Invocation: decode(t, dialect.DecodeXpander, body),
			})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if len(h.store.created) != 0 || len(h.queue.sent) != 0 {
					t.Errorf("a refused webhook_url still wrote %d tasks and sent %d messages", len(h.store.created), len(h.queue.sent))
				}
				return
			}
			if err != nil {
				t.Fatalf("submit: %v", err)
			}
			if got.WebhookURL != "https://hooks.example.com/agentq" || h.store.created[0].WebhookURL != got.WebhookURL {
				t.Errorf("webhook URL not recorded: returned %q, stored %q", got.WebhookURL, h.store.created[0].WebhookURL)
			}
			if want := "org-1 https://hooks.example.com/agentq"; len(tc.webhooks.checked) != 1 || tc.webhooks.checked[0] != want {
				t.Errorf("checked %v, want [%s]", tc.webhooks.checked, want)
			}
		})
	}
}

func TestSubmitWithoutWebhookURLChecksNothing(t *testing.T) {
	h := newHarness(t)
	w := &fakeWebhooks{err: errors.New("must not be asked")}
	svc := accept.New(accept.Config{Store: h.store, Queue: h.queue, Registry: registry, Webhooks: w, NewID: func() string { return taskID }})
	if _, err := svc.Submit(context.Background(), accept.Submission{
		Tenant: "org-1", AgentID: "echo", Invocation: decode(t, dialect.DecodeXpander, `{"input":{"text":"hello"}}`),
	}); err != nil {
		t.Fatalf("submit: %v", err)
	}
	if len(w.checked) != 0 {
		t.Errorf("checked %v without a webhook_url", w.checked)
	}
}

// A task that could not be queued keeps its idempotency key: a retry with the key answers the
// same, failed task, never a second execution.
func TestSubmitSendFailsKeepsTheIdempotencyKey(t *testing.T) {
	h := newHarness(t)
	h.queue.send = func(context.Context, *queue.Message) error { return errors.New("sqs: throttled") }
	sub := accept.Submission{Tenant: "org-1", AgentID: "echo", IdempotencyKey: "k-1", Invocation: decode(t, dialect.DecodeXpander, `{"input":{"text":"hello"}}`)}
	var de *accept.DispatchError
	if _, err := h.svc.Submit(context.Background(), sub); !errors.As(err, &de) {
		t.Fatalf("err = %v, want a DispatchError", err)
	}
	if o := h.store.opts[0]; o.Idempotency == nil || o.Idempotency.Key != "k-1" {
		t.Fatalf("the key was not written with the task: %+v", o)
	}
	// The store holds the failed task the abandon left, and the key its transaction wrote.
	h.store.keys = map[string][2]string{"org-1/k-1": {taskID, h.store.opts[0].Idempotency.BodyHash}}
	h.queue.send = nil
	got, err := h.svc.Submit(context.Background(), sub)
	if err != nil || got.ID != taskID || got.State != task.Failed {
		t.Fatalf("retry = %+v, %v; want the same, failed task", got, err)
	}
	// The retry wrote nothing; its message, sent with the write, names a task that was never
	// written (here the harness reuses its id: the failed task, which the worker drops as ended).
	if len(h.store.created) != 1 || len(h.queue.sent) != 2 {
		t.Errorf("wrote %d tasks and sent %d messages in all, want 1 and 2", len(h.store.created), len(h.queue.sent))
	}
}
