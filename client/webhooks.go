package client

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/agentq/agentq/client/raw"
	"github.com/agentq/agentq/shared/webhook/signing"
)

// The webhook types, generated from the contract.
type (
	// WebhookSettings are a tenant's default webhook URLs and signing secrets.
	WebhookSettings = raw.WebhookSettings
	// WebhookEvent is the body of a webhook delivery: a task's outcome.
	WebhookEvent = raw.WebhookEvent
	// WebhookProgressEvent is the body of a task.progress delivery: one event of the log of a task
	// that opted in (events_streaming, progress_events).
	WebhookProgressEvent = raw.WebhookProgressEvent
	// ProgressEvent is a progress delivery's data: the task, and the event with its seq.
	ProgressEvent = raw.ProgressEventData
)

// WebhookSettings reads the caller's tenant's webhook settings (GET /v1/webhooks).
func (c *Client) WebhookSettings(ctx context.Context) (*WebhookSettings, error) {
	resp, err := c.raw.GetWebhookSettings(ctx, nil)
	s, _, err := decode[WebhookSettings](ctx, "get webhook settings", resp, err, http.StatusOK)
	return s, err
}

// SetWebhookURLs replaces the tenant's default webhook URLs (PUT /v1/webhooks); none removes them all. The first call
// creates the tenant's signing secret and answers it once, in Secret.
func (c *Client) SetWebhookURLs(ctx context.Context, urls []string) (*WebhookSettings, error) {
	if urls == nil {
		urls = []string{} // the route takes an empty list, never a missing one
	}
	resp, err := c.raw.PutWebhookSettings(ctx, nil, raw.WebhookSettingsInput{Urls: urls})
	s, _, err := decode[WebhookSettings](ctx, "put webhook settings", resp, err, http.StatusOK)
	return s, err
}

// RotateWebhookSecret creates a new signing secret (POST /v1/webhooks/rotate-secret), answered
// once in Secret; the previous one keeps signing for grace (zero: the server's default).
func (c *Client) RotateWebhookSecret(ctx context.Context, grace time.Duration) (*WebhookSettings, error) {
	in := raw.RotateSecretInput{}
	if grace > 0 {
		s := int(grace / time.Second)
		in.GraceSeconds = &s
	}
	resp, err := c.raw.RotateWebhookSecret(ctx, nil, in)
	s, _, err := decode[WebhookSettings](ctx, "rotate webhook secret", resp, err, http.StatusOK)
	return s, err
}

// WebhookVerifier checks the Standard Webhooks signature of deliveries a receiver gets, with the
// tenant's whsec_ secret.
type WebhookVerifier struct {
	// Secret is the whsec_… secret the deliveries are signed with.
	Secret string
	// Tolerance is how far a delivery's timestamp may be from now (default 5 minutes): older
	// deliveries are refused as replays.
	Tolerance time.Duration
	// Now reads the clock (default time.Now).
	Now func() time.Time
}

// Verify checks body, the raw request body, against the webhook-id, webhook-timestamp and
// webhook-signature headers, before the receiver trusts anything in it.
func (v WebhookVerifier) Verify(h http.Header, body []byte) error {
	now, tol := time.Now, v.Tolerance
	if v.Now != nil {
		now = v.Now
	}
	if tol == 0 {
		tol = 5 * time.Minute
	}
	if err := signing.Verify(v.Secret, h, body, now(), tol); err != nil {
		return fmt.Errorf("verify webhook: %w", err)
	}
	return nil
}
