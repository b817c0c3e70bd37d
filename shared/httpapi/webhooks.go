package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/agentq/agentq/shared/webhook"
	"github.com/agentq/agentq/shared/webhook/settings"
)

// Deliveries reads a task's webhook delivery log and replays deliveries (webhook.Service does).
type Deliveries interface {
	Deliveries(ctx context.Context, tenant, taskID string) ([]*webhook.Delivery, error)
	Replay(ctx context.Context, tenant, taskID, deliveryID string) (*webhook.Delivery, error)
}

// WebhookSettings keeps each tenant's default webhook URLs and signing secrets
// (settings.Tenants does). Only the calls that create a secret ever answer it, once.
type WebhookSettings interface {
	Settings(ctx context.Context, tenant string) (*settings.Settings, error)
	SetURLs(ctx context.Context, tenant string, urls []string) (*settings.Settings, string, error)
	RotateSecret(ctx context.Context, tenant string, grace time.Duration) (*settings.Settings, string, error)
}

// DeliveryList is the answer of GET /v1/tasks/{task_id}/deliveries: every delivery of the
// task's events, oldest first, each with its attempts.
type DeliveryList struct {
	TaskID string              `json:"task_id"`
	Items  []*webhook.Delivery `json:"items"`
}

// settingsView is the answer of the /v1/webhooks routes. Secret is set only by the call that
// created it.
type settingsView struct {
	URLs      []string              `json:"urls"`
	Secrets   []settings.SecretInfo `json:"secrets"`
	UpdatedAt *time.Time            `json:"updated_at,omitempty"`
	Secret    string                `json:"secret,omitempty"`
}

func newSettingsView(s *settings.Settings, secret string) settingsView {
	v := settingsView{URLs: s.URLs, Secrets: s.Secrets, Secret: secret}
	if v.URLs == nil {
		v.URLs = []string{}
	}
	if v.Secrets == nil {
		v.Secrets = []settings.SecretInfo{}
	}
	if !s.UpdatedAt.IsZero() {
		u := s.UpdatedAt.UTC()
		v.UpdatedAt = &u
	}
	return v
}

func webhookInvalid(msg string) error {
	return &apiError{http.StatusUnprocessableEntity, "validation_failed", msg}
}

// listDeliveries answers a task's delivery log. The task is read first, so that another tenant's
// task or none at all is a task_not_found, and a task with no delivery yet an empty list.
func (a *api) listDeliveries(w http.ResponseWriter, r *http.Request, tenant string) error {
	id := r.PathValue("task_id")
	if _, err := a.find(r.Context(), w, tenant, id, false); err != nil {
		return err
	}
	items, err := a.Deliveries.Deliveries(r.Context(), tenant, id)
	if err != nil {
		return err
	}
	if items == nil {
		items = []*webhook.Delivery{}
	}
	writeJSON(w, http.StatusOK, DeliveryList{TaskID: id, Items: items})
	return nil
}

func (a *api) replayDelivery(w http.ResponseWriter, r *http.Request, tenant string) error {
	id := r.PathValue("task_id")
	if _, err := a.find(r.Context(), w, tenant, id, false); err != nil {
		return err
	}
	d, err := a.Deliveries.Replay(r.Context(), tenant, id, r.PathValue("delivery_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, d)
	return nil
}

func (a *api) getWebhooks(w http.ResponseWriter, r *http.Request, tenant string) error {
	s, err := a.Webhooks.Settings(r.Context(), tenant)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newSettingsView(s, ""))
	return nil
}

func (a *api) putWebhooks(w http.ResponseWriter, r *http.Request, tenant string) error {
	var in struct {
		URLs *[]string `json:"urls"`
	}
	if err := decodeStrict(w, r, &in, false, `{"urls": ["https://..."]}`); err != nil {
		return err
	}
	if in.URLs == nil {
		return webhookInvalid("urls: field required (an empty list removes every default URL)")
	}
	s, secret, err := a.Webhooks.SetURLs(r.Context(), tenant, *in.URLs)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, newSettingsView(s, secret))
	return nil
}

func (a *api) rotateWebhookSecret(w http.ResponseWriter, r *http.Request, tenant string) error {
	var in struct {
		GraceSeconds *int64 `json:"grace_seconds"`
	}
	if err := decodeStrict(w, r, &in, true, `{"grace_seconds": N} (optional)`); err != nil {
		return err
	}
	grace := time.Duration(0) // the default
	if in.GraceSeconds != nil {
		if *in.GraceSeconds < 0 || time.Duration(*in.GraceSeconds)*time.Second > settings.MaxGrace {
			return webhookInvalid("grace_seconds: must be between 0 and 604800 (7 days)")
		}
		grace = time.Duration(*in.GraceSeconds) * time.Second
		if grace == 0 {
			// Zero means at once: the old secret stops signing now.
			grace = time.Nanosecond
		}
	}
	s, secret, err := a.Webhooks.RotateSecret(r.Context(), tenant, grace)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, newSettingsView(s, secret))
	return nil
}
