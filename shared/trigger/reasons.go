package trigger

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/registry"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/webhook"
)

// ReasonUnrecognizedEvent is the reason of a payload that carries no invocation: neither an
// EventBridge event with detail-type DetailTypeInvoke, a schedule's envelope, nor an SQS event.
// The other reasons are the HTTP API's codes (README, "Errors").
const ReasonUnrecognizedEvent = "unrecognized_event"

// errTooLarge is an invocation over MaxDetailBytes: the HTTP API's 413 for a body over 1 MiB.
var errTooLarge = fmt.Errorf("invocation larger than %d bytes", MaxDetailBytes)

// failure is an error as the HTTP API would answer it, and whether it may pass.
type failure struct {
	status    int
	code      string
	message   string
	problems  []dialect.Problem
	transient bool
}

// classify maps an error of decoding or submitting to the HTTP API's status and code for the same
// request in dialect d. It mirrors httpapi's classify, in the same order, for the errors
// accept.Service.Submit and the dialects return (TestReasonsMatchHTTPAPI keeps the two equal):
// 4xx answers are rejections, 5xx ones transient.
func classify(err error, d task.Dialect) failure {
	var (
		ve *dialect.ValidationError
		pe *agent.PolicyError
		de *accept.DispatchError
	)
	switch {
	// httpapi's registryError and webhookError come first there too.
	case errors.Is(err, registry.ErrNoDraft):
		return failure{status: http.StatusConflict, code: "no_draft", message: "the agent has no draft"}
	case errors.Is(err, registry.ErrConflict):
		return failure{status: http.StatusConflict, code: "agent_conflict", message: "the agent changed at the same moment"}
	case errors.Is(err, webhook.ErrNotFound):
		return failure{status: http.StatusNotFound, code: "delivery_not_found", message: "no such delivery"}
	case errors.Is(err, webhook.ErrForbiddenURL):
		return failure{status: http.StatusUnprocessableEntity, code: "webhook_url_forbidden", message: "webhook URLs may not point at private, loopback, link-local or metadata addresses"}
	case errors.Is(err, webhook.ErrInvalidURL):
		return failure{status: http.StatusUnprocessableEntity, code: "validation_failed", message: "webhook URLs must be absolute http or https URLs, without credentials or fragment, at most 2048 bytes"}
	case errors.Is(err, webhook.ErrNoSecret):
		return failure{status: http.StatusUnprocessableEntity, code: "webhook_secret_missing", message: "the tenant has no webhook signing secret"}
	case errors.Is(err, webhook.ErrInvalid):
		return failure{status: http.StatusUnprocessableEntity, code: "validation_failed", message: "the webhook settings are not valid"}
	case errors.Is(err, webhook.ErrConflict):
		return failure{status: http.StatusConflict, code: "webhooks_changed", message: "the webhook settings changed at the same time"}
	case errors.Is(err, errTooLarge):
		return failure{status: http.StatusRequestEntityTooLarge, code: "body_too_large", message: "the invocation is larger than 1 MiB"}
	case errors.As(err, &ve):
		status := http.StatusUnprocessableEntity
		if d == task.ServiceNet {
			status = http.StatusBadRequest
		}
		return failure{status: status, code: "validation_failed", message: ve.Error(), problems: ve.Problems}
	case errors.Is(err, dialect.ErrMalformed):
		return failure{status: http.StatusBadRequest, code: "malformed_json", message: "the invocation must be a JSON object"}
	case errors.Is(err, agent.ErrVersionNotFound):
		return failure{status: http.StatusNotFound, code: "agent_version_not_found", message: "the agent has no such version"}
	case errors.Is(err, agent.ErrNotFound):
		return failure{status: http.StatusNotFound, code: "agent_not_found", message: "no published agent has that id"}
	case errors.Is(err, authctx.ErrNotFound):
		return failure{status: http.StatusNotFound, code: "auth_context_not_found", message: "no auth context has that id"}
	case errors.As(err, &pe):
		return failure{status: http.StatusForbidden, code: pe.Code, message: pe.Message}
	case errors.As(err, &de):
		return failure{status: http.StatusBadGateway, code: task.ReasonDispatchFailed, message: "the invocation could not be dispatched", transient: true}
	case errors.Is(err, accept.ErrIdempotencyMismatch):
		return failure{status: http.StatusConflict, code: "idempotency_key_reused", message: "the idempotency key was used before for a different request"}
	case errors.Is(err, accept.ErrRequestTooLarge):
		return failure{status: http.StatusRequestEntityTooLarge, code: "body_too_large",
			message: fmt.Sprintf("the request is too large to keep: without large-payload storage this deployment keeps requests up to %d KiB", store.InlineLimit>>10)}
	case errors.Is(err, accept.ErrWebhooksUnavailable):
		return failure{status: http.StatusUnprocessableEntity, code: "webhooks_unavailable", message: "this deployment does not deliver webhooks; leave webhook_url out"}
	case errors.Is(err, accept.ErrThreadBusy):
		return failure{status: http.StatusConflict, code: "thread_busy", message: "the thread has a turn in progress"}
	case errors.Is(err, accept.ErrStoreUnavailable):
		return failure{status: http.StatusServiceUnavailable, code: "store_unavailable", message: "the task store is unavailable", transient: true}
	default:
		return failure{status: http.StatusServiceUnavailable, code: "unavailable", message: "the service is unavailable", transient: true}
	}
}
