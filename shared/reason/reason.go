// Package reason is the one table from the errors of the layers below the edges (request
// decoding, accept, the task store, the agent registry, webhooks, auth contexts, API keys) to the
// reasons the edges answer: a stable code, a message for a person, what kind of refusal it is and
// whether trying again may pass. The HTTP API maps a reason's Kind to a status; the event trigger
// dead-letters the reasons that will not pass, with the same code the API would have answered.
package reason

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/keystore"
	"github.com/agentq/agentq/shared/registry"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tenantlimit"
	"github.com/agentq/agentq/shared/webhook"
	"github.com/agentq/agentq/shared/webhook/settings"
)

// Kind is what sort of refusal a reason is; each edge says it in its own terms (HTTP: a status).
type Kind int

// The kinds of reasons.
const (
	// Unavailable: something below is down; trying again later may pass.
	Unavailable Kind = iota
	// Malformed: the request cannot be read at all (not JSON, a bad cursor).
	Malformed
	// Invalid: a field of the request is missing, mistyped or out of range (validation_failed).
	Invalid
	// Unprocessable: the request is well formed but names something this deployment refuses
	// (a forbidden webhook URL, no signing secret, webhooks off).
	Unprocessable
	// NotFound: the request names something that does not exist.
	NotFound
	// Forbidden: the agent's policy refuses the call.
	Forbidden
	// Conflict: the request clashes with the state of what it names.
	Conflict
	// TooLarge: the request is too large to keep.
	TooLarge
	// Limited: the tenant is over one of its limits (rate, tasks in flight, replays).
	Limited
)

// Reason is how an edge answers an error.
type Reason struct {
	Kind    Kind
	Code    string
	Message string
	// Retryable says whether the same request may pass later.
	Retryable bool
	// Problems locate what is wrong with a request (Invalid).
	Problems []dialect.Problem
	// TaskID names the task an error concerns (a submission that failed halfway: the task
	// recorded failed, which will not run), and TaskStatus its state as the dialect's GET reads it.
	TaskID, TaskStatus string
	// RetryAfter, when set, is when trying again may pass (Limited); else a Retryable reason's
	// edge picks its own wait.
	RetryAfter time.Duration
}

// Of maps err, met while handling a request in dialect d about agent agentID (which the messages
// of agent errors name; it may be empty), to its reason. known is false for an error the table
// does not know: that reason is Unavailable.
func Of(err error, d task.Dialect, agentID string) (r Reason, known bool) {
	if r, ok := settingsReason(err); ok {
		return r, true
	}
	var (
		ve *dialect.ValidationError
		pe *agent.PolicyError
		de *accept.DispatchError
		le *tenantlimit.Error
	)
	switch {
	case errors.As(err, &le):
		return limitReason(le), true
	case errors.As(err, &ve):
		return Reason{Kind: Invalid, Code: "validation_failed", Message: ve.Error(), Problems: ve.Problems}, true
	case errors.Is(err, dialect.ErrMalformed):
		return plain(Malformed, "malformed_json", "the request body must be a JSON object")
	}
	if r, ok := lookupReason(err, agentID); ok {
		return r, true
	}
	switch {
	case errors.As(err, &pe):
		return plain(Forbidden, pe.Code, pe.Message)
	case errors.As(err, &de):
		return dispatchReason(de, d), true
	case errors.Is(err, accept.ErrIdempotencyMismatch):
		return plain(Conflict, "idempotency_key_reused", "the Idempotency-Key was used before for a different request")
	case errors.Is(err, accept.ErrIdempotentTaskGone):
		return plain(Conflict, "idempotency_key_reused", "the Idempotency-Key was used before and its task has been deleted; submit with a new key to run the request again")
	case errors.Is(err, accept.ErrRequestTooLarge):
		return plain(TooLarge, "body_too_large", fmt.Sprintf("the request is too large to keep: without large-payload storage this deployment keeps requests up to %d KiB", task.InlineLimit>>10))
	case errors.Is(err, accept.ErrWebhooksUnavailable):
		return plain(Unprocessable, "webhooks_unavailable", "this deployment does not deliver webhooks; leave webhook_url out")
	case errors.Is(err, accept.ErrThreadBusy):
		return plain(Conflict, "thread_busy", "the thread has a turn in progress; wait for it to end or stop it")
	case errors.Is(err, task.ErrInvalidCursor):
		return plain(Malformed, "invalid_cursor", "the cursor is not one this listing gave you")
	case errors.Is(err, accept.ErrStoreUnavailable):
		return Reason{Kind: Unavailable, Code: "store_unavailable", Message: "the task store is unavailable; try again later", Retryable: true}, true
	case errors.Is(err, task.ErrNotFound) && d == task.ServiceNet:
		return plain(NotFound, "receipt_not_found", "no receipt has that id")
	case errors.Is(err, task.ErrNotFound):
		return plain(NotFound, "task_not_found", "no task has that id")
	}
	return Reason{Kind: Unavailable, Code: "unavailable", Message: "the service is unavailable; try again later", Retryable: true}, false
}

// lookupReason maps the errors of looking up an agent, an auth context or an API key that does
// not exist.
func lookupReason(err error, agentID string) (Reason, bool) {
	switch {
	case errors.Is(err, agent.ErrVersionNotFound):
		return plain(NotFound, "agent_version_not_found", "agent "+quoteID(agentID)+" has no such version")
	case errors.Is(err, agent.ErrNotFound):
		return plain(NotFound, "agent_not_found", "no published agent has the id "+quoteID(agentID))
	case errors.Is(err, authctx.ErrNotFound):
		return plain(NotFound, "auth_context_not_found", "no auth context has that id")
	case errors.Is(err, keystore.ErrNotFound):
		return plain(NotFound, "api_key_not_found", "no stored API key has that id")
	}
	return Reason{}, false
}

// settingsReason maps the errors of the registry's writes and of webhook settings and deliveries.
func settingsReason(err error) (Reason, bool) {
	switch {
	case errors.Is(err, webhook.ErrNotFound):
		return plain(NotFound, "delivery_not_found", "the task has no delivery with that id")
	case errors.Is(err, registry.ErrNoDraft):
		return plain(Conflict, "no_draft", "the agent has no draft to publish: PUT one first")
	case errors.Is(err, registry.ErrConflict):
		return plain(Conflict, "agent_conflict", "the agent changed at the same moment; try again")
	case errors.Is(err, settings.ErrForbiddenURL):
		return plain(Unprocessable, "webhook_url_forbidden", "webhook URLs may not point at private, loopback, link-local or metadata addresses")
	case errors.Is(err, settings.ErrInvalidURL):
		return plain(Unprocessable, "validation_failed", "webhook URLs must be absolute http or https URLs, without credentials or fragment, at most 2048 bytes")
	case errors.Is(err, webhook.ErrNoSecret):
		return plain(Unprocessable, "webhook_secret_missing", "the tenant has no webhook signing secret: create one with PUT /v1/webhooks or POST /v1/webhooks/rotate-secret")
	case errors.Is(err, webhook.ErrInvalid):
		return plain(Unprocessable, "validation_failed", "the webhook settings are not valid: at most 10 URLs")
	case errors.Is(err, settings.ErrConflict):
		return plain(Conflict, "webhooks_changed", "the webhook settings changed at the same time; try again")
	case errors.Is(err, webhook.ErrReplayLimit):
		return plain(Limited, "replay_limit_reached", fmt.Sprintf("the delivery was replayed %d times already", webhook.MaxReplays))
	}
	return Reason{}, false
}

// dispatchReason answers a submission that failed halfway and whose task is recorded failed: the
// unavailable dependency (the store when the task's write failed, else the queue), with the task
// and its final state, so the caller knows it will not run and may submit again. The task's own
// reason stays task.ReasonDispatchFailed.
func dispatchReason(de *accept.DispatchError, d task.Dialect) Reason {
	r := Reason{Kind: Unavailable, Code: "queue_unavailable", Message: "the task could not be queued and will not run; submit it again", Retryable: true}
	if errors.Is(de, accept.ErrStoreUnavailable) {
		r.Code, r.Message = "store_unavailable", "the task could not be recorded and will not run; submit it again"
	}
	if de.Task != nil {
		r.TaskID, r.TaskStatus = de.Task.ID, dialect.XpanderStatus(de.Task.State)
		if d == task.ServiceNet {
			r.TaskStatus = dialect.ServiceNetStatus(de.Task.State)
		}
	}
	return r
}

// limitReason answers a refusal of a tenant's limits, with when to come back: the same request
// may pass then.
func limitReason(le *tenantlimit.Error) Reason {
	msg := "the tenant is over its request rate; slow down"
	if le.Code == tenantlimit.CodeQuotaExceeded {
		msg = "the tenant has as many tasks in flight as it may; wait for some to end"
	}
	return Reason{Kind: Limited, Code: le.Code, Message: msg, Retryable: true, RetryAfter: le.RetryAfter}
}

func plain(k Kind, code, message string) (Reason, bool) {
	return Reason{Kind: k, Code: code, Message: message}, true
}

// quoteID quotes a caller's id for a message, cut to 64 bytes.
func quoteID(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}
