// Package worker runs tasks from batches of work messages: it claims each task under a lease,
// calls its agent, decides what the answer makes of the task (a pure function) and records that,
// processing the records of a batch concurrently and reporting the ones to redeliver.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/deadline"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/outputschema"
	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tasklog"
	"github.com/agentq/agentq/shared/telemetry"
)

// Store claims tasks and records their outcomes.
type Store interface {
	Get(ctx context.Context, id string) (*task.Task, error)
	Claim(ctx context.Context, id string, now time.Time, lease time.Duration) (*task.Task, error)
	Transition(ctx context.Context, id string, c task.Change) (*task.Task, error)
	Turns(ctx context.Context, tenant, threadID string, limit int) ([]*task.Task, error)
	// Abandon records as failed a task whose record never landed (or is still as submitted),
	// so that a record arriving later can never run.
	Abandon(ctx context.Context, t *task.Task, now time.Time, reason, message string) (*task.Task, error)
}

// RequestLoader reads requests that were too large for their work message: the body, and the
// text when the message has none. The store does (see store.LoadRequest).
type RequestLoader interface {
	LoadRequest(ctx context.Context, ref string) (request json.RawMessage, text string, err error)
}

// Dispatcher calls agents, checks on the tasks they work on asynchronously, and cancels them.
type Dispatcher interface {
	Call(ctx context.Context, c dispatch.Call) (dispatch.Result, error)
	Check(ctx context.Context, a agent.Agent, remoteTaskID string, creds dispatch.Credentials) (dispatch.Result, error)
	Cancel(ctx context.Context, a agent.Agent, remoteTaskID string, creds dispatch.Credentials) error
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
	// OrphanAfter is how old a message whose task was never recorded must be before it is dropped,
	// its task recorded failed so that the caller, who may have been told it was accepted, sees it
	// end, and a record landing later cannot run. Younger ones are retried: the task's write may
	// simply not have landed yet.
	OrphanAfter time.Duration
	// Budget bounds the agent call within the invocation, the lease, and the outcome write's
	// retries; zero is deadline.Default().
	Budget deadline.Budget
	Now    func() time.Time
	// Progress, when set, answers where the agent of a task may report progress (its progress
	// and push URLs and token); nil gives agents nowhere to report.
	Progress func(ctx context.Context, tenant, taskID string) (*dispatch.Progress, error)
	// Events, when set, takes the updates an A2A agent streams during its call into the task's
	// event log as they arrive.
	Events Events
}

// Events appends to tasks' event logs.
type Events interface {
	Append(ctx context.Context, e tasklog.Entry) (tasklog.Event, error)
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
	c.Budget = c.Budget.OrDefault()
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Processor{c: c}
}

// onEvent answers where the updates t's agent streams during the call go: its log, bounded
// like any agent's reports (an update refused for the rate is dropped, the outcome is not).
func (p *Processor) onEvent(ctx context.Context, log *slog.Logger, t *task.Task) func(progress.Report) {
	if p.c.Events == nil {
		return nil
	}
	return func(e progress.Report) {
		_, err := p.c.Events.Append(ctx, tasklog.Entry{TaskID: t.ID, Tenant: t.Tenant, ExpiresAt: t.ExpiresAt, Type: e.Type, Data: e.Data,
			Limited: true, Claimed: t.Attempts > 0, Notify: t.ProgressEvents})
		if err != nil {
			log.Warn("append a streamed agent event", "type", e.Type, "err", err)
		}
	}
}

// progress answers where m's agent may report progress, if anywhere. Progress is an extra: when
// its key cannot be had, the agent runs without it rather than the task failing.
func (p *Processor) progress(ctx context.Context, log *slog.Logger, m *queue.Message) *dispatch.Progress {
	if p.c.Progress == nil {
		return nil
	}
	pr, err := p.c.Progress(ctx, m.Tenant, m.TaskID)
	if err != nil {
		log.Warn("no progress target for the agent", "err", err)
		return nil
	}
	return pr
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

// notYetWritten are the waits before re-trying the claim of a task whose record is not there yet.
var notYetWritten = []time.Duration{25 * time.Millisecond, 75 * time.Millisecond, 200 * time.Millisecond}

// Outcome is what becomes of a work message, as a job queue names a job's fate: Done deletes it,
// RetryAfter delivers it again after a delay. Each step of handling a message answers one; the
// internal proceed lets the message go on to the next step.
type Outcome struct {
	kind  outcomeKind
	delay time.Duration
}

type outcomeKind int

const (
	outcomeDone outcomeKind = iota
	outcomeRetry
	outcomeProceed
)

// Done is the outcome of a message that is finished with: it is deleted.
var Done = Outcome{kind: outcomeDone}

// RetryAfter is the outcome of a message to deliver again after d.
func RetryAfter(d time.Duration) Outcome { return Outcome{kind: outcomeRetry, delay: d} }

// proceed is a step's outcome when the message goes on to the next step.
var proceed = Outcome{kind: outcomeProceed}

// Retry reports whether the message is to be delivered again, and after how long.
func (o Outcome) Retry() (time.Duration, bool) { return o.delay, o.kind == outcomeRetry }

// String names the outcome, for test failures and logs.
func (o Outcome) String() string {
	switch o.kind {
	case outcomeRetry:
		return "retry after " + o.delay.String()
	case outcomeProceed:
		return "proceed"
	default:
		return "done"
	}
}

// Handle processes a batch: every record concurrently, since each waits on I/O. It returns the
// ids of the records that must be redelivered.
func (p *Processor) Handle(ctx context.Context, recs []batch.Record) []string {
	return batch.Process(ctx, recs, 0, func(ctx context.Context, _ int, rec batch.Record) error {
		delay, retry := p.Process(ctx, rec).Retry()
		if !retry {
			return nil
		}
		// Postponing also shortens the wait: without it a failed record waits out the whole
		// visibility timeout, however short its backoff.
		if rec.Source != p.c.DeadLetterARN && p.c.Queue != nil {
			if err := p.c.Queue.Postpone(ctx, rec.ReceiptHandle, delay); err != nil {
				p.c.Logger.Warn("postpone redelivery", "message_id", rec.ID, "err", err)
			}
		}
		return errRedeliver
	})
}

// errRedeliver marks a record of a batch to deliver again.
var errRedeliver = errors.New("redeliver")

// Process handles one record and answers what becomes of it. Handle calls it for every record of
// a batch; a test harness may call it directly.
func (p *Processor) Process(ctx context.Context, rec batch.Record) Outcome {
	log := p.c.Logger.With("message_id", rec.ID)
	received := max(rec.ReceiveCount, 1)
	fromDLQ := rec.Source == p.c.DeadLetterARN && p.c.DeadLetterARN != ""
	// The message carries the trace of the request that accepted the task: the record's work,
	// the messages it sends back (checks) and its log lines belong to that trace.
	if rec.Trace != "" {
		ctx = queue.WithTraceHeader(ctx, rec.Trace)
		log = log.With("trace_id", queue.TraceRoot(rec.Trace))
	}
	m, err := queue.Decode(rec.Body)
	if err != nil {
		if fromDLQ {
			// Nothing can be done with it; it was logged on every receive before.
			log.Error("drop malformed dead letter", "err", err, "bytes", len(rec.Body))
			p.c.Metrics.Count(telemetry.DeadLettered, 1)
			return Done
		}
		log.Error("malformed message; it will reach the dead-letter queue", "err", err, "bytes", len(rec.Body))
		return RetryAfter(0)
	}
	log = log.With("task_id", m.TaskID, "agent_id", m.Agent.ID, "tenant", m.Tenant)
	switch {
	case fromDLQ && m.Kind == queue.KindCancel:
		log.Error("gave up canceling the agent's task", "remote_task_id", m.RemoteTaskID)
		return Done
	case fromDLQ:
		return p.deadLetter(ctx, log, m, received)
	case m.Kind == queue.KindCancel:
		return p.cancelRemote(ctx, log, m, received)
	case m.Outcome != nil:
		return p.recordCarried(ctx, log, m, received)
	}
	return p.run(ctx, log, m, received)
}

// job is a claimed task and everything its agent call needs.
type job struct {
	m        *queue.Message
	t        *task.Task
	log      *slog.Logger
	received int
	request  json.RawMessage
	text     string
	creds    dispatch.Credentials
	history  []dispatch.Message
	// resume is the agent's task this call answers: the previous turn paused it, or a person
	// approved it (the message's Answer).
	resume string
	// messageID names the message sent to the agent: the task's id, or, for an approval, one of
	// its own, since the agent may have kept the first message's.
	messageID string
	timeout   time.Duration
}

// run handles a work message in four steps: claim the task, call its agent, decide what the
// answer makes of the task, and record that.
func (p *Processor) run(ctx context.Context, log *slog.Logger, m *queue.Message, received int) Outcome {
	j, o := p.claim(ctx, log, m, received)
	if o != proceed {
		return o
	}
	if v, refused := uncallable(j.m, j.t, p.c.Now()); refused {
		return p.record(ctx, j, v.change)
	}
	res, callErr := p.call(ctx, j)
	v := decide(j.m, j.t, res, callErr, p.c.Now())
	if v.cancel != "" {
		p.cancelQuietly(ctx, j.log, j.m, j.creds, v.cancel)
	}
	return p.record(ctx, j, v.change)
}

// claim takes the message's task under a lease once it may run (its thread's previous turn has
// ended) and gathers what the call needs.
func (p *Processor) claim(ctx context.Context, log *slog.Logger, m *queue.Message, received int) (*job, Outcome) {
	j := &job{m: m, log: log, received: received, messageID: m.TaskID, timeout: p.c.Budget.AgentCall(ctx, m.Agent.CallTimeout())}
	if j.timeout <= 0 {
		return nil, RetryAfter(0)
	}
	prev, o := p.turn(ctx, log, m)
	if o != proceed {
		return nil, o
	}
	// A request too large for the message was stored before the message was sent, so it is there
	// to read; reading it before the claim leaves nothing to give back when it fails.
	var err error
	if j.request, j.text, err = p.request(ctx, m); err != nil {
		log.Error("load the request", "err", err, "request_ref", m.RequestRef)
		return nil, RetryAfter(p.c.Backoff(received))
	}
	if j.creds, o = p.credentials(ctx, log, m, received); o != proceed {
		return nil, o
	}
	now := p.c.Now()
	switch j.t, err = p.claimTask(ctx, m, j.timeout+p.c.Budget.LeaseMargin); {
	case errors.Is(err, errInterrupted):
		return nil, RetryAfter(time.Second)
	case err != nil:
		return nil, p.notClaimed(log, m, p.c.Now(), err)
	}
	j.log = log.With("attempt", j.t.Attempts)
	if j.history, err = p.history(ctx, j.t, prev); err != nil {
		j.log.Warn("read thread history; calling without it", "err", err)
	}
	j.log.Info("task started")
	p.c.Metrics.Count(telemetry.Started, 1)
	if j.t.Attempts == 1 {
		p.c.Metrics.Duration(telemetry.QueueWait, now.Sub(m.AcceptedAt))
	}
	// A turn that answers a paused one continues the agent's task, and ends the paused turn.
	if prev != nil && prev.State == task.Paused {
		j.resume = prev.RemoteTaskID
		p.answered(ctx, j.log, prev)
	}
	// A paused task a person approved continues the agent's task with the approval.
	if m.Answer != "" && j.t.RemoteTaskID != "" {
		j.resume, j.text, j.request, j.messageID = j.t.RemoteTaskID, m.Answer, nil, m.TaskID+":approved"
	}
	return j, proceed
}

// turn returns the thread's previous turn once the message's turn may run. A thread's turns run
// in order: not before the previous turn has ended. The task's record says which turn came before
// (the accept path may have re-placed it after sending), so a turn of a caller-named thread reads
// its record before claiming.
func (p *Processor) turn(ctx context.Context, log *slog.Logger, m *queue.Message) (*task.Task, Outcome) {
	if !m.ThreadTurn {
		return nil, proceed
	}
	rec, err := p.load(ctx, m)
	if err != nil {
		return nil, p.notClaimed(log, m, p.c.Now(), err)
	}
	if rec.PrevTaskID == "" || rec.State != task.Queued {
		return nil, proceed
	}
	return p.waitForTurn(ctx, log, m, rec.PrevTaskID)
}

// claimTask claims the message's task. The task's write and this message left the accept path
// together; a message can arrive before the write lands. A few quick retries spare it a whole
// redelivery.
func (p *Processor) claimTask(ctx context.Context, m *queue.Message, lease time.Duration) (*task.Task, error) {
	now := p.c.Now()
	t, err := p.c.Store.Claim(ctx, m.TaskID, now, lease)
	for _, wait := range notYetWritten {
		if !errors.Is(err, task.ErrNotFound) || now.Sub(m.AcceptedAt) >= p.c.OrphanAfter {
			break
		}
		select {
		case <-ctx.Done():
			return nil, errInterrupted
		case <-time.After(wait):
		}
		now = p.c.Now()
		t, err = p.c.Store.Claim(ctx, m.TaskID, now, lease)
	}
	return t, err
}

// errInterrupted is a claim given up because the invocation is ending.
var errInterrupted = errors.New("claim interrupted: the invocation is ending")

// call calls the job's agent, or asks how its task goes when the agent already works on it.
func (p *Processor) call(ctx context.Context, j *job) (dispatch.Result, error) {
	callCtx, cancel := context.WithTimeout(ctx, j.timeout)
	defer cancel()
	start := time.Now()
	defer func() { p.c.Metrics.Duration(telemetry.AgentDuration, time.Since(start)) }()
	if j.t.RemoteTaskID != "" && j.resume == "" {
		// The agent is working on it already: ask how it is going rather than sending it again.
		return p.c.Dispatcher.Check(callCtx, j.m.Agent, j.t.RemoteTaskID, j.creds)
	}
	m := j.m
	return p.c.Dispatcher.Call(callCtx, dispatch.Call{
		TaskID: j.messageID, Tenant: m.Tenant, Agent: m.Agent, ThreadID: m.ThreadID, Text: j.text,
		Request: j.request, Secrets: m.Secrets, Credentials: j.creds, Attempt: j.t.Attempts, History: j.history,
		ResumeTaskID: j.resume, Progress: p.progress(ctx, j.log, m), OnEvent: p.onEvent(ctx, j.log, j.t),
	})
}

// verdict is what an agent call makes of a task: the change to write, and the agent's task to
// cancel because it ran past the task's deadline.
type verdict struct {
	change task.Change
	cancel string
}

// uncallable fails task t before its agent is called when no answer could pass: its output
// schema is outside outputschema's bounds (a request accepted before they existed, an agent's
// default). Once, without a call and without a retry. It does no I/O.
func uncallable(m *queue.Message, t *task.Task, now time.Time) (verdict, bool) {
	spec := outputschema.FromRequest(m.Request, outputschema.Spec{Format: m.Agent.OutputFormat, Schema: m.Agent.OutputSchema})
	if !spec.Applies() {
		return verdict{}, false
	}
	if _, err := spec.Compile(); err != nil {
		return verdict{change: task.Change{
			From: []task.State{task.Running}, Version: t.Version, Now: now, To: task.Failed,
			Reason: task.ReasonOutputSchemaMismatch, ReasonMessage: err.Error(),
		}}, true
	}
	return verdict{}, false
}

// decide turns the agent's answer (res, or callErr) into the change to write to task t, claimed
// for message m, at now. It does no I/O.
func decide(m *queue.Message, t *task.Task, res dispatch.Result, callErr error, now time.Time) verdict {
	change := task.Change{From: []task.State{task.Running}, Version: t.Version, Now: now}
	var de *dispatch.Error
	pending, isPending := errors.AsType[*dispatch.Pending](callErr)
	needs, needsInput := errors.AsType[*dispatch.NeedsInput](callErr)
	switch {
	case callErr == nil:
		change.To, change.Result, change.Output, change.Usage = task.Succeeded, res.Text, res.Output, res.Usage
		spec := outputschema.FromRequest(m.Request, outputschema.Spec{Format: m.Agent.OutputFormat, Schema: m.Agent.OutputSchema})
		if spec.Applies() {
			// Bounded by outputschema.MaxSteps, not by a context: an answer too costly to check
			// fails like one that does not match, at once.
			if err := spec.Check(context.Background(), res.Text, res.Output); err != nil {
				// The answer is kept: a caller may still want to see what did not match.
				change.To, change.Reason, change.ReasonMessage = task.Failed, task.ReasonOutputSchemaMismatch, err.Error()
			}
		}
	case isPending && now.Sub(m.AcceptedAt) >= m.Agent.TaskDeadline():
		change.To, change.Reason = task.Error, task.ReasonDeadlineExceeded
		change.ReasonMessage = fmt.Sprintf("the agent did not finish within %v", m.Agent.TaskDeadline())
		return verdict{change: change, cancel: pending.RemoteTaskID}
	case isPending:
		// Not waited on: the lease ends now, and a delayed message checks back later.
		change.To, change.RemoteTaskID, change.ReleaseLease = task.Running, pending.RemoteTaskID, true
	case needsInput:
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
	return verdict{change: change}
}

// superseded decides about an outcome that could not be written because the task moved on
// (current): the agent's task to cancel, if any. Stopped while the agent took the task on, the
// stop could not know the agent's task, so it is canceled from here.
func superseded(change task.Change, current *task.Task) (cancel string) {
	if current.State == task.Canceled && change.RemoteTaskID != "" {
		return change.RemoteTaskID
	}
	return ""
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
		if !errors.Is(err, task.ErrNotFound) || p.c.Now().Sub(m.AcceptedAt) >= p.c.OrphanAfter {
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

// credentials returns what every request about the message's task presents to its agent: the
// caller's auth token, and the stored credential the task is called with (the auth context the
// caller named, or the agent's own). The outcome is proceed unless the task cannot go on.
func (p *Processor) credentials(ctx context.Context, log *slog.Logger, m *queue.Message, received int) (dispatch.Credentials, Outcome) {
	creds := dispatch.Credentials{Tenant: m.Tenant, AuthToken: m.AuthToken}
	cred, o := p.credential(ctx, log, m, received)
	if cred != nil {
		creds.Stored = cred
	}
	return creds, o
}

// credential resolves the stored credential a task is called with, or nil when it has none.
func (p *Processor) credential(ctx context.Context, log *slog.Logger, m *queue.Message, received int) (*authctx.Credential, Outcome) {
	id := m.AuthContextID
	if id == "" && m.Agent.Auth == agent.AuthContext {
		id = m.Agent.AuthContextID
	}
	if id == "" || !m.Agent.Auth.Forwards() {
		return nil, proceed
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
		return &cred, proceed
	case errors.Is(err, authctx.ErrNotFound):
		reason = "the auth context " + id + " no longer exists"
	case errors.Is(err, authctx.ErrUnsealable):
		// Never the error itself: it is about the secret.
		reason = "the auth context " + id + " could not be opened"
	default:
		log.Error("resolve auth context", "auth_context_id", id, "err", err)
		return nil, RetryAfter(p.c.Backoff(received))
	}
	_, terr := p.c.Store.Transition(ctx, m.TaskID, task.Change{
		From: []task.State{task.Queued}, To: task.Failed, Now: p.c.Now(), Reason: task.ReasonAuthContext, ReasonMessage: reason,
	})
	var conflict *task.ConflictError
	if terr != nil && !errors.As(terr, &conflict) {
		log.Error("fail task with an unusable auth context", "err", terr)
		return nil, RetryAfter(p.c.Backoff(received))
	}
	log.Warn("task failed", "reason", task.ReasonAuthContext, "err", reason)
	p.c.Metrics.Count(telemetry.Failed, 1)
	return nil, Done
}

// maxCheckDelay is SQS's longest message delay: the most a check on a working agent waits.
const maxCheckDelay = 15 * time.Minute

// checkLater sends the message back, delayed by the check backoff, to check on a task its agent is
// still working on.
func (p *Processor) checkLater(ctx context.Context, log *slog.Logger, m *queue.Message, remoteID string) Outcome {
	next := *m
	next.Checks++
	next.Outcome = nil
	next.Answer = "" // sent: from now on the agent is asked how it goes
	delay := min(p.c.CheckBackoff(m.Checks), maxCheckDelay)
	if err := p.c.Queue.Send(ctx, &next, delay); err != nil {
		// The task is recorded as working at the agent; this message, redelivered, checks on it.
		log.Error("schedule a check on the agent's task", "err", err)
		return RetryAfter(delay)
	}
	log.Info("agent still working; checking back later", "remote_task_id", remoteID, "delay", delay, "checks", next.Checks)
	return Done
}

// cancelRemote asks the agent to stop the work of a task that was stopped.
func (p *Processor) cancelRemote(ctx context.Context, log *slog.Logger, m *queue.Message, received int) Outcome {
	creds, _ := p.credentials(ctx, log, m, received)
	err := p.c.Dispatcher.Cancel(ctx, m.Agent, m.RemoteTaskID, creds)
	switch {
	case err == nil:
		log.Info("canceled the agent's task", "remote_task_id", m.RemoteTaskID)
	case dispatch.Retryable(err):
		log.Warn("cancel the agent's task; will retry", "err", err)
		return RetryAfter(p.c.Backoff(received))
	default:
		log.Info("the agent's task could not be canceled", "err", err)
	}
	return Done
}

// cancelQuietly cancels an agent's task on a best-effort basis: the task is ending either way.
func (p *Processor) cancelQuietly(ctx context.Context, log *slog.Logger, m *queue.Message, creds dispatch.Credentials, remoteID string) {
	if err := p.c.Dispatcher.Cancel(ctx, m.Agent, remoteID, creds); err != nil {
		log.Warn("cancel the agent's task past its deadline", "err", err)
	}
}

// answered ends a paused turn that the next turn of its thread answers.
func (p *Processor) answered(ctx context.Context, log *slog.Logger, prev *task.Task) {
	var question struct {
		Message string `json:"message"`
	}
	_ = json.Unmarshal(prev.HITL, &question)
	_, err := p.c.Store.Transition(ctx, prev.ID, task.Change{
		From: []task.State{task.Paused}, Version: prev.Version, To: task.Succeeded, Now: p.c.Now(),
		Result: question.Message, Reason: task.ReasonAnswered,
	})
	var conflict *task.ConflictError
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

// waitForTurn returns the thread's previous turn and proceed when it has ended; otherwise it sends
// a fresh, delayed copy of the message and answers the message's outcome: a fresh copy, so that
// waiting does not use up the deliveries after which SQS gives a message up to the dead-letter
// queue.
func (p *Processor) waitForTurn(ctx context.Context, log *slog.Logger, m *queue.Message, prevID string) (*task.Task, Outcome) {
	prev, err := p.c.Store.Get(ctx, prevID)
	switch {
	case errors.Is(err, task.ErrNotFound):
		return nil, proceed // the previous turn's record is gone (expired): nothing to wait for
	case err != nil:
		log.Error("read previous turn", "err", err)
		return nil, RetryAfter(p.c.Backoff(1))
	case prev.State.Terminal(), prev.State == task.Paused:
		// A paused turn waits for input, and the next turn is that input.
		return prev, proceed
	}
	next := *m
	next.Waits++
	delay := min(time.Second<<min(m.Waits, 4), maxTurnWait)
	if err := p.c.Queue.Send(ctx, &next, delay); err != nil {
		log.Error("send turn back to wait", "err", err)
		return nil, RetryAfter(delay)
	}
	log.Info("turn waits for the previous one", "prev_task_id", prevID, "prev_state", prev.State, "delay", delay)
	return nil, Done
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
func (p *Processor) notClaimed(log *slog.Logger, m *queue.Message, now time.Time, err error) Outcome {
	var conflict *task.ConflictError
	switch {
	case errors.As(err, &conflict):
		cur := conflict.Current
		if cur.State == task.Running {
			// Someone holds a live lease: look again when it ends, and take over if it lapsed.
			log.Info("task is running elsewhere; checking back when its lease ends")
			return RetryAfter(max(cur.LeaseUntil.Sub(now), 0) + time.Second)
		}
		log.Info("duplicate delivery ignored", "state", cur.State)
		return Done
	case errors.Is(err, task.ErrNotFound):
		if now.Sub(m.AcceptedAt) < p.c.OrphanAfter {
			// The task's write and this message left together; the write may not have landed yet.
			return RetryAfter(time.Second)
		}
		return p.abandonOrphan(log, m, now)
	default:
		log.Error("claim task", "err", err)
		return RetryAfter(p.c.Backoff(1))
	}
}

// abandonOrphan records the task of a message whose record never landed as failed, and drops the
// message.
func (p *Processor) abandonOrphan(log *slog.Logger, m *queue.Message, now time.Time) Outcome {
	ctx, cancel := context.WithTimeout(context.Background(), p.c.Budget.Request)
	defer cancel()
	t := &task.Task{
		ID: m.TaskID, Tenant: m.Tenant, AgentID: m.Agent.ID, AgentVersion: m.Agent.Version, Dialect: task.Dialect(m.Dialect),
		ThreadID: m.ThreadID, State: task.Queued, Version: 1, CreatedAt: m.AcceptedAt, UpdatedAt: m.AcceptedAt, ExpiresAt: m.ExpiresAt,
	}
	_, err := p.c.Store.Abandon(ctx, t, now, task.ReasonDispatchFailed, "the task could not be recorded and did not run; submit it again")
	var conflict *task.ConflictError
	switch {
	case errors.As(err, &conflict):
		// It landed after all, and is taken up or ended: another delivery decides.
		log.Info("the task of an orphaned message was recorded after all", "state", conflict.Current.State)
		return RetryAfter(time.Second)
	case err != nil:
		log.Error("record an orphaned message's task failed", "err", err)
		return RetryAfter(p.c.Backoff(1))
	}
	log.Warn("message for a task that was never recorded: the task is recorded failed")
	p.c.Metrics.Count(telemetry.Failed, 1)
	return Done
}

// deadLetter fails the task of a message that was delivered too often without an outcome, so that
// nothing stays pending forever.
func (p *Processor) deadLetter(ctx context.Context, log *slog.Logger, m *queue.Message, received int) Outcome {
	if m.Outcome != nil {
		// The agent answered: what it said is recorded, not that the task ran out of deliveries.
		return p.recordCarried(ctx, log, m, received)
	}
	cur, err := p.c.Store.Get(ctx, m.TaskID)
	switch {
	case errors.Is(err, task.ErrNotFound):
		log.Warn("dead letter for a task that was never recorded")
		return Done
	case err != nil:
		log.Error("read dead-lettered task", "err", err)
		return RetryAfter(0)
	case cur.State.Terminal():
		return Done
	case cur.State == task.Running && cur.LeaseUntil.After(p.c.Now()):
		return RetryAfter(0) // a worker is still on it; look again later
	}
	msg := "the task was delivered " + strconv.Itoa(queue.MaxReceiveCount) + " times without an outcome"
	if cur.ReasonMessage != "" {
		msg += "; last error: " + cur.ReasonMessage
	}
	_, err = p.c.Store.Transition(ctx, m.TaskID, task.Change{
		From: []task.State{cur.State}, Version: cur.Version, To: task.Failed, Now: p.c.Now(),
		Reason: task.ReasonDeadLettered, ReasonMessage: msg,
	})
	var conflict *task.ConflictError
	if errors.As(err, &conflict) {
		return RetryAfter(0) // it moved meanwhile; decide again on the next delivery
	}
	if err != nil {
		log.Error("fail dead-lettered task", "err", err)
		return RetryAfter(0)
	}
	log.Error("task dead-lettered", "deliveries", received)
	p.c.Metrics.Count(telemetry.DeadLettered, 1)
	p.c.Metrics.Count(telemetry.Failed, 1)
	return Done
}
