package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/agentq/agentq/client/raw"
)

// Error is an error the API answered. Both dialects' shapes (xpander's {detail, code} and
// ServiceNet's {error: {code, message}}) read into it.
type Error struct {
	// Op is the client operation, for example "get task 81250b20-…".
	Op string
	// Status is the HTTP status.
	Status int
	// Code is the API's stable, machine-readable error code (task_not_found, rate_limited, …).
	Code string
	// Message is the human-readable explanation.
	Message string
	// Problems lists the fields a validation error refers to.
	Problems []raw.Problem
	// TaskID names the task an error concerns, when the API says (dispatch_failed).
	TaskID string
	// RetryAfter is the server's hint, from Retry-After, of when to try again; zero when absent.
	RetryAfter time.Duration
	// RequestID is the answer's X-Request-Id, for support.
	RequestID string
}

// Error says the operation, the status, the code and the message.
func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %d %s", e.Op, e.Status, e.Code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	for _, p := range e.Problems {
		msg += fmt.Sprintf("; %v: %s", p.Loc, p.Msg)
	}
	return msg
}

// Temporary reports whether the same request may succeed later: the server said when
// (Retry-After), or the status is one that passes (429, 502, 503, 504).
func (e *Error) Temporary() bool {
	switch e.Status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return e.RetryAfter > 0
}

// ErrorCode answers the API error code in err's chain, or "" when err is not an API error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// errorBody holds the fields of both dialects' error bodies.
type errorBody struct {
	Code   string          `json:"code"`
	Detail json.RawMessage `json:"detail"`
	TaskID string          `json:"task_id"`
	Error  *struct {
		Code      string        `json:"code"`
		Message   string        `json:"message"`
		Details   []raw.Problem `json:"details"`
		ReceiptID string        `json:"receipt_id"`
	} `json:"error"`
}

func apiError(op string, resp *http.Response, body []byte) *Error {
	e := &Error{Op: op, Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id"), RetryAfter: retryAfter(resp.Header)}
	var b errorBody
	if json.Unmarshal(body, &b) != nil {
		e.Code, e.Message = "unexpected_answer", http.StatusText(resp.StatusCode)
		return e
	}
	if b.Error != nil {
		e.Code, e.Message, e.Problems, e.TaskID = b.Error.Code, b.Error.Message, b.Error.Details, b.Error.ReceiptID
		return e
	}
	e.Code, e.TaskID = b.Code, b.TaskID
	var msg string
	if json.Unmarshal(b.Detail, &msg) == nil {
		e.Message = msg
	} else {
		_ = json.Unmarshal(b.Detail, &e.Problems)
	}
	if e.Code == "" {
		e.Code = "unexpected_answer"
	}
	return e
}

// retryAfter reads Retry-After in seconds or as an HTTP date.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
