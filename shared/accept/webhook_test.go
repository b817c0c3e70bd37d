package accept_test

import (
	"context"
	"errors"
	"testing"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/queue"
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

// A task that could not be queued frees its idempotency key: the caller was told to submit again,
// and the retry with the same key must run the work rather than replay the failed task.
func TestSubmitSendFailsReleasesTheIdempotencyKey(t *testing.T) {
	h := newHarness(t)
	h.queue.send = func(context.Context, *queue.Message) error { return errors.New("sqs: throttled") }
	sub := accept.Submission{Tenant: "org-1", AgentID: "echo", IdempotencyKey: "k-1", Invocation: decode(t, dialect.DecodeXpander, `{"input":{"text":"hello"}}`)}
	var de *accept.DispatchError
	if _, err := h.svc.Submit(context.Background(), sub); !errors.As(err, &de) {
		t.Fatalf("err = %v, want a DispatchError", err)
	}
	if len(h.store.released) != 1 || h.store.released[0] != "org-1/k-1" {
		t.Errorf("released = %v, want [org-1/k-1]", h.store.released)
	}
	h2 := newHarness(t)
	if _, err := h2.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
		Invocation: decode(t, dialect.DecodeXpander, `{"input":{"text":"hello"}}`)}); err != nil {
		t.Fatal(err)
	}
	if len(h2.store.released) != 0 {
		t.Errorf("a submission without a key released %v", h2.store.released)
	}
}
