package tasklog

import (
	"context"
	"encoding/json"

	"github.com/agentq/agentq/shared/task"
)

// Reader reads a task's stored events (Log does).
type Reader interface {
	Read(ctx context.Context, taskID string, after int64, limit int) ([]Event, error)
}

var _ Reader = (*Log)(nil)

// CreatedEvent is t's created event, the first of its log (seq CreatedSeq): the task as it was
// accepted. Every field comes from the task record, which never changes them, so every reader
// makes the same event and no writer stores it.
func CreatedEvent(t *task.Task) Event {
	data, _ := json.Marshal(map[string]any{ // plain values always encode
		"state": task.Queued, "agent_id": t.AgentID, "agent_version": t.AgentVersion, "source": t.Source,
		"thread_id": t.ThreadID, "dialect": t.Dialect,
	})
	return Event{Seq: CreatedSeq, Type: Created, At: t.CreatedAt.UTC(), Data: data}
}

// ReadTask answers up to limit (at most PageLimit) events of t's log after sequence number after,
// in order, as readers see it: the created event the task record implies, then the stored events.
// A log stored before created was implied begins with its own created event, which is answered
// instead. Like Read, it does not check who asks.
func ReadTask(ctx context.Context, r Reader, t *task.Task, after int64, limit int) ([]Event, error) {
	if limit <= 0 || limit > PageLimit {
		limit = PageLimit
	}
	evs, err := r.Read(ctx, t.ID, after, limit)
	if err != nil || after >= CreatedSeq || (len(evs) > 0 && evs[0].Seq == CreatedSeq) {
		return evs, err
	}
	evs = append([]Event{CreatedEvent(t)}, evs...)
	return evs[:min(len(evs), limit)], nil
}
