package task

import (
	"errors"
	"time"
)

// Thread is a conversation: the turns (tasks) that share a thread id, in order.
type Thread struct {
	ID           string
	Tenant       string
	LatestTaskID string
	// Turns is how many turns the thread has; the latest has ThreadSeq == Turns.
	Turns int
	// Stored says whether the thread has a record. A single-turn conversation has none: its one
	// task's id is the thread's id, and the record appears with the second turn.
	Stored    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Idempotency asks Submit to remember a request under a key, so that a replay finds the first
type Idempotency struct {
	Key string
	// BodyHash identifies the request; the same key with another hash is a different request.
	BodyHash string
	// TTL is how long the key is remembered.
	TTL time.Duration
}

// SubmitOptions says what Submit writes besides the
type SubmitOptions struct {
	// Thread is the task's thread as read before the write (the zero Thread for a new one): the
	// task becomes its next turn, provided nothing moved it meanwhile. Nil writes no thread record.
	Thread      *Thread
	Idempotency *Idempotency
}

// Errors of Submit.
var (
	// ErrThreadMoved means another turn was added to the thread since it was read: read it again.
	ErrThreadMoved = errors.New("thread moved on")
)

// ReplayError means the idempotency key was already used. TaskID is the first request's
type ReplayError struct {
	TaskID   string
	BodyHash string
}

func (e *ReplayError) Error() string { return "idempotency key already used for task " + e.TaskID }
