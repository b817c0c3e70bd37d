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

// AttemptEvent is the first attempt of t, a task claimed at least once (t.Attempts > 0): the
// second event of its log (seq AttemptSeq). The claim's record says all it says (the first claim
// started the task at t.StartedAt, which later claims do not move; it was attempt 1, running), so
// every reader makes the same event, the very one a worker used to store, and no writer stores it
// (but see Recorder.Claimed).
func AttemptEvent(t *task.Task) Event {
	at := t.StartedAt
	if at.IsZero() { // every claim sets it; a record without one is not a claimed task's
		at = t.CreatedAt
	}
	data, _ := json.Marshal(map[string]any{"state": task.Running, "attempt": 1}) // plain values always encode
	return Event{Seq: AttemptSeq, Type: Attempt, At: at.UTC(), Data: data}
}

// ReadTask answers up to limit (at most PageLimit) events of t's log after sequence number after,
// in order, as readers see it: the created event the task record implies, the first attempt it
// implies once the task has been claimed, then the stored events. A log stored before an event
// was implied holds its own (created at 1, the first attempt at 2), which is answered instead.
// When the stored events begin past AttemptSeq while t says the task was never claimed, t was
// read before the claim: the answer stops before the missing attempt (nothing is skipped), and
// the caller reads the task again before it reads on. Like Read, it does not check who asks.
func ReadTask(ctx context.Context, r Reader, t *task.Task, after int64, limit int) ([]Event, error) {
	if limit <= 0 || limit > PageLimit {
		limit = PageLimit
	}
	evs, err := r.Read(ctx, t.ID, after, limit)
	if err != nil || after >= AttemptSeq {
		return evs, err
	}
	out := make([]Event, 0, len(evs)+2)
	if after < CreatedSeq {
		if len(evs) > 0 && evs[0].Seq == CreatedSeq {
			out, evs = append(out, evs[0]), evs[1:]
		} else {
			out = append(out, CreatedEvent(t))
		}
	}
	switch {
	case len(evs) > 0 && evs[0].Seq == AttemptSeq:
		// Stored at AttemptSeq: an older log's attempt, a progress-events task's, or the first
		// event of a task that ended before any claim.
	case t.Attempts > 0:
		out = append(out, AttemptEvent(t))
	default:
		evs = nil // t predates the claim whose attempt comes next: stop before it
	}
	out = append(out, evs...)
	return out[:min(len(out), limit)], nil
}
