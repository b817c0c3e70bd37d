// Package notify tells the world how tasks ended. It reads the task table's stream (in AWS a
// DynamoDB stream feeding the notify function; locally a stream poller over DynamoDB Local) and,
// for every task that reaches a terminal state or pauses for input, puts an event on the
// EventBridge bus and hands the same event to the webhook deliveries; so too for every event of
// the log of a task that opted in to progress events (see progress.go).
//
// Working from the stream rather than from the code that moves tasks means that no transition
// is missed, whichever component made it (worker, API stop, sweeper, accept's dispatch failure)
// and even if that component died right after its write: the stream keeps the change for 24
// hours and its event source retries until the change is handled.
package notify

import (
	"encoding/json"
	"time"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/task"
)

// Source is the EventBridge source of every completion event.
const Source = "agentq"

// Detail types of the completion events, one per kind of outcome.
const (
	DetailCompleted = "Agent Task Completed"
	DetailFailed    = "Agent Task Failed"
	DetailStopped   = "Agent Task Stopped"
	DetailPaused    = "Agent Task Paused"
)

// Webhook event types (Standard Webhooks' "type"), one per detail type.
const (
	TypeCompleted = "task.completed"
	TypeFailed    = "task.failed"
	TypeStopped   = "task.stopped"
	TypePaused    = "task.paused"
)

// MaxDetailBytes bounds an event's detail: EventBridge refuses entries over 256 KiB, and the
// source and detail type count too. A larger detail goes out without the answer and the request
// echo (Truncated is set), and the consumer reads the whole task from the API.
const MaxDetailBytes = 200 << 10

// Kind says which events a state produces: its detail type and webhook type. ok is false for
// states that produce none (queued, running).
func Kind(s task.State) (detailType, webhookType string, ok bool) {
	switch s {
	case task.Succeeded:
		return DetailCompleted, TypeCompleted, true
	case task.Failed, task.Error, task.Rejected:
		return DetailFailed, TypeFailed, true
	case task.Canceled:
		return DetailStopped, TypeStopped, true
	case task.Paused:
		return DetailPaused, TypePaused, true
	}
	return "", "", false
}

// Detail is what a completion event carries: the task's identity and outcome in agentq's own
// terms, and the task as its caller reads it (the dialect it was submitted in). The task never
// holds secrets (they travel only in the work message), so neither does the event; the webhook
// URL is left out too, since it may carry a token.
type Detail struct {
	TaskRef
	State         task.State `json:"state"`
	Status        string     `json:"status"`
	Reason        string     `json:"reason,omitempty"`
	ReasonMessage string     `json:"reason_message,omitempty"`
	// Version is the task's write version: with TaskID it names this transition uniquely, so a
	// consumer can drop a duplicate event.
	Version    int64      `json:"version"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	PausedAt   *time.Time `json:"paused_at,omitempty"`
	// Truncated says the task below was sent without its answer and request, which were too
	// large for an event, or (Task null) without the task at all: read the task from the API.
	Truncated bool `json:"truncated,omitempty"`
	// Task is the task as GET /v1/tasks/{id} (xpander) or GET /v1/receipts/{id} (ServiceNet)
	// shows it.
	Task any `json:"task"`
}

// NewDetail renders t's event detail, within MaxDetailBytes.
func NewDetail(t *task.Task) ([]byte, error) {
	d := identity(t)
	d.ReasonMessage = t.ReasonMessage
	view := func(t *task.Task) any {
		if t.Dialect == task.ServiceNet {
			return dialect.ServiceNet(t)
		}
		return dialect.Xpander(t)
	}
	d.Task = view(t)
	b, err := json.Marshal(d)
	if err != nil || len(b) <= MaxDetailBytes {
		return b, err
	}
	slim := *t
	slim.Result, slim.Output, slim.Request, slim.Text, slim.HITL = "", nil, nil, "", nil
	d.Task, d.Truncated = view(&slim), true
	if b, err = json.Marshal(d); err != nil || len(b) <= MaxDetailBytes {
		return b, err
	}
	// Still too large (a very long reason message, say): only what names the task and its state.
	return MinimalDetail(t)
}

// MinimalDetail is the last resort for an event that cannot carry the task: its identity, state
// and version, and Truncated, so a consumer reads the rest from the API. It is a few hundred bytes
// whatever the task holds (ids are bounded by the API).
func MinimalDetail(t *task.Task) ([]byte, error) {
	d := identity(t)
	d.Truncated = true
	return json.Marshal(d)
}

// TaskRef names the task an event is about, as completion and progress events alike carry it.
type TaskRef struct {
	TaskID       string `json:"task_id"`
	Tenant       string `json:"tenant"`
	AgentID      string `json:"agent_id"`
	AgentVersion string `json:"agent_version,omitempty"`
	Dialect      string `json:"dialect"`
	Source       string `json:"source,omitempty"`
	ThreadID     string `json:"thread_id,omitempty"`
}

func taskRef(t *task.Task) TaskRef {
	return TaskRef{TaskID: t.ID, Tenant: t.Tenant, AgentID: t.AgentID, AgentVersion: t.AgentVersion,
		Dialect: string(t.Dialect), Source: t.Source, ThreadID: t.ThreadID}
}

// identity is the part of a detail every event carries: who the task is and where it stands.
func identity(t *task.Task) Detail {
	d := Detail{
		TaskRef: taskRef(t), State: t.State, Reason: t.Reason, Version: t.Version,
		CreatedAt: t.CreatedAt.UTC(), FinishedAt: when(t.FinishedAt), PausedAt: when(t.PausedAt),
	}
	d.Status = dialect.XpanderStatus(t.State)
	if t.Dialect == task.ServiceNet {
		d.Status = dialect.ServiceNetStatus(t.State)
	}
	return d
}

func when(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
