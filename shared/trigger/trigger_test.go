package trigger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/lambdaevents"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/trigger"
)

const taskID = "81250b20-e9d7-4b3b-9995-07dc72b4bb59"

var now = time.Date(2026, 2, 7, 2, 13, 26, 0, time.UTC)

// fakeSubmitter accepts every submission as a queued task, unless submit says otherwise.
type fakeSubmitter struct {
	mu     sync.Mutex
	subs   []accept.Submission
	submit func(sub accept.Submission) (*task.Task, error)
}

func (s *fakeSubmitter) Submit(_ context.Context, sub accept.Submission) (*task.Task, error) {
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	if s.submit != nil {
		return s.submit(sub)
	}
	return &task.Task{ID: taskID, Tenant: sub.Tenant, AgentID: sub.AgentID, Dialect: sub.Invocation.Dialect, Source: sub.Source,
		State: task.Queued, Request: sub.Invocation.Body, Text: sub.Invocation.Text, CreatedAt: now}, nil
}

func (s *fakeSubmitter) all() []accept.Submission {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.subs)
}

// fakeRejects keeps rejections, or fails with err.
type fakeRejects struct {
	mu   sync.Mutex
	got  []trigger.Rejection
	err  error
	fail func(r trigger.Rejection) error
}

func (f *fakeRejects) Reject(_ context.Context, r trigger.Rejection) error {
	if f.fail != nil {
		if err := f.fail(r); err != nil {
			return err
		}
	}
	if f.err != nil {
		return f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, r)
	return nil
}

func (f *fakeRejects) all() []trigger.Rejection {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

type fixture struct {
	subs    *fakeSubmitter
	rejects *fakeRejects
	logs    *syncBuffer
	h       *trigger.Handler
}

// syncBuffer is a bytes.Buffer safe for concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{subs: &fakeSubmitter{}, rejects: &fakeRejects{}, logs: &syncBuffer{}}
	f.h = trigger.New(trigger.Config{
		Submitter: f.subs, Rejects: f.rejects, DefaultTenant: "acme",
		Logger: slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return now },
	})
	return f
}

// ebEvent is an EventBridge invocation event around detail.
func ebEvent(id, detail string) json.RawMessage {
	return json.RawMessage(`{"version":"0","id":"` + id + `","detail-type":"Invoke Agent","source":"com.example.orders",` +
		`"account":"123456789012","time":"2026-02-07T02:13:26Z","region":"us-east-1","resources":[],"detail":` + detail + `}`)
}

func TestDecodeInvocation(t *testing.T) {
	tests := []struct {
		name   string
		detail string
		// want, for an accepted event
		tenant, agentID, version, key, text string
		dialect                             task.Dialect
		bodyHas, bodyLacks                  []string
		// reason, for a rejected one, and the problem's location
		reason, loc string
	}{
		{name: "xpander defaults", detail: `{"agent_id":"echo","input":{"text":"hello"}}`,
			tenant: "acme", agentID: "echo", key: "eventbridge:ev-1", text: "hello", dialect: task.Xpander,
			bodyHas: []string{`"input"`}, bodyLacks: []string{"agent_id"}},
		{name: "servicenet with every control field",
			detail: `{"agent_id":"billing","dialect":"servicenet","tenant":"globex","agent_version":"3","idempotency_key":"  order-42  ","message":"Create a payment link for 15 AUD","region":"AU","auth_token":"tok-SECRET"}`,
			tenant: "globex", agentID: "billing", version: "3", key: "order-42", text: "Create a payment link for 15 AUD", dialect: task.ServiceNet,
			bodyHas: []string{`"region":"AU"`}, bodyLacks: []string{"agent_id", "tenant", "dialect", "agent_version", "idempotency_key", "auth_token", "tok-SECRET"}},
		{name: "control fields match without regard to case", detail: `{"Agent_ID":"echo","TENANT":"globex","input":{"text":"hi"}}`,
			tenant: "globex", agentID: "echo", key: "eventbridge:ev-1", text: "hi", dialect: task.Xpander, bodyLacks: []string{"Agent_ID", "TENANT"}},
		{name: "null and empty control fields take defaults", detail: `{"agent_id":"echo","tenant":null,"dialect":"","agent_version":"","idempotency_key":"","input":{"text":"hi"}}`,
			tenant: "acme", agentID: "echo", key: "eventbridge:ev-1", text: "hi", dialect: task.Xpander},
		{name: "latest version", detail: `{"agent_id":"echo","agent_version":"latest","input":{"text":"hi"}}`,
			tenant: "acme", agentID: "echo", version: "latest", key: "eventbridge:ev-1", text: "hi", dialect: task.Xpander},

		{name: "missing agent_id", detail: `{"input":{"text":"hi"}}`, reason: "validation_failed", loc: "body.agent_id"},
		{name: "null agent_id", detail: `{"agent_id":null,"input":{"text":"hi"}}`, reason: "validation_failed", loc: "body.agent_id"},
		{name: "empty agent_id", detail: `{"agent_id":"","input":{"text":"hi"}}`, reason: "validation_failed", loc: "body.agent_id"},
		{name: "agent_id not a string", detail: `{"agent_id":7,"input":{"text":"hi"}}`, reason: "validation_failed", loc: "body.agent_id"},
		{name: "agent_id no agent can have", detail: `{"agent_id":"no such/agent","input":{"text":"hi"}}`, reason: "agent_not_found"},
		{name: "unknown dialect", detail: `{"agent_id":"echo","dialect":"soap","input":{"text":"hi"}}`, reason: "validation_failed", loc: "body.dialect"},
		{name: "bad version", detail: `{"agent_id":"echo","agent_version":"../1","input":{"text":"hi"}}`, reason: "validation_failed", loc: "body.agent_version"},
		{name: "tenant with control characters", detail: `{"agent_id":"echo","tenant":"a\u0000b","input":{"text":"hi"}}`, reason: "validation_failed", loc: "body.tenant"},
		{name: "tenant too long", detail: `{"agent_id":"echo","tenant":"` + strings.Repeat("t", 257) + `","input":{"text":"hi"}}`, reason: "validation_failed", loc: "body.tenant"},
		{name: "idempotency key too long", detail: `{"agent_id":"echo","idempotency_key":"` + strings.Repeat("k", 257) + `","input":{"text":"hi"}}`, reason: "validation_failed", loc: "body.idempotency_key"},
		{name: "control field twice in two cases", detail: `{"agent_id":"echo","AGENT_ID":"other","input":{"text":"hi"}}`, reason: "validation_failed"},
		{name: "xpander body without input.text", detail: `{"agent_id":"echo","input":{}}`, reason: "validation_failed", loc: "body.input.text"},
		{name: "servicenet body without message", detail: `{"agent_id":"echo","dialect":"servicenet"}`, reason: "validation_failed", loc: "body.message"},
		{name: "detail an array", detail: `[1,2]`, reason: "malformed_json"},
		{name: "detail a string", detail: `"{\"agent_id\":\"echo\"}"`, reason: "malformed_json"},
		{name: "detail too large", detail: `{"agent_id":"echo","input":{"text":"` + strings.Repeat("x", trigger.MaxDetailBytes) + `"}}`, reason: "body_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			out, err := f.h.Handle(context.Background(), ebEvent("ev-1", tt.detail))
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			res := out.(trigger.Result)
			if tt.reason != "" {
				rej := f.rejects.all()
				if res.Outcome != trigger.Rejected || res.Reason != tt.reason || len(rej) != 1 || rej[0].Reason != tt.reason || len(f.subs.all()) != 0 {
					t.Fatalf("result %+v, rejections %+v, submissions %d; want rejected %s", res, rej, len(f.subs.all()), tt.reason)
				}
				if tt.loc != "" && !slices.ContainsFunc(rej[0].Problems, func(p dialect.Problem) bool { return strings.Join(p.Loc, ".") == tt.loc }) {
					t.Errorf("problems %+v do not name %s", rej[0].Problems, tt.loc)
				}
				return
			}
			subs := f.subs.all()
			if res.Outcome != trigger.Accepted || res.TaskID != taskID || len(subs) != 1 {
				t.Fatalf("result %+v, %d submissions; want accepted", res, len(subs))
			}
			s := subs[0]
			if s.Tenant != tt.tenant || s.AgentID != tt.agentID || s.Version != tt.version || s.IdempotencyKey != tt.key ||
				s.Source != trigger.SourceEventBridge || s.Invocation.Dialect != tt.dialect || s.Invocation.Text != tt.text ||
				!s.EventDriven { // an event's producer hears of the outcome only through the bus
				t.Errorf("submission %+v (dialect %s, text %q)", s, s.Invocation.Dialect, s.Invocation.Text)
			}
			for _, w := range tt.bodyHas {
				if !strings.Contains(string(s.Invocation.Body), w) {
					t.Errorf("body %s lacks %s", s.Invocation.Body, w)
				}
			}
			for _, w := range tt.bodyLacks {
				if strings.Contains(string(s.Invocation.Body), w) {
					t.Errorf("body %s keeps %s", s.Invocation.Body, w)
				}
			}
		})
	}
}

func TestServiceNetSecretsReachTheAgentOnly(t *testing.T) {
	f := newFixture(t)
	detail := `{"agent_id":"echo","dialect":"servicenet","message":"m","auth_token":"tok-SECRET"}`
	if _, err := f.h.Handle(context.Background(), ebEvent("ev-1", detail)); err != nil {
		t.Fatal(err)
	}
	s := f.subs.all()[0]
	if s.Invocation.AuthToken != "tok-SECRET" {
		t.Errorf("auth token = %q, want it handed to the accept core", s.Invocation.AuthToken)
	}
	if strings.Contains(f.logs.String(), "SECRET") {
		t.Errorf("the logs hold the token: %s", f.logs.String())
	}
}

func TestSources(t *testing.T) {
	sched := func(detailType string) json.RawMessage {
		in := trigger.ScheduleInput(map[string]any{"agent_id": "echo", "input": map[string]any{"text": "nightly report"}})
		in["id"], in["time"], in["resources"] = "d32c5kddcf5bb8c3", "2026-02-07T02:00:00Z", []any{"arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly"}
		in["detail-type"] = detailType
		b, _ := json.Marshal(in)
		return b
	}
	tests := []struct {
		name          string
		raw           json.RawMessage
		outcome       string
		source, key   string
		reason, event string
	}{
		{name: "eventbridge", raw: ebEvent("4c1f", `{"agent_id":"echo","input":{"text":"hi"}}`), outcome: trigger.Accepted, source: "eventbridge", key: "eventbridge:4c1f"},
		{name: "schedule", raw: sched(trigger.DetailTypeScheduled), outcome: trigger.Accepted, source: "scheduler", key: "scheduler:d32c5kddcf5bb8c3"},
		{name: "schedule sending Invoke Agent", raw: sched(trigger.DetailTypeInvoke), outcome: trigger.Accepted, source: "scheduler", key: "scheduler:d32c5kddcf5bb8c3"},
		{name: "schedule with another detail-type", raw: sched("Scheduled Event"), outcome: trigger.Rejected, source: "scheduler", reason: "unrecognized_event"},
		{name: "eventbridge with another detail-type",
			raw:     json.RawMessage(`{"id":"e2","detail-type":"Task Completed","source":"agentq","detail":{"agent_id":"echo","input":{"text":"hi"}}}`),
			outcome: trigger.Rejected, source: "eventbridge", reason: "unrecognized_event"},
		{name: "scheduled detail-type from another source",
			raw:     json.RawMessage(`{"id":"e3","detail-type":"Scheduled Agent Invocation","source":"com.example","detail":{"agent_id":"echo","input":{"text":"hi"}}}`),
			outcome: trigger.Rejected, source: "eventbridge", reason: "unrecognized_event"},
		{name: "unparseable time is not needed",
			raw:     json.RawMessage(`{"id":"e4","detail-type":"Invoke Agent","source":"x","time":"<aws.scheduler.scheduled-time>","detail":{"agent_id":"echo","input":{"text":"hi"}}}`),
			outcome: trigger.Accepted, source: "eventbridge", key: "eventbridge:e4"},
		{name: "no id, no key", raw: json.RawMessage(`{"detail-type":"Invoke Agent","source":"x","detail":{"agent_id":"echo","input":{"text":"hi"}}}`),
			outcome: trigger.Accepted, source: "eventbridge", key: ""},
		{name: "an id too long for a key is hashed", raw: ebEvent(strings.Repeat("i", 300), `{"agent_id":"echo","input":{"text":"hi"}}`),
			outcome: trigger.Accepted, source: "eventbridge", key: "eventbridge:sha256:"},
		{name: "json array", raw: json.RawMessage(`[]`), outcome: trigger.Rejected, source: "unknown", reason: "unrecognized_event", event: `[]`},
		{name: "json null", raw: json.RawMessage(`null`), outcome: trigger.Rejected, source: "unknown", reason: "unrecognized_event", event: `null`},
		{name: "not json", raw: json.RawMessage(`{"detail":`), outcome: trigger.Rejected, source: "unknown", reason: "unrecognized_event"},
		{name: "null detail", raw: json.RawMessage(`{"detail-type":"Invoke Agent","detail":null}`), outcome: trigger.Rejected, source: "unknown", reason: "unrecognized_event"},
		{name: "no records", raw: json.RawMessage(`{"Records":[]}`), outcome: trigger.Rejected, source: "unknown", reason: "unrecognized_event"},
		{name: "records of another service", raw: json.RawMessage(`{"Records":[{"eventSource":"aws:s3"}]}`), outcome: trigger.Rejected, source: "unknown", reason: "unrecognized_event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			out, err := f.h.Handle(context.Background(), tt.raw)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			res := out.(trigger.Result)
			if res.Outcome != tt.outcome || res.Source != tt.source || res.Reason != tt.reason {
				t.Fatalf("result %+v; want %s from %s (%q)", res, tt.outcome, tt.source, tt.reason)
			}
			if tt.outcome == trigger.Accepted {
				s := f.subs.all()[0]
				if s.Source != tt.source || !strings.HasPrefix(s.IdempotencyKey, tt.key) || (tt.key == "") != (s.IdempotencyKey == "") || len(s.IdempotencyKey) > trigger.MaxIdempotencyKeyBytes {
					t.Errorf("submission source %q key %q; want %q, %q", s.Source, s.IdempotencyKey, tt.source, tt.key)
				}
				if !s.EventDriven {
					t.Errorf("submission from %s not event-driven: its outcome would not go on the bus", s.Source)
				}
				return
			}
			rej := f.rejects.all()
			if len(rej) != 1 || rej[0].Reason != tt.reason || rej[0].Source != tt.source {
				t.Fatalf("rejections %+v", rej)
			}
			if tt.event != "" && string(rej[0].Event) != tt.event {
				t.Errorf("event = %s, want %s", rej[0].Event, tt.event)
			}
		})
	}
}

// TestRedeliveryMakesOneTask runs the same event twice through an accept core double that
// remembers idempotency keys, as the real one does.
func TestRedeliveryMakesOneTask(t *testing.T) {
	f := newFixture(t)
	seen := map[string]string{}
	n := 0
	var mu sync.Mutex
	f.subs.submit = func(sub accept.Submission) (*task.Task, error) {
		mu.Lock()
		defer mu.Unlock()
		if id, ok := seen[sub.IdempotencyKey]; ok && sub.IdempotencyKey != "" {
			return &task.Task{ID: id, State: task.Queued}, nil
		}
		n++
		id := fmt.Sprintf("task-%d", n)
		seen[sub.IdempotencyKey] = id
		return &task.Task{ID: id, State: task.Queued}, nil
	}
	ev := ebEvent("ev-7", `{"agent_id":"echo","input":{"text":"hi"}}`)
	var ids []string
	for range 2 {
		out, err := f.h.Handle(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, out.(trigger.Result).TaskID)
	}
	sqsEvent := sqsBatch(sqsRecord("m-1", `{"agent_id":"echo","input":{"text":"hi"}}`), sqsRecord("m-1", `{"agent_id":"echo","input":{"text":"hi"}}`))
	rep, err := f.h.HandleVerbose(context.Background(), sqsEvent)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.(trigger.Report).Results {
		ids = append(ids, r.TaskID)
	}
	if ids[0] != ids[1] || ids[2] != ids[3] || ids[0] == ids[2] || n != 2 {
		t.Errorf("task ids %v after %d tasks made; want one task per event", ids, n)
	}
}

func TestOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		transient bool
		reason    string
	}{
		{"policy", &agent.PolicyError{Code: agent.ReasonApprovalRequired, Message: "no"}, false, agent.ReasonApprovalRequired},
		{"unknown agent", fmt.Errorf("submit: %w", agent.ErrNotFound), false, "agent_not_found"},
		{"unknown version", fmt.Errorf("submit: %w", agent.ErrVersionNotFound), false, "agent_version_not_found"},
		{"idempotency mismatch", accept.ErrIdempotencyMismatch, false, "idempotency_key_reused"},
		{"thread busy", fmt.Errorf("x: %w", accept.ErrThreadBusy), false, "thread_busy"},
		{"too large", fmt.Errorf("x: %w", accept.ErrRequestTooLarge), false, "body_too_large"},
		{"store unavailable", fmt.Errorf("x: %w: boom", accept.ErrStoreUnavailable), true, "store_unavailable"},
		{"dispatch failed", &accept.DispatchError{Err: fmt.Errorf("%w: sqs down", accept.ErrQueueUnavailable)}, true, "queue_unavailable"},
		{"anything else", context.DeadlineExceeded, true, "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.subs.submit = func(accept.Submission) (*task.Task, error) { return nil, tt.err }
			res, err := f.h.HandleEvent(context.Background(), trigger.Event{
				ID: "ev-9", DetailType: trigger.DetailTypeInvoke, Source: "x", Detail: json.RawMessage(`{"agent_id":"echo","input":{"text":"hi"}}`),
			})
			if tt.transient {
				if err == nil || len(f.rejects.all()) != 0 || !errors.Is(err, tt.err) {
					t.Fatalf("err %v, rejections %v; want the error, nothing dead-lettered", err, f.rejects.all())
				}
				return
			}
			rej := f.rejects.all()
			if err != nil || res.Outcome != trigger.Rejected || res.Reason != tt.reason || len(rej) != 1 ||
				rej[0].Reason != tt.reason || rej[0].AgentID != "echo" || rej[0].Tenant != "acme" || rej[0].EventID != "ev-9" || !rej[0].RejectedAt.Equal(now) {
				t.Fatalf("err %v, result %+v, rejections %+v", err, res, rej)
			}
		})
	}
	t.Run("dead-letter queue down", func(t *testing.T) {
		f := newFixture(t)
		f.rejects.err = errors.New("sqs down")
		_, err := f.h.Handle(context.Background(), ebEvent("ev-1", `{"agent_id":"echo"}`))
		if err == nil || !strings.Contains(err.Error(), "sqs down") {
			t.Fatalf("err = %v; want the dead-letter failure, so the event is retried", err)
		}
	})
	t.Run("no dead-letter queue: logged and handled", func(t *testing.T) {
		var logs syncBuffer
		h := trigger.New(trigger.Config{Submitter: &fakeSubmitter{}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
		out, err := h.Handle(context.Background(), ebEvent("ev-1", `{"agent_id":"echo"}`))
		if err != nil || out.(trigger.Result).Outcome != trigger.Rejected || !strings.Contains(logs.String(), "validation_failed") {
			t.Fatalf("err %v, out %+v, logs %s", err, out, logs.String())
		}
	})
}

func sqsRecord(id, body string) events.SQSMessage {
	return events.SQSMessage{MessageId: id, ReceiptHandle: "rh-" + id, Body: body, EventSource: "aws:sqs",
		EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:agentq-ingest", AWSRegion: "us-east-1",
		Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
}

func sqsBatch(recs ...events.SQSMessage) json.RawMessage {
	b, _ := json.Marshal(events.SQSEvent{Records: recs})
	return b
}

func TestSQSBatch(t *testing.T) {
	f := newFixture(t)
	f.subs.submit = func(sub accept.Submission) (*task.Task, error) {
		if sub.AgentID == "flaky" {
			return nil, fmt.Errorf("x: %w", accept.ErrStoreUnavailable)
		}
		return &task.Task{ID: "task-" + sub.IdempotencyKey, State: task.Queued, AgentID: sub.AgentID, Tenant: sub.Tenant}, nil
	}
	f.rejects.fail = func(r trigger.Rejection) error {
		if r.EventID == "m-dlq-down" {
			return errors.New("dlq down")
		}
		return nil
	}
	var recs []events.SQSMessage
	for i := range 30 {
		recs = append(recs, sqsRecord(fmt.Sprintf("m-%d", i), `{"agent_id":"echo","input":{"text":"hi"}}`))
	}
	recs = append(recs,
		sqsRecord("m-bad", `{"agent_id":"echo"}`),
		sqsRecord("m-flaky", `{"agent_id":"flaky","input":{"text":"hi"}}`),
		sqsRecord("m-dlq-down", `not json`),
		sqsRecord("m-key", `{"agent_id":"echo","idempotency_key":"k1","input":{"text":"hi"}}`),
	)
	failed := f.h.HandleSQS(context.Background(), lambdaevents.Records(events.SQSEvent{Records: recs}))
	slices.Sort(failed)
	if !slices.Equal(failed, []string{"m-dlq-down", "m-flaky"}) {
		t.Errorf("batch item failures = %v, want m-dlq-down and m-flaky", failed)
	}
	rej := f.rejects.all()
	if len(rej) != 1 || rej[0].EventID != "m-bad" || rej[0].Source != "sqs" || rej[0].Reason != "validation_failed" {
		t.Errorf("rejections = %+v, want m-bad's", rej)
	}
	keys := map[string]bool{}
	for _, s := range f.subs.all() {
		keys[s.IdempotencyKey] = true
		if s.Source != "sqs" || !s.EventDriven {
			t.Errorf("source = %q, event-driven %v", s.Source, s.EventDriven)
		}
	}
	if !keys["sqs:m-0"] || !keys["sqs:m-29"] || !keys["k1"] || keys["sqs:m-key"] {
		t.Errorf("idempotency keys %v", keys)
	}

	// Handle answers the same, in the Lambda response's shape.
	out, err := f.h.Handle(context.Background(), sqsBatch(recs...))
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := out.(events.SQSEventResponse); !ok || len(r.BatchItemFailures) != 2 {
		t.Errorf("Handle answered %#v", out)
	}
	rep, _ := f.h.HandleVerbose(context.Background(), sqsBatch(recs...))
	results := rep.(trigger.Report).Results
	if len(results) != len(recs) || results[30].Outcome != trigger.Rejected || results[31].Outcome != trigger.Failed || results[0].Outcome != trigger.Accepted {
		t.Errorf("verbose results %+v", results)
	}
}

// secretValue is what every credential in these tests holds.
const secretValue = "s3cr3t-VALUE"

func TestRejectionsRedactCredentials(t *testing.T) {
	tests := []struct {
		name string
		raw  json.RawMessage
	}{
		{"servicenet auth_token", ebEvent("e1", `{"agent_id":"echo","dialect":"servicenet","auth_token":"`+secretValue+`"}`)},
		{"xpander user tokens", ebEvent("e2", `{"agent_id":"echo","user_tokens":{"github":"`+secretValue+`"},"user_oidc_token":"`+secretValue+`","input":{}}`)},
		{"any case, any depth", ebEvent("e3", `{"agent_id":"no such/agent","Auth_Token":"`+secretValue+`","nested":[{"USER_OIDC_TOKEN":"`+secretValue+`"}],"input":{"text":"x"}}`)},
		{"sqs body", sqsBatch(sqsRecord("m1", `{"agent_id":"echo","auth_token":"`+secretValue+`"}`))},
		{"unrecognized payload", json.RawMessage(`{"hello":{"auth_token":"` + secretValue + `"}}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if _, err := f.h.Handle(context.Background(), tt.raw); err != nil {
				t.Fatal(err)
			}
			rej := f.rejects.all()
			if len(rej) != 1 {
				t.Fatalf("rejections = %d", len(rej))
			}
			body, err := rej[0].Encode()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(body), secretValue) || !strings.Contains(string(body), trigger.Redacted) {
				t.Errorf("dead-letter message %s", body)
			}
			if strings.Contains(f.logs.String(), secretValue) {
				t.Errorf("logs hold the secret: %s", f.logs.String())
			}
		})
	}
	t.Run("a body that is not JSON is left out", func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.h.Handle(context.Background(), sqsBatch(sqsRecord("m1", `{"auth_token":"`+secretValue+`"`))); err != nil {
			t.Fatal(err)
		}
		r := f.rejects.all()[0]
		if r.Reason != "malformed_json" || r.Event != nil || !strings.Contains(r.EventOmitted, "not JSON") {
			t.Errorf("rejection %+v", r)
		}
	})
}

func TestRejectionFormat(t *testing.T) {
	f := newFixture(t)
	if _, err := f.h.Handle(context.Background(), ebEvent("ev-1", `{"agent_id":"echo","input":{"text":""}}`)); err != nil {
		t.Fatal(err)
	}
	body, err := f.rejects.all()[0].Encode()
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	ev, _ := got["event"].(map[string]any)
	detail, _ := ev["detail"].(map[string]any)
	problems, _ := got["problems"].([]any)
	if got["reason"] != "validation_failed" || got["source"] != "eventbridge" || got["event_id"] != "ev-1" || got["agent_id"] != "echo" ||
		got["tenant"] != "acme" || got["rejected_at"] != "2026-02-07T02:13:26Z" || ev["id"] != "ev-1" || detail["agent_id"] != "echo" ||
		len(problems) != 1 || !strings.Contains(got["message"].(string), "input.text") {
		t.Errorf("dead-letter message %s", body)
	}

	// An event too large for a queue message is left out, the rest kept.
	big := trigger.Rejection{Reason: "body_too_large", Source: "sqs", EventID: "m", Event: json.RawMessage(`"` + strings.Repeat("x", trigger.MaxRejectionBytes) + `"`)}
	b, err := big.Encode()
	if err != nil || len(b) > trigger.MaxRejectionBytes || !strings.Contains(string(b), `"event":null`) || !strings.Contains(string(b), "too large") {
		t.Errorf("err %v, %d bytes: %.200s", err, len(b), b)
	}
}

func TestScheduleInput(t *testing.T) {
	s, err := trigger.ScheduleInputJSON(map[string]any{"agent_id": "echo", "dialect": "servicenet", "message": "nightly <b>"})
	if err != nil {
		t.Fatal(err)
	}
	// Scheduler replaces its context attributes in the text: they must be there as they are.
	for _, attr := range []string{trigger.ScheduleExecutionID, trigger.ScheduledTime, trigger.ScheduleARN} {
		if !strings.Contains(s, `"`+attr+`"`) {
			t.Errorf("input %s lacks %s", s, attr)
		}
	}
	var ev events.EventBridgeEvent
	s = strings.ReplaceAll(s, trigger.ScheduledTime, "2026-02-07T02:00:00Z")
	if err := json.Unmarshal([]byte(s), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Source != trigger.SourceScheduler || ev.DetailType != trigger.DetailTypeScheduled || ev.ID != trigger.ScheduleExecutionID ||
		len(ev.Resources) != 1 || ev.Resources[0] != trigger.ScheduleARN {
		t.Errorf("envelope %s", s)
	}
}

// A redelivered event whose first submission was abandoned (recorded failed, never run) is
// submitted again under a derived key, which the event's later deliveries replay: the work runs
// once, although the event has no caller to submit it again.
func TestRedeliveryOfAnAbandonedEventRunsTheWork(t *testing.T) {
	f := newFixture(t)
	f.subs.submit = func(sub accept.Submission) (*task.Task, error) {
		switch sub.IdempotencyKey {
		case "eventbridge:ev-7": // the first delivery's task, abandoned
			return &task.Task{ID: "abandoned", State: task.Failed, Reason: task.ReasonDispatchFailed}, nil
		case "eventbridge:ev-7#1":
			return &task.Task{ID: "second", State: task.Queued}, nil
		}
		return nil, fmt.Errorf("unexpected key %q", sub.IdempotencyKey)
	}
	ev := trigger.Event{ID: "ev-7", DetailType: trigger.DetailTypeInvoke, Source: "x", Detail: json.RawMessage(`{"agent_id":"echo","input":{"text":"hi"}}`)}
	res, err := f.h.HandleEvent(context.Background(), ev)
	if err != nil || res.TaskID != "second" || res.Outcome != trigger.Accepted {
		t.Fatalf("HandleEvent = %+v, %v; want the second task accepted", res, err)
	}
	// A task that failed for its own reasons is the event's outcome: no second submission.
	f2 := newFixture(t)
	f2.subs.submit = func(accept.Submission) (*task.Task, error) {
		return &task.Task{ID: "ran", State: task.Failed, Reason: task.ReasonAgentFailed}, nil
	}
	if res, err := f2.h.HandleEvent(context.Background(), ev); err != nil || res.TaskID != "ran" || len(f2.subs.all()) != 1 {
		t.Fatalf("HandleEvent = %+v, %v after %d submissions; want the failed task, once", res, err, len(f2.subs.all()))
	}
}

// TestEventDeclinesCompletionEvent: an event's producer that does not listen for the outcome says
// so in the detail, as an HTTP caller would ask for it; the accept core decides from both.
func TestEventDeclinesCompletionEvent(t *testing.T) {
	f := newFixture(t)
	if _, err := f.h.Handle(context.Background(), ebEvent("ev-1", `{"agent_id":"echo","input":{"text":"hi"},"completion_event":false}`)); err != nil {
		t.Fatal(err)
	}
	subs := f.subs.all()
	if len(subs) != 1 {
		t.Fatalf("%d submissions, want 1", len(subs))
	}
	if inv := subs[0].Invocation; !subs[0].EventDriven || inv.CompletionEvent == nil || *inv.CompletionEvent ||
		accept.CompletionEvents(inv, subs[0].EventDriven) {
		t.Errorf("submission event-driven %v, completion_event %v: the outcome would go on the bus", subs[0].EventDriven, inv.CompletionEvent)
	}
}
