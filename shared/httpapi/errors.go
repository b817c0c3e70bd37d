package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/keystore"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tenantlimit"
)

// apiError is an error with its HTTP status and stable reason code.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

var errExpired = &apiError{http.StatusGone, "task_expired", "the task has expired and its record is gone"}

// classify maps any error from the layers below to a status and a reason code. It is the one place
// where domain errors become HTTP; 5xx answers never carry internals.
func (a *api) classify(r *http.Request, err error) *detailedError {
	var ae *apiError
	if errors.As(err, &ae) {
		return &detailedError{apiError: ae}
	}
	ans, known := Classify(err, dialectOf(r.URL.Path), r.PathValue("agent_id"))
	if !known {
		a.Logger.Error("unclassified error", "err", err, "path", r.URL.Path)
	}
	return &detailedError{apiError: &apiError{ans.Status, ans.Code, ans.Message}, problems: ans.Problems, taskID: ans.TaskID, retryAfter: ans.RetryAfter}
}

// Answer is how the API answers an error: the status, the stable reason code, a message for a
// person, and what the dialects show beside them.
type Answer struct {
	Status  int
	Code    string
	Message string
	// Problems locate what is wrong with a request (validation_failed).
	Problems []dialect.Problem
	// TaskID names the task an error concerns (dispatch_failed: the task recorded failed).
	TaskID string
	// RetryAfter, in seconds, tells when to try again.
	RetryAfter string
}

// Classify maps an error of the layers below the API (decoding, accept, store, registry, webhooks)
// to the answer the API gives a request in dialect d about agent agentID (which the messages of
// agent errors name; it may be empty). known is false for an error it does not know, answered 503
// unavailable. Event triggers answer their events with it too, so the reason a refused event
// carries is the one the API would have given.
func Classify(err error, d task.Dialect, agentID string) (ans Answer, known bool) {
	var (
		ve *dialect.ValidationError
		pe *agent.PolicyError
		de *accept.DispatchError
		le *tenantlimit.Error
	)
	if re, ok := registryError(err); ok {
		return Answer{Status: re.status, Code: re.code, Message: re.message}, true
	}
	if we, ok := webhookError(err); ok {
		return Answer{Status: we.status, Code: we.code, Message: we.message}, true
	}
	plain := func(status int, code, message string) (Answer, bool) {
		return Answer{Status: status, Code: code, Message: message}, true
	}
	switch {
	case errors.As(err, &le):
		return limitAnswer(le), true
	case errors.As(err, &ve):
		status := http.StatusUnprocessableEntity
		if d == task.ServiceNet {
			status = http.StatusBadRequest
		}
		return Answer{Status: status, Code: "validation_failed", Message: ve.Error(), Problems: ve.Problems}, true
	case errors.Is(err, dialect.ErrMalformed):
		return plain(http.StatusBadRequest, "malformed_json", "the request body must be a JSON object")
	case errors.Is(err, agent.ErrVersionNotFound):
		return plain(http.StatusNotFound, "agent_version_not_found", "agent "+quoteID(agentID)+" has no such version")
	case errors.Is(err, agent.ErrNotFound):
		return plain(http.StatusNotFound, "agent_not_found", "no published agent has the id "+quoteID(agentID))
	case errors.Is(err, authctx.ErrNotFound):
		return plain(http.StatusNotFound, "auth_context_not_found", "no auth context has that id")
	case errors.Is(err, keystore.ErrNotFound):
		return plain(http.StatusNotFound, "api_key_not_found", "no stored API key has that id")
	case errors.As(err, &pe):
		return plain(http.StatusForbidden, pe.Code, pe.Message)
	case errors.As(err, &de):
		ans := Answer{Status: http.StatusBadGateway, Code: task.ReasonDispatchFailed, Message: "the invocation could not be dispatched; submit it again", RetryAfter: retryAfterError}
		if de.Task != nil {
			ans.TaskID = de.Task.ID
		}
		return ans, true
	case errors.Is(err, accept.ErrIdempotencyMismatch):
		return plain(http.StatusConflict, "idempotency_key_reused", "the Idempotency-Key was used before for a different request")
	case errors.Is(err, accept.ErrRequestTooLarge):
		return plain(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the request is too large to keep: without large-payload storage this deployment keeps requests up to %d KiB", store.InlineLimit>>10))
	case errors.Is(err, accept.ErrWebhooksUnavailable):
		return plain(http.StatusUnprocessableEntity, "webhooks_unavailable", "this deployment does not deliver webhooks; leave webhook_url out")
	case errors.Is(err, accept.ErrThreadBusy):
		return plain(http.StatusConflict, "thread_busy", "the thread has a turn in progress; wait for it to end or stop it")
	case errors.Is(err, store.ErrInvalidCursor):
		return plain(http.StatusBadRequest, "invalid_cursor", "the cursor is not one this listing gave you")
	case errors.Is(err, accept.ErrStoreUnavailable):
		return Answer{Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the task store is unavailable; submit again later", RetryAfter: retryAfterError}, true
	case errors.Is(err, store.ErrNotFound):
		if d == task.ServiceNet {
			return plain(http.StatusNotFound, "receipt_not_found", "no receipt has that id")
		}
		return plain(http.StatusNotFound, "task_not_found", "no task has that id")
	}
	return Answer{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the service is unavailable; try again later", RetryAfter: retryAfterError}, false
}

// detailedError is an apiError with what the dialect shows beyond code and message.
type detailedError struct {
	*apiError
	problems   []dialect.Problem
	taskID     string
	retryAfter string
}

func quoteID(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// writeError writes an error in the dialect's shape: xpander's FastAPI-style {"detail": ...} and
// ServiceNet's {"error": {...}}, each with the reason code.
func writeError(w http.ResponseWriter, d task.Dialect, err error) {
	var de *detailedError
	if !errors.As(err, &de) {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{http.StatusInternalServerError, "internal_error", "internal error"}
		}
		de = &detailedError{apiError: ae}
	}
	if de.retryAfter != "" {
		w.Header().Set("Retry-After", de.retryAfter)
	}
	if d == task.ServiceNet {
		body := map[string]any{"code": de.code, "message": de.message}
		if len(de.problems) > 0 {
			body["details"] = de.problems
		}
		if de.taskID != "" {
			body["receipt_id"] = de.taskID
		}
		writeJSON(w, de.status, map[string]any{"error": body})
		return
	}
	body := map[string]any{"detail": de.message, "code": de.code}
	if len(de.problems) > 0 {
		body["detail"] = de.problems
	}
	if de.taskID != "" {
		body["task_id"] = de.taskID
	}
	writeJSON(w, de.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"detail":"internal error","code":"internal_error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
