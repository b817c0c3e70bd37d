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
// landed, whoever wrote (accept, the worker, a stop, the sweeper, the dead-letter handler), so no
// writer can forget to log. A failed append is logged and does not undo the task write; readers
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

// Created records that t was accepted.
func (r *Recorder) Created(ctx context.Context, t *task.Task) {
	r.write(ctx, t, createdEntry(t))
}

// createdEntry is the created event of t: the log's first event, whoever writes it.
func createdEntry(t *task.Task) Entry {
	e := entry(t, Created, map[string]any{
		"state": task.Queued, "agent_id": t.AgentID, "agent_version": t.AgentVersion, "source": t.Source,
		"thread_id": t.ThreadID, "dialect": t.Dialect,
	})
	e.At, e.First = t.CreatedAt, true
	return e
}

// Claimed records a worker's attempt. A claim of a task its agent already works on (it has a
// remote task id) is a check on that work, not an attempt: it is not logged, so a long-running
// agent's log holds its progress rather than every check.
func (r *Recorder) Claimed(ctx context.Context, t *task.Task) {
	if t.RemoteTaskID != "" {
		return
	}
	if t.Attempts == 1 {
		// The work message and the task write leave accept together, so a worker may claim the
		// task before accept has logged its creation: the first claim logs it first if it must
		// (a First append writes nothing where the log has begun).
		r.write(ctx, t, createdEntry(t))
	}
	r.append(ctx, t, Attempt, map[string]any{"state": t.State, "attempt": t.Attempts})
}

// Changed records the transition c that left the task as t.
func (r *Recorder) Changed(ctx context.Context, t *task.Task, c task.Change) {
	if c.Usage != (task.Usage{}) {
		r.append(ctx, t, Usage, usageData(c.Usage))
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

// changeEvent answers the event a transition is.
func changeEvent(t *task.Task, c task.Change) (Type, map[string]any) {
	data := map[string]any{"state": t.State}
	if c.Reason != "" {
		data["reason"], data["message"] = c.Reason, c.ReasonMessage
	}
	switch {
	case t.State.Terminal():
		return Finished, finalData(t, data)
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

// finalData adds the task's outcome to data: the answer when it succeeded (unless too large to
// carry), the error otherwise.
func finalData(t *task.Task, data map[string]any) map[string]any {
	if t.State != task.Succeeded {
		data["error"] = map[string]string{"code": t.Reason, "message": t.ReasonMessage}
		return data
	}
	if len(t.Result)+len(t.Output) > MaxFinalAnswer {
		data["truncated"] = true
		return data
	}
	data["result"] = t.Result
	if len(t.Output) > 0 {
		data["output"] = t.Output
	}
	return data
}

// Missing answers the Finished event a log lacks when its task t has ended but the event was not
// written (the writer stopped between the task write and the append), or false when t has not
// ended. Readers append it, so every log of an ended task ends with one.
func Missing(t *task.Task) (Entry, bool) {
	if !t.State.Terminal() {
		return Entry{}, false
	}
	data := finalData(t, map[string]any{"state": t.State})
	if t.Reason != "" {
		data["reason"], data["message"] = t.Reason, t.ReasonMessage
	}
	return entry(t, Finished, data), true
}

func entry(t *task.Task, typ Type, data map[string]any) Entry {
	raw, _ := json.Marshal(data) // maps of plain values and raw JSON always encode
	e := Entry{TaskID: t.ID, Tenant: t.Tenant, ExpiresAt: t.ExpiresAt, Type: typ, At: t.UpdatedAt, Data: raw, Notify: t.ProgressEvents}
	if typ == Finished {
		// One Finished per log, whether the writer or a reader mending the log appends it.
		e.Dedupe = "finished"
	}
	return e
}

func (r *Recorder) append(ctx context.Context, t *task.Task, typ Type, data map[string]any) {
	r.write(ctx, t, entry(t, typ, data))
}

func (r *Recorder) write(ctx context.Context, t *task.Task, e Entry) {
	if e.At.IsZero() {
		e.At = t.CreatedAt
	}
	// The task write has landed: the event must be written even if the caller has gone.
	if _, err := r.log.Append(context.WithoutCancel(ctx), e); err != nil && !errors.Is(err, ErrDuplicate) {
		r.logger.Error("append task event", "task_id", t.ID, "tenant", t.Tenant, "type", e.Type, "err", err)
	}
}
