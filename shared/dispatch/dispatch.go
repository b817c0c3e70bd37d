// Package dispatch calls agents: it speaks each agent protocol and sorts every failure into one
// that retrying may mend and one it will not.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/netguard"
	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/task"
)

// Call is one call to an agent on behalf of a task.
type Call struct {
	TaskID   string
	Tenant   string
	Agent    agent.Agent
	ThreadID string
	Text     string
	// Request is the caller's request body without its secrets.
	Request json.RawMessage
	// Secrets are the request's credential fields, put back into the body the agent receives.
	Secrets map[string]json.RawMessage
	// Credentials are the caller's, presented as Check and Cancel present them.
	Credentials Credentials
	Attempt     int
	// History is the conversation so far: the thread's earlier turns, oldest first.
	History []Message
	// ResumeTaskID is the agent's task this call answers: the previous turn paused it asking for
	// input. An A2A call continues that task unless the request names another.
	ResumeTaskID string
	// Progress, when set, is where the agent may report progress on the task (see Progress).
	Progress *Progress
	// OnEvent, when set, hears the updates an A2A agent that streams sends during the call
	// (SendStreamingMessage), as they arrive.
	OnEvent func(progress.Report)
}

// Credential sets a stored credential on an outgoing request's headers.
type Credential interface {
	Apply(h http.Header)
}

// Credentials are what an agent that is sent caller credentials (Auth forward or context)
// receives with every request about a task, whether Call, Check or Cancel: the stored credential
// (an auth context) when there is one, or else the caller's auth token as a bearer token. One
// value for all three, so that no request about the same task goes out with less than another.
type Credentials struct {
	// Tenant is the caller's tenant, sent to every agent in TenantHeader (Call fills it from
	// Call.Tenant when empty): who is asking, not a secret.
	Tenant string
	// AuthToken is the caller's auth_token.
	AuthToken string
	// Stored is the auth context the task is called with; it wins over AuthToken.
	Stored Credential
}

// apply sets the tenant and, when agent a is sent caller credentials, the credentials on h.
func (c Credentials) apply(a agent.Agent, h http.Header) {
	if c.Tenant != "" {
		h.Set(TenantHeader, c.Tenant)
	}
	switch {
	case !a.Auth.Forwards():
	case c.Stored != nil:
		c.Stored.Apply(h)
	case c.AuthToken != "":
		h.Set("Authorization", "Bearer "+c.AuthToken)
	}
}

// Message is one message of a conversation.
type Message struct {
	Role      string    `json:"role"` // "user" or "agent"
	Content   string    `json:"content"`
	TaskID    string    `json:"task_id"`
	CreatedAt time.Time `json:"created_at"`
}

// Result is what an agent answered.
type Result struct {
	// Text is the answer as text.
	Text string
	// Output is the answer as JSON, when the agent answered with JSON.
	Output json.RawMessage
	// Usage is what the agent reported its work took, if it did; zero when it did not.
	Usage task.Usage
}

// Error is a failed call, classified.
type Error struct {
	// Reason is the task reason code to record.
	Reason  string
	Message string
	// Retryable says whether another attempt may succeed.
	Retryable bool
}

func (e *Error) Error() string { return e.Reason + ": " + e.Message }

// Retryable reports whether err is worth another attempt. Errors that are not *Error are.
func Retryable(err error) bool {
	var de *Error
	if errors.As(err, &de) {
		return de.Retryable
	}
	return true
}

// MaxResponseBytes bounds an agent's answer; a larger one fails the task (invalid_agent_response).
// Answers too large for the task record are kept in the blob store (see task.InlineLimit).
const MaxResponseBytes = 4 << 20

// Client calls agents of every protocol it knows.
type Client struct {
	http *http.Client
	// a2a speaks A2A JSON-RPC over hc, with answers bounded (see a2a.go).
	a2a *a2aClient
	// lambda invokes Lambda agents; nil when the worker has no Lambda client.
	lambda LambdaInvoker
}

// Option configures a Client.
type Option func(*Client)

// New returns a client that makes HTTP and A2A calls with hc. Lambda agents need WithLambda.
func New(hc *http.Client, opts ...Option) *Client {
	cl := &Client{http: hc, a2a: newA2AClient(hc)}
	for _, o := range opts {
		o(cl)
	}
	return cl
}

// Call calls c.Agent and returns its answer. Besides a Result or an *Error, an A2A agent may
// answer that its task goes on (*Pending) or waits for the caller (*NeedsInput); see a2a.go.
func (cl *Client) Call(ctx context.Context, c Call) (Result, error) {
	if c.Credentials.Tenant == "" {
		c.Credentials.Tenant = c.Tenant
	}
	res, err := cl.call(ctx, c)
	return res, redacted(err)
}

func (cl *Client) call(ctx context.Context, c Call) (Result, error) {
	switch c.Agent.Protocol {
	case agent.HTTP:
		return cl.callHTTP(ctx, c)
	case agent.A2A:
		return cl.callA2A(ctx, c)
	case agent.Lambda:
		return cl.callLambda(ctx, c)
	default:
		return Result{}, &Error{Reason: task.ReasonAgentFailed, Message: fmt.Sprintf("protocol %q is not supported by this worker", c.Agent.Protocol)}
	}
}

// HTTPClient returns the HTTP client agents are called with: connections are reused across
// calls, and every phase before the answer is bounded; the answer itself is bounded by the
// call's context. Every connection is checked against the guard when it is made, so an agent
// endpoint can never reach the metadata service, whatever its name resolves to.
func HTTPClient(guard netguard.Policy) *http.Client { return guard.HTTPClient() }
