package httpapi

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/reason"
	"github.com/agentq/agentq/shared/task"
)

// apiError is an error with its HTTP status and stable reason code.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

var errExpired = &apiError{http.StatusGone, "task_expired", "the task has expired and its record is gone"}

// classify maps any error from the layers below to a status and a reason code. The reasons come
// from the service layer's one table (package reason); here a reason only becomes a status.
// 5xx answers never carry internals.
func (a *api) classify(r *http.Request, err error) *detailedError {
	return a.classifyAs(r, err, dialectOf(r.URL.Path))
}

// classifyAs is classify for a request answered in dialect d, whatever its path says: the sync
// invoke path serves both.
func (a *api) classifyAs(r *http.Request, err error, d task.Dialect) *detailedError {
	var ae *apiError
	if errors.As(err, &ae) {
		return &detailedError{apiError: ae}
	}
	rs, known := reason.Of(err, d, r.PathValue("agent_id"))
	if !known {
		a.Logger.Error("unclassified error", "err", err, "path", r.URL.Path)
	}
	de := &detailedError{apiError: &apiError{statusOf(rs.Kind, d), rs.Code, rs.Message}, problems: rs.Problems, taskID: rs.TaskID, taskStatus: rs.TaskStatus}
	switch {
	case rs.RetryAfter > 0:
		de.retryAfter = strconv.Itoa(max(1, int(math.Ceil(rs.RetryAfter.Seconds()))))
	case rs.Retryable:
		de.retryAfter = retryAfterError
	}
	return de
}

// statusOf is the HTTP status of a reason of kind k in dialect d.
func statusOf(k reason.Kind, d task.Dialect) int {
	switch k {
	case reason.Malformed:
		return http.StatusBadRequest
	case reason.Invalid:
		if d == task.ServiceNet {
			return http.StatusBadRequest
		}
		return http.StatusUnprocessableEntity
	case reason.Unprocessable:
		return http.StatusUnprocessableEntity
	case reason.NotFound:
		return http.StatusNotFound
	case reason.Forbidden:
		return http.StatusForbidden
	case reason.Conflict:
		return http.StatusConflict
	case reason.TooLarge:
		return http.StatusRequestEntityTooLarge
	case reason.Limited:
		return http.StatusTooManyRequests
	default:
		return http.StatusServiceUnavailable
	}
}

// detailedError is an apiError with what the dialect shows beyond code and message.
type detailedError struct {
	*apiError
	problems   []dialect.Problem
	taskID     string
	taskStatus string
	retryAfter string
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
			body["receipt_id"], body["status"] = de.taskID, de.taskStatus
		}
		writeJSON(w, de.status, map[string]any{"error": body})
		return
	}
	body := map[string]any{"detail": de.message, "code": de.code}
	if len(de.problems) > 0 {
		body["detail"] = de.problems
	}
	if de.taskID != "" {
		body["task_id"], body["status"] = de.taskID, de.taskStatus
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
