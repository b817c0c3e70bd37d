package task

import (
	"errors"
	"fmt"
)

// Errors of the task store, whatever keeps it. Callers test them with errors.Is / errors.As.
var (
	// ErrNotFound: no task has that id.
	ErrNotFound = errors.New("task not found")
	// ErrExists: a task with that id was already recorded.
	ErrExists = errors.New("task already exists")
)

// ConflictError is returned when a conditional write finds the task in another state or version
// than the writer expected. Current is the task as it stands.
type ConflictError struct {
	Current *Task
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("task %s is %s at version %d", e.Current.ID, e.Current.State, e.Current.Version)
}

// ErrTooLarge means a payload does not fit in the task's item and the store has no blob store to
// keep it in. Nothing was written.
var ErrTooLarge = errors.New("payload too large for the task record")

// ErrInvalidCursor means a cursor is malformed, belongs to another tenant, or does not fit the
// query's time range.
var ErrInvalidCursor = errors.New("invalid cursor")

// ErrTooDeep means a listing's Offset plus Limit exceeds MaxListDepth. Nothing was read.
var ErrTooDeep = errors.New("listing too deep")

// MaxFamily bounds the tasks one deletion removes: a task, its conversation's turns and their
// sub-tasks, at any depth.
const MaxFamily = 1000

// ErrFamilyTooLarge means a deletion would remove more than MaxFamily tasks. Nothing was deleted.
var ErrFamilyTooLarge = errors.New("too many tasks to delete at once")
