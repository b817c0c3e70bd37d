package trigger

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/task"
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

// classify maps an error of decoding or submitting to the HTTP API's answer for the same request
// in dialect d about agent agentID (httpapi.Classify, the API's own table): 4xx answers are
// rejections, 5xx ones and errors the API does not know transient.
func classify(err error, d task.Dialect, agentID string) failure {
	if errors.Is(err, errTooLarge) {
		return failure{status: http.StatusRequestEntityTooLarge, code: "body_too_large", message: "the invocation is larger than 1 MiB"}
	}
	ans, known := httpapi.Classify(err, d, agentID)
	return failure{status: ans.Status, code: ans.Code, message: ans.Message, problems: ans.Problems,
		transient: !known || ans.Status >= http.StatusInternalServerError}
}
