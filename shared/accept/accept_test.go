package accept_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/deadline"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/task/tasktest"
)

// fakeStore records what the accept core submits, keeps the tasks it recorded in the in-memory
// task store (which also serves the tasks a test sets up, and answers transitions under the real
// store's conditions), and serves threads and idempotency keys a test sets up.
type fakeStore struct {
	*tasktest.Store
	// mu is a pointer so that types embedding a fakeStore by value copy no lock.
	mu          *sync.Mutex
	created     []*task.Task
	opts        []task.SubmitOptions
	threads     map[string]*task.Thread
	keys        map[string][2]string // tenant/key -> task id, body hash
	threadReads int
	abandoned   []*task.Task
	// create, when set, runs in place of a successful Submit.
	create func(ctx context.Context, t *task.Task) error
	// abandon, when set, answers Abandon in place of the in-memory store.
	abandon func(ctx context.Context, t *task.Task) (*task.Task, error)
}

func newFakeStore() *fakeStore { return &fakeStore{Store: tasktest.New(), mu: new(sync.Mutex)} }

func (s *fakeStore) Submit(ctx context.Context, t *task.Task, o task.SubmitOptions) error {
	s.mu.Lock()
	// A used key fails the write, as the store's transaction does, and records nothing.
	if o.Idempotency != nil {
		if r, ok := s.keys[t.Tenant+"/"+o.Idempotency.Key]; ok {
			s.mu.Unlock()
			return &task.ReplayError{TaskID: r[0], BodyHash: r[1]}
		}
	}
	cp := *t
	s.created = append(s.created, &cp)
	s.opts = append(s.opts, o)
	create := s.create
	s.mu.Unlock()
	if create != nil {
		if err := create(ctx, t); err != nil {
			return err
		}
	}
	return s.Create(ctx, &cp)
}

// ReadThread answers, as the store's one batch read does, the thread's record (or the thread its
// first turn implies) and that first turn, when the task at the thread's id is one.
func (s *fakeStore) ReadThread(_ context.Context, tenant, id string) (*task.Thread, *task.Task, error) {
	s.mu.Lock()
	s.threadReads++
	rec, stored := s.threads[tenant+"/"+id]
	s.mu.Unlock()
	first := s.Task(id) // read with the record: not a Get of its own
	var turn *task.Task
	if first.ID != "" && first.Tenant == tenant && first.ThreadID == id {
		turn = &first
	}
	switch {
	case stored:
		th := *rec
		return &th, turn, nil
	case turn != nil:
		return &task.Thread{ID: id, Tenant: tenant, LatestTaskID: id, Turns: 1}, turn, nil
	}
	return &task.Thread{ID: id, Tenant: tenant}, nil, nil
}

// Abandon runs the test's hook, or the in-memory store's conditional put.
func (s *fakeStore) Abandon(ctx context.Context, t *task.Task, now time.Time, reason, message string) (*task.Task, error) {
	s.mu.Lock()
	abandon := s.abandon
	s.mu.Unlock()
	if abandon != nil {
		return abandon(ctx, t)
	}
	failed, err := s.Store.Abandon(ctx, t, now, reason, message)
	if err == nil {
		s.mu.Lock()
		s.abandoned = append(s.abandoned, failed)
		s.mu.Unlock()
	}
	return failed, err
}

// fakeQueue records the messages the accept core sends.
type fakeQueue struct {
	mu    sync.Mutex
	sent  []*queue.Message
	delay []time.Duration
	send  func(ctx context.Context, m *queue.Message) error
}

func (q *fakeQueue) Send(ctx context.Context, m *queue.Message, delay time.Duration) error {
	q.mu.Lock()
	q.sent = append(q.sent, m)
	q.delay = append(q.delay, delay)
	send := q.send
	q.mu.Unlock()
	if send != nil {
		return send(ctx, m)
	}
	return nil
}

// fakeRegistry publishes one version of each of a fixed set of agents.
type fakeRegistry map[string]agent.Agent

func (r fakeRegistry) Lookup(_ context.Context, id, version string) (agent.Agent, error) {
	a, ok := r[id]
	if !ok {
		return agent.Agent{}, fmt.Errorf("lookup %q: %w", id, agent.ErrNotFound)
	}
	if version != "" && version != agent.Latest && version != a.Version {
		return agent.Agent{}, fmt.Errorf("lookup %q version %q: %w", id, version, agent.ErrVersionNotFound)
	}
	return a, nil
}

var (
	now  = time.Date(2026, 2, 7, 2, 13, 26, 0, time.UTC)
	echo = agent.Agent{ID: "echo", Version: "7", Name: "Echo", Protocol: agent.HTTP, Endpoint: "http://127.0.0.1:9/",
		Timeout: agent.Duration(30 * time.Second), Auth: agent.AuthForward, CostUnits: 3,
		ExpectedDuration: agent.Duration(1500 * time.Millisecond)}
	registry = fakeRegistry{
		"echo":    echo,
		"risky":   {ID: "risky", Protocol: agent.HTTP, Endpoint: "http://127.0.0.1:9/", RequiresApproval: true},
		"pricey":  {ID: "pricey", Protocol: agent.HTTP, Endpoint: "http://127.0.0.1:9/", CostUnits: 100},
		"aussies": {ID: "aussies", Protocol: agent.HTTP, Endpoint: "http://127.0.0.1:9/", AllowedRegions: []string{"AU"}},
		"plain":   {ID: "plain", Version: "1", Protocol: agent.HTTP, Endpoint: "http://127.0.0.1:9/", Auth: agent.AuthNone},
	}
)

const taskID = "81250b20-e9d7-4b3b-9995-07dc72b4bb59"

type harness struct {
	svc   *accept.Service
	store *fakeStore
	queue *fakeQueue
	logs  *bytes.Buffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{store: newFakeStore(), queue: &fakeQueue{}, logs: &bytes.Buffer{}}
	h.svc = accept.New(accept.Config{
		Store: h.store, Queue: h.queue, Registry: registry, TTL: 30 * 24 * time.Hour,
		Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return now }, NewID: func() string { return taskID },
	})
	return h
}

func decode(t *testing.T, d func([]byte) (*dialect.Invocation, error), body string) *dialect.Invocation {
	t.Helper()
	inv, err := d([]byte(body))
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return inv
}

const (
	xpanderBody    = `{"input":{"text":"hello"},"id":"thread-1","user_tokens":{"gh":"ghp-SECRET-1"},"user_oidc_token":"oidc-SECRET-2"}`
	serviceNetBody = `{"message":"pay 15 AUD","context_id":"ctx-1","auth_token":"auth-SECRET-3","region":"AU","confirm_risky":true}`
)

var secretValues = []string{"ghp-SECRET-1", "oidc-SECRET-2", "auth-SECRET-3"}

func TestSubmitSuccess(t *testing.T) {
	tests := []struct {
		name       string
		decode     func([]byte) (*dialect.Invocation, error)
		body       string
		wantText   string
		wantThread string
		wantToken  string
		wantSecret []string
		// wantNeeds: the message carries what the task does not keep, so a lost one cannot be rebuilt.
		wantNeeds bool
	}{
		{"xpander", dialect.DecodeXpander, xpanderBody, "hello", "thread-1", "", []string{"user_oidc_token", "user_tokens"}, true},
		// An xpander task without an id starts a conversation named after itself.
		{"xpander first turn", dialect.DecodeXpander, `{"input":{"text":"hello"}}`, "hello", taskID, "", nil, false},
		{"servicenet", dialect.DecodeServiceNet, serviceNetBody, "pay 15 AUD", "ctx-1", "auth-SECRET-3", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			inv := decode(t, tt.decode, tt.body)
			got, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo", Source: "api", Invocation: inv})
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			if len(h.store.created) != 1 || len(h.queue.sent) != 1 {
				t.Fatalf("created %d tasks and sent %d messages, want 1 and 1", len(h.store.created), len(h.queue.sent))
			}
			want := &task.Task{
				ID: taskID, Tenant: "org-1", AgentID: "echo", AgentVersion: "7", Dialect: inv.Dialect, Source: "api",
				ThreadID: tt.wantThread, ThreadSeq: 1, State: task.Queued, Version: 1, Request: inv.Body, Text: tt.wantText,
				CostUnits: 3, Expected: 1500 * time.Millisecond, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour), NeedsSecrets: tt.wantNeeds,
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("task = %+v\nwant   %+v", got, want)
			}
			if !reflect.DeepEqual(h.store.created[0], want) {
				t.Errorf("recorded task = %+v\nwant            %+v", h.store.created[0], want)
			}
			// The task holds no secret in any field.
			if s := fmt.Sprintf("%+v %s", got, got.Request); containsAny(s, secretValues) {
				t.Errorf("task holds a secret: %s", s)
			}

			m := h.queue.sent[0]
			// The message carries what the worker needs to call the agent without reading the task.
			gotMsg := queue.Message{Kind: m.Kind, TaskID: m.TaskID, Tenant: m.Tenant, Agent: m.Agent, ThreadID: m.ThreadID,
				Text: m.Text, Request: m.Request, Secrets: m.Secrets, AuthToken: m.AuthToken, AcceptedAt: m.AcceptedAt}
			wantMsg := queue.Message{
				Kind: queue.KindInvoke, TaskID: taskID, Tenant: "org-1", Agent: echo, ThreadID: tt.wantThread,
				Text: tt.wantText, Request: inv.Body, Secrets: inv.Secrets, AuthToken: tt.wantToken, AcceptedAt: now,
			}
			if !reflect.DeepEqual(gotMsg, wantMsg) {
				t.Errorf("message = %+v\nwant      %+v", m, wantMsg)
			}
			if h.queue.delay[0] != 0 {
				t.Errorf("message delayed by %v", h.queue.delay[0])
			}
			var gotSecrets []string
			for k := range m.Secrets {
				gotSecrets = append(gotSecrets, k)
			}
			if len(gotSecrets) != len(tt.wantSecret) {
				t.Errorf("message secrets = %v, want %v", gotSecrets, tt.wantSecret)
			}
			if len(h.store.Changes()) != 0 {
				t.Errorf("transitions on success: %+v", h.store.Changes())
			}
			if o := h.store.opts[0]; o.Idempotency != nil {
				t.Errorf("submit options = %+v, want no idempotency key", o)
			}

			logs := h.logs.String()
			if !strings.Contains(logs, `"msg":"task accepted"`) || !strings.Contains(logs, `"task_id":"`+taskID+`"`) ||
				!strings.Contains(logs, `"tenant":"org-1"`) || !strings.Contains(logs, `"agent_id":"echo"`) {
				t.Errorf("log lacks the accepted line with task, agent and tenant: %s", logs)
			}
			if containsAny(logs, secretValues) {
				t.Errorf("log holds a secret: %s", logs)
			}
		})
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func TestSubmitWithoutTTLNeverExpires(t *testing.T) {
	st, q := newFakeStore(), &fakeQueue{}
	svc := accept.New(accept.Config{Store: st, Queue: q, Registry: registry})
	got, err := svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
		Invocation: decode(t, dialect.DecodeXpander, `{"input":{"text":"x"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if !got.ExpiresAt.IsZero() {
		t.Errorf("ExpiresAt = %v, want zero without a TTL", got.ExpiresAt)
	}
	// Default ids are random UUIDs; default times are the clock, in UTC.
	if len(got.ID) != 36 || got.CreatedAt.Location() != time.UTC || time.Since(got.CreatedAt) > time.Minute {
		t.Errorf("defaults: id %q, created %v", got.ID, got.CreatedAt)
	}
}

func TestSubmitRefused(t *testing.T) {
	tests := []struct {
		name    string
		agentID string
		version string
		body    string
		check   func(t *testing.T, err error)
	}{
		{"unknown agent", "nobody", "", `{"message":"hi"}`, func(t *testing.T, err error) {
			if !errors.Is(err, agent.ErrNotFound) {
				t.Errorf("err = %v, want agent.ErrNotFound", err)
			}
		}},
		{"unknown version", "echo", "8", `{"message":"hi"}`, func(t *testing.T, err error) {
			if !errors.Is(err, agent.ErrVersionNotFound) {
				t.Errorf("err = %v, want agent.ErrVersionNotFound", err)
			}
		}},
		{"approval required", "risky", "", `{"message":"hi"}`, wantPolicy(agent.ReasonApprovalRequired)},
		{"cost over cap", "pricey", "", `{"message":"hi","max_cost_units":99}`, wantPolicy(agent.ReasonCostLimitExceeded)},
		{"region not allowed", "aussies", "", `{"message":"hi","region":"US"}`, wantPolicy(agent.ReasonRegionNotAllowed)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			got, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: tt.agentID,
				Version: tt.version, Invocation: decode(t, dialect.DecodeServiceNet, tt.body)})
			if got != nil {
				t.Errorf("task = %+v, want nil", got)
			}
			tt.check(t, err)
			if len(h.store.created) != 0 || len(h.queue.sent) != 0 || len(h.store.Changes()) != 0 {
				t.Errorf("refused submission wrote %d, sent %d, moved %d", len(h.store.created), len(h.queue.sent), len(h.store.Changes()))
			}
		})
	}
}

func wantPolicy(code string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var pe *agent.PolicyError
		if !errors.As(err, &pe) || pe.Code != code {
			t.Errorf("err = %v, want a *agent.PolicyError with code %s", err, code)
		}
	}
}

func TestSubmitPolicyPasses(t *testing.T) {
	for _, tt := range []struct{ agentID, body string }{
		{"risky", `{"message":"hi","confirm_risky":true}`},
		{"pricey", `{"message":"hi","max_cost_units":100}`},
		{"aussies", `{"message":"hi","region":"au"}`},
	} {
		t.Run(tt.agentID, func(t *testing.T) {
			h := newHarness(t)
			if _, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: tt.agentID,
				Invocation: decode(t, dialect.DecodeServiceNet, tt.body)}); err != nil {
				t.Fatalf("Submit: %v", err)
			}
		})
	}
}

// A submission that fails halfway is abandoned with a write no worker can get past, and the
// caller hears the truth: 5xx with the failed task when the abandon holds, the task as accepted
// when a worker took it first or when its record stands and cannot be abandoned (it will end),
// and store_unavailable with no task only when nothing was recorded.
func TestSubmitFailsHalfway(t *testing.T) {
	sendErr, createErr, storeDown := errors.New("sqs: timeout"), errors.New("dynamodb: timeout"), errors.New("dynamodb: still down")
	claimed := func(context.Context, *task.Task) (*task.Task, error) {
		return nil, fmt.Errorf("abandon: %w", &task.ConflictError{Current: &task.Task{ID: taskID, State: task.Running, Version: 2}})
	}
	down := func(context.Context, *task.Task) (*task.Task, error) { return nil, storeDown }
	tests := []struct {
		name                string
		sendFails, noRecord bool
		abandon             func(context.Context, *task.Task) (*task.Task, error)
		wantState           task.State // of the task answered, or of DispatchError.Task
		wantDispatch        bool
		wantStoreDown       bool
	}{
		{"send fails, abandoned", true, false, nil, task.Failed, true, false},
		{"write fails, abandoned", false, true, nil, task.Failed, true, false},
		{"both fail, abandoned", true, true, nil, task.Failed, true, false},
		{"send fails, a worker claimed it first", true, false, claimed, task.Running, false, false},
		{"write fails, a worker claimed it first", false, true, claimed, task.Running, false, false},
		{"send fails, abandon fails: the recorded task is accepted", true, false, down, task.Queued, false, false},
		{"write times out, abandon fails: it may land, so it is accepted", false, true, down, task.Queued, false, false},
		{"write refused, abandon fails: nothing recorded", false, true, down, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.sendFails {
				h.queue.send = func(context.Context, *queue.Message) error { return sendErr }
			}
			if tt.noRecord {
				err := createErr
				if tt.wantStoreDown {
					err = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
				}
				h.store.create = func(context.Context, *task.Task) error { return err }
			}
			var reserve time.Duration
			h.store.abandon = tt.abandon
			if tt.abandon == nil {
				h.store.abandon = func(ctx context.Context, t *task.Task) (*task.Task, error) {
					dl, _ := ctx.Deadline()
					reserve = time.Until(dl)
					failed := *t
					failed.State, failed.Reason = task.Failed, task.ReasonDispatchFailed
					return &failed, nil
				}
			}
			// The caller's own deadline is spent: the reserve is still there for the abandon.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			got, err := h.svc.Submit(ctx, accept.Submission{Tenant: "org-1", AgentID: "echo",
				Invocation: decode(t, dialect.DecodeXpander, xpanderBody)})
			var de *accept.DispatchError
			switch {
			case tt.wantDispatch:
				if !errors.As(err, &de) || de.Task == nil || de.Task.ID != taskID || de.Task.State != tt.wantState {
					t.Fatalf("Submit = %+v, %v; want a DispatchError with the failed task", got, err)
				}
				// The cause names the dependency the caller is told of: the store's when the
				// write failed, else the queue's.
				if tt.noRecord != errors.Is(err, accept.ErrStoreUnavailable) || tt.noRecord == errors.Is(err, accept.ErrQueueUnavailable) {
					t.Errorf("err = %v: its cause should be the store exactly when the write failed, else the queue", err)
				}
				if reserve <= 0 || reserve > deadline.Default().Reserve {
					t.Errorf("abandon had %v, want the reserve", reserve)
				}
			case tt.wantStoreDown:
				if got != nil || !errors.Is(err, accept.ErrStoreUnavailable) || errors.As(err, &de) {
					t.Fatalf("Submit = %+v, %v; want store unavailable", got, err)
				}
			default:
				if err != nil || got == nil || got.ID != taskID || got.State != tt.wantState {
					t.Fatalf("Submit = %+v, %v; want the task %s", got, err, tt.wantState)
				}
			}
			if len(h.store.Changes()) != 0 {
				t.Errorf("transitions %+v: a failure must be recorded by Abandon alone", h.store.Changes())
			}
			if containsAny(h.logs.String(), secretValues) {
				t.Errorf("log holds a secret: %s", h.logs)
			}
		})
	}
}

// Whether a failed write may have landed decides the answer when the task cannot be abandoned:
// a refusal (no connection, a 4xx) wrote nothing; a 5xx or a timeout may have.
func TestSubmitRefusedOrMaybeWritten(t *testing.T) {
	response := func(status int) error {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: errors.New("dynamodb")}
	}
	for _, tc := range []struct {
		name      string
		err       error
		wantStore bool
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"throttled (400)", response(http.StatusBadRequest), true},
		{"internal error (500)", response(http.StatusInternalServerError), false},
		{"timeout", context.DeadlineExceeded, false},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.store.create = func(context.Context, *task.Task) error { return fmt.Errorf("put: %w", tc.err) }
			h.store.abandon = func(context.Context, *task.Task) (*task.Task, error) { return nil, errors.New("still down") }
			got, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
				Invocation: decode(t, dialect.DecodeXpander, xpanderBody)})
			if tc.wantStore != errors.Is(err, accept.ErrStoreUnavailable) || tc.wantStore == (got != nil) {
				t.Errorf("Submit = %v, %v; want store unavailable %v, else the task accepted", got, err, tc.wantStore)
			}
		})
	}
}

// A write that finds its own id taken is the SDK retrying a write that landed: it succeeded.
func TestSubmitOwnWriteRetried(t *testing.T) {
	h := newHarness(t)
	h.store.create = func(context.Context, *task.Task) error { return fmt.Errorf("create: %w", task.ErrExists) }
	got, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
		Invocation: decode(t, dialect.DecodeXpander, xpanderBody)})
	if err != nil || got.State != task.Queued || len(h.store.abandoned) != 0 {
		t.Fatalf("Submit = %+v, %v; want it accepted", got, err)
	}
}

// TestSubmitWritesAndSendsConcurrently: Create does not return until Send has started, which can
// only happen if the two run at the same time.
func TestSubmitWritesAndSendsConcurrently(t *testing.T) {
	h := newHarness(t)
	sending := make(chan struct{})
	h.queue.send = func(context.Context, *queue.Message) error { close(sending); return nil }
	h.store.create = func(ctx context.Context, _ *task.Task) error {
		select {
		case <-sending:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("Send did not start while Create was running")
		}
	}
	if _, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
		Invocation: decode(t, dialect.DecodeXpander, xpanderBody)}); err != nil {
		t.Fatalf("Submit: %v", err)
	}
}

// TestSubmitWriteOutlivesTheCaller: a caller hanging up must not cut the write short.
func TestSubmitWriteOutlivesTheCaller(t *testing.T) {
	h := newHarness(t)
	var (
		createErr error
		left      time.Duration
		ok        bool
	)
	h.store.create = func(ctx context.Context, _ *task.Task) error {
		createErr = ctx.Err()
		var dl time.Time
		dl, ok = ctx.Deadline()
		left = time.Until(dl)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.svc.Submit(ctx, accept.Submission{Tenant: "org-1", AgentID: "echo",
		Invocation: decode(t, dialect.DecodeXpander, xpanderBody)}); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if createErr != nil {
		t.Errorf("write context was done (%v) because the caller's was", createErr)
	}
	// The request budget less the reserve kept for recording a failure.
	if b := deadline.Default(); !ok || left <= 0 || left > b.Request-b.Reserve {
		t.Errorf("write context deadline in %v (set %v), want one at most %v away", left, ok, b.Request-b.Reserve)
	}
}

// The message must carry what the worker needs even when it is re-read from the queue.
func TestSubmittedMessageEncodes(t *testing.T) {
	h := newHarness(t)
	if _, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
		Invocation: decode(t, dialect.DecodeServiceNet, serviceNetBody)}); err != nil {
		t.Fatal(err)
	}
	body, err := queue.Encode(h.queue.sent[0])
	if err != nil {
		t.Fatal(err)
	}
	m, err := queue.Decode(body)
	if err != nil {
		t.Fatalf("the sent message does not decode: %v", err)
	}
	if m.AuthToken != "auth-SECRET-3" || m.Agent.Endpoint != echo.Endpoint || !json.Valid(m.Request) {
		t.Errorf("decoded message = %+v", m)
	}
}

func TestSubmitVersion(t *testing.T) {
	for _, v := range []string{"", agent.Latest, "7"} {
		t.Run(v, func(t *testing.T) {
			h := newHarness(t)
			got, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo", Version: v,
				Invocation: decode(t, dialect.DecodeServiceNet, `{"message":"hi"}`)})
			if err != nil || got.AgentVersion != "7" || h.queue.sent[0].Agent.Version != "7" {
				t.Errorf("Submit = %+v, %v; want version 7 recorded and sent", got, err)
			}
		})
	}
}

const prevID = "00000000-0000-4000-8000-000000000001"

func TestSubmitJoinsThread(t *testing.T) {
	h := newHarness(t)
	th := &task.Thread{ID: "thread-1", Tenant: "org-1", LatestTaskID: prevID, Turns: 2, Stored: true}
	h.store.threads = map[string]*task.Thread{"org-1/thread-1": th}
	got, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
		Invocation: decode(t, dialect.DecodeXpander, xpanderBody)})
	if err != nil {
		t.Fatal(err)
	}
	if got.ThreadID != "thread-1" || got.ThreadSeq != 3 || got.PrevTaskID != prevID {
		t.Errorf("task in thread %s at turn %d after %s, want thread-1 turn 3 after %s", got.ThreadID, got.ThreadSeq, got.PrevTaskID, prevID)
	}
	if m := h.queue.sent[0]; m.ThreadID != "thread-1" {
		t.Errorf("message thread %s, want thread-1", m.ThreadID)
	}
	if o := h.store.opts[0]; o.Thread == nil || *o.Thread != *th {
		t.Errorf("submitted with thread %+v, want the thread as read", o.Thread)
	}
	// xpander: the id of a task that began a conversation names that conversation, before it has
	// a thread record of its own.
	h = newHarness(t)
	h.store.Put(&task.Task{ID: prevID, Tenant: "org-1", ThreadID: prevID, ThreadSeq: 1, State: task.Succeeded})
	got, err = h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
		Invocation: decode(t, dialect.DecodeXpander, `{"input":{"text":"and then?"},"id":"`+prevID+`"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got.ThreadID != prevID || got.ThreadSeq != 2 || got.PrevTaskID != prevID {
		t.Errorf("task in thread %s at turn %d after %s, want %s turn 2 after it", got.ThreadID, got.ThreadSeq, got.PrevTaskID, prevID)
	}
	// The first turn came with the thread's read: it is checked without another round trip.
	if h.store.threadReads != 1 || h.store.Gets() != 0 {
		t.Errorf("%d thread reads and %d task reads, want the one read of the thread", h.store.threadReads, h.store.Gets())
	}
	// A thread of another tenant with the same id is not this one.
	h = newHarness(t)
	h.store.threads = map[string]*task.Thread{"org-2/thread-1": th}
	got, err = h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
		Invocation: decode(t, dialect.DecodeXpander, xpanderBody)})
	if err != nil || got.ThreadSeq != 1 || got.PrevTaskID != "" {
		t.Errorf("Submit = %+v, %v; want a first turn", got, err)
	}
}

func TestSubmitRejectStrategy(t *testing.T) {
	for _, tt := range []struct {
		prev     task.State
		wantBusy bool
		// A paused turn waits for input: the next turn answers it rather than overlapping it.
	}{{task.Running, true}, {task.Queued, true}, {task.Paused, false}, {task.Succeeded, false}, {task.Failed, false}} {
		t.Run(string(tt.prev), func(t *testing.T) {
			h := newHarness(t)
			h.store.threads = map[string]*task.Thread{"org-1/ctx-1": {ID: "ctx-1", Tenant: "org-1", LatestTaskID: prevID, Turns: 1, Stored: true}}
			h.store.Put(&task.Task{ID: prevID, Tenant: "org-1", State: tt.prev})
			_, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
				Invocation: decode(t, dialect.DecodeServiceNet, `{"message":"next","context_id":"ctx-1","multitask_strategy":"reject"}`)})
			if got := errors.Is(err, accept.ErrThreadBusy); got != tt.wantBusy {
				t.Fatalf("err = %v, want busy %v", err, tt.wantBusy)
			}
			if tt.wantBusy && (len(h.store.created) != 0 || len(h.queue.sent) != 0) {
				t.Errorf("a refused turn wrote %d and sent %d", len(h.store.created), len(h.queue.sent))
			}
		})
	}
}

func TestSubmitThreadRace(t *testing.T) {
	t.Run("moved once", func(t *testing.T) {
		h := newHarness(t)
		h.store.threads = map[string]*task.Thread{"org-1/thread-1": {ID: "thread-1", LatestTaskID: prevID, Turns: 1, Stored: true}}
		var calls int
		h.store.create = func(_ context.Context, _ *task.Task) error {
			calls++
			if calls == 1 {
				// Another turn lands first.
				h.store.mu.Lock()
				h.store.threads["org-1/thread-1"] = &task.Thread{ID: "thread-1", LatestTaskID: "other", Turns: 2, Stored: true}
				h.store.mu.Unlock()
				return task.ErrThreadMoved
			}
			return nil
		}
		got, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
			Invocation: decode(t, dialect.DecodeXpander, xpanderBody)})
		if err != nil {
			t.Fatal(err)
		}
		if got.ThreadSeq != 3 || got.PrevTaskID != "other" {
			t.Errorf("task at turn %d after %s, want turn 3 after the turn that won", got.ThreadSeq, got.PrevTaskID)
		}
	})
	t.Run("always moving", func(t *testing.T) {
		h := newHarness(t)
		h.store.create = func(context.Context, *task.Task) error { return task.ErrThreadMoved }
		_, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
			Invocation: decode(t, dialect.DecodeXpander, xpanderBody)})
		if !errors.Is(err, accept.ErrThreadBusy) {
			t.Errorf("err = %v, want ErrThreadBusy after bounded retries", err)
		}
		if n := len(h.store.created); n < 2 || n > 10 {
			t.Errorf("tried %d times, want a few and a bound", n)
		}
	})
	t.Run("thread unreadable", func(t *testing.T) {
		h := newHarness(t)
		h.store.create = func(context.Context, *task.Task) error { return errors.New("should not write") }
		st := &failingThreads{h.store}
		svc := accept.New(accept.Config{Store: st, Queue: h.queue, Registry: registry, NewID: func() string { return taskID }})
		_, err := svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
			Invocation: decode(t, dialect.DecodeXpander, xpanderBody)})
		if !errors.Is(err, accept.ErrStoreUnavailable) {
			t.Errorf("err = %v, want ErrStoreUnavailable", err)
		}
		if len(h.queue.sent) != 0 {
			t.Errorf("sent a message for a task that could not be placed")
		}
	})
}

// failingThreads is a store whose threads cannot be read.
type failingThreads struct{ *fakeStore }

func (failingThreads) ReadThread(context.Context, string, string) (*task.Thread, *task.Task, error) {
	return nil, nil, errors.New("dynamodb: 500")
}

func TestSubmitIdempotency(t *testing.T) {
	submit := func(h *harness, body string) (*task.Task, error) {
		return h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo", IdempotencyKey: "key-1",
			Invocation: decode(t, dialect.DecodeServiceNet, body)})
	}
	// The first request records its key and body hash with the task.
	h := newHarness(t)
	first, err := submit(h, `{"message":"pay"}`)
	if err != nil {
		t.Fatal(err)
	}
	idem := h.store.opts[0].Idempotency
	if idem == nil || idem.Key != "key-1" || idem.BodyHash == "" || idem.TTL != accept.IdempotencyTTL {
		t.Fatalf("idempotency = %+v", idem)
	}

	t.Run("replay", func(t *testing.T) {
		h := newHarness(t)
		const earlier = "t-earlier" // the harness's ids repeat across harnesses
		h.store.keys = map[string][2]string{"org-1/key-1": {earlier, idem.BodyHash}}
		h.store.Put(&task.Task{ID: earlier, Tenant: "org-1", State: task.Succeeded})
		got, err := submit(h, `{"message":"pay"}`)
		if err != nil || got.ID != earlier || got.State != task.Succeeded {
			t.Fatalf("Submit = %+v, %v; want the first task", got, err)
		}
		// Write and send went out together: the write recorded nothing, and the message names a
		// task that was never written (the worker drops it), not the replayed one.
		if len(h.store.created) != 0 || len(h.queue.sent) != 1 || h.queue.sent[0].TaskID == earlier {
			t.Errorf("a replay wrote %d and sent %d messages (%+v)", len(h.store.created), len(h.queue.sent), h.queue.sent)
		}
		if _, err := h.store.Get(context.Background(), h.queue.sent[0].TaskID); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("the replay's message names a task that exists: %v", err)
		}
	})
	t.Run("replay of a deleted task", func(t *testing.T) {
		// The key outlives a task deleted by DELETE /v1/tasks/{id}: the replay neither runs the
		// request again nor reports the store as down.
		h := newHarness(t)
		const deleted = "t-deleted"
		h.store.keys = map[string][2]string{"org-1/key-1": {deleted, idem.BodyHash}}
		_, err := submit(h, `{"message":"pay"}`)
		if !errors.Is(err, accept.ErrIdempotentTaskGone) || errors.Is(err, accept.ErrStoreUnavailable) {
			t.Errorf("err = %v, want ErrIdempotentTaskGone", err)
		}
		// As any replay: nothing recorded, and the one message names a task never written.
		if len(h.store.created) != 0 || len(h.queue.sent) > 1 {
			t.Errorf("a replay of a deleted task wrote %d and sent %d", len(h.store.created), len(h.queue.sent))
		}
		for _, m := range h.queue.sent {
			if _, err := h.store.Get(context.Background(), m.TaskID); !errors.Is(err, task.ErrNotFound) || m.TaskID == deleted {
				t.Errorf("the replay's message names task %s: %v", m.TaskID, err)
			}
		}
	})
	t.Run("same key, other body", func(t *testing.T) {
		h := newHarness(t)
		h.store.keys = map[string][2]string{"org-1/key-1": {first.ID, idem.BodyHash}}
		if _, err := submit(h, `{"message":"pay twice"}`); !errors.Is(err, accept.ErrIdempotencyMismatch) {
			t.Errorf("err = %v, want ErrIdempotencyMismatch", err)
		}
	})
	t.Run("same key, other tenant", func(t *testing.T) {
		h := newHarness(t)
		h.store.keys = map[string][2]string{"org-2/key-1": {first.ID, idem.BodyHash}}
		if got, err := submit(h, `{"message":"pay"}`); err != nil || len(h.store.created) != 1 {
			t.Errorf("Submit = %+v, %v; another tenant's key must not replay", got, err)
		}
	})
	t.Run("concurrent replay", func(t *testing.T) {
		h := newHarness(t)
		h.store.Put(&task.Task{ID: first.ID, Tenant: "org-1", State: task.Queued})
		h.store.create = func(context.Context, *task.Task) error {
			return &task.ReplayError{TaskID: first.ID, BodyHash: idem.BodyHash}
		}
		got, err := submit(h, `{"message":"pay"}`)
		if err != nil || got.ID != first.ID {
			t.Errorf("Submit = %+v, %v; want the winner's task", got, err)
		}
	})
}

// A sub-task records its parent and the agent that delegated it.
func TestSubmitSubTask(t *testing.T) {
	h := newHarness(t)
	inv := decode(t, dialect.DecodeXpander, `{"input":{"text":"look it up"},"parent_execution_id":"p-1","triggering_agent_id":"planner"}`)
	if _, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo", Source: "api", Invocation: inv}); err != nil {
		t.Fatal(err)
	}
	if got := h.store.created[0]; got.ParentTaskID != "p-1" || got.TriggeringAgentID != "planner" {
		t.Errorf("recorded parent %q, triggering agent %q", got.ParentTaskID, got.TriggeringAgentID)
	}
}

// An approved task goes back to the worker with the answer for the agent's paused task, the
// version it ran, and the time it may go on from.
func TestResume(t *testing.T) {
	h := newHarness(t)
	paused := &task.Task{ID: taskID, Tenant: "org-1", AgentID: "echo", AgentVersion: "7", ThreadID: "thread-1",
		Text: "ship it", Request: json.RawMessage(`{"input":{"text":"ship it"}}`), RemoteTaskID: "remote-9",
		CreatedAt: now.Add(-72 * time.Hour)}
	if err := h.svc.Resume(context.Background(), paused, "approved"); err != nil {
		t.Fatal(err)
	}
	if len(h.queue.sent) != 1 {
		t.Fatalf("sent %d messages", len(h.queue.sent))
	}
	m := h.queue.sent[0]
	if m.Kind != queue.KindInvoke || m.TaskID != taskID || m.Answer != "approved" || m.Agent.ID != "echo" || m.Agent.Version != "7" ||
		m.ThreadID != "thread-1" || !m.AcceptedAt.Equal(now) {
		t.Errorf("message = %+v", m)
	}
	paused.AgentVersion = "3" // no longer published
	if err := h.svc.Resume(context.Background(), paused, "approved"); !errors.Is(err, agent.ErrVersionNotFound) {
		t.Errorf("Resume of an unpublished version = %v, want ErrVersionNotFound", err)
	}
}

// TestSubmitSendsUnderTheCallersTrace: the work message is sent under the context of the
// invocation that accepted the task, values included (the send outlives the caller's deadline,
// not its trace), so queue.Client puts the invocation's X-Ray trace on the message.
func TestSubmitSendsUnderTheCallersTrace(t *testing.T) {
	const header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	h := newHarness(t)
	var sentUnder string
	h.queue.send = func(ctx context.Context, _ *queue.Message) error {
		sentUnder = queue.TraceHeader(ctx)
		return nil
	}
	// Where aws-lambda-go puts the invocation's trace header.
	ctx := context.WithValue(context.Background(), "x-amzn-trace-id", header) //nolint:staticcheck // aws-lambda-go's own key
	inv := decode(t, dialect.DecodeXpander, `{"input":{"text":"hello"}}`)
	if _, err := h.svc.Submit(ctx, accept.Submission{Tenant: "org-1", AgentID: "echo", Source: "api", Invocation: inv}); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if sentUnder != header {
		t.Errorf("message sent under trace %q, want the invocation's %q", sentUnder, header)
	}
}

// TestSubmitWalksWaitingTurnsWithoutRereading: continuing a conversation whose turns still wait
// walks back through them; the first turn, read with the thread, is not read again.
func TestSubmitWalksWaitingTurnsWithoutRereading(t *testing.T) {
	h := newHarness(t)
	h.store.threads = map[string]*task.Thread{"org-1/" + prevID: {ID: prevID, Tenant: "org-1", LatestTaskID: "turn-2", Turns: 2, Stored: true}}
	h.store.Put(&task.Task{ID: prevID, Tenant: "org-1", ThreadID: prevID, ThreadSeq: 1, State: task.Running})
	h.store.Put(&task.Task{ID: "turn-2", Tenant: "org-1", ThreadID: prevID, ThreadSeq: 2, PrevTaskID: prevID, State: task.Queued})
	got, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
		Invocation: decode(t, dialect.DecodeXpander, `{"input":{"text":"and then?"},"id":"`+prevID+`"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got.ThreadSeq != 3 || got.PrevTaskID != "turn-2" {
		t.Errorf("turn %d after %s, want turn 3 after turn-2", got.ThreadSeq, got.PrevTaskID)
	}
	if h.store.threadReads != 1 || h.store.Gets() != 1 {
		t.Errorf("%d thread reads and %d task reads, want the thread's and the latest turn's", h.store.threadReads, h.store.Gets())
	}
}
