package trigger

import (
	"errors"
	"fmt"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/reason"
	"github.com/agentq/agentq/shared/task"
)

// ReasonUnrecognizedEvent is the reason of a payload that carries no invocation: neither an
// EventBridge event with detail-type DetailTypeInvoke, a schedule's envelope, nor an SQS event.
// The other reasons are the HTTP API's codes (README, "Errors").
const ReasonUnrecognizedEvent = "unrecognized_event"

// errTooLarge is an invocation over MaxDetailBytes: the HTTP API's 413 for a body over 1 MiB.
var errTooLarge = fmt.Errorf("invocation larger than %d bytes", MaxDetailBytes)

// failure is an error with the reason the HTTP API would answer, and whether it may pass.
type failure struct {
	code      string
	message   string
	problems  []dialect.Problem
	transient bool
}

// classify maps an error of decoding or submitting to the reason the HTTP API answers for the same
// request in dialect d about agent agentID (package reason, the one table both edges use):
// reasons that will not pass are rejections; retryable ones and unknown errors are transient.
func classify(err error, d task.Dialect, agentID string) failure {
	if errors.Is(err, errTooLarge) {
		return failure{code: "body_too_large", message: "the invocation is larger than 1 MiB"}
	}
	r, known := reason.Of(err, d, agentID)
	return failure{code: r.Code, message: r.Message, problems: r.Problems, transient: !known || r.Retryable}
}
