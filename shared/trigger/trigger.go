// Package trigger turns events into tasks: EventBridge events, EventBridge Scheduler invocations
// and messages on an ingest SQS queue each carry an invocation, which is submitted through the
// accept core exactly as the HTTP API submits a request (same validation, policy, idempotency and
// task record). An event the HTTP API would answer with a 4xx is rejected: it goes to the trigger's
// dead-letter queue with the same machine-readable reason, so nothing is dropped silently. A
// failure that may pass (the store, the work queue, the dead-letter queue itself) is returned, so
// that Lambda retries the event or SQS redelivers the message.
//
// An invocation is an object: the HTTP API's request body in the chosen dialect plus control
// fields, which are removed before the body is decoded:
//
//	agent_id         required: the agent to invoke
//	dialect          "xpander" (default) or "servicenet": how the rest of the object is read
//	tenant           the tenant the task belongs to; default Config.DefaultTenant
//	agent_version    "", "latest", "draft" or a version, as the HTTP API's ?version=
//	idempotency_key  as the HTTP API's Idempotency-Key; default: derived from the event's id
//
// The tenant is taken on trust: whoever may put events on the bus, create schedules or send to
// the ingest queue may act for any tenant. Those rights are IAM's to grant, so grant them as you
// would an admin key.
package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/lambdaevents"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/telemetry"
)

// The events the trigger takes. The stack's rule matches DetailTypeInvoke on the bus; its
// schedules send ScheduleInput, an envelope with SourceScheduler and DetailTypeScheduled.
const (
	// DetailTypeInvoke is the detail-type of an EventBridge event that invokes an agent.
	DetailTypeInvoke = "Invoke Agent"
	// DetailTypeScheduled is the detail-type of the envelope a schedule sends.
	DetailTypeScheduled = "Scheduled Agent Invocation"
	// SourceScheduler is the source of the envelope a schedule sends. Sources starting with
	// "aws." cannot be put on a bus, so an event with it came from a schedule.
	SourceScheduler = "aws.scheduler"
)

// Sources of a task (task.Task.Source) and of a rejection.
const (
	SourceEventBridge = "eventbridge"
	SourceSchedule    = "scheduler"
	SourceSQS         = "sqs"
	// SourceUnknown marks a payload that is none of the above.
	SourceUnknown = "unknown"
)

// Outcomes of an event.
const (
	// Accepted: a task was created, or an earlier one replayed (same idempotency key).
	Accepted = "accepted"
	// Rejected: the event was refused and dead-lettered with the reason.
	Rejected = "rejected"
	// Failed: the event could not be handled this time and is retried (SQS records only; an
	// EventBridge event's failure is the handler's error).
	Failed = "failed"
)

// Submitter accepts invocations: the accept core (*accept.Service).
type Submitter interface {
	Submit(ctx context.Context, sub accept.Submission) (*task.Task, error)
}

// Rejects takes the events the trigger refuses: the trigger's dead-letter queue.
type Rejects interface {
	// Reject keeps r. An error means it was not kept, and the event is retried.
	Reject(ctx context.Context, r Rejection) error
}

// Config holds what a Handler needs.
type Config struct {
	Submitter Submitter
	// Schemas compiles an invocation's output_schema, so an unusable one is refused with the
	// event (outputschema.Checker; dialect.Decoder). Nil leaves it to the worker.
	Schemas dialect.SchemaChecker
	// Rejects keeps refused events. Nil only logs them (local runs); the Lambda function always
	// has its dead-letter queue.
	Rejects Rejects
	// DefaultTenant owns the invocations that name no tenant; default config.DefaultTenant
	// ("default").
	DefaultTenant string
	Logger        *slog.Logger
	Metrics       *telemetry.Metrics
	// Now defaults to the clock; tests replace it.
	Now func() time.Time
}

// Handler handles the trigger function's events.
type Handler struct {
	c Config
}

// defaultTenant matches config.DefaultTenant, without importing the functions' configuration.
const defaultTenant = "default"

// recordConcurrency bounds how many records of an SQS batch are submitted at once.
const recordConcurrency = 16

// New returns a Handler.
func New(c Config) *Handler {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.DefaultTenant == "" {
		c.DefaultTenant = defaultTenant
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Handler{c: c}
}

// Result is what became of one event.
type Result struct {
	// Outcome is Accepted, Rejected or Failed.
	Outcome string `json:"outcome"`
	// Source is SourceEventBridge, SourceSchedule, SourceSQS or SourceUnknown.
	Source string `json:"source"`
	// EventID is the event's id, or the SQS message id.
	EventID string `json:"event_id,omitempty"`
	TaskID  string `json:"task_id,omitempty"`
	// TaskState is the task's state when accepted: "queued", or an earlier task's state when the
	// idempotency key replayed it.
	TaskState string `json:"task_state,omitempty"`
	AgentID   string `json:"agent_id,omitempty"`
	Tenant    string `json:"tenant,omitempty"`
	// Reason is the machine-readable code of a rejection, the HTTP API's for the same request.
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Report is every event's Result, and for an SQS event the records to redeliver.
type Report struct {
	Results           []Result      `json:"results"`
	BatchItemFailures []ItemFailure `json:"batchItemFailures,omitempty"`
}

// ItemFailure names an SQS record to redeliver, as a partial batch response does.
type ItemFailure struct {
	ItemIdentifier string `json:"itemIdentifier"`
}

// Event is an EventBridge event (or a schedule's envelope) as a Lambda target receives it; its
// JSON is EventBridge's.
type Event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// Handle is the Lambda entry point. It tells the payloads apart: an SQS event (its first record's
// eventSource is "aws:sqs") is answered with the records to redeliver; an EventBridge event or a
// schedule's envelope with its Result, or an error to have it retried. Anything else is rejected
// with the reason "unrecognized_event".
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	rep, sqsEvent, err := h.handle(ctx, raw)
	if err != nil {
		return nil, err
	}
	if sqsEvent {
		failed := make([]string, len(rep.BatchItemFailures))
		for i, f := range rep.BatchItemFailures {
			failed[i] = f.ItemIdentifier
		}
		return lambdaevents.Response(failed), nil
	}
	return rep.Results[0], nil
}

// HandleVerbose handles a payload as Handle does but answers a Report, which says what became of
// every record of an SQS event too. It is for local tools (`agentq dev send-event`); Lambda must
// get Handle's answer.
func (h *Handler) HandleVerbose(ctx context.Context, raw json.RawMessage) (any, error) {
	rep, _, err := h.handle(ctx, raw)
	if err != nil {
		return nil, err
	}
	return rep, nil
}

func (h *Handler) handle(ctx context.Context, raw json.RawMessage) (Report, bool, error) {
	switch kind, ev := sniff(raw); kind {
	case kindSQS:
		if recs, err := lambdaevents.DecodeSQS(raw); err == nil {
			results, failed := h.handleSQS(ctx, recs)
			rep := Report{Results: results}
			for _, id := range failed {
				rep.BatchItemFailures = append(rep.BatchItemFailures, ItemFailure{ItemIdentifier: id})
			}
			return rep, true, nil
		}
	case kindEventBridge:
		r, err := h.handleEvent(ctx, ev, raw)
		return Report{Results: []Result{r}}, false, err
	}
	r, err := h.reject(ctx, incoming{source: SourceUnknown, original: raw}, nil,
		failure{code: ReasonUnrecognizedEvent, message: "the payload is neither an EventBridge event, a schedule's invocation nor an SQS event"})
	return Report{Results: []Result{r}}, false, err
}

// HandleEvent handles an EventBridge event (detail-type DetailTypeInvoke) or a schedule's
// envelope (source SourceScheduler). A rejected event is dead-lettered and answered with its
// Result and no error; an error means the event should be retried.
func (h *Handler) HandleEvent(ctx context.Context, ev Event) (Result, error) {
	raw, err := json.Marshal(ev)
	if err != nil {
		raw = nil
	}
	return h.handleEvent(ctx, ev, raw)
}

func (h *Handler) handleEvent(ctx context.Context, ev Event, raw []byte) (Result, error) {
	in := incoming{source: SourceEventBridge, eventID: ev.ID, detail: ev.Detail, original: raw}
	if ev.Source == SourceScheduler {
		in.source = SourceSchedule
	}
	// Only invocations: a rule that also matched, say, completion events must not turn them into
	// tasks (which would complete, and match again).
	if ev.DetailType != DetailTypeInvoke && !(in.source == SourceSchedule && ev.DetailType == DetailTypeScheduled) {
		return h.reject(ctx, in, nil, failure{code: ReasonUnrecognizedEvent,
			message: fmt.Sprintf("detail-type %s is not an invocation: want %q, or %q from %s", quote(ev.DetailType), DetailTypeInvoke, DetailTypeScheduled, SourceScheduler)})
	}
	r, err := h.invoke(ctx, in)
	if err != nil {
		return r, fmt.Errorf("handle %s event %s: %w", in.source, ev.ID, err)
	}
	return r, nil
}

// HandleSQS handles a batch from the ingest queue, its records concurrently, and answers the ids
// of the records to redeliver: those that failed in a way that may pass.
func (h *Handler) HandleSQS(ctx context.Context, recs []batch.Record) []string {
	_, failed := h.handleSQS(ctx, recs)
	return failed
}

// errRedeliver marks a record of a batch to deliver again.
var errRedeliver = errors.New("redeliver")

func (h *Handler) handleSQS(ctx context.Context, recs []batch.Record) ([]Result, []string) {
	results := make([]Result, len(recs))
	failed := batch.Process(ctx, recs, recordConcurrency, func(ctx context.Context, i int, rec batch.Record) error {
		in := incoming{source: SourceSQS, eventID: rec.ID, detail: []byte(rec.Body), original: []byte(rec.Body)}
		r, err := h.invoke(ctx, in)
		if err != nil {
			r.Outcome, r.Message = Failed, fmt.Sprintf("handle sqs message %s: %v", rec.ID, err)
		}
		results[i] = r
		if r.Outcome == Failed {
			return errRedeliver
		}
		return nil
	})
	return results, failed
}

// incoming is one invocation to handle, whatever carried it.
type incoming struct {
	source, eventID string
	// detail is the invocation object; original the event (or message body) as received, for the
	// dead-letter queue.
	detail, original []byte
}

// invoke decodes and submits one invocation. It returns an error only for failures that may pass.
func (h *Handler) invoke(ctx context.Context, in incoming) (Result, error) {
	p, err := decodeDetail(in.detail, h.c.DefaultTenant, h.c.Schemas)
	if err != nil {
		return h.reject(ctx, in, p, classify(err, p.dialect, p.agentID))
	}
	key := p.idempotencyKey
	if key == "" {
		key = eventKey(in.source, in.eventID)
	}
	t, err := h.submit(ctx, accept.Submission{
		Tenant: p.tenant, AgentID: p.agentID, Version: p.version, IdempotencyKey: key, Source: in.source, Invocation: p.invocation,
		// Whoever put the event hears of the outcome only through an event (unless the detail
		// says completion_event: false).
		EventDriven: true,
	})
	if err != nil {
		f := classify(err, p.dialect, p.agentID)
		if f.transient {
			h.c.Logger.Error("event not handled; it will be retried", "source", in.source, "event_id", in.eventID,
				"agent_id", p.agentID, "tenant", p.tenant, "reason", f.code, "err", err)
			// The accept core's error names the agent already.
			return Result{Outcome: Failed, Source: in.source, EventID: in.eventID, AgentID: p.agentID, Tenant: p.tenant, Reason: f.code}, err
		}
		return h.reject(ctx, in, p, f)
	}
	h.c.Logger.Info("event accepted", "source", in.source, "event_id", in.eventID, "task_id", t.ID,
		"agent_id", t.AgentID, "tenant", t.Tenant, "state", t.State)
	h.c.Metrics.Count(telemetry.Triggered, 1)
	return Result{Outcome: Accepted, Source: in.source, EventID: in.eventID, TaskID: t.ID, TaskState: string(t.State),
		AgentID: t.AgentID, Tenant: t.Tenant}, nil
}

// maxResubmits bounds how many abandoned submissions of one event are followed by a new one.
const maxResubmits = 8

// submit submits an event's invocation. An earlier delivery of the event may have been abandoned
// (the accept core recorded its task failed with dispatch_failed, and it never ran): there is no
// caller to submit again, so this delivery does, under the key with "#n" appended, which its own
// retries then replay. The API's callers get the abandoned task back instead, and choose.
func (h *Handler) submit(ctx context.Context, sub accept.Submission) (*task.Task, error) {
	key := sub.IdempotencyKey
	for n := 1; ; n++ {
		t, err := h.c.Submitter.Submit(ctx, sub)
		if err != nil || key == "" || n > maxResubmits || t.State != task.Failed || t.Reason != task.ReasonDispatchFailed {
			return t, err
		}
		h.c.Logger.Warn("an earlier delivery of the event was abandoned; submitting it again", "task_id", t.ID, "idempotency_key_try", n)
		sub.IdempotencyKey = key + "#" + strconv.Itoa(n)
	}
}

// reject dead-letters an event with the reason. p may be nil or partly filled: the rejection
// names the agent and tenant when they were read.
func (h *Handler) reject(ctx context.Context, in incoming, p *parsed, f failure) (Result, error) {
	r := Rejection{
		Reason: f.code, Message: f.message, Problems: f.problems, Source: in.source, EventID: in.eventID,
		RejectedAt: h.c.Now().UTC(),
	}
	if p != nil {
		r.AgentID, r.Tenant = p.agentID, p.tenant
	}
	r.Event, r.EventOmitted = redact(in.original)
	res := Result{Outcome: Rejected, Source: in.source, EventID: in.eventID, AgentID: r.AgentID, Tenant: r.Tenant, Reason: f.code, Message: f.message}
	log := h.c.Logger.With("source", in.source, "event_id", in.eventID, "agent_id", r.AgentID, "tenant", r.Tenant, "reason", f.code)
	if h.c.Rejects == nil {
		log.Error("event rejected; no dead-letter queue is configured to keep it", "message", f.message)
	} else if err := h.c.Rejects.Reject(ctx, r); err != nil {
		log.Error("dead-letter a rejected event; it will be retried", "err", err)
		res.Outcome = Failed
		return res, fmt.Errorf("dead-letter %s event %s (%s): %w", in.source, in.eventID, f.code, err)
	} else {
		log.Warn("event rejected", "message", f.message)
	}
	h.c.Metrics.Count(telemetry.TriggerRejected, 1)
	return res, nil
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}
