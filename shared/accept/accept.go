// Package accept is the accept core: it turns a validated invocation into a recorded, queued
// task. The HTTP API and the event triggers both submit through it, so validation, policy and the
// write-and-send protocol are the same whichever way work arrives.
package accept

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/telemetry"
)

// Store records tasks.
type Store interface {
	Create(ctx context.Context, t *task.Task) error
	Transition(ctx context.Context, id string, c store.Change) (*task.Task, error)
}

// Queue enqueues work.
type Queue interface {
	Send(ctx context.Context, m *queue.Message, delay time.Duration) error
}

// Registry resolves agent ids to published agents.
type Registry interface {
	Lookup(ctx context.Context, id string) (agent.Agent, error)
}

// DispatchError means the work message could not be sent. The task was recorded as failed (when
// it could be recorded at all), so nothing waits for a message that never left.
type DispatchError struct {
	// Task is the task as recorded, failed; nil if the record could not be written either.
	Task *task.Task
	Err  error
}

func (e *DispatchError) Error() string { return "dispatch: " + e.Err.Error() }
func (e *DispatchError) Unwrap() error { return e.Err }

// ErrStoreUnavailable means the task could not be recorded; the caller should retry later.
var ErrStoreUnavailable = errors.New("task store unavailable")

// writeTimeout bounds the record-and-enqueue step, well inside API Gateway's 30 s.
const writeTimeout = 10 * time.Second

// Service accepts invocations.
type Service struct {
	store   Store
	queue   Queue
	agents  Registry
	ttl     time.Duration
	log     *slog.Logger
	metrics *telemetry.Metrics
	now     func() time.Time
	newID   func() string
}

// Config holds what a Service needs.
type Config struct {
	Store    Store
	Queue    Queue
	Registry Registry
	// TTL is how long task records are kept.
	TTL     time.Duration
	Logger  *slog.Logger
	Metrics *telemetry.Metrics
	// Now and NewID default to the clock and random UUIDs; tests replace them.
	Now   func() time.Time
	NewID func() string
}

// New returns a Service.
func New(c Config) *Service {
	s := &Service{store: c.Store, queue: c.Queue, agents: c.Registry, ttl: c.TTL, log: c.Logger,
		metrics: c.Metrics, now: c.Now, newID: c.NewID}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = uuid.NewString
	}
	return s
}

// Submission is an invocation addressed to an agent on behalf of a tenant.
type Submission struct {
	Tenant  string
	AgentID string
	// Source says what submitted it: "api", "eventbridge", ...
	Source     string
	Invocation *dialect.Invocation
}

// Submit resolves the agent, checks policy, then records the task and enqueues its message
// concurrently: one round trip of latency. It returns agent.ErrNotFound (wrapped), a
// *agent.PolicyError, a *DispatchError, or ErrStoreUnavailable (wrapped) on failure.
func (s *Service) Submit(ctx context.Context, sub Submission) (*task.Task, error) {
	a, err := s.agents.Lookup(ctx, sub.AgentID)
	if err != nil {
		return nil, fmt.Errorf("submit to agent %s: %w", sub.AgentID, err)
	}
	inv := sub.Invocation
	if err := a.Check(inv.Ask); err != nil {
		return nil, fmt.Errorf("submit to agent %s: %w", sub.AgentID, err)
	}
	now := s.now().UTC()
	t := &task.Task{
		ID: s.newID(), Tenant: sub.Tenant, AgentID: a.ID, AgentVersion: a.Version,
		Dialect: inv.Dialect, Source: sub.Source, ThreadID: inv.ThreadID, State: task.Queued, Version: 1,
		Request: inv.Body, Text: inv.Text, CostUnits: a.CostUnits, CreatedAt: now, UpdatedAt: now,
	}
	if s.ttl > 0 {
		t.ExpiresAt = now.Add(s.ttl)
	}
	msg := &queue.Message{
		Kind: queue.KindInvoke, TaskID: t.ID, Tenant: t.Tenant, Agent: a, ThreadID: t.ThreadID,
		Text: t.Text, Request: inv.Body, Secrets: inv.Secrets, AuthToken: inv.AuthToken, AcceptedAt: now,
	}

	// Once the write starts it must finish whatever the caller does: a write cut short by a client
	// hanging up could leave a record with no message.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var createErr, sendErr error
	wg.Add(2)
	go func() { defer wg.Done(); createErr = s.store.Create(wctx, t) }()
	go func() { defer wg.Done(); sendErr = s.queue.Send(wctx, msg, 0) }()
	wg.Wait()

	log := s.log.With("task_id", t.ID, "agent_id", t.AgentID, "tenant", t.Tenant)
	switch {
	case createErr != nil:
		// A message that went out for a task never recorded is dropped by the worker once it is
		// old enough: the caller was told to retry, so it must not run.
		log.Error("record task", "err", createErr, "message_sent", sendErr == nil)
		return nil, fmt.Errorf("submit to agent %s: %w: %v", sub.AgentID, ErrStoreUnavailable, createErr)
	case sendErr != nil:
		log.Error("enqueue task", "err", sendErr)
		failed, err := s.store.Transition(wctx, t.ID, store.Change{
			From: []task.State{task.Queued}, Version: t.Version, To: task.Failed, Now: s.now().UTC(),
			Reason: task.ReasonDispatchFailed, ReasonMessage: "the task could not be queued; submit it again",
		})
		if err != nil {
			log.Error("mark undispatched task failed", "err", err)
		}
		return nil, &DispatchError{Task: failed, Err: sendErr}
	}
	log.Info("task accepted", "dialect", t.Dialect, "source", t.Source)
	s.metrics.Count(telemetry.Accepted, 1)
	return t, nil
}
