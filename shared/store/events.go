package store

import (
	"context"

	"github.com/agentq/agentq/shared/task"
)

// Recorder hears of every claim and transition that landed, so that the task's event log
// (shared/tasklog) follows every writer (the worker, a stop, the sweeper, the dead-letter
// handler) without any of them having to remember it. It is called after the write, in the
// writer's goroutine, and handles its own failures: the task write stands whatever becomes of the
// event. A task's creation is not told: the log's created event is implied by the task record, so
// accept writes nothing after the task and its message.
type Recorder interface {
	Claimed(ctx context.Context, t *task.Task)
	Changed(ctx context.Context, t *task.Task, c task.Change)
}

// WithEvents returns a store like s that tells r of every task it claims or moves.
func (s *Store) WithEvents(r Recorder) *Store {
	c := *s
	c.events = r
	return &c
}

func (s *Store) recordClaimed(ctx context.Context, t *task.Task) {
	if s.events != nil {
		s.events.Claimed(ctx, t)
	}
}

func (s *Store) recordChanged(ctx context.Context, t *task.Task, c task.Change) {
	if s.events != nil {
		s.events.Changed(ctx, t, c)
	}
}
