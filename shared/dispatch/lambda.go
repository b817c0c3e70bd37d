package dispatch

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/agentq/agentq/shared/task"
)

// LambdaInvoker is the part of the Lambda API that calls Lambda agents; *lambda.Client is one.
type LambdaInvoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ LambdaInvoker = (*lambda.Client)(nil)

// WithLambda lets the client call Lambda agents through api. Without it they fail, not retried.
//
// The SDK's own retries run inside the agent's timeout and may invoke a function twice; the queue
// already retries what is retryable, so a client with RetryMaxAttempts 1 is the better fit.
func WithLambda(api LambdaInvoker) Option {
	return func(cl *Client) { cl.lambda = api }
}

// maxClientContext is what Lambda accepts as ClientContext (base64 included).
const maxClientContext = 3583

// callLambda invokes a Lambda agent synchronously (RequestResponse) with the body an HTTP agent
// gets (HTTPRequest) and reads its payload as an HTTP agent's answer. A function error fails the
// task; throttling, 5xx answers of the Lambda service, timeouts and transport errors are
// retryable; other service errors (no such function, access denied, ...) are not.
//
// With Auth forward, the caller's token travels as the invocation's client context,
// {"custom":{"authorization":"Bearer <token>"}}, which a Go function reads from
// lambdacontext.FromContext(ctx).ClientContext.Custom["authorization"]: an invocation has no
// headers, and the token must stay out of the payload, as it does for HTTP agents.
func (cl *Client) callLambda(ctx context.Context, c Call) (Result, error) {
	if cl.lambda == nil {
		return Result{}, &Error{Reason: task.ReasonAgentFailed, Message: "lambda agents are not enabled in this worker (no Lambda client)"}
	}
	body, err := json.Marshal(agentRequest(c))
	if err != nil {
		return Result{}, fmt.Errorf("encode request for agent %s: %w", c.Agent.ID, err)
	}
	in := &lambda.InvokeInput{
		FunctionName:   &c.Agent.Endpoint,
		InvocationType: types.InvocationTypeRequestResponse,
		Payload:        body,
	}
	if c.Agent.Auth.Forwards() && c.Credentials.AuthToken != "" {
		cc, err := json.Marshal(map[string]any{"custom": map[string]string{"authorization": "Bearer " + c.Credentials.AuthToken}})
		if err != nil {
			return Result{}, fmt.Errorf("encode client context for agent %s: %w", c.Agent.ID, err)
		}
		enc := base64.StdEncoding.EncodeToString(cc)
		if len(enc) > maxClientContext {
			return Result{}, &Error{Reason: task.ReasonAgentRejected, Message: "the auth token is too large to forward to a Lambda agent"}
		}
		in.ClientContext = &enc
	}
	out, err := cl.lambda.Invoke(ctx, in)
	if err != nil {
		return Result{}, lambdaFailure(err)
	}
	if len(out.Payload) > MaxResponseBytes {
		return Result{}, &Error{Reason: task.ReasonInvalidResponse, Message: fmt.Sprintf("the agent's answer is larger than %d bytes", MaxResponseBytes)}
	}
	if out.FunctionError != nil {
		return Result{}, &Error{Reason: task.ReasonAgentFailed, Message: functionError(*out.FunctionError, out.Payload)}
	}
	return parseAnswer(out.Payload), nil
}

// functionError describes a function error from its kind (Unhandled, Handled) and the payload
// the runtime sends, {"errorMessage": ..., "errorType": ..., "stackTrace": ...}; the stack
// trace is left out.
func functionError(kind string, payload []byte) string {
	var p struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	msg := "the function failed (" + kind + ")"
	if json.Unmarshal(payload, &p) != nil || p.Message == "" && p.Type == "" {
		return msg + errorDetail(payload)
	}
	detail := p.Message
	if p.Type != "" {
		detail = p.Type + ": " + p.Message
	}
	return msg + errorDetail([]byte(detail))
}

// httpStatusError is an SDK error that carries the HTTP status of the service's answer.
type httpStatusError interface {
	error
	HTTPStatusCode() int
}

// lambdaFailure classifies an Invoke error.
func lambdaFailure(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Reason: task.ReasonAgentTimeout, Message: "the agent did not answer in time", Retryable: true}
	}
	if _, ok := errors.AsType[*types.TooManyRequestsException](err); ok {
		return &Error{Reason: task.ReasonAgentUnavailable, Message: "the function is throttled: " + apiMessage(err), Retryable: true}
	}
	if _, ok := errors.AsType[*smithy.InvalidParamsError](err); ok {
		return &Error{Reason: task.ReasonAgentFailed, Message: "bad Lambda invocation: " + err.Error()}
	}
	// A request that got no answer has status 0.
	if re, ok := errors.AsType[httpStatusError](err); ok && re.HTTPStatusCode() > 0 {
		code := re.HTTPStatusCode()
		msg := "Lambda answered " + strconv.Itoa(code) + ": " + apiMessage(err)
		// 409 is ResourceConflictException: the function is being created or updated.
		if code == http.StatusRequestTimeout || code == http.StatusConflict || code == http.StatusTooManyRequests || code >= 500 {
			return &Error{Reason: task.ReasonAgentUnavailable, Message: msg, Retryable: true}
		}
		return &Error{Reason: task.ReasonAgentRejected, Message: msg}
	}
	// No answer from Lambda: connection failures, credentials that could not be fetched.
	return &Error{Reason: task.ReasonAgentUnavailable, Message: "could not invoke the function: " + err.Error(), Retryable: true}
}

// apiMessage is a service error's code and message, without the SDK's request details.
func apiMessage(err error) string {
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		if m := ae.ErrorMessage(); m != "" {
			return ae.ErrorCode() + ": " + m
		}
		return ae.ErrorCode()
	}
	return err.Error()
}
