// Package worker runs tasks from SQS batches: it claims each task under a lease, calls its agent
// and records the outcome, processing the records of a batch concurrently and reporting the ones
// to redeliver as a partial batch response.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/outputschema"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/telemetry"
)

// Store claims tasks and records their outcomes.
type Store interface {
	Get(ctx context.Context, id string) (*task.Task, error)
	Claim(ctx context.Context, id string, now time.Time, lease time.Duration) (*task.Task, error)
	Transition(ctx context.Context, id string, c store.Change) (*task.Task, error)
	Turns(ctx context.Context, tenant, threadID string, limit int) ([]*task.Task, error)
}

// RequestLoader reads requests that were too large for their work message: the body, and the
// text when the message has none. The store does (see store.LoadRequest).
type RequestLoader interface {
	LoadRequest(ctx context.Context, ref string) (request json.RawMessage, text string, err error)
}

// Dispatcher calls agents, checks on the tasks they work on asynchronously, and cancels them.
type Dispatcher interface {
	Call(ctx context.Context, c dispatch.Call) (dispatch.Result, error)
	Check(ctx context.Context, a agent.Agent, remoteTaskID string) (dispatch.Result, error)
	Cancel(ctx context.Context, a agent.Agent, remoteTaskID string) error
}

// Queue delays the redelivery of a received work message, or sends a fresh copy.
type Queue interface {
	Postpone(ctx context.Context, receiptHandle string, d time.Duration) error
	Send(ctx context.Context, m *queue.Message, delay time.Duration) error
}

// AuthContexts resolves stored credentials at call time.
type AuthContexts interface {
	Resolve(ctx context.Context, tenant, id string) (authctx.Credential, error)
}

// Config holds what a Processor needs.
type Config struct {
	Store Store
	// Requests loads the requests that messages carry by reference (queue.Message.RequestRef).
	// Without it such a message is retried until it is dead-lettered.
	Requests   RequestLoader
	Dispatcher Dispatcher
	Queue      Queue
	// AuthContexts resolves the stored credentials tasks name; nil fails tasks that name one.
	AuthContexts AuthContexts
	// DeadLetterARN identifies records that come from the dead-letter queue.
	DeadLetterARN string
	Logger        *slog.Logger
	Metrics       *telemetry.Metrics
	// Backoff is how long to wait before redelivering a message received n times; the default
	// grows exponentially from 2 s to 5 min with full jitter.
	Backoff func(n int) time.Duration
	// CheckBackoff is how long to wait before the n-th check on an agent still working on a task
	// (n from 0); the default doubles from 2 s to 15 minutes, SQS's longest delay.
	CheckBackoff func(n int) time.Duration
	// OrphanAfter is how old a message whose task was never recorded must be before it is dropped.
	// Younger ones are retried: the task's write may simply not have landed yet.
	OrphanAfter time.Duration
	Now         func() time.Time
}

// Processor handles SQS batches of work messages.
type Processor struct {
	c Config
}

// New returns a Processor.
func New(c Config) *Processor {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Backoff == nil {
		c.Backoff = Backoff
	}
	if c.CheckBackoff == nil {
		c.CheckBackoff = CheckBackoff
	}
	if c.OrphanAfter == 0 {
		c.OrphanAfter = 2 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Processor{c: c}
}

// CheckBackoff is the default delay before the n-th check on a working agent: 2 s doubling, at
// most 15 minutes a hop.
func CheckBackoff(n int) time.Duration {
	return min(2*time.Second<<min(n, 10), maxCheckDelay)
}

// Backoff is the default redelivery delay: full jitter over 2^n seconds, at most 5 minutes.
func Backoff(n int) time.Duration {
	ceiling := min(time.Duration(1<<min(n, 9))*time.Second, 5*time.Minute)
	return time.Second + rand.N(ceiling)
}

// leaseMargin is how much longer than the agent call a lease lasts, so that recording the outcome
// fits inside it.
const leaseMargin = 15 * time.Second

// deadlineMargin is the time kept back from the invocation's deadline to record the outcome.
const deadlineMargin = 3 * time.Second

// notYetWritten are the waits before re-trying the claim of a task whose record is not there yet.
var notYetWritten = []time.Duration{25 * time.Millisecond, 75 * time.Millisecond, 200 * time.Millisecond}

// outcome is what happens to a record: done (deleted) or redelivered after delay.
type outcome struct {
	retry bool
	delay time.Duration
}

var done = outcome{}

func retryAfter(d time.Duration) outcome { return outcome{retry: true, delay: d} }

// Handle processes a batch: every record concurrently, since each waits on I/O. It returns the
// records that must be redelivered.
func (p *Processor) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	results := make([]outcome, len(ev.Records))
	var wg sync.WaitGroup
	for i := range ev.Records {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = p.record(ctx, &ev.Records[i])
		}()
	}
	wg.Wait()

	var resp events.SQSEventResponse
	for i, r := range results {
		if !r.retry {
			continue
		}
		rec := &ev.Records[i]
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		// Postponing also shortens the wait: without it a failed record waits out the whole
		// visibility timeout, however short its backoff.
		if rec.EventSourceARN != p.c.DeadLetterARN && p.c.Queue != nil {
			if err := p.c.Queue.Postpone(ctx, rec.ReceiptHandle, r.delay); err != nil {
				p.c.Logger.Warn("postpone redelivery", "message_id", rec.MessageId, "err", err)
			}
		}
	}
	return resp, nil
}

func (p *Processor) record(ctx context.Context, rec *events.SQSMessage) outcome {
	log := p.c.Logger.With("message_id", rec.MessageId)
	m, err := queue.Decode(rec.Body)
	if err != nil {
		if rec.EventSourceARN == p.c.DeadLetterARN && p.c.DeadLetterARN != "" {
			// Nothing can be done with it; it was logged on every receive before.
			log.Error("drop malformed dead letter", "err", err, "bytes", len(rec.Body))
			p.c.Metrics.Count(telemetry.DeadLettered, 1)
			return done
		}
		log.Error("malformed message; it will reach the dead-letter queue", "err", err, "bytes", len(rec.Body))
		return retryAfter(0)
	}
	log = log.With("task_id", m.TaskID, "agent_id", m.Agent.ID, "tenant", m.Tenant)
	if rec.EventSourceARN == p.c.DeadLetterARN && p.c.DeadLetterARN != "" {
		if m.Kind == queue.KindCancel {
			log.Error("gave up canceling the agent's task", "remote_task_id", m.RemoteTaskID)
			return done
		}
		return p.deadLetter(ctx, log, m, receiveCount(rec))
	}
	if m.Kind == queue.KindCancel {
		return p.cancelRemote(ctx, log, m, receiveCount(rec))
	}
	return p.run(ctx, log, m, receiveCount(rec))
}

func receiveCount(rec *events.SQSMessage) int {
	n, err := strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// run claims the task, calls its agent and records the outcome.
func (p *Processor) run(ctx context.Context, log *slog.Logger, m *queue.Message, received int) outcome {
	callTimeout := m.Agent.CallTimeout()
	if dl, ok := ctx.Deadline(); ok {
		callTimeout = min(callTimeout, time.Until(dl)-deadlineMargin)
	}
	if callTimeout <= 0 {
		return retryAfter(0)
	}
	// A thread's turns run in order: not before the previous turn has ended. The task's record
	// says which turn came before (the accept path may have re-placed it after sending), so a
	// turn of a caller-named thread reads its record before claiming.
	var prev *task.Task
	if m.ThreadTurn {
		rec, err := p.load(ctx, m)
		if err != nil {
			return p.notClaimed(log, m, p.c.Now(), err)
		}
		if rec.PrevTaskID != "" && rec.State == task.Queued {
			var o outcome
			var wait bool
			if prev, o, wait = p.waitForTurn(ctx, log, m, rec.PrevTaskID); wait {
				return o
			}
		}
	}
	// A request too large for the message was stored before the message was sent, so it is there
	// to read; reading it before the claim leaves nothing to give back when it fails.
	request, text, err := p.request(ctx, m)
	if err != nil {
		log.Error("load the request", "err", err, "request_ref", m.RequestRef)
		return retryAfter(p.c.Backoff(received))
	}
	cred, o, ok := p.credential(ctx, log, m, received)
	if !ok {
		return o
	}
	now := p.c.Now()
	t, err := p.c.Store.Claim(ctx, m.TaskID, now, callTimeout+leaseMargin)
	// The task's write and this message left the accept path together; a message can arrive
	// before the write lands. A few quick retries spare it a whole redelivery.
	for _, wait := range notYetWritten {
		if !errors.Is(err, store.ErrNotFound) || now.Sub(m.AcceptedAt) >= p.c.OrphanAfter {
			break
		}
		select {
		case <-ctx.Done():
			return retryAfter(time.Second)
		case <-time.After(wait):
		}
		now = p.c.Now()
		t, err = p.c.Store.Claim(ctx, m.TaskID, now, callTimeout+leaseMargin)
	}
	if err != nil {
		return p.notClaimed(log, m, now, err)
	}
	log = log.With("attempt", t.Attempts)
	history, err := p.history(ctx, t, prev)
	if err != nil {
		log.Warn("read thread history; calling without it", "err", err)
	}
	log.Info("task started")
	p.c.Metrics.Count(telemetry.Started, 1)
	if t.Attempts == 1 {
		p.c.Metrics.Duration(telemetry.QueueWait, now.Sub(m.AcceptedAt))
	}

	// A turn that answers a paused one continues the agent's task, and ends the paused turn.
	var resume string
	if prev != nil && prev.State == task.Paused {
		resume = prev.RemoteTaskID
		p.answered(ctx, log, prev)
	}

	// The answer's schema is compiled before the agent is called: a schema outside the bounds
	// (one accepted before they existed, an agent's default) fails the task once, without a call
	// and without a retry.
	spec := outputschema.FromRequest(m.Request, outputschema.Spec{Format: m.Agent.OutputFormat, Schema: m.Agent.OutputSchema})
	var schema *outputschema.Schema
	if spec.Applies() {
		if schema, err = spec.Compile(); err != nil {
			return p.failUncalled(ctx, log, m, t, task.ReasonOutputSchemaMismatch, err.Error())
		}
	}

	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	start := time.Now()
	var res dispatch.Result
	var callErr error
	if t.RemoteTaskID != "" {
		// The agent is working on it already: ask how it is going rather than sending it again.
		res, callErr = p.c.Dispatcher.Check(dispatch.WithTenant(dispatch.WithCredential(dispatch.WithAuthToken(callCtx, m.AuthToken), cred), m.Tenant), m.Agent, t.RemoteTaskID)
	} else {
		res, callErr = p.c.Dispatcher.Call(callCtx, dispatch.Call{
			TaskID: m.TaskID, Tenant: m.Tenant, Agent: m.Agent, ThreadID: m.ThreadID, Text: text,
			Request: request, Secrets: m.Secrets, AuthToken: m.AuthToken, Attempt: t.Attempts, History: history,
			ResumeTaskID: resume, Credential: cred,
		})
	}
	cancel()
	p.c.Metrics.Duration(telemetry.AgentDuration, time.Since(start))

	change := store.Change{From: []task.State{task.Running}, Version: t.Version, Now: p.c.Now()}
	var de *dispatch.Error
	var pending *dispatch.Pending
	var needs *dispatch.NeedsInput
	switch {
	case callErr == nil:
		change.To, change.Result, change.Output, change.Tokens = task.Succeeded, res.Text, res.Output, res.Tokens
		if schema != nil {
			// Bounded by outputschema.MaxSteps: an answer too costly to check fails like one
			// that does not match.
			if err := schema.Check(ctx, res.Text, res.Output); err != nil {
				// The answer is kept: a caller may still want to see what did not match.
				change.To, change.Reason, change.ReasonMessage = task.Failed, task.ReasonOutputSchemaMismatch, err.Error()
			}
		}
	case errors.As(callErr, &pending):
		if now.Sub(m.AcceptedAt) >= m.Agent.TaskDeadline() {
			p.cancelQuietly(ctx, log, m, pending.RemoteTaskID)
			change.To, change.Reason = task.Error, task.ReasonDeadlineExceeded
			change.ReasonMessage = fmt.Sprintf("the agent did not finish within %v", m.Agent.TaskDeadline())
			break
		}
		// Not waited on: the lease ends now, and a delayed message checks back later.
		change.To, change.RemoteTaskID, change.ReleaseLease = task.Running, pending.RemoteTaskID, true
	case errors.As(callErr, &needs):
		change.To, change.RemoteTaskID, change.HITL = task.Paused, needs.RemoteTaskID, hitlRequest(needs)
	case dispatch.Retryable(callErr):
		// Give the task back; SQS redelivers the message, and after MaxReceiveCount deliveries it
		// reaches the dead-letter queue, whose handler fails the task.
		change.To, change.Reason, change.ReasonMessage = task.Queued, task.ReasonAgentUnavailable, callErr.Error()
		if errors.As(callErr, &de) {
			change.Reason, change.ReasonMessage = de.Reason, de.Message
		}
	default:
		errors.As(callErr, &de)
		change.To, change.Reason, change.ReasonMessage = task.Failed, de.Reason, de.Message
	}
	// The outcome is recorded even if the invocation's context is ending: it was paid for.
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), deadlineMargin)
	defer wcancel()
	_, err = p.c.Store.Transition(wctx, m.TaskID, change)
	if errors.Is(err, store.ErrTooLarge) {
		// The store has nowhere to keep an answer this large (no blob store). A truncated answer
		// would pass for the whole one, so the task fails instead, saying why.
		size := len(change.Result) + len(change.Output)
		change.To, change.Result, change.Output = task.Failed, "", nil
		change.Reason = task.ReasonInvalidResponse
		change.ReasonMessage = fmt.Sprintf("the agent's answer is too large to keep (%d bytes; at most %d without large-payload storage)", size, store.InlineLimit)
		_, err = p.c.Store.Transition(wctx, m.TaskID, change)
	}
	if err != nil {
		var conflict *store.ConflictError
		if errors.As(err, &conflict) {
			// Another delivery took the task over after our lease expired, or the task was
			// stopped meanwhile; that outcome stands.
			log.Warn("outcome superseded", "state", conflict.Current.State, "version", conflict.Current.Version)
			if conflict.Current.State == task.Canceled && change.RemoteTaskID != "" {
				// Stopped while the agent took the task on: the stop could not know the agent's
				// task, so it is canceled from here.
				p.cancelQuietly(wctx, log, m, change.RemoteTaskID)
			}
			return done
		}
		log.Error("record outcome", "err", err, "to", change.To)
		return retryAfter(p.c.Backoff(received))
	}
	switch change.To {
	case task.Running:
		return p.checkLater(ctx, log, m, change.RemoteTaskID)
	case task.Paused:
		log.Info("task paused: the agent needs input", "remote_task_id", change.RemoteTaskID)
		return done
	case task.Succeeded:
		log.Info("task succeeded")
		p.c.Metrics.Count(telemetry.Succeeded, 1)
		return done
	case task.Queued:
		log.Warn("agent call failed; will retry", "reason", change.Reason, "err", change.ReasonMessage)
		return retryAfter(p.c.Backoff(received))
	default:
		log.Warn("task failed", "reason", change.Reason, "err", change.ReasonMessage)
		p.c.Metrics.Count(telemetry.Failed, 1)
		return done
	}
}

// request returns the request and text of m, reading them from the store when m carries a
// reference instead.
func (p *Processor) request(ctx context.Context, m *queue.Message) (json.RawMessage, string, error) {
	if m.RequestRef == "" {
		return m.Request, m.Text, nil
	}
	if p.c.Requests == nil {
		return nil, "", errors.New("the message refers to a stored request, and this worker has no request store")
	}
	request, text, err := p.c.Requests.LoadRequest(ctx, m.RequestRef)
	if err != nil {
		return nil, "", err
	}
	if text == "" {
		text = m.Text
	}
	return request, text, nil
}

// load reads the message's task, waiting briefly for a write that has not landed yet.
func (p *Processor) load(ctx context.Context, m *queue.Message) (*task.Task, error) {
	t, err := p.c.Store.Get(ctx, m.TaskID)
	for _, wait := range notYetWritten {
		if !errors.Is(err, store.ErrNotFound) || p.c.Now().Sub(m.AcceptedAt) >= p.c.OrphanAfter {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		t, err = p.c.Store.Get(ctx, m.TaskID)
	}
	return t, err
}

// credential resolves the stored credential a task is called with: the auth context the caller
// named, or the agent's own. ok is false when the task cannot go on; o then says what becomes of
// the message.
func (p *Processor) credential(ctx context.Context, log *slog.Logger, m *queue.Message, received int) (dispatch.Credential, outcome, bool) {
	id := m.AuthContextID
	if id == "" && m.Agent.Auth == agent.AuthContext {
		id = m.Agent.AuthContextID
	}
	if id == "" || !m.Agent.Auth.Forwards() {
		return nil, done, true
	}
	var err error
	var cred authctx.Credential
	if p.c.AuthContexts == nil {
		err = authctx.ErrNotFound
	} else {
		cred, err = p.c.AuthContexts.Resolve(ctx, m.Tenant, id)
	}
	reason := ""
	switch {
	case err == nil:
		return cred, done, true
	case errors.Is(err, authctx.ErrNotFound):
		reason = "the auth context " + id + " no longer exists"
	case errors.Is(err, authctx.ErrUnsealable):
		// Never the error itself: it is about the secret.
		reason = "the auth context " + id + " could not be opened"
	default:
		log.Error("resolve auth context", "auth_context_id", id, "err", err)
		return nil, retryAfter(p.c.Backoff(received)), false
	}
	_, terr := p.c.Store.Transition(ctx, m.TaskID, store.Change{
		From: []task.State{task.Queued}, To: task.Failed, Now: p.c.Now(), Reason: task.ReasonAuthContext, ReasonMessage: reason,
	})
	var conflict *store.ConflictError
	if terr != nil && !errors.As(terr, &conflict) {
		log.Error("fail task with an unusable auth context", "err", terr)
		return nil, retryAfter(p.c.Backoff(received)), false
	}
	log.Warn("task failed", "reason", task.ReasonAuthContext, "err", reason)
	p.c.Metrics.Count(telemetry.Failed, 1)
	return nil, done, false
}

// maxCheckDelay is SQS's longest message delay: the most a check on a working agent waits.
const maxCheckDelay = 15 * time.Minute

// checkLater sends the message back, delayed by the check backoff, to check on a task its agent is
// still working on.
func (p *Processor) checkLater(ctx context.Context, log *slog.Logger, m *queue.Message, remoteID string) outcome {
	next := *m
	next.Checks++
	delay := min(p.c.CheckBackoff(m.Checks), maxCheckDelay)
	if err := p.c.Queue.Send(ctx, &next, delay); err != nil {
		// The task is recorded as working at the agent; this message, redelivered, checks on it.
		log.Error("schedule a check on the agent's task", "err", err)
		return retryAfter(delay)
	}
	log.Info("agent still working; checking back later", "remote_task_id", remoteID, "delay", delay, "checks", next.Checks)
	return done
}

// cancelRemote asks the agent to stop the work of a task that was stopped.
func (p *Processor) cancelRemote(ctx context.Context, log *slog.Logger, m *queue.Message, received int) outcome {
	cred, _, _ := p.credential(ctx, log, m, received)
	err := p.c.Dispatcher.Cancel(dispatch.WithTenant(dispatch.WithCredential(dispatch.WithAuthToken(ctx, m.AuthToken), cred), m.Tenant), m.Agent, m.RemoteTaskID)
	switch {
	case err == nil:
		log.Info("canceled the agent's task", "remote_task_id", m.RemoteTaskID)
	case dispatch.Retryable(err):
		log.Warn("cancel the agent's task; will retry", "err", err)
		return retryAfter(p.c.Backoff(received))
	default:
		log.Info("the agent's task could not be canceled", "err", err)
	}
	return done
}

// cancelQuietly cancels an agent's task on a best-effort basis: the task is ending either way.
func (p *Processor) cancelQuietly(ctx context.Context, log *slog.Logger, m *queue.Message, remoteID string) {
	if err := p.c.Dispatcher.Cancel(dispatch.WithTenant(dispatch.WithAuthToken(ctx, m.AuthToken), m.Tenant), m.Agent, remoteID); err != nil {
		log.Warn("cancel the agent's task past its deadline", "err", err)
	}
}

// failUncalled fails a claimed task before its agent is called, for a reason no retry can mend.
func (p *Processor) failUncalled(ctx context.Context, log *slog.Logger, m *queue.Message, t *task.Task, reason, msg string) outcome {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadlineMargin)
	defer cancel()
	_, err := p.c.Store.Transition(wctx, m.TaskID, store.Change{
		From: []task.State{task.Running}, Version: t.Version, To: task.Failed, Now: p.c.Now(), Reason: reason, ReasonMessage: msg,
	})
	var conflict *store.ConflictError
	switch {
	case errors.As(err, &conflict):
		log.Warn("outcome superseded", "state", conflict.Current.State, "version", conflict.Current.Version)
		return done
	case err != nil:
		log.Error("record outcome", "err", err, "to", task.Failed)
		return retryAfter(p.c.Backoff(1))
	}
	log.Warn("task failed before its agent was called", "reason", reason, "err", msg)
	p.c.Metrics.Count(telemetry.Failed, 1)
	return done
}

// answered ends a paused turn that the next turn of its thread answers.
func (p *Processor) answered(ctx context.Context, log *slog.Logger, prev *task.Task) {
	var question struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(prev.HITL, &question)
	_, err := p.c.Store.Transition(ctx, prev.ID, store.Change{
		From: []task.State{task.Paused}, Version: prev.Version, To: task.Succeeded, Now: p.c.Now(),
		Result: question.Message, Reason: task.ReasonAnswered,
	})
	var conflict *store.ConflictError
	if err != nil && !errors.As(err, &conflict) {
		log.Warn("end the answered turn", "prev_task_id", prev.ID, "err", err)
	}
}

// hitlRequest records what a paused agent asked for, as xpander's hitl_request.
func hitlRequest(n *dispatch.NeedsInput) json.RawMessage {
	b, err := json.Marshal(map[string]any{
		"wait_node_id": n.RemoteTaskID, "remote_task_id": n.RemoteTaskID, "state": n.State, "message": n.Message, "task": n.Raw,
	})
	if err != nil {
		return nil
	}
	return b
}

// maxTurnWait caps the delay between checks of whether the previous turn has ended.
const maxTurnWait = 10 * time.Second

// waitForTurn reports whether the task must wait for the thread's previous turn, and if so sends
// a fresh, delayed copy of the message: a fresh copy, so that waiting does not use up the
// deliveries after which SQS gives a message up to the dead-letter queue.
func (p *Processor) waitForTurn(ctx context.Context, log *slog.Logger, m *queue.Message, prevID string) (*task.Task, outcome, bool) {
	prev, err := p.c.Store.Get(ctx, prevID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, done, false // the previous turn's record is gone (expired): nothing to wait for
	case err != nil:
		log.Error("read previous turn", "err", err)
		return nil, retryAfter(p.c.Backoff(1)), true
	case prev.State.Terminal(), prev.State == task.Paused:
		// A paused turn waits for input, and the next turn is that input.
		return prev, done, false
	}
	next := *m
	next.Waits++
	delay := min(time.Second<<min(m.Waits, 4), maxTurnWait)
	if err := p.c.Queue.Send(ctx, &next, delay); err != nil {
		log.Error("send turn back to wait", "err", err)
		return nil, retryAfter(delay), true
	}
	log.Info("turn waits for the previous one", "prev_task_id", prevID, "prev_state", prev.State, "delay", delay)
	return nil, done, true
}

// historyTurns bounds how many earlier turns an agent receives.
const historyTurns = 50

// MaxHistoryBytes bounds the history an agent receives, in bytes of its messages' content: a
// worker runs ten records at once, and fifty turns of answers up to 4 MiB each would be 200 MiB
// each. The oldest messages are left out first.
const MaxHistoryBytes = 1 << 20

// history returns the thread's earlier turns as a conversation. The index it reads lags a
// little, so the previous turn, read consistently before the claim, replaces its indexed copy.
func (p *Processor) history(ctx context.Context, t *task.Task, prev *task.Task) ([]dispatch.Message, error) {
	if t.ThreadSeq <= 1 || t.ThreadID == "" {
		return nil, nil
	}
	turns, err := p.c.Store.Turns(ctx, t.Tenant, t.ThreadID, historyTurns+1)
	if err != nil {
		return nil, err
	}
	if prev != nil {
		replaced := false
		for i, turn := range turns {
			if turn.ID == prev.ID {
				turns[i], replaced = prev, true
			}
		}
		if !replaced {
			turns = append(turns, prev)
		}
	}
	var msgs []dispatch.Message
	for _, turn := range turns {
		if turn.ThreadSeq >= t.ThreadSeq || turn.ID == t.ID {
			continue
		}
		msgs = append(msgs, dispatch.Message{Role: "user", Content: turn.Text, TaskID: turn.ID, CreatedAt: turn.CreatedAt})
		if turn.State == task.Succeeded {
			msgs = append(msgs, dispatch.Message{Role: "agent", Content: turn.Result, TaskID: turn.ID, CreatedAt: turn.FinishedAt})
		}
	}
	return newest(msgs, MaxHistoryBytes), nil
}

// newest keeps the latest messages whose contents fit in limit bytes, oldest first.
func newest(msgs []dispatch.Message, limit int) []dispatch.Message {
	size := 0
	for i := len(msgs) - 1; i >= 0; i-- {
		size += len(msgs[i].Content)
		if size > limit {
			return msgs[i+1:]
		}
	}
	return msgs
}

// notClaimed decides what to do with a message whose task could not be claimed.
func (p *Processor) notClaimed(log *slog.Logger, m *queue.Message, now time.Time, err error) outcome {
	var conflict *store.ConflictError
	switch {
	case errors.As(err, &conflict):
		cur := conflict.Current
		if cur.State == task.Running {
			// Someone holds a live lease: look again when it ends, and take over if it lapsed.
			log.Info("task is running elsewhere; checking back when its lease ends")
			return retryAfter(max(cur.LeaseUntil.Sub(now), 0) + time.Second)
		}
		log.Info("duplicate delivery ignored", "state", cur.State)
		return done
	case errors.Is(err, store.ErrNotFound):
		if now.Sub(m.AcceptedAt) < p.c.OrphanAfter {
			// The task's write and this message left together; the write may not have landed yet.
			return retryAfter(time.Second)
		}
		log.Warn("dropping message for a task that was never recorded")
		return done
	default:
		log.Error("claim task", "err", err)
		return retryAfter(p.c.Backoff(1))
	}
}

// deadLetter fails the task of a message that was delivered too often without an outcome, so that
// nothing stays pending forever.
func (p *Processor) deadLetter(ctx context.Context, log *slog.Logger, m *queue.Message, received int) outcome {
	cur, err := p.c.Store.Get(ctx, m.TaskID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		log.Warn("dead letter for a task that was never recorded")
		return done
	case err != nil:
		log.Error("read dead-lettered task", "err", err)
		return retryAfter(0)
	case cur.State.Terminal():
		return done
	case cur.State == task.Running && cur.LeaseUntil.After(p.c.Now()):
		return retryAfter(0) // a worker is still on it; look again later
	}
	msg := "the task was delivered " + strconv.Itoa(queue.MaxReceiveCount) + " times without an outcome"
	if cur.ReasonMessage != "" {
		msg += "; last error: " + cur.ReasonMessage
	}
	_, err = p.c.Store.Transition(ctx, m.TaskID, store.Change{
		From: []task.State{cur.State}, Version: cur.Version, To: task.Failed, Now: p.c.Now(),
		Reason: task.ReasonDeadLettered, ReasonMessage: msg,
	})
	var conflict *store.ConflictError
	if errors.As(err, &conflict) {
		return retryAfter(0) // it moved meanwhile; decide again on the next delivery
	}
	if err != nil {
		log.Error("fail dead-lettered task", "err", err)
		return retryAfter(0)
	}
	log.Error("task dead-lettered", "deliveries", received)
	p.c.Metrics.Count(telemetry.DeadLettered, 1)
	p.c.Metrics.Count(telemetry.Failed, 1)
	return done
}
