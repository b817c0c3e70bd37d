// Package accept is the accept core: it turns a validated invocation into a recorded, queued
// task. The HTTP API and the event triggers both submit through it, so validation, policy and the
// write-and-send protocol are the same whichever way work arrives.
package accept

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/deadline"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/telemetry"
)

// Store records tasks.
type Store interface {
	Submit(ctx context.Context, t *task.Task, o task.SubmitOptions) error
	Get(ctx context.Context, id string) (*task.Task, error)
	// ReadThread reads in one round trip the thread a new turn joins (a new one when it has no
	// turn yet) and its first turn, when the task at the thread's id is one (else nil).
	ReadThread(ctx context.Context, tenant, id string) (*task.Thread, *task.Task, error)
	// Abandon records a task whose submission failed halfway as failed, whether or not its own
	// write landed, unless a worker has claimed it (a *task.ConflictError then says how it
	// stands).
	Abandon(ctx context.Context, t *task.Task, now time.Time, reason, message string) (*task.Task, error)
}

// RequestStager keeps a request too large for the task record and its work message in the blob
// store, and sets the task's RequestRef (the store does, see store.StageRequest).
type RequestStager interface {
	StageRequest(ctx context.Context, t *task.Task) error
}

// Queue enqueues work.
type Queue interface {
	Send(ctx context.Context, m *queue.Message, delay time.Duration) error
}

// Registry resolves agent ids to published agents.
type Registry interface {
	Lookup(ctx context.Context, id, version string) (agent.Agent, error)
}

// AuthContexts tells whether a tenant has a stored auth context (authctx.Store does).
type AuthContexts interface {
	// Exists returns nil if it does, an error wrapping authctx.ErrNotFound if it does not, and any
	// other error if it could not tell.
	Exists(ctx context.Context, tenant, id string) error
}

// InFlight counts each tenant's tasks in flight and refuses one over its cap (tenantlimit.Limiter
// does). Admit refuses a task of a tenant at its cap, or counts it (counted) when it had to look;
// a task admitted uncounted is counted with Count, concurrently with its write and send. A task
// counted is released when it ends (the store's OnEnd), or here when it will never run.
type InFlight interface {
	Admit(ctx context.Context, tenant string) (counted bool, err error)
	Count(ctx context.Context, tenant string) error
	Release(ctx context.Context, tenant string) error
	// Counts says whether the tenant's tasks are counted at all (it has a cap).
	Counts(ctx context.Context, tenant string) bool
}

// Webhooks checks a caller's webhook URL before the task is taken: that it may be delivered to
// at all (not a forbidden address) and that the tenant has a secret to sign deliveries with.
type Webhooks interface {
	CheckWebhook(ctx context.Context, tenant, url string) error
}

// DispatchError means the submission failed halfway and its task is recorded failed: no worker
// will run it (a claim needs a queued task), so the caller may submit again. When the failure
// cannot be recorded, Submit answers the task instead (it will end: see Submit).
type DispatchError struct {
	// Task is the task as recorded, failed.
	Task *task.Task
	// Err is what failed: it wraps ErrStoreUnavailable when the task's write failed, else
	// ErrQueueUnavailable (its message's send failed).
	Err error
}

func (e *DispatchError) Error() string { return "dispatch: " + e.Err.Error() }
func (e *DispatchError) Unwrap() error { return e.Err }

// Errors of Submit besides the agent's and the store's.
var (
	// ErrStoreUnavailable means the task could not be recorded; the caller should retry later.
	ErrStoreUnavailable = errors.New("task store unavailable")
	// ErrQueueUnavailable means the task's work message could not be sent (a DispatchError's
	// cause when the send, not the write, failed); the caller should retry later.
	ErrQueueUnavailable = errors.New("work queue unavailable")
	// ErrIdempotencyMismatch means the idempotency key was used before for a different request.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
	// ErrIdempotentTaskGone means the idempotency key was used before, for this very request, and
	// the task it created has since been deleted (DELETE /v1/tasks/{id}). Running the request again
	// under the same key would run it twice, which the key exists to prevent; a new key runs it.
	ErrIdempotentTaskGone = errors.New("the task this idempotency key created was deleted")
	// ErrThreadBusy means the thread has a turn in progress and the caller asked to reject, or
	// too many turns raced to join the thread at once.
	ErrThreadBusy = errors.New("thread has a turn in progress")
	// ErrRequestTooLarge means the request is too large to keep: over task.InlineLimit with no
	// blob store to stage it in, or a work message over SQS's limit even without the body (its
	// secret fields, which are never stored, travel only in the message). Nothing was written.
	ErrRequestTooLarge = errors.New("request too large to keep")
	// ErrWebhooksUnavailable means the request names a webhook_url where webhooks are not
	// configured.
	ErrWebhooksUnavailable = errors.New("webhooks are not configured")
)

// IdempotencyTTL is how long an idempotency key is remembered.
const IdempotencyTTL = 24 * time.Hour

// threadRetries bounds how often a submission re-reads a thread that other turns keep moving.
const threadRetries = 5

// Service accepts invocations.
type Service struct {
	store    Store
	requests RequestStager
	queue    Queue
	agents   Registry
	contexts AuthContexts
	webhooks Webhooks
	inFlight InFlight
	budget   deadline.Budget
	ttl      time.Duration
	log      *slog.Logger
	metrics  *telemetry.Metrics
	now      func() time.Time
	newID    func() string
}

// Config holds what a Service needs.
type Config struct {
	Store Store
	// Requests stages requests over task.InlineLimit; nil refuses them with ErrRequestTooLarge.
	Requests RequestStager
	Queue    Queue
	Registry Registry
	// AuthContexts checks the auth context an invocation names (ServiceNet auth_context_id); nil
	// where auth contexts are not configured, and then every named context is unknown.
	AuthContexts AuthContexts
	// Webhooks checks the webhook_url a request names; nil refuses every webhook_url with
	// ErrWebhooksUnavailable.
	Webhooks Webhooks
	// InFlight caps each tenant's tasks in flight; nil caps nothing.
	InFlight InFlight
	// Budget bounds the submission: the write and the send get the caller's deadline less the
	// budget's Reserve, which is kept for recording a failure. Zero is deadline.Default().
	Budget deadline.Budget
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
	s := &Service{store: c.Store, requests: c.Requests, queue: c.Queue, agents: c.Registry, contexts: c.AuthContexts, webhooks: c.Webhooks, inFlight: c.InFlight, budget: c.Budget.OrDefault(), ttl: c.TTL, log: c.Logger,
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
	// Version selects the agent version: "" or "latest" for the current one, "draft", or a number.
	Version string
	// IdempotencyKey, when set, makes a replay of the same request return the first task.
	IdempotencyKey string
	// Source says what submitted it: "api", "eventbridge", ...
	Source string
	// EventDriven says the submitter has no caller waiting on an answer (an event trigger): the
	// outcome goes out as an event unless the body says completion_event: false.
	EventDriven bool
	Invocation  *dialect.Invocation
}

// CompletionEvents decides whether a task's outcome goes to the event bus
// (task.Task.CompletionEvents): always for a task opted in to progress events (it asked to hear of
// the task on the bus), else as the body says (completion_event), else for event-driven
// submissions only. An HTTP caller has the answer from the API; an event producer has only the
// bus.
func CompletionEvents(inv *dialect.Invocation, eventDriven bool) bool {
	switch {
	case inv.ProgressEvents:
		return true
	case inv.CompletionEvent != nil:
		return *inv.CompletionEvent
	}
	return eventDriven
}

// Submit resolves the agent's current published version (the only one a tenant may name), checks
// policy, then records the task and enqueues its message concurrently: one round trip of latency.
// An idempotency key is recorded in the same write, which fails for a key already used: the replay
// is answered from that failure, and the message this request sent names a task never written,
// which the worker drops. A request continuing a caller-given thread first reads the thread (one
// consistent read), and one naming an auth context
// reads that. It returns agent.ErrNotFound, agent.ErrVersionNotFound or authctx.ErrNotFound
// (wrapped), a *agent.PolicyError, a *DispatchError,
// ErrIdempotencyMismatch, ErrThreadBusy, ErrRequestTooLarge or ErrStoreUnavailable (wrapped) on
// failure. A replay returns the first request's task.
//
// A request too large for the task record is staged in the blob store first (one more round trip,
// for large requests only), and the work message carries its reference instead of the body.
func (s *Service) Submit(ctx context.Context, sub Submission) (*task.Task, error) {
	a, err := s.agents.Lookup(ctx, sub.AgentID, agent.Latest)
	switch {
	case errors.Is(err, agent.ErrNotFound), errors.Is(err, agent.ErrVersionNotFound):
		return nil, fmt.Errorf("submit to agent %s: %w", sub.AgentID, err)
	case err != nil:
		// The registry lives in the task table: it did not answer within the budget.
		return nil, fmt.Errorf("submit to agent %s: %w: %v", sub.AgentID, ErrStoreUnavailable, err)
	}
	// Tenants run the current published version only: a draft or an older version would be
	// checked against its own policy (tenants, approval, cost, regions), not the one in force.
	if sub.Version != "" && sub.Version != agent.Latest && sub.Version != a.Version {
		return nil, fmt.Errorf("submit to agent %s version %q: only the current version %s may be invoked: %w", sub.AgentID, sub.Version, a.Version, agent.ErrVersionNotFound)
	}
	inv := sub.Invocation
	ask := inv.Ask
	ask.Tenant = sub.Tenant
	if err := a.Check(ask); err != nil {
		return nil, fmt.Errorf("submit to agent %s: %w", sub.AgentID, err)
	}
	now := s.now().UTC()
	var idem *task.Idempotency
	if sub.IdempotencyKey != "" {
		idem = &task.Idempotency{Key: sub.IdempotencyKey, BodyHash: bodyHash(sub, a.Version), TTL: IdempotencyTTL}
	}
	if err := s.checkNamed(ctx, sub.Tenant, inv); err != nil {
		return nil, fmt.Errorf("submit to agent %s: %w", sub.AgentID, err)
	}
	// An agent that is sent no caller credentials never needs them: they do not travel at all.
	secrets, authToken := inv.Secrets, inv.AuthToken
	if !a.Auth.Forwards() {
		secrets, authToken = nil, ""
	}
	t := s.newTask(sub, a, now, secrets, authToken)
	opts := task.SubmitOptions{Idempotency: idem}
	switch {
	case t.ThreadID == "" && t.Dialect == task.Xpander:
		// Every xpander task names a conversation; a first turn's id is its thread's id.
		t.ThreadID, t.ThreadSeq = t.ID, 1
	case t.ThreadID != "":
		if err := s.placeInThread(ctx, t, &opts, inv.Strategy); err != nil {
			return nil, err
		}
	}
	if err := s.stage(ctx, t); err != nil {
		return nil, fmt.Errorf("submit to agent %s: %w", sub.AgentID, err)
	}
	request, text := task.InlineRequest(t)
	msg := &queue.Message{
		Kind: queue.KindInvoke, TaskID: t.ID, Tenant: t.Tenant, Agent: a, ThreadID: t.ThreadID, ThreadTurn: inv.ThreadID != "",
		Text: text, Request: request, RequestRef: t.RequestRef, Secrets: secrets, AuthToken: authToken,
		AuthContextID: inv.AuthContextID, AcceptedAt: now, Dialect: string(t.Dialect), ExpiresAt: t.ExpiresAt,
	}
	// Checked before anything is recorded: SQS would refuse the message only after the write.
	if body, err := queue.Encode(msg); err == nil && len(body) > queue.MaxMessageBytes {
		return nil, fmt.Errorf("submit to agent %s: work message of %d bytes: %w", sub.AgentID, len(body), ErrRequestTooLarge)
	}

	// Admitted last, once nothing else can refuse the task: a refusal after this must give it back.
	counted := true
	if s.inFlight != nil {
		var err error
		if counted, err = s.inFlight.Admit(ctx, t.Tenant); err != nil {
			return nil, fmt.Errorf("submit to agent %s: %w", sub.AgentID, err)
		}
		// Marked before the write, since the count lands beside it: the task's end uncounts it.
		t.InFlightCounted = counted || s.inFlight.Counts(ctx, t.Tenant)
	}
	return s.recordAndSend(ctx, sub, t, msg, opts, idem, counted)
}

// newTask is the task a submission records, queued at now; secrets and authToken are what the
// message will carry (NeedsSecrets says the sweeper cannot rebuild it).
func (s *Service) newTask(sub Submission, a agent.Agent, now time.Time, secrets map[string]json.RawMessage, authToken string) *task.Task {
	inv := sub.Invocation
	t := &task.Task{
		ID: s.newID(), Tenant: sub.Tenant, AgentID: a.ID, AgentVersion: a.Version,
		Dialect: inv.Dialect, Source: sub.Source, ThreadID: inv.ThreadID, State: task.Queued, Version: 1,
		Request: inv.Body, Text: inv.Text, WebhookURL: inv.WebhookURL, ProgressEvents: inv.ProgressEvents,
		CompletionEvents: CompletionEvents(inv, sub.EventDriven), CostUnits: a.CostUnits,
		Expected: time.Duration(a.ExpectedDuration), CreatedAt: now, UpdatedAt: now,
		ParentTaskID: inv.ParentTaskID, TriggeringAgentID: inv.TriggeringAgentID, UserID: inv.UserID,
		// What only the message carries: the sweeper cannot rebuild such a message if it is lost.
		NeedsSecrets: authToken != "" || len(secrets) > 0 || inv.AuthContextID != "",
		Sync:         inv.Sync, CallerAgentID: inv.CallerAgentID, CallerPublicID: inv.CallerPublicID,
	}
	if s.ttl > 0 {
		t.ExpiresAt = now.Add(s.ttl)
	}
	return t
}

// checkNamed makes sure what the invocation names exists before anything is written or sent: an
// unknown auth context is the caller's 404, not a task that fails later in the worker, and a
// webhook URL must be one the tenant may be called back on.
func (s *Service) checkNamed(ctx context.Context, tenant string, inv *dialect.Invocation) error {
	if inv.AuthContextID != "" {
		if err := s.checkAuthContext(ctx, tenant, inv.AuthContextID); err != nil {
			return err
		}
	}
	if inv.WebhookURL != "" {
		return s.checkWebhook(ctx, tenant, inv.WebhookURL)
	}
	return nil
}

// recordAndSend writes task t, sends its work message and, unless it is counted already, counts
// it in its tenant's tasks in flight, all concurrently, and sorts out a failure of the write or
// the send: a replay's task, a busy thread, or a submission that failed halfway (see halfway).
func (s *Service) recordAndSend(ctx context.Context, sub Submission, t *task.Task, msg *queue.Message, opts task.SubmitOptions, idem *task.Idempotency, counted bool) (*task.Task, error) {
	inv := sub.Invocation
	// Once the write starts it must finish whatever the caller does (a write cut short by a client
	// hanging up could leave a record with no message), and it leaves the budget's reserve for
	// recording a failure truthfully.
	wctx, cancel := s.budget.Split(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var createErr, sendErr, countErr error
	wg.Add(2)
	go func() { defer wg.Done(); createErr = ownWrite(s.record(wctx, t, opts, inv.Strategy)) }()
	go func() { defer wg.Done(); sendErr = s.queue.Send(wctx, msg, 0) }()
	if !counted {
		wg.Add(1)
		go func() { defer wg.Done(); countErr = s.inFlight.Count(wctx, t.Tenant) }()
	}
	wg.Wait()

	log := s.log.With("task_id", t.ID, "agent_id", t.AgentID, "tenant", t.Tenant)
	if countErr != nil {
		// The task is recorded and sent (or sorted out below) all the same: uncounted, its end
		// leaves its tenant's count one low (never below zero), a cap one looser.
		log.Error("count a task in flight", "err", countErr)
	}
	counted = s.inFlight != nil && countErr == nil
	if createErr != nil && counted {
		// Not recorded: it will never end, so it is uncounted now.
		s.release(ctx, log, t.Tenant)
		counted = false
	}
	var replay *task.ReplayError
	switch {
	case errors.As(createErr, &replay):
		// The key was used before (a retry, or a concurrent request that won); its task is the
		// answer. The message this request sent names a task that does not exist, and the worker
		// drops it: one stray message per replay buys accepts with a key their one round trip.
		return s.replayed(wctx, replay, idem)
	case errors.Is(createErr, ErrThreadBusy):
		return nil, fmt.Errorf("submit to agent %s: %w", sub.AgentID, createErr)
	case createErr != nil || sendErr != nil:
		got, err := s.halfway(ctx, log, t, createErr, sendErr)
		if _, abandoned := errors.AsType[*DispatchError](err); abandoned && counted {
			// Recorded, then abandoned: failed without a transition the store's OnEnd hears.
			s.release(ctx, log, t.Tenant)
		}
		return got, err
	}
	log.Info("task accepted", "dialect", t.Dialect, "source", t.Source, "thread_seq", t.ThreadSeq)
	s.metrics.Count(telemetry.Accepted, 1)
	return t, nil
}

// release uncounts a task that will never run from its tenant's tasks in flight, within the
// budget's reserve (the write's own time may be spent).
func (s *Service) release(ctx context.Context, log *slog.Logger, tenant string) {
	rctx, cancel := s.budget.Reserved(ctx)
	defer cancel()
	if err := s.inFlight.Release(rctx, tenant); err != nil {
		log.Error("uncount a task that will not run", "err", err)
	}
}

// ownWrite reads a task id found taken as the write's own: ids are random UUIDs, so only an SDK
// retry of a write that landed (its answer lost to a timeout) can find one taken.
func ownWrite(err error) error {
	if errors.Is(err, task.ErrExists) {
		return nil
	}
	return err
}

// halfway answers a submission whose write or send failed. A failed call may still have taken
// effect (a timeout says nothing of what the other side did), so the task is abandoned, with the
// reserve, by a write that holds whether or not its record landed (store.Abandon): then no worker
// runs it, and the caller is told so with its id. If a worker got to it first it runs, and the
// caller gets it as accepted. If even the abandon fails, a 5xx is only answered when nothing can
// run: the write was refused outright (throttled, connection refused), so there is no record, and
// a message that went out finds none and is dropped. Otherwise the task is answered as accepted,
// since it will end: its record (written, or perhaps landing late) is run by its message, or sent
// again or failed lost by the sweeper; a message whose record never lands has its task recorded
// failed by the worker (see worker.Config.OrphanAfter). A 5xx that sent the caller to submit
// again would run it twice.
func (s *Service) halfway(ctx context.Context, log *slog.Logger, t *task.Task, createErr, sendErr error) (*task.Task, error) {
	log.Error("submission failed halfway", "record_err", createErr, "send_err", sendErr)
	fctx, cancel := s.budget.Reserved(ctx)
	defer cancel()
	message := "the task could not be queued and will not run; submit it again"
	if createErr != nil {
		message = "the task could not be recorded and will not run; submit it again"
	}
	abandoned, err := s.store.Abandon(fctx, t, s.now().UTC(), task.ReasonDispatchFailed, message)
	var conflict *task.ConflictError
	switch {
	case err == nil:
		// The cause names the dependency that failed, which the caller is told: the write's when
		// it failed (the task has no record of its own), else the send's.
		cause := fmt.Errorf("%w: %v", ErrQueueUnavailable, sendErr)
		if createErr != nil {
			cause = fmt.Errorf("%w: %v", ErrStoreUnavailable, createErr)
		}
		return nil, &DispatchError{Task: abandoned, Err: cause}
	case errors.As(err, &conflict):
		log.Warn("a worker took the task before it could be abandoned; it runs", "state", conflict.Current.State)
		s.metrics.Count(telemetry.Accepted, 1)
		return conflict.Current, nil
	case createErr != nil && refused(createErr):
		log.Error("could not abandon the unrecorded task", "err", err)
		return nil, fmt.Errorf("submit to agent %s: %w: %v", t.AgentID, ErrStoreUnavailable, createErr)
	}
	log.Warn("could not abandon the task; it stays accepted and will end", "err", err)
	s.metrics.Count(telemetry.Accepted, 1)
	return t, nil
}

// refused reports whether a failed write certainly wrote nothing: the connection was never made,
// or the service answered with a refusal (4xx: throttled, invalid). A timeout, a reset or a 5xx
// may come after the write took effect.
func refused(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500
}

// checkAuthContext makes sure the tenant has the auth context id.
func (s *Service) checkAuthContext(ctx context.Context, tenant, id string) error {
	if s.contexts == nil {
		return fmt.Errorf("auth context %s: auth contexts are not configured: %w", id, authctx.ErrNotFound)
	}
	err := s.contexts.Exists(ctx, tenant, id)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, authctx.ErrNotFound):
		return err
	}
	return fmt.Errorf("check auth context %s: %w: %v", id, ErrStoreUnavailable, err)
}

// checkWebhook asks whether the tenant's deliveries to url can be made and signed.
func (s *Service) checkWebhook(ctx context.Context, tenant, url string) error {
	if s.webhooks == nil {
		return ErrWebhooksUnavailable
	}
	if err := s.webhooks.CheckWebhook(ctx, tenant, url); err != nil {
		return fmt.Errorf("check webhook_url: %w", err)
	}
	return nil
}

// stage keeps a request too large for the task record and its message in the blob store.
func (s *Service) stage(ctx context.Context, t *task.Task) error {
	if s.requests == nil {
		if !task.RequestFits(t) {
			return ErrRequestTooLarge
		}
		return nil
	}
	err := s.requests.StageRequest(ctx, t)
	switch {
	case errors.Is(err, task.ErrTooLarge):
		return fmt.Errorf("%w: %v", ErrRequestTooLarge, err)
	case err != nil:
		return fmt.Errorf("%w: %v", ErrStoreUnavailable, err)
	}
	return nil
}

// placeInThread reads the caller's thread and makes t its next turn (or its first). A thread
// with no record yet may still have a first turn: the task whose id the thread carries. The
// thread and that task are read together (one round trip), and that turn is not read again to
// check it.
func (s *Service) placeInThread(ctx context.Context, t *task.Task, opts *task.SubmitOptions, strategy dialect.Strategy) error {
	th, latest, err := s.store.ReadThread(ctx, t.Tenant, t.ThreadID)
	if err != nil {
		return fmt.Errorf("submit to thread %s: %w: %v", t.ThreadID, ErrStoreUnavailable, err)
	}
	if th.LatestTaskID != "" {
		if err := s.checkWaiting(ctx, t, th.LatestTaskID, latest, strategy); err != nil {
			return err
		}
	}
	opts.Thread, t.ThreadSeq, t.PrevTaskID = th, th.Turns+1, th.LatestTaskID
	return nil
}

// MaxWaitingTurns bounds the turns of one thread that have not ended (queued, running or paused):
// each waits for the one before it, re-sending its message every few seconds, so a thread of
// many waiting turns is load out of proportion to a request.
const MaxWaitingTurns = 5

// checkWaiting walks back from the thread's latest turn while turns have not ended, refusing the
// new turn with ErrThreadBusy when MaxWaitingTurns are waiting already, or, with strategy Reject,
// when the latest turn is in progress. A conversation whose last turn ended costs one read, or
// none when the thread's read brought that turn (read, when not nil, is a turn read already).
func (s *Service) checkWaiting(ctx context.Context, t *task.Task, latest string, read *task.Task, strategy dialect.Strategy) error {
	id := latest
	for waiting := 0; id != ""; waiting++ {
		prev, err := read, error(nil)
		if prev == nil || prev.ID != id {
			prev, err = s.store.Get(ctx, id)
		}
		switch {
		case errors.Is(err, task.ErrNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("submit to thread %s: %w: %v", t.ThreadID, ErrStoreUnavailable, err)
		case prev.Tenant != t.Tenant || prev.State.Terminal():
			return nil
		}
		// A paused turn waits for input: the new turn is that input, not an overlapping turn.
		if waiting == 0 && strategy == dialect.Reject && prev.State != task.Paused {
			return fmt.Errorf("submit to thread %s: turn %s is %s: %w", t.ThreadID, prev.ID, prev.State, ErrThreadBusy)
		}
		if waiting+1 >= MaxWaitingTurns {
			return fmt.Errorf("submit to thread %s: %d turns are waiting already: %w", t.ThreadID, waiting+1, ErrThreadBusy)
		}
		id = prev.PrevTaskID
	}
	return nil
}

// record writes the task, re-reading its thread while other turns race it onto the same thread.
// The message carries only the task id, so a task that lands in a later place than first
// read still meets its message.
func (s *Service) record(ctx context.Context, t *task.Task, opts task.SubmitOptions, strategy dialect.Strategy) error {
	for range threadRetries {
		err := s.store.Submit(ctx, t, opts)
		if !errors.Is(err, task.ErrThreadMoved) {
			return err
		}
		if err := s.placeInThread(ctx, t, &opts, strategy); err != nil {
			return err
		}
	}
	return fmt.Errorf("submit to thread %s: %d turns raced for it: %w", t.ThreadID, threadRetries, ErrThreadBusy)
}

func (s *Service) replayed(ctx context.Context, r *task.ReplayError, idem *task.Idempotency) (*task.Task, error) {
	if r.BodyHash != idem.BodyHash {
		return nil, ErrIdempotencyMismatch
	}
	t, err := s.store.Get(ctx, r.TaskID)
	switch {
	case errors.Is(err, task.ErrNotFound):
		return nil, fmt.Errorf("replay task %s: %w", r.TaskID, ErrIdempotentTaskGone)
	case err != nil:
		return nil, fmt.Errorf("read replayed task %s: %w: %v", r.TaskID, ErrStoreUnavailable, err)
	}
	return t, nil
}

// bodyHash identifies a request for idempotency: the same key with another agent, version or
// body is a different request.
func bodyHash(sub Submission, version string) string {
	h := sha256.New()
	for _, part := range [][]byte{[]byte(sub.AgentID), []byte(version), []byte(sub.Invocation.Dialect), sub.Invocation.Body} {
		h.Write(part)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Resume sends a task that paused for input, and that a person has just approved (moved from
// paused back to queued), to the worker, which sends answer to the agent's paused task
// (RemoteTaskID) to let it go on. The agent is the version the task ran; the caller's secrets are
// not kept, so an agent that needs them to go on refuses, and the task fails.
func (s *Service) Resume(ctx context.Context, t *task.Task, answer string) error {
	a, err := s.agents.Lookup(ctx, t.AgentID, t.AgentVersion)
	if err != nil {
		return fmt.Errorf("resume task %s: %w", t.ID, err)
	}
	request, text := task.InlineRequest(t)
	return s.queue.Send(ctx, &queue.Message{
		Kind: queue.KindInvoke, TaskID: t.ID, Tenant: t.Tenant, Agent: a, ThreadID: t.ThreadID,
		Text: text, Request: request, RequestRef: t.RequestRef, Answer: answer,
		// Now, not the task's creation: a person may take days to approve, and the time the
		// agent is given to finish runs from when it may go on.
		AcceptedAt: s.now().UTC(),
	}, 0)
}

// CancelRemote asks the worker to cancel a stopped task's work at its agent (A2A tasks/cancel).
// The agent is the version the task ran; the caller's auth_token is not kept, so an agent that
// needs it for the cancel refuses it and the task stays stopped on agentq's side all the same.
func (s *Service) CancelRemote(ctx context.Context, t *task.Task) error {
	a, err := s.agents.Lookup(ctx, t.AgentID, t.AgentVersion)
	if err != nil {
		return fmt.Errorf("cancel task %s at its agent: %w", t.ID, err)
	}
	if a.Protocol != agent.A2A || t.RemoteTaskID == "" {
		return nil
	}
	return s.queue.Send(ctx, &queue.Message{
		Kind: queue.KindCancel, TaskID: t.ID, Tenant: t.Tenant, Agent: a, RemoteTaskID: t.RemoteTaskID, AcceptedAt: s.now().UTC(),
	}, 0)
}
