package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/telemetry"
)

// record writes what the agent call made of the job's task and answers what becomes of the
// message. The call was paid for, and the agent must not be called again because a write of ours
// failed: the write is retried within the budget's Outcome window (inside the lease, so no other
// delivery may take the task meanwhile), and if it still fails the outcome travels on in a fresh
// message that records it without a call.
func (p *Processor) record(ctx context.Context, j *job, change task.Change) Outcome {
	_, err := p.write(ctx, j.log, j.m.TaskID, change)
	if errors.Is(err, task.ErrTooLarge) {
		// The store has nowhere to keep an answer this large (no blob store). A truncated answer
		// would pass for the whole one, so the task fails instead, saying why.
		size := len(change.Result) + len(change.Output)
		change.To, change.Result, change.Output = task.Failed, "", nil
		change.Reason = task.ReasonInvalidResponse
		change.ReasonMessage = fmt.Sprintf("the agent's answer is too large to keep (%d bytes; at most %d without large-payload storage)", size, task.InlineLimit)
		_, err = p.write(ctx, j.log, j.m.TaskID, change)
	}
	var conflict *task.ConflictError
	switch {
	case errors.Is(err, task.ErrNotFound):
		// The task was claimed, so it existed: it was deleted while its agent worked. There is
		// nothing to record the outcome on, and retrying would not bring it back.
		j.log.Info("task deleted while its agent worked; outcome dropped", "to", change.To)
		return Done
	case errors.As(err, &conflict):
		return p.lostTo(ctx, j, change, conflict.Current)
	case err != nil:
		return p.keep(ctx, j, change, err)
	}
	return p.recorded(ctx, j, change)
}

// write makes change, retrying with backoff within the budget's Outcome window, detached from the
// invocation's end. A failed condition whose current item shows this very change applied (an
// earlier try that landed although its answer was lost) counts as written.
func (p *Processor) write(ctx context.Context, log *slog.Logger, id string, change task.Change) (*task.Task, error) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.c.Budget.Outcome)
	defer cancel()
	for try := 1; ; try++ {
		t, err := p.c.Store.Transition(wctx, id, change)
		var conflict *task.ConflictError
		switch {
		case err == nil:
			return t, nil
		case errors.As(err, &conflict) && applied(change, conflict.Current):
			log.Info("outcome was recorded by an earlier try", "state", conflict.Current.State, "version", conflict.Current.Version)
			return conflict.Current, nil
		case errors.As(err, &conflict), errors.Is(err, task.ErrNotFound), errors.Is(err, task.ErrTooLarge):
			return nil, err // answers, not failures: no retry mends them
		}
		wait := p.c.Budget.OutcomeBackoffAt(try)
		if dl, _ := wctx.Deadline(); time.Until(dl) <= wait {
			return nil, err
		}
		log.Warn("record outcome; trying again", "err", err, "to", change.To, "try", try, "wait", wait)
		select {
		case <-wctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// applied reports whether cur, the task as a failed condition found it, is change already made:
// the version one past the one the change expected (the claim's: only the lease holder writes at
// it), the state it moves to, and what it records that another writer could not have.
func applied(change task.Change, cur *task.Task) bool {
	switch {
	case change.Version == 0 || cur.Version != change.Version+1 || cur.State != change.To:
		return false
	case change.Reason != "" && cur.Reason != change.Reason:
		return false
	case change.RemoteTaskID != "" && cur.RemoteTaskID != change.RemoteTaskID:
		return false
	case change.To == task.Running:
		// A claim by another delivery is running at that version too, but under a live lease;
		// this change released its lease.
		return change.ReleaseLease && cur.LeaseUntil.IsZero()
	}
	return true
}

// lostTo answers a message whose outcome lost to another write: a stop, the sweeper, or a
// delivery that took the task over. The task is then left either ended, or with a live message:
// this one, redelivered when whoever holds the task may have finished with it.
func (p *Processor) lostTo(ctx context.Context, j *job, change task.Change, cur *task.Task) Outcome {
	j.log.Warn("outcome superseded", "state", cur.State, "version", cur.Version)
	if remote := superseded(change, cur); remote != "" {
		creds := j.creds
		if j.t == nil { // a kept outcome: nothing was resolved for a call
			creds, _ = p.credentials(ctx, j.log, j.m, j.received)
		}
		p.cancelQuietly(context.WithoutCancel(ctx), j.log, j.m, creds, remote)
	}
	now := p.c.Now()
	switch {
	case cur.State.Terminal(), cur.State == task.Paused:
		return Done
	case cur.State == task.Running && cur.LeaseUntil.After(now):
		// Another delivery holds it: look again when its lease ends, and take over if it lapsed.
		return RetryAfter(cur.LeaseUntil.Sub(now) + time.Second)
	}
	// Queued, or running under no live lease: nothing else may be carrying it.
	return RetryAfter(p.c.Backoff(j.received))
}

// keep sends the outcome on in a fresh message, since the store would not take it: the message
// records it without calling the agent. The message being handled is then done with. If the
// outcome cannot be sent either, the message is redelivered, and the agent called again once the
// lease lapses: the one case in which an answer is lost.
func (p *Processor) keep(ctx context.Context, j *job, change task.Change, cause error) Outcome {
	next := *j.m
	next.Outcome = carried(change)
	if body, err := queue.Encode(&next); err != nil || len(body) > queue.MaxMessageBytes {
		j.log.Error("record outcome; the answer is too large to carry in a message and is lost", "err", cause, "to", change.To)
		return RetryAfter(p.c.Backoff(j.received))
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.c.Budget.Request)
	defer cancel()
	if err := p.c.Queue.Send(sctx, &next, p.c.Backoff(1)); err != nil {
		j.log.Error("record outcome; could not keep it in a message either", "err", cause, "send_err", err, "to", change.To)
		return RetryAfter(p.c.Backoff(j.received))
	}
	j.log.Warn("record outcome; kept it in a message for later", "err", cause, "to", change.To)
	p.c.Metrics.Count(telemetry.OutcomesKept, 1)
	return Done
}

// recordCarried records the outcome a message carries, without calling the agent.
func (p *Processor) recordCarried(ctx context.Context, log *slog.Logger, m *queue.Message, received int) Outcome {
	change := uncarried(m.Outcome, p.c.Now())
	rest := *m
	rest.Outcome = nil
	j := &job{m: &rest, log: log, received: received}
	_, err := p.write(ctx, log, m.TaskID, change)
	var conflict *task.ConflictError
	switch {
	case errors.As(err, &conflict):
		return p.lostTo(ctx, j, change, conflict.Current)
	case errors.Is(err, task.ErrNotFound):
		log.Info("the task of a kept outcome was deleted; outcome dropped", "to", change.To)
		return Done
	case err != nil:
		log.Error("record a kept outcome; will retry", "err", err, "to", change.To)
		return RetryAfter(p.c.Backoff(received))
	}
	log.Info("kept outcome recorded", "to", change.To)
	return p.recorded(ctx, j, change)
}

// recorded logs and counts a recorded change and answers what becomes of the message.
func (p *Processor) recorded(ctx context.Context, j *job, change task.Change) Outcome {
	log := j.log
	switch change.To {
	case task.Running:
		return p.checkLater(ctx, log, j.m, change.RemoteTaskID)
	case task.Paused:
		log.Info("task paused: the agent needs input", "remote_task_id", change.RemoteTaskID)
		return Done
	case task.Succeeded:
		log.Info("task succeeded")
		p.c.Metrics.Count(telemetry.Succeeded, 1)
		return Done
	case task.Queued:
		log.Warn("agent call failed; will retry", "reason", change.Reason, "err", change.ReasonMessage)
		return RetryAfter(p.c.Backoff(j.received))
	default:
		log.Warn("task failed", "reason", change.Reason, "err", change.ReasonMessage)
		p.c.Metrics.Count(telemetry.Failed, 1)
		return Done
	}
}

// carried is change as a message keeps it.
func carried(c task.Change) *queue.Outcome {
	return &queue.Outcome{
		Version: c.Version, State: string(c.To), Result: c.Result, Output: c.Output, Reason: c.Reason,
		ReasonMessage: c.ReasonMessage, CostUnits: c.CostUnits,
		Tokens:  [3]int{c.Usage.Prompt, c.Usage.Completion, c.Usage.Total},
		Actions: c.Usage.Actions, Cost: c.Usage.Cost,
		RemoteTaskID: c.RemoteTaskID, HITL: c.HITL, ReleaseLease: c.ReleaseLease,
	}
}

// uncarried is the change a kept outcome makes, written at now.
func uncarried(o *queue.Outcome, now time.Time) task.Change {
	return task.Change{
		From: []task.State{task.Running}, Version: o.Version, To: task.State(o.State), Now: now,
		Result: o.Result, Output: o.Output, Reason: o.Reason, ReasonMessage: o.ReasonMessage,
		CostUnits: o.CostUnits,
		Usage: task.Usage{
			Tokens:  task.Tokens{Prompt: o.Tokens[0], Completion: o.Tokens[1], Total: o.Tokens[2]},
			Actions: o.Actions, Cost: o.Cost,
		},
		RemoteTaskID: o.RemoteTaskID, HITL: o.HITL, ReleaseLease: o.ReleaseLease,
	}
}
