package tasklog

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/agentq/agentq/shared/task"
)

// Appender appends events to task logs.
type Appender interface {
	Append(ctx context.Context, e Entry) (Event, error)
}

var _ Appender = (*Log)(nil)

// MaxFinalAnswer bounds the answer a Finished event carries; a larger one is left out
// (data.truncated) and read with the task.
const MaxFinalAnswer = 64 << 10

// Recorder turns the task store's writes into events: the store calls it after each write that
// landed, whoever wrote (the worker, a stop, the sweeper, the dead-letter handler), so no writer
// can forget to log. A task's creation needs no event written (created is implied by the task
// record, see CreatedEvent). A failed append is logged and does not undo the task write; readers
// mend a log whose task ended without its Finished event (see Missing).
type Recorder struct {
	log    Appender
	logger *slog.Logger
}

// NewRecorder returns a recorder appending to log.
func NewRecorder(log Appender, logger *slog.Logger) *Recorder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Recorder{log: log, logger: logger}
}

// Claimed records a worker's attempt. The first is implied by the claim's record (AttemptEvent)
// and not stored, unless the task opted in to progress events: the notifier hears of an event
// only from its stored item, so that task's first attempt is stored at AttemptSeq (an Opening
// append), the same event readers imply. A claim of a task its agent already works on (it has a
// remote task id) is a check on that work, not an attempt: it is not logged, so a long-running
// agent's log holds its progress rather than every check.
func (r *Recorder) Claimed(ctx context.Context, t *task.Task) {
	first := t.Attempts == 1
	if t.RemoteTaskID != "" || (first && !t.ProgressEvents) {
		return
	}
	if first {
		ev := AttemptEvent(t)
		e := entry(t, Attempt, nil)
		e.At, e.Data, e.Opening = ev.At, ev.Data, true
		r.write(ctx, t, e)
		return
	}
	r.write(ctx, t, entry(t, Attempt, map[string]any{"state": t.State, "attempt": t.Attempts}))
}

// Changed records the transition c that left the task as t. Usage reported with the outcome is
// part of the Finished event (data.usage); usage reported on the way is an event of its own.
func (r *Recorder) Changed(ctx context.Context, t *task.Task, c task.Change) {
	if t.State.Terminal() {
		r.write(ctx, t, finishedEntry(t))
		return
	}
	if c.Usage != (task.Usage{}) {
		r.write(ctx, t, entry(t, Usage, usageData(c.Usage)))
	}
	typ, data := changeEvent(t, c)
	e := entry(t, typ, data)
	if typ == StateChanged && t.RemoteTaskID != "" {
		// Every check that finds the agent still working writes this change again: log it once.
		e.Dedupe = "remote:" + t.RemoteTaskID
	}
	r.write(ctx, t, e)
}

func usageData(u task.Usage) map[string]any {
	d := map[string]any{"prompt_tokens": u.Prompt, "completion_tokens": u.Completion, "total_tokens": u.Total}
	if u.Actions != 0 {
		d["actions"] = u.Actions
	}
	if u.Cost != 0 {
		d["cost"] = u.Cost
	}
	return d
}

// changeEvent answers the event a transition between non-final states is.
func changeEvent(t *task.Task, c task.Change) (Type, map[string]any) {
	data := map[string]any{"state": t.State}
	if c.Reason != "" {
		data["reason"], data["message"] = c.Reason, c.ReasonMessage
	}
	switch {
	case t.State == task.Paused:
		if len(t.HITL) > 0 {
			data["question"] = t.HITL
		}
		return Paused, data
	case t.State == task.Queued && c.Reason != "":
		data["attempt"] = t.Attempts
		return Retry, data
	case t.State == task.Queued:
		return Resumed, data
	}
	if t.RemoteTaskID != "" {
		data["remote_task_id"] = t.RemoteTaskID
	}
	return StateChanged, data
}

// finishedEntry is the Finished event of the ended task t, made from its record alone, so that
// the writer and a reader mending the log (Missing) make the same event: the final state, the
// reason and the error unless it succeeded, else the answer (unless too large to carry), and the
// usage recorded.
func finishedEntry(t *task.Task) Entry {
	data := map[string]any{"state": t.State}
	if t.State != task.Succeeded && t.Reason != "" {
		data["reason"], data["message"] = t.Reason, t.ReasonMessage
	}
	switch {
	case t.State != task.Succeeded:
		data["error"] = map[string]string{"code": t.Reason, "message": t.ReasonMessage}
	case len(t.Result)+len(t.Output) > MaxFinalAnswer:
		data["truncated"] = true
	default:
		data["result"] = t.Result
		if len(t.Output) > 0 {
			data["output"] = t.Output
		}
	}
	if t.Usage != (task.Usage{}) {
		data["usage"] = usageData(t.Usage)
	}
	return entry(t, Finished, data)
}

// Missing answers the Finished event a log lacks when its task t has ended but the event was not
// written (the writer stopped between the task write and the append), or false when t has not
// ended. Readers append it, so every log of an ended task ends with one; the log takes one
// Finished event only, so a reader and a late writer cannot both add theirs.
func Missing(t *task.Task) (Entry, bool) {
	if !t.State.Terminal() {
		return Entry{}, false
	}
	return finishedEntry(t), true
}

func entry(t *task.Task, typ Type, data map[string]any) Entry {
	raw, _ := json.Marshal(data) // maps of plain values and raw JSON always encode
	return Entry{TaskID: t.ID, Tenant: t.Tenant, ExpiresAt: t.ExpiresAt, Type: typ, At: t.UpdatedAt, Data: raw,
		Claimed: t.Attempts > 0, Notify: t.ProgressEvents}
}

func (r *Recorder) write(ctx context.Context, t *task.Task, e Entry) {
	if e.At.IsZero() {
		e.At = t.CreatedAt
	}
	// The task write has landed: the event must be written even if the caller has gone.
	_, err := r.log.Append(context.WithoutCancel(ctx), e)
	switch {
	case err == nil, errors.Is(err, ErrDuplicate):
	case errors.Is(err, ErrEnded):
		// A change that lost the race to the task's end: the log has said how it ended.
		r.logger.Debug("task event after the log ended", "task_id", t.ID, "type", e.Type)
	default:
		r.logger.Error("append task event", "task_id", t.ID, "tenant", t.Tenant, "type", e.Type, "err", err)
	}
}
