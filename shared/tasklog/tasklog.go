// Package tasklog is every task's ordered event log: what happened to the task (created, state
// changes with their reasons, attempts and retries, pauses and resumes, the outcome) and what its
// agent reported while it worked (status messages, text chunks, artifacts, tool calls, usage).
// Each event has a per-task sequence number, gap-free and in the order the events were written
// whatever the number of concurrent writers, a timestamp and a type. The log lives in the task
// table next to its task and expires with it.
//
// Three events cost no write of their own: a log's first event, created (seq 1), is implied by
// the task record and made by readers (ReadTask); so is the first attempt (seq 2) of a task that
// has been claimed, from the claim's record (its attempt count and start time). Stored events
// start at 2 for a task that ended before any claim, at 3 for one claimed. And Finished closes
// the log: nothing is appended after it, so it is the last event without a marker to keep it
// unique.
package tasklog

import (
	"encoding/json"
	"errors"
	"time"
)

// Type names what an event says. The names are part of the public API: readers branch on them.
type Type string

// The event types written by agentq itself.
const (
	// Created: the task was accepted. It is always the log's first event (seq 1), implied by the
	// task record (see CreatedEvent): no writer appends it.
	Created Type = "created"
	// Attempt: a worker claimed the task and is calling the agent (data.attempt counts from 1).
	// The first is implied by the task record (seq AttemptSeq, see AttemptEvent); retries are
	// stored.
	Attempt Type = "attempt"
	// Retry: the attempt failed in a way another may mend; the task waits for its next attempt.
	Retry Type = "retry"
	// StateChanged: any other move between non-final states (the agent works on asynchronously).
	StateChanged Type = "state"
	// Paused: the agent asked for input or approval (data.question holds what it asked).
	Paused Type = "paused"
	// Resumed: a paused task goes on (answered, approved).
	Resumed Type = "resumed"
	// Finished: the task ended; data holds the final state, the result or the error, and the
	// usage the task recorded. It closes the log: it is always the last event, and only once.
	Finished Type = "finished"
)

// The event types an agent reports (see Progress), and Usage, which agentq records too.
const (
	// Status: a status message from the agent.
	Status Type = "status"
	// Chunk: a piece of the answer's text, in order.
	Chunk Type = "chunk"
	// Artifact: an artifact the agent produced (or a piece of one).
	Artifact Type = "artifact"
	// ToolCallRequest: the agent calls a tool.
	ToolCallRequest Type = "tool_call_request"
	// ToolCallResult: a tool answered the agent.
	ToolCallResult Type = "tool_call_result"
	// Usage: tokens the agent reported using.
	Usage Type = "usage"
)

// Types lists every event type, in the order the API documents them.
var Types = []Type{Created, Attempt, Retry, StateChanged, Paused, Resumed, Status, Chunk, Artifact,
	ToolCallRequest, ToolCallResult, Usage, Finished}

// Event is one entry of a task's log.
type Event struct {
	// Seq numbers the task's events from 1 (created), without gaps.
	Seq  int64     `json:"seq"`
	Type Type      `json:"type"`
	At   time.Time `json:"at"`
	// Data is the event's payload, a JSON object whose shape depends on Type.
	Data json.RawMessage `json:"data,omitempty"`
}

// Entry is an event to append: the task it belongs to and what it says. The log numbers it.
type Entry struct {
	TaskID string
	// Tenant owns the task; the log keeps it with every event so a read can be checked against it.
	Tenant string
	// ExpiresAt is the task's expiry: its events go with it.
	ExpiresAt time.Time
	Type      Type
	At        time.Time
	Data      json.RawMessage
	// Dedupe, when set, names the report this event comes from: a second append with the same
	// name for the task is refused with ErrDuplicate, so a report delivered twice is logged once.
	Dedupe string
	// Limited makes the append subject to the per-task rate limit (agents' reports are).
	Limited bool
	// Claimed says the task has been claimed at least once (task.Task.Attempts > 0), so its log's
	// first attempt is implied at AttemptSeq and an empty log's next number is AttemptSeq+1, not
	// AttemptSeq. A writer sets it from the task record its own write answered (or a read after
	// the claim): the attempt count only grows, so it is never wrong for a later append.
	Claimed bool
	// Opening says the writer expects the event to be the first stored one (seq CreatedSeq+1,
	// right after the implied created): the append tries that number without reading the log's
	// tail, and reads the tail only when the number is taken. The stored first attempt of a task
	// that opted in to progress events is such an event (see Recorder.Claimed). It cannot make a
	// gap (no stored event comes before that number); Limited entries read the tail all the same
	// (the rate is read off it).
	Opening bool
	// Notify: the task opted in to progress events (task.Task.ProgressEvents). The event's item
	// is marked (AttrNotify) so that the table stream's filter hands it to the notifier, unless
	// its type is one the task's completion events announce already (see Announced).
	Notify bool
}

// AttrNotify is the attribute that marks an event item for the notifier: BOOL true, set at
// append on the events of tasks that opted in to progress events.
const AttrNotify = "notify"

// Announced reports whether the completion events say what an event of type t says (the outcome,
// a pause), so that it is never sent as a progress event too.
func Announced(t Type) bool { return t == Finished || t == Paused }

// Errors of Append.
var (
	// ErrDuplicate: the report named by Entry.Dedupe is in the log already, or the log has its
	// Finished event already and the entry is another.
	ErrDuplicate = errors.New("tasklog: report already logged")
	// ErrEnded: the log ends with its Finished event; it takes no more events.
	ErrEnded = errors.New("tasklog: the task's event log has ended")
	// ErrRateLimited: the task's log took RateBurst events within RateWindow.
	ErrRateLimited = errors.New("tasklog: too many events for this task; slow down")
	// ErrFull: the task's log holds MaxEvents events.
	ErrFull = errors.New("tasklog: the task's event log is full")
	// ErrBusy: concurrent writers kept taking the next number; the append may be retried.
	ErrBusy = errors.New("tasklog: the task's event log is busy")
)

// Bounds on a task's log. They keep an agent's reports from costing more than the task they are
// about: at most RateBurst events per RateWindow, MaxEvents in all.
const (
	RateBurst  = 20
	RateWindow = time.Second
	MaxEvents  = 10000
)

// CreatedSeq is the number of a log's created event, which no writer stores: the first stored
// event is CreatedSeq+1.
const CreatedSeq = 1

// AttemptSeq is the number of a claimed task's first attempt, which the task record implies (see
// AttemptEvent): the first stored event of a claimed task is AttemptSeq+1. A log stored before
// the first attempt was implied holds its own attempt at AttemptSeq, and readers answer that one.
const AttemptSeq = CreatedSeq + 1

// base is the number an empty log's tail reads as for e's task: the last implied event's.
func (e Entry) base() int64 {
	if e.Claimed {
		return AttemptSeq
	}
	return CreatedSeq
}

// PageLimit bounds how many events one read answers.
const PageLimit = 200

// Final reports whether t ends a log.
func (t Type) Final() bool { return t == Finished }
