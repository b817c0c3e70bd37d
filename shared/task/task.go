// Package task holds the task model and the words every layer speaks about tasks: what a task is,
// which states it moves through and which moves are legal; the Change a writer asks for and the
// errors a conditional write answers (ErrNotFound, *ConflictError); threads, idempotency keys and
// list queries; and how large a payload may be before it leaves the task's record. It knows
// nothing of HTTP, DynamoDB or SQS: the store in shared/store implements these words over
// DynamoDB, and the services declare the narrow store interfaces they use in these terms.
package task

import (
	"encoding/json"
	"time"
)

// State is a task's internal state. The public dialects project it to their own vocabularies.
type State string

// The internal states.
const (
	// Queued: accepted, recorded and waiting for a worker.
	Queued State = "queued"
	// Running: a worker holds the lease and is calling the agent.
	Running State = "running"
	// Paused: the agent needs input before it can go on.
	Paused State = "paused"
	// Succeeded: the agent answered.
	Succeeded State = "succeeded"
	// Failed: the agent, or the dispatch to it, failed in a way that retrying will not mend.
	Failed State = "failed"
	// Error: the task could not be completed after retries, or its deadline passed.
	Error State = "error"
	// Canceled: a caller stopped the task.
	Canceled State = "canceled"
	// Rejected: policy refused the task before it was queued.
	Rejected State = "rejected"
)

// Terminal reports whether s is a final state: no transition leaves it.
func (s State) Terminal() bool {
	switch s {
	case Succeeded, Failed, Error, Canceled, Rejected:
		return true
	}
	return false
}

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	switch s {
	case Queued, Running, Paused, Succeeded, Failed, Error, Canceled, Rejected:
		return true
	}
	return false
}

// transitions lists, for each state, the states it may move to. Running may move back to Queued:
// a worker gives a task back when the agent failed in a retryable way. Paused moves to Succeeded
// when the thread's next turn answers what the agent asked, and to Queued when a person approves
// it; Queued moves back to Paused when that approval could not be sent to the worker.
var transitions = map[State][]State{
	Queued:  {Running, Paused, Failed, Error, Canceled},
	Running: {Queued, Running, Paused, Succeeded, Failed, Error, Canceled},
	Paused:  {Queued, Succeeded, Failed, Error, Canceled},
}

// CanTransition reports whether a task may move from one state to another. Running to Running is
// legal: it is a new worker taking over an expired lease.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Sources returns the states from which a task may move to the given state.
func Sources(to State) []State {
	var out []State
	for _, from := range []State{Queued, Running, Paused} {
		if CanTransition(from, to) {
			out = append(out, from)
		}
	}
	return out
}

// Dialect names the public API a task was submitted through. Every task can be read through
// either; the dialect only decides defaults and the shape of the echoed request.
type Dialect string

// The dialects.
const (
	Xpander    Dialect = "xpander"
	ServiceNet Dialect = "servicenet"
)

// Task is one invocation of an agent, from acceptance to its outcome.
type Task struct {
	ID           string
	Tenant       string
	AgentID      string
	AgentVersion string
	Dialect      Dialect
	// Source says what submitted the task ("api" for the HTTP API).
	Source string
	// ThreadID names the conversation the task belongs to. xpander tasks always have one (the
	// caller's id, or the first turn's task id); ServiceNet tasks when the caller gave context_id.
	ThreadID string
	// ThreadSeq is the task's turn number in its thread, from 1.
	ThreadSeq int
	// PrevTaskID is the thread's previous turn; this task does not start before that one ends.
	PrevTaskID string
	State      State
	// Version increases by one with every write; conditional writes expect it.
	Version int64
	// Request is the caller's request body as accepted, with secrets removed.
	Request json.RawMessage
	// RequestRef names where Request (and Text, when it is large too) is kept when the request is
	// too large for the task record; the store loads it back transparently.
	RequestRef string
	// Text is the instruction handed to the agent (xpander input.text, ServiceNet message).
	Text string
	// WebhookURL is where the caller asked to be told of the task's outcome (webhook_url), besides
	// its tenant's default webhook URLs.
	WebhookURL string
	// ProgressEvents records that the caller opted in to progress events (xpander
	// events_streaming, ServiceNet progress_events): the task's log events, besides its outcome,
	// go to the event bus and its webhooks too.
	ProgressEvents bool
	// CompletionEvents records that the task's outcome goes to the event bus (Agent Task
	// Completed, Failed, Stopped, Paused): the caller asked (completion_event), opted in to
	// progress events, or is an event trigger, whose caller hears only through events. Decided at
	// accept, so the notifier decides from the stream's image alone. Webhooks do not depend on it.
	CompletionEvents bool
	// InFlightCounted records that accept counted the task in its tenant's tasks in flight
	// (tenantlimit), concurrently with its write: its end uncounts it whatever the count reads
	// then, since the count may land after a fast task has ended. A task without it (limits off
	// for its tenant, or accepted before the mark existed) is uncounted only from a positive count.
	InFlightCounted bool
	// NeedsSecrets records that the work message carried what the task record does not keep (an
	// auth_token, credential fields or an auth context): a lost message cannot be rebuilt.
	NeedsSecrets bool
	// Result is the agent's answer as text.
	Result string
	// Output is the agent's answer as JSON, when it answered with JSON.
	Output json.RawMessage
	// ResultRef names where Result and Output are kept when they are too large for the task record;
	// the store loads them back transparently.
	ResultRef string
	// Usage is what the agent reported its work took (tokens, tool actions, cost), if it did.
	Usage Usage
	// RemoteTaskID is the agent's own id for its task (A2A), while it works on it or waits for input.
	RemoteTaskID string
	// HITL says what the agent asked for when it paused for input (xpander's hitl_request), and
	// who approved or rejected it.
	HITL json.RawMessage
	// ParentTaskID names the task this one is a sub-task of (xpander parent_execution_id), and
	// TriggeringAgentID the agent that delegated it (triggering_agent_id).
	ParentTaskID      string
	TriggeringAgentID string
	// UserID is the end user the task runs for (xpander input.user.id).
	UserID string
	// Reason is a stable machine-readable code saying why the task failed.
	Reason string
	// ReasonMessage explains Reason to a person.
	ReasonMessage string
	Attempts      int
	CostUnits     int
	// Expected is how long the agent said its calls usually take (its expected_duration) when the
	// task was accepted; 0 is unknown. Accept and polls tell the caller when to come back from it.
	Expected time.Duration
	// LeaseUntil is when the running worker's claim expires; another delivery may take over after.
	LeaseUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  time.Time
	PausedAt   time.Time
	FinishedAt time.Time
	// ExpiresAt is when the record is deleted; reads after it answer gone.
	ExpiresAt time.Time

	// Receipt facts (the ServiceNet receipt of the task).

	// Sync records that the caller waited for the outcome (a sync invoke): the receipt's
	// invoke_mode.
	Sync bool
	// CallerAgentID and CallerPublicID name the calling agent, as a ServiceNet agent_envelope
	// gave them.
	CallerAgentID  string
	CallerPublicID string
	// Verification is the verdict a verifier last recorded on the receipt; empty is not_required.
	Verification string
}

// Tokens counts LLM tokens.
type Tokens struct {
	Prompt     int
	Completion int
	Total      int
}

// Usage is what an agent reported its work took.
type Usage struct {
	Tokens
	// Actions counts the tool actions the agent performed.
	Actions int
	// Cost is the agent's own estimate of what the work cost, in US dollars.
	Cost float64
}

// Expired reports whether the task's record has outlived its time to live at now.
func (t *Task) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}
