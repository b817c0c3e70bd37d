// Package queue carries work from the accept path to the worker over SQS: the message format, the
// client that sends it, and the queue definitions shared by the stack and the local runner.
package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agentq/agentq/shared/agent"
)

// Message kinds. Kinds are stable strings, never Go type names, so a message outlives
// refactorings.
const (
	// KindInvoke asks the worker to run a task, or to check on it while its agent works.
	KindInvoke = "invoke"
	// KindCancel asks the worker to cancel a stopped task's work at its agent (A2A tasks/cancel).
	KindCancel = "cancel"
)

// Message is one unit of work. It carries everything the worker needs, so the worker never reads
// the task before it starts.
type Message struct {
	Kind     string      `json:"kind"`
	TaskID   string      `json:"task_id"`
	Tenant   string      `json:"tenant"`
	Agent    agent.Agent `json:"agent"`
	ThreadID string      `json:"thread_id,omitempty"`
	// ThreadTurn marks a turn of a caller-named thread, which must not start before the turn
	// recorded as its predecessor has ended.
	ThreadTurn bool `json:"thread_turn,omitempty"`
	// Text is the instruction for the agent.
	Text string `json:"text"`
	// Request is the caller's request body with secrets removed.
	Request json.RawMessage `json:"request,omitempty"`
	// RequestRef, set instead of Request for a request too large for the message, names where the
	// store keeps it (and Text, when Text is empty).
	RequestRef string `json:"request_ref,omitempty"`
	// Secrets are the request's credential fields (xpander user_tokens, user_oidc_token), removed
	// from Request. Like AuthToken they travel only in the message.
	Secrets map[string]json.RawMessage `json:"secrets,omitempty"`
	// AuthToken is the caller's credential for the agent. It travels only in the message (the queue
	// is encrypted at rest) and is never stored with the task or logged.
	AuthToken string `json:"auth_token,omitempty"`
	// AuthContextID names the tenant's stored auth context (ServiceNet auth_context_id) whose
	// credential the worker resolves at call time; the accept core checked that it existed. A
	// reference, not a secret: the credential itself never travels in the message.
	AuthContextID string    `json:"auth_context_id,omitempty"`
	AcceptedAt    time.Time `json:"accepted_at"`
	// Dialect and ExpiresAt are the task's: what the worker needs to record a task whose own
	// record never landed as failed (see worker.Config.OrphanAfter).
	Dialect   string    `json:"dialect,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// Waits counts how often the message was sent back because the previous turn had not ended.
	Waits int `json:"waits,omitempty"`
	// Checks counts the checks on an agent still working on the task.
	Checks int `json:"checks,omitempty"`
	// RemoteTaskID names the agent's task to cancel (KindCancel).
	RemoteTaskID string `json:"remote_task_id,omitempty"`
	// Answer, on an invoke of a task that paused for input and was then approved, is what the
	// worker sends the agent's paused task to continue it, instead of checking on the task.
	Answer string `json:"answer,omitempty"`
	// Outcome, when set, is the agent's answer to this task that the worker could not record: the
	// worker records it without calling the agent again.
	Outcome *Outcome `json:"outcome,omitempty"`
}

// Outcome is what an agent call made of a task, kept in a message while the store could not take
// it: the state to write, conditional on the version the claim gave the task, and what it records.
type Outcome struct {
	Version       int64           `json:"version"`
	State         string          `json:"state"`
	Result        string          `json:"result,omitempty"`
	Output        json.RawMessage `json:"output,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	ReasonMessage string          `json:"reason_message,omitempty"`
	CostUnits     int             `json:"cost_units,omitempty"`
	// Tokens are the agent's prompt, completion and total token counts; Actions and Cost the rest
	// of the usage it reported.
	Tokens       [3]int          `json:"tokens,omitzero"`
	Actions      int             `json:"actions,omitempty"`
	Cost         float64         `json:"cost,omitempty"`
	RemoteTaskID string          `json:"remote_task_id,omitempty"`
	HITL         json.RawMessage `json:"hitl,omitempty"`
	ReleaseLease bool            `json:"release_lease,omitempty"`
}

// MaxMessageBytes bounds a work message: the 256 KiB every SQS queue accepts. Queues may take up
// to 1 MiB since 2025 (MaximumMessageSize), but the bound holds whatever the queue's setting, and
// keeps a batch of ten far inside the 6 MB a Lambda invocation carries.
const MaxMessageBytes = 256 << 10

// ErrMalformed marks a message that can never be processed.
var ErrMalformed = errors.New("malformed message")

// Encode renders m as a message body.
func Encode(m *Message) (string, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode message for task %s: %w", m.TaskID, err)
	}
	return string(b), nil
}

// Decode parses a message body and checks that it names a task and an agent.
func Decode(body string) (*Message, error) {
	var m Message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return nil, fmt.Errorf("decode message: %w: %v", ErrMalformed, err)
	}
	switch {
	case m.Kind != KindInvoke && m.Kind != KindCancel:
		return nil, fmt.Errorf("decode message: %w: unknown kind %q", ErrMalformed, m.Kind)
	case m.Kind == KindCancel && m.RemoteTaskID == "":
		return nil, fmt.Errorf("decode message: %w: a cancel names no remote task", ErrMalformed)
	case m.TaskID == "":
		return nil, fmt.Errorf("decode message: %w: no task_id", ErrMalformed)
	}
	if err := m.Agent.Validate(); err != nil {
		return nil, fmt.Errorf("decode message for task %s: %w: %v", m.TaskID, ErrMalformed, err)
	}
	return &m, nil
}
