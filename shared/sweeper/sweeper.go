// Package sweeper finds tasks whose work message was lost and either sends it again or, when the
// message carried secrets the task record does not keep, fails the task with reason "lost". It
// runs on a schedule (the sweeper function, or the local runner's timer); each run does bounded
// work.
//
// Finding them costs little per task: every task enters an insert-only index by creation when it
// is recorded, and each run walks that index forward from where the last run stopped, up to the
// tasks created StaleAfter ago, reading each task once. Those still in flight then are "watched"
// (entered in a second, sparse index, which they leave when they pause or end), and each run
// reads the watched tasks that went unwritten for StaleAfter. So a task is looked at once when it
// is StaleAfter old, and again only if it is still in flight then.
//
// A task has lost its message when it is queued and nothing has written it for StaleAfter, or
// running with a lease that ran out more than StaleAfter ago and no write since. Every live
// message moves its task well within that: a delivery claims it (updated_at), a retry gives it back
// (queued, updated_at) and postpones the message by at most 5 minutes, a check on a long-running
// agent claims it at most 15 minutes after the last. The exception is a thread's turn waiting for
// its predecessor, which writes nothing while it waits; the sweeper leaves it alone while the
// predecessor is in progress.
//
// Sending a message again is safe even when the first one was only slow: the worker's claim is a
// conditional write (queued, or running under an expired lease), so of two messages for one task
// one claims it and the other finds it running under a live lease or ended, and is dropped.
package sweeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/telemetry"
)

// Store walks the tasks by creation, watches and reads idle tasks, and records what the sweeper
// did (store.Store does).
type Store interface {
	Pass(ctx context.Context, before time.Time, limit int, fn func([]*task.Task) error) (int, error)
	Watch(ctx context.Context, id string) (*task.Task, error)
	Idle(ctx context.Context, before time.Time, limit int) ([]*task.Task, error)
	Get(ctx context.Context, id string) (*task.Task, error)
	Touch(ctx context.Context, id string, state task.State, version int64, now time.Time) (*task.Task, error)
	Transition(ctx context.Context, id string, c task.Change) (*task.Task, error)
}

// Queue sends work messages (queue.Client does).
type Queue interface {
	Send(ctx context.Context, m *queue.Message, delay time.Duration) error
}

// Registry resolves the agent version a task pinned (registry.Registry does).
type Registry interface {
	Lookup(ctx context.Context, id, version string) (agent.Agent, error)
}

var (
	_ Queue = (*queue.Client)(nil)
)

// Defaults of Config.
const (
	// DefaultStaleAfter is twice the longest a live message leaves its task unwritten (a check on
	// a long-running agent comes at most 15 minutes after the last).
	DefaultStaleAfter = 30 * time.Minute
	// DefaultLimit bounds the watched tasks one run looks at.
	DefaultLimit = 100
	// DefaultPassLimit bounds the tasks one run's walk passes: 200 pages of 100, a few seconds,
	// as many tasks as 67 a second accept in the 5 minutes between runs. A walk that stops short
	// goes on from there in the next run.
	DefaultPassLimit = 20000
)

// LostMessage is the reason message of a task failed because its message was lost.
const LostMessage = "the work message was lost; submit again"

// Config holds what a Sweeper needs.
type Config struct {
	Store    Store
	Queue    Queue
	Registry Registry
	// StaleAfter is how long a task in flight may go unwritten before its message counts as lost;
	// 0 means DefaultStaleAfter.
	StaleAfter time.Duration
	// Limit bounds the watched tasks one run looks at; 0 means DefaultLimit.
	Limit int
	// PassLimit bounds the tasks one run's walk passes; 0 means DefaultPassLimit.
	PassLimit int
	Logger    *slog.Logger
	Metrics   *telemetry.Metrics
	// Now defaults to the clock; tests replace it.
	Now func() time.Time
}

// Sweeper finds and mends tasks whose work message was lost.
type Sweeper struct{ c Config }

// New returns a Sweeper.
func New(c Config) *Sweeper {
	if c.StaleAfter <= 0 {
		c.StaleAfter = DefaultStaleAfter
	}
	if c.Limit <= 0 {
		c.Limit = DefaultLimit
	}
	if c.PassLimit <= 0 {
		c.PassLimit = DefaultPassLimit
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Sweeper{c: c}
}

// Report says what one run did.
type Report struct {
	// Passed counts the tasks the walk by creation passed.
	Passed int `json:"passed"`
	// Watched counts the tasks the walk found in flight and watches from now on.
	Watched int `json:"watched"`
	// Examined counts the idle tasks read.
	Examined int `json:"examined"`
	// Requeued counts the tasks whose message was sent again.
	Requeued int `json:"requeued"`
	// Failed counts the tasks failed with reason lost.
	Failed int `json:"failed"`
	// Skipped counts the tasks left alone: moved on meanwhile, lease not long expired, or a turn
	// waiting for its predecessor.
	Skipped int `json:"skipped"`
	// Errors counts the tasks the run could not deal with; the next run tries again.
	Errors int `json:"errors"`
}

// Sweep walks the tasks created before StaleAfter ago that no run has passed, watches those still
// in flight and mends those of them already idle; then it looks at up to Limit watched tasks that
// went idle and mends them. It returns an error only when it could not walk or read the idle tasks
// at all; a task it could not deal with counts in Report.Errors and is tried again by the next run.
func (s *Sweeper) Sweep(ctx context.Context) (Report, error) {
	var r Report
	now := s.c.Now().UTC()
	cutoff := now.Add(-s.c.StaleAfter)
	seen := map[string]bool{}
	passed, walkErr := s.c.Store.Pass(ctx, cutoff, s.c.PassLimit, func(tasks []*task.Task) error {
		return s.watch(ctx, tasks, now, cutoff, seen, &r)
	})
	r.Passed = passed
	if walkErr != nil {
		walkErr = fmt.Errorf("sweep: walk tasks by creation: %w", walkErr)
		s.c.Logger.Error("sweep: walk tasks by creation", "passed", passed, "err", walkErr)
	}
	tasks, err := s.c.Store.Idle(ctx, cutoff, s.c.Limit)
	if err != nil {
		return r, errors.Join(walkErr, fmt.Errorf("sweep: %w", err))
	}
	for _, t := range tasks {
		if ctx.Err() != nil {
			break
		}
		if !seen[t.ID] {
			s.examine(ctx, t, now, cutoff, &r)
		}
	}
	if r.Requeued+r.Failed+r.Errors > 0 {
		s.c.Logger.Info("sweep", "passed", r.Passed, "watched", r.Watched, "examined", r.Examined,
			"requeued", r.Requeued, "failed", r.Failed, "skipped", r.Skipped, "errors", r.Errors)
	}
	return r, errors.Join(walkErr, ctx.Err())
}

// watch deals with the tasks in flight that the walk passes: each is watched from now on, and
// mended at once when it is idle already. An error watching one leaves the page to the next run
// (a task the walk passed unwatched would not be found again).
func (s *Sweeper) watch(ctx context.Context, tasks []*task.Task, now, cutoff time.Time, seen map[string]bool, r *Report) error {
	for _, t := range tasks {
		cur, err := s.c.Store.Watch(ctx, t.ID)
		switch {
		case isConflict(err):
			continue // paused or ended meanwhile: a resume watches it again
		case err != nil:
			return err
		}
		r.Watched++
		if cur.UpdatedAt.Before(cutoff) && !seen[cur.ID] {
			seen[cur.ID] = true
			s.examine(ctx, cur, now, cutoff, r)
		}
	}
	return nil
}

// examine mends one idle task and counts what became of it.
func (s *Sweeper) examine(ctx context.Context, t *task.Task, now, cutoff time.Time, r *Report) {
	r.Examined++
	switch err := s.mend(ctx, t, now, cutoff, r); {
	case err == nil:
	case isConflict(err):
		// A worker (or another sweeper) wrote the task meanwhile: its message is alive.
		r.Skipped++
	default:
		r.Errors++
		s.c.Logger.Error("sweep task", "task_id", t.ID, "agent_id", t.AgentID, "tenant", t.Tenant, "err", err)
	}
}

// mend deals with one idle task.
func (s *Sweeper) mend(ctx context.Context, t *task.Task, now, cutoff time.Time, r *Report) error {
	log := s.c.Logger.With("task_id", t.ID, "agent_id", t.AgentID, "tenant", t.Tenant, "state", t.State)
	switch {
	case t.State != task.Queued && t.State != task.Running, t.UpdatedAt.After(cutoff):
		// The index lags the table: the task has moved on.
		r.Skipped++
		return nil
	case t.State == task.Running && t.LeaseUntil.After(cutoff):
		// A lease that ran out only lately: its message may be on its way back.
		r.Skipped++
		return nil
	}
	if t.State == task.Queued && t.PrevTaskID != "" {
		waiting, err := s.waitsForTurn(ctx, t)
		if err != nil {
			return err
		}
		if waiting {
			// Its message is sent back while the predecessor runs, and the task is not written
			// meanwhile. Touch it so it leaves the sweep window (others get their turn) and comes
			// back in StaleAfter, by when the predecessor may have ended.
			r.Skipped++
			_, err := s.c.Store.Touch(ctx, t.ID, t.State, t.Version, now)
			return err
		}
	}
	if t.NeedsSecrets {
		return s.fail(ctx, log, t, now, LostMessage, r)
	}
	a, err := s.c.Registry.Lookup(ctx, t.AgentID, t.AgentVersion)
	if errors.Is(err, agent.ErrNotFound) || errors.Is(err, agent.ErrVersionNotFound) {
		return s.fail(ctx, log, t, now, LostMessage+" (agent version "+t.AgentVersion+" is no longer published)", r)
	}
	if err != nil {
		return fmt.Errorf("look up agent %s version %s: %w", t.AgentID, t.AgentVersion, err)
	}
	// Touch first, conditionally: of two sweepers only one sends, and the task leaves the sweep
	// window. Should the send then fail, the task comes back after StaleAfter.
	if _, err := s.c.Store.Touch(ctx, t.ID, t.State, t.Version, now); err != nil {
		return err
	}
	request, text := task.InlineRequest(t)
	m := &queue.Message{
		Kind: queue.KindInvoke, TaskID: t.ID, Tenant: t.Tenant, Agent: a, ThreadID: t.ThreadID,
		ThreadTurn: t.PrevTaskID != "", Text: text, Request: request, RequestRef: t.RequestRef,
		// The acceptance time, not now: the worker measures a task's deadline from it.
		AcceptedAt: t.CreatedAt,
	}
	if err := s.c.Queue.Send(ctx, m, 0); err != nil {
		return err
	}
	r.Requeued++
	s.c.Metrics.Count(telemetry.Requeued, 1)
	log.Warn("work message lost: sent again", "updated_at", t.UpdatedAt, "attempts", t.Attempts)
	return nil
}

// waitsForTurn tells whether the task's predecessor in its thread is still in progress.
func (s *Sweeper) waitsForTurn(ctx context.Context, t *task.Task) (bool, error) {
	prev, err := s.c.Store.Get(ctx, t.PrevTaskID)
	switch {
	case errors.Is(err, task.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read predecessor %s: %w", t.PrevTaskID, err)
	}
	// A paused predecessor does not hold its thread up (the next turn answers it).
	return !prev.State.Terminal() && prev.State != task.Paused, nil
}

func (s *Sweeper) fail(ctx context.Context, log *slog.Logger, t *task.Task, now time.Time, msg string, r *Report) error {
	_, err := s.c.Store.Transition(ctx, t.ID, task.Change{
		From: []task.State{t.State}, Version: t.Version, To: task.Failed, Now: now,
		Reason: task.ReasonLost, ReasonMessage: msg,
	})
	if err != nil {
		return err
	}
	r.Failed++
	s.c.Metrics.Count(telemetry.Lost, 1)
	log.Warn("work message lost: task failed", "updated_at", t.UpdatedAt, "needs_secrets", t.NeedsSecrets)
	return nil
}

func isConflict(err error) bool {
	var c *task.ConflictError
	return errors.As(err, &c) || errors.Is(err, task.ErrNotFound)
}
