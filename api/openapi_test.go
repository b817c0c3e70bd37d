package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/a2apush"
	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/keystore"
	"github.com/agentq/agentq/shared/notify"
	"github.com/agentq/agentq/shared/outputschema"
	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/receipt"
	"github.com/agentq/agentq/shared/registry"
	"github.com/agentq/agentq/shared/sse"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/task/tasktest"
	"github.com/agentq/agentq/shared/tasklog/tasklogtest"
	"github.com/agentq/agentq/shared/tenantlimit"
	"github.com/agentq/agentq/shared/webhook"
	"github.com/agentq/agentq/shared/webhook/settings"
	"github.com/agentq/agentq/shared/webhook/signing"
)

const (
	apiKey   = "contract-key-org-1"
	adminKey = "contract-admin-key"
	otherKey = "contract-key-org-2"
	tenant   = "org-1"
	// taskID is the task most cases read; threadID its conversation.
	taskID   = "81250b20-e9d7-4b3b-9995-07dc72b4bb59"
	threadID = "a37db9a1-e483-4544-9136-b32120ae8c81"
	unknown  = "f1e2d3c4-0000-4000-8000-000000000002"
	// subTaskID is a sub-task of taskID.
	subTaskID = "c0ffee00-0000-4000-8000-000000000003"
)

var now = time.Date(2026, 2, 7, 2, 13, 26, 325626000, time.UTC)

// ---- fakes ----

// fake is every dependency of the handler in memory: keys, submitter, task store, lister, threads.
// Its knobs make each of the handler's answers happen.
type fake struct {
	// Store keeps the tasks, under the conditions the DynamoDB store writes with.
	*tasktest.Store
	mu      sync.Mutex
	threads map[string]string // tenant#thread id → latest turn's task id
	// submitted is the task Submit answers (nil: a new queued task built from the submission).
	submitted func(sub accept.Submission) *task.Task
	submitErr error
	// err fails every read and write; panics makes every call panic.
	err     error
	panics  bool
	listed  []*task.Task
	next    string
	listErr error
	// counted and countExact are what Count answers.
	counted    int
	countExact bool
	// familyErr fails Family; resumeErr fails Resume.
	familyErr, resumeErr error
	// agents is the agent registry; publishErr fails its Publish.
	agents     map[string]registry.Summary
	publishErr error
	// contexts are the auth contexts, by tenant#id.
	contexts map[string]authctx.Context
	// deliveries are the webhook deliveries, by task id; hooks the tenant's webhook settings
	// (other tenants have none); hookErr fails the settings' writes.
	deliveries map[string][]*webhook.Delivery
	hooks      settings.Settings
	hookErr    error
	// events are the tasks' event logs (streaming_test.go).
	events *tasklogtest.Log
	// rateLimited refuses every tenant request over the tenant's rate; replayErr fails Replay.
	rateLimited bool
	replayErr   error
	// limits are the tenants' own limits.
	limits map[string]tenantlimit.Limits
}

// TenantLimits answers a tenant's own limits from the fake.
func (k fakeKeys) TenantLimits(_ context.Context, tenant string) (tenantlimit.Limits, bool, error) {
	if err := k.f.check(); err != nil {
		return tenantlimit.Limits{}, false, err
	}
	k.f.mu.Lock()
	defer k.f.mu.Unlock()
	l, ok := k.f.limits[tenant]
	return l, ok, nil
}

// SetTenantLimits keeps (or, with nil, forgets) a tenant's own limits in the fake.
func (k fakeKeys) SetTenantLimits(_ context.Context, tenant string, l *tenantlimit.Limits) error {
	if err := k.f.check(); err != nil {
		return err
	}
	k.f.mu.Lock()
	defer k.f.mu.Unlock()
	if k.f.limits == nil {
		k.f.limits = map[string]tenantlimit.Limits{}
	}
	if l == nil {
		delete(k.f.limits, tenant)
		return nil
	}
	k.f.limits[tenant] = *l
	return nil
}

// Allow is the fake's tenant rate.
func (f *fake) Allow(context.Context, string, int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rateLimited {
		return &tenantlimit.Error{Code: tenantlimit.CodeRateLimited, Limit: 20, RetryAfter: 400 * time.Millisecond}
	}
	return nil
}

// contextID is the auth context the cases read, of tenant acme.
const contextID = "0b6f2d1e-8c1a-4f55-9a59-6f1c1b7c2a10"

// fakeContexts is the fake's auth context store.
type fakeContexts struct{ f *fake }

func (c fakeContexts) Create(_ context.Context, tenant string, in authctx.Input) (authctx.Context, error) {
	if err := c.f.check(); err != nil {
		return authctx.Context{}, err
	}
	ctx := authctx.Context{ID: uuid.NewString(), Tenant: tenant, Name: in.Name, Kind: in.Kind, Header: in.Header, CreatedAt: now}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	c.f.contexts[tenant+"#"+ctx.ID] = ctx
	return ctx, nil
}

func (c fakeContexts) Get(_ context.Context, tenant, id string) (authctx.Context, error) {
	if err := c.f.check(); err != nil {
		return authctx.Context{}, err
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	ctx, ok := c.f.contexts[tenant+"#"+strings.ToLower(id)]
	if !ok {
		return authctx.Context{}, fmt.Errorf("read auth context %s: %w", id, authctx.ErrNotFound)
	}
	return ctx, nil
}

func (c fakeContexts) Delete(ctx context.Context, tenant, id string) error {
	if _, err := c.Get(ctx, tenant, id); err != nil {
		return err
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	delete(c.f.contexts, tenant+"#"+strings.ToLower(id))
	return nil
}

// apiKeyID is the id of the fake's one stored API key.
const apiKeyID = "0123456789abcdef"

// fakeKeys is the fake's API key store: one key of acme's, apiKeyID.
type fakeKeys struct{ f *fake }

func (k fakeKeys) Create(_ context.Context, tenant, name string) (string, keystore.Record, error) {
	if err := k.f.check(); err != nil {
		return "", keystore.Record{}, err
	}
	return "aq_NEWKEY", keystore.Record{ID: "fedcba9876543210", Tenant: tenant, Name: name, CreatedAt: now}, nil
}

func (k fakeKeys) List(_ context.Context, tenant string) ([]keystore.Record, error) {
	if err := k.f.check(); err != nil {
		return nil, err
	}
	if tenant != "acme" {
		return []keystore.Record{}, nil
	}
	return []keystore.Record{{ID: apiKeyID, Tenant: "acme", Name: "CI", CreatedAt: now}}, nil
}

func (k fakeKeys) Revoke(_ context.Context, id string) (keystore.Record, error) {
	if err := k.f.check(); err != nil {
		return keystore.Record{}, err
	}
	if id != apiKeyID {
		return keystore.Record{}, fmt.Errorf("api key %s: %w", id, keystore.ErrNotFound)
	}
	at := now
	return keystore.Record{ID: apiKeyID, Tenant: "acme", Name: "CI", CreatedAt: now, Revoked: true, RevokedAt: &at}, nil
}

// fakeAgents is the fake's agent registry (its methods would clash with the task store's).
type fakeAgents struct{ f *fake }

func (a fakeAgents) PutDraft(_ context.Context, ag agent.Agent) error {
	if err := a.f.check(); err != nil {
		return err
	}
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	s, ok := a.f.agents[ag.ID]
	if !ok || s.Current == 0 {
		s.Agent = ag
	}
	s.Source, s.HasDraft, s.UpdatedAt = registry.SourceRegistry, true, now
	a.f.agents[ag.ID] = s
	return nil
}

func (a fakeAgents) Publish(_ context.Context, id string) (agent.Agent, error) {
	if err := a.f.check(); err != nil {
		return agent.Agent{}, err
	}
	if a.f.publishErr != nil {
		return agent.Agent{}, a.f.publishErr
	}
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	s, ok := a.f.agents[id]
	if !ok || !s.HasDraft {
		return agent.Agent{}, fmt.Errorf("publish %s: %w", id, registry.ErrNoDraft)
	}
	s.Current++
	s.Agent.Version, s.HasDraft, s.Deleted = strconv.Itoa(s.Current), false, false
	a.f.agents[id] = s
	return s.Agent, nil
}

func (a fakeAgents) Unpublish(_ context.Context, id string) error {
	if err := a.f.check(); err != nil {
		return err
	}
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	s, ok := a.f.agents[id]
	if !ok {
		return fmt.Errorf("unpublish %s: %w", id, agent.ErrNotFound)
	}
	s.Deleted, s.UpdatedAt = true, now
	a.f.agents[id] = s
	return nil
}

func (a fakeAgents) Get(_ context.Context, id string) (registry.Summary, error) {
	if err := a.f.check(); err != nil {
		return registry.Summary{}, err
	}
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	s, ok := a.f.agents[id]
	if !ok {
		return registry.Summary{}, fmt.Errorf("get %s: %w", id, agent.ErrNotFound)
	}
	return s, nil
}

func (a fakeAgents) List(context.Context) ([]registry.Summary, error) {
	if err := a.f.check(); err != nil {
		return nil, err
	}
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	out := slices.Collect(maps.Values(a.f.agents))
	slices.SortFunc(out, func(x, y registry.Summary) int { return strings.Compare(x.Agent.ID, y.Agent.ID) })
	return out, nil
}

// deliveryID is the delivery the cases replay, of the task taskID.
const deliveryID = "dlv_3f2a9c0d1e4b5a6978c0d1e2f3"

// fakeWebhooks is the fake's webhook deliveries and settings (webhook.Service and
// settings.Tenants). URLs are checked with the real settings.ValidateURL.
type fakeWebhooks struct{ f *fake }

func (w fakeWebhooks) Deliveries(_ context.Context, _, taskID string) ([]*webhook.Delivery, error) {
	if err := w.f.check(); err != nil {
		return nil, err
	}
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	return slices.Clone(w.f.deliveries[taskID]), nil
}

func (w fakeWebhooks) Replay(_ context.Context, _, taskID, id string) (*webhook.Delivery, error) {
	if err := w.f.check(); err != nil {
		return nil, err
	}
	if w.f.replayErr != nil {
		return nil, w.f.replayErr
	}
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	for _, d := range w.f.deliveries[taskID] {
		if d.ID == id {
			r := &webhook.Delivery{ID: "dlv_0a1b2c3d4e5f60718293a4b5c6", TaskID: taskID, URL: d.URL, MessageID: d.MessageID,
				EventType: d.EventType, State: webhook.Pending, Attempts: []webhook.Attempt{}, CreatedAt: now, UpdatedAt: now, ReplayOf: d.ID}
			w.f.deliveries[taskID] = append(w.f.deliveries[taskID], r)
			return r, nil
		}
	}
	return nil, fmt.Errorf("replay delivery %s: %w", id, webhook.ErrNotFound)
}

func (w fakeWebhooks) Settings(_ context.Context, tenant string) (*settings.Settings, error) {
	if err := w.f.check(); err != nil {
		return nil, err
	}
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	if tenant != w.f.hooks.Tenant {
		return &settings.Settings{Tenant: tenant, URLs: []string{}, Secrets: []settings.SecretInfo{}}, nil
	}
	s := w.f.hooks
	return &s, nil
}

// secret is a signing secret as the fake's settings make it.
const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo="

func (w fakeWebhooks) SetURLs(_ context.Context, tenant string, urls []string) (*settings.Settings, string, error) {
	if err := w.f.check(); err != nil {
		return nil, "", err
	}
	var clean []string
	for i, u := range urls {
		if err := settings.ValidateURL(u); err != nil {
			return nil, "", fmt.Errorf("set webhook urls: url %d: %w", i+1, err)
		}
		if !slices.Contains(clean, u) {
			clean = append(clean, u)
		}
	}
	if len(clean) > settings.MaxURLs {
		return nil, "", fmt.Errorf("set webhook urls: %w: at most %d URLs", webhook.ErrInvalid, settings.MaxURLs)
	}
	if w.f.hookErr != nil {
		return nil, "", w.f.hookErr
	}
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	h := &w.f.hooks
	if h.Tenant != tenant {
		*h = settings.Settings{Tenant: tenant}
	}
	h.URLs, h.UpdatedAt = append([]string{}, clean...), now
	created := ""
	if len(h.Secrets) == 0 {
		h.Secrets, created = []settings.SecretInfo{{ID: "5c0e9d2a7b14f3e6a8c1d0b2", CreatedAt: now}}, secret
	}
	s := *h
	return &s, created, nil
}

func (w fakeWebhooks) RotateSecret(_ context.Context, tenant string, grace time.Duration) (*settings.Settings, string, error) {
	if err := w.f.check(); err != nil {
		return nil, "", err
	}
	if w.f.hookErr != nil {
		return nil, "", w.f.hookErr
	}
	if grace == 0 {
		grace = settings.DefaultGrace
	}
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	h := &w.f.hooks
	if h.Tenant != tenant {
		*h = settings.Settings{Tenant: tenant, URLs: []string{}}
	}
	secrets := []settings.SecretInfo{{ID: fmt.Sprintf("%024x", len(h.Secrets)+1), CreatedAt: now}}
	for _, old := range h.Secrets {
		if old.ExpiresAt.IsZero() {
			old.ExpiresAt = now.Add(grace)
		}
		secrets = append(secrets, old)
	}
	h.Secrets, h.UpdatedAt = secrets, now
	s := *h
	return &s, secret, nil
}

// withDeliveries gives the task taskID (the tenant's, succeeded) two deliveries of its event:
// one delivered at the second attempt, one still being retried.
func withDeliveries(f *fake) {
	f.put(stored(task.Succeeded, task.Xpander))
	next := now.Add(5 * time.Minute)
	f.deliveries[taskID] = []*webhook.Delivery{
		{ID: deliveryID, TaskID: taskID, URL: "https://hooks.example.com/agentq?token=t", MessageID: "msg_7c1e0a9b3d5f2e4a6b8c0d1e2f",
			EventType: webhook.EventTaskCompleted, State: webhook.Succeeded, Attempts: []webhook.Attempt{
				{N: 1, At: now.Add(-time.Minute), StatusCode: 503, Error: "the receiver answered 503", DurationMS: 87},
				{N: 2, At: now.Add(-time.Minute + 5*time.Second), StatusCode: 204, DurationMS: 64},
			}, CreatedAt: now.Add(-time.Minute), UpdatedAt: now.Add(-time.Minute + 5*time.Second)},
		{ID: "dlv_00000000000000000000000001", TaskID: taskID, URL: "https://default.example.com/hook", MessageID: "msg_7c1e0a9b3d5f2e4a6b8c0d1e2f",
			EventType: webhook.EventTaskCompleted, State: webhook.Pending, Attempts: []webhook.Attempt{
				{N: 1, At: now.Add(-time.Minute), Error: "no answer within 10s", DurationMS: 10000},
			}, NextAttemptAt: &next, CreatedAt: now.Add(-time.Minute), UpdatedAt: now.Add(-time.Minute)},
	}
}

// withHooks gives the tenant default URLs and two signing secrets, one in its grace period.
func withHooks(f *fake) {
	f.hooks = settings.Settings{Tenant: tenant, URLs: []string{"https://hooks.example.com/agentq"}, UpdatedAt: now.Add(-time.Hour),
		Secrets: []settings.SecretInfo{{ID: "9b3e1f0c6d2a4e8b7c5d3f1a", CreatedAt: now.Add(-time.Hour)},
			{ID: "5c0e9d2a7b14f3e6a8c1d0b2", CreatedAt: now.Add(-48 * time.Hour), ExpiresAt: now.Add(23 * time.Hour)}}}
}

// adminKeys knows the admin key.
type adminKeys struct{}

func (adminKeys) Tenant(key string) (string, bool) { return "admin", key == adminKey }

// agentsOf are the registry's agents in the cases: echo, kept as code; billing, published through
// the API, with every field; draft, never published; gone, unpublished.
func agentsOf() map[string]registry.Summary {
	billing := agent.Agent{ID: "billing", Version: "2", Name: "Billing", Description: "bills", Protocol: agent.HTTP,
		Endpoint: "https://billing.example.com/agent", Timeout: agent.Duration(30 * time.Second), Auth: agent.AuthForward,
		RequiresApproval: true, CostUnits: 5, AllowedRegions: []string{"AU", "NZ"}, Tenants: []string{tenant},
		Skills:       []agent.Skill{{ID: "invoice", Name: "Invoice", Description: "makes invoices"}, {ID: "refund"}},
		OutputFormat: "json", OutputSchema: json.RawMessage(`{"type":"object"}`)}
	return map[string]registry.Summary{
		"echo":    {Agent: agent.Agent{ID: "echo", Version: "1", Protocol: agent.HTTP, Endpoint: "http://127.0.0.1:9/"}, Source: registry.SourceConfig, Current: 1},
		"billing": {Agent: billing, Source: registry.SourceRegistry, Current: 2, HasDraft: true, UpdatedAt: now},
		"draft":   {Agent: agent.Agent{ID: "draft", Protocol: agent.Lambda, Endpoint: "arn:aws:lambda:eu-west-1:123456789012:function:d"}, Source: registry.SourceRegistry, HasDraft: true, UpdatedAt: now},
		"gone": {Agent: agent.Agent{ID: "gone", Version: "1", Protocol: agent.A2A, Endpoint: "https://a2a.example.com", Auth: agent.AuthContext,
			AuthContextID: contextID, MaxDuration: agent.Duration(2 * time.Hour)}, Source: registry.SourceRegistry, Current: 1, Deleted: true, UpdatedAt: now},
	}
}

func newFake() *fake {
	return &fake{Store: tasktest.New(), events: tasklogtest.New(), threads: map[string]string{}, agents: agentsOf(), deliveries: map[string][]*webhook.Delivery{}, contexts: map[string]authctx.Context{
		"acme#" + contextID: {ID: contextID, Tenant: "acme", Name: "Stripe key", Kind: authctx.Header, Header: "X-Stripe-Key", CreatedAt: now},
	}}
}

func (f *fake) Tenant(key string) (string, bool) {
	t, ok := map[string]string{apiKey: tenant, otherKey: "org-2"}[key]
	return t, ok
}

func (f *fake) check() error {
	if f.panics {
		panic("contract test: a bug")
	}
	return f.err
}

func (f *fake) put(t *task.Task) *task.Task {
	f.Put(t)
	return t
}

func (f *fake) Submit(_ context.Context, sub accept.Submission) (*task.Task, error) {
	if f.panics {
		panic("contract test: a bug")
	}
	if f.submitErr != nil {
		return nil, f.submitErr
	}
	if f.submitted != nil {
		return f.put(f.submitted(sub)), nil
	}
	inv := sub.Invocation
	t := &task.Task{ID: uuid.NewString(), Tenant: sub.Tenant, AgentID: sub.AgentID, AgentVersion: "1", Dialect: inv.Dialect,
		Source: sub.Source, ThreadID: inv.ThreadID, State: task.Queued, Version: 1, Request: inv.Body, Text: inv.Text,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if t.ThreadID == "" && t.Dialect == task.Xpander {
		t.ThreadID = t.ID
	}
	return f.put(t), nil
}

func (f *fake) Get(ctx context.Context, id string) (*task.Task, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.Get(ctx, id)
}

func (f *fake) Resolve(ctx context.Context, tenant, id string) (*task.Task, error) {
	f.mu.Lock()
	if latest, ok := f.threads[tenant+"#"+id]; ok {
		id = latest
	}
	f.mu.Unlock()
	return f.Get(ctx, id)
}

func (f *fake) Transition(ctx context.Context, id string, c task.Change) (*task.Task, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.Transition(ctx, id, c)
}

func (f *fake) List(_ context.Context, _ task.ListQuery) ([]*task.Task, string, error) {
	if err := f.check(); err != nil {
		return nil, "", err
	}
	return f.listed, f.next, f.listErr
}

func (f *fake) Count(context.Context, task.ListQuery) (int, bool, error) {
	if err := f.check(); err != nil {
		return 0, false, err
	}
	return f.counted, f.countExact, nil
}

// CursorPosition reads the fake's cursors, "at:<position>".
func (f *fake) CursorPosition(c string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(c, "at:"))
	return n
}

func (f *fake) Family(ctx context.Context, t *task.Task) ([]*task.Task, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if f.familyErr != nil {
		return nil, f.familyErr
	}
	return f.Store.Family(ctx, t)
}

func (f *fake) Delete(ctx context.Context, ts []*task.Task) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.Delete(ctx, ts)
}

func (f *fake) Resume(context.Context, *task.Task, string) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.resumeErr
}

func (f *fake) Turns(ctx context.Context, tenant, thread string, limit int) ([]*task.Task, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.Turns(ctx, tenant, thread, limit)
}

func (f *fake) handler() http.Handler {
	return httpapi.New(httpapi.Config{
		Schemas:   outputschema.Checker{},
		Submitter: f, Reader: f, Resolver: f, Stopper: f, Lister: f, Threads: f, Keys: f, Families: f, Deleter: f, Resumer: f,
		Agents: fakeAgents{f}, AdminKeys: adminKeys{}, AuthContexts: fakeContexts{f}, APIKeys: fakeKeys{f},
		Deliveries: fakeWebhooks{f}, Webhooks: fakeWebhooks{f}, Receipts: fakeIssuer{f}, ReceiptStore: f,
		Limiter: f, Limits: fakeKeys{f}, TenantDefaults: tenantlimit.Limits{Rate: 20, MaxInFlight: 200},
		Now: func() time.Time { return now }, SyncWait: 2 * time.Second,
		Events: f.events, Progress: progress.New(f, f.events, progressKeys, a2apush.Decode), StreamFor: 50 * time.Millisecond,
	})
}

// issuer signs the contract test's receipts.
var issuer = receipt.NewEphemeral()

// fakeIssuer is the issuer, failing like the store when the fake is told to: a KMS key is read
// and used over the network.
type fakeIssuer struct{ f *fake }

func (i fakeIssuer) Issue(ctx context.Context, r *receipt.Receipt) error {
	if err := i.f.check(); err != nil {
		return err
	}
	return issuer.Issue(ctx, r)
}

func (i fakeIssuer) Keys(ctx context.Context) ([]receipt.Key, error) {
	if err := i.f.check(); err != nil {
		return nil, err
	}
	return issuer.Keys(ctx)
}

// SetVerification fails like the rest of the store when the fake is told to.
func (f *fake) SetVerification(ctx context.Context, id, verdict string) (*task.Task, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	return f.Store.SetVerification(ctx, id, verdict)
}

// ---- tasks ----

const (
	xpanderBody    = `{"input":{"text":"Analyze competitor pricing for Q1 2026"}}`
	serviceNetBody = `{"message":"Create a payment link for 15 AUD","auth_token":"secret-token","region":"AU"}`
)

var allStates = []task.State{task.Queued, task.Running, task.Paused, task.Succeeded, task.Failed, task.Error, task.Canceled, task.Rejected}

// stored returns a task of the tenant in state s, submitted through dialect d, with what a task in
// that state carries.
func stored(s task.State, d task.Dialect) *task.Task {
	t := &task.Task{ID: taskID, Tenant: tenant, AgentID: "echo", AgentVersion: "1", Dialect: d, Source: "api", State: s,
		Version: 3, CostUnits: 2, CreatedAt: now.Add(-time.Minute), UpdatedAt: now.Add(-time.Second), ExpiresAt: now.Add(time.Hour)}
	switch d {
	case task.Xpander:
		t.ThreadID, t.ThreadSeq, t.Text = taskID, 1, "Analyze competitor pricing for Q1 2026"
		t.Request = json.RawMessage(`{"input":{"text":"Analyze competitor pricing for Q1 2026","user":{"id":"u1","email":"ada@example.com","role":"admin"}},` +
			`"title":"Q1","output_format":"markdown","think_mode":"harder","llm_reasoning_effort":"high","mcp_servers":[{"url":"http://mcp"}],` +
			`"payload_extension":{"k":"v"},"output_schema":{"type":"object"},"source":"web-dashboard","parent_execution_id":"p-1"}`)
	default:
		t.Text = "Create a payment link for 15 AUD"
		t.Request = json.RawMessage(`{"message":"Create a payment link for 15 AUD","region":"AU"}`)
	}
	if s != task.Queued {
		t.StartedAt, t.Attempts = now.Add(-50*time.Second), 1
	}
	switch s {
	case task.Paused:
		t.PausedAt, t.RemoteTaskID = now.Add(-10*time.Second), "remote-1"
		t.HITL = json.RawMessage(`{"wait_node_id":"remote-1","remote_task_id":"remote-1","state":"input-required","message":"Which currency?","task":{"id":"remote-1"}}`)
	case task.Succeeded:
		t.Result, t.Output, t.FinishedAt = "done", json.RawMessage(`{"output":"done"}`), now.Add(-time.Second)
		t.Usage = task.Usage{Tokens: task.Tokens{Prompt: 3, Completion: 4, Total: 7}, Actions: 1, Cost: 0.00042}
	case task.Failed:
		t.Reason, t.ReasonMessage, t.FinishedAt = task.ReasonAgentRejected, "agent answered 422", now.Add(-time.Second)
	case task.Error:
		t.Reason, t.ReasonMessage, t.FinishedAt = task.ReasonAgentTimeout, "the agent did not answer in time", now.Add(-time.Second)
	case task.Canceled:
		t.Reason, t.ReasonMessage, t.FinishedAt = task.ReasonCanceled, "stopped by the caller", now.Add(-time.Second)
	case task.Rejected:
		t.Reason, t.ReasonMessage, t.FinishedAt = agent.ReasonApprovalRequired, "approval required", now.Add(-time.Second)
	}
	return t
}

func withTask(t *task.Task) func(f *fake) { return func(f *fake) { f.put(t) } }

// ---- requests ----

// tcase is one request to the handler and the answer it must get.
type tcase struct {
	name         string
	method, path string
	body         string
	// auth is how the key is sent: "" x-api-key, "bearer", "admin" (the admin key), "none", "bad"
	// (an unknown key).
	auth   string
	header []string
	// reader, when set, is the body instead of body.
	reader func() io.Reader
	setup  func(f *fake)
	status int
	// code is the answer's reason code; "" for a success.
	code string
	// validRequest: the request itself must fit the document (the handler accepted it).
	validRequest bool
	check        func(t *testing.T, r answer)
}

type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (c tcase) request() *http.Request {
	var body io.Reader = strings.NewReader(c.body)
	if c.reader != nil {
		body = c.reader()
	}
	req := httptest.NewRequest(c.method, c.path, body)
	switch c.auth {
	case "":
		req.Header.Set("X-Api-Key", apiKey)
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+apiKey)
	case "admin":
		req.Header.Set("X-Api-Key", adminKey)
	case "other":
		req.Header.Set("X-Api-Key", otherKey)
	case "bad":
		req.Header.Set("X-Api-Key", "not-a-key")
	}
	if c.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(c.header); i += 2 {
		req.Header.Set(c.header[i], c.header[i+1])
	}
	return req
}

// serve sends the request to h and returns the answer.
func serve(t *testing.T, h http.Handler, req *http.Request) answer {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := answer{status: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
	if a.status == http.StatusNoContent && len(a.raw) == 0 {
		return a
	}
	if rec.Header().Get("Content-Type") == sse.ContentType {
		return a // an event stream: CheckResponse reads its events
	}
	if err := json.Unmarshal(a.raw, &a.body); err != nil {
		t.Fatalf("%s %s: answer %d is not a JSON object: %q", req.Method, req.URL, a.status, a.raw)
	}
	return a
}

// codeOf returns an error answer's reason code, in either dialect.
func codeOf(body map[string]any) string {
	if e, ok := body["error"].(map[string]any); ok && len(body) == 1 {
		c, _ := e["code"].(string)
		return c
	}
	if _, ok := body["detail"]; ok {
		c, _ := body["code"].(string)
		return c
	}
	return ""
}

// errorReader fails every read: the body cannot be read.
type errorReader struct{}

func (errorReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// ---- cases ----

// commonErrors are the answers every authenticated route gives: no key, a bad key, another
// method, a bug, an unavailable store.
func commonErrors(method, path, body string) []tcase { return commonErrorsAs("", method, path, body) }

// commonErrorsAs are commonErrors for a caller whose key is sent as auth says.
func commonErrorsAs(auth, method, path, body string) []tcase {
	other := http.MethodPatch
	limited := []tcase{{name: "over the tenant's rate", method: method, path: path, body: body, auth: auth,
		setup: func(f *fake) { f.rateLimited = true }, status: 429, code: "rate_limited", check: func(t *testing.T, r answer) {
			if r.header.Get("Retry-After") != "1" {
				t.Errorf("Retry-After = %q, want 1", r.header.Get("Retry-After"))
			}
		}}}
	if auth == "admin" {
		limited = nil // an admin is no tenant
	}
	return append(limited, []tcase{
		{name: "no key", method: method, path: path, body: body, auth: "none", status: 401, code: "missing_api_key"},
		{name: "unknown key", method: method, path: path, body: body, auth: "bad", status: 401, code: "invalid_api_key"},
		{name: "bearer with an unknown key", method: method, path: path, body: body, auth: "none", header: []string{"Authorization", "Bearer nope"}, status: 401, code: "invalid_api_key"},
		{name: "other method", method: other, path: path, status: 405, code: "method_not_allowed", check: func(t *testing.T, r answer) {
			if !slices.Contains(strings.Split(r.header.Get("Allow"), ", "), method) {
				t.Errorf("Allow = %q, want %s", r.header.Get("Allow"), method)
			}
		}},
		{name: "a bug", method: method, path: path, body: body, auth: auth, setup: func(f *fake) { f.put(stored(task.Running, task.Xpander)); f.panics = true }, status: 500, code: "internal_error"},
		{name: "store down", method: method, path: path, body: body, auth: auth, setup: func(f *fake) {
			f.put(stored(task.Running, task.Xpander))
			f.err, f.submitErr, f.listErr = errors.New("dynamodb: throttled"), errors.New("dynamodb: throttled"), errors.New("throttled")
		}, status: 503, code: storeDownCode(method, path)},
	}...)
}

// storeDownCode is what a route answers when the task store fails: store_unavailable where the
// failure is a read of tasks (it names the dependency, so a client knows what to wait for),
// unavailable elsewhere.
func storeDownCode(method, path string) string {
	readsTasks := strings.HasPrefix(path, "/v1/tasks") || strings.HasPrefix(path, "/v1/receipts/") ||
		strings.HasPrefix(path, "/v1/hitl/") || (method == http.MethodGet && strings.HasSuffix(path, "/tasks"))
	if readsTasks && !strings.HasSuffix(path, "/invoke") {
		return "store_unavailable"
	}
	return "unavailable"
}

// namesFailedTask checks that an error answer names the task it abandoned, failed (it will not
// run), with when to submit again.
func namesFailedTask(serviceNet bool) func(*testing.T, answer) {
	return func(t *testing.T, r answer) {
		id, status := r.body["task_id"], r.body["status"]
		if serviceNet {
			e, _ := r.body["error"].(map[string]any)
			id, status = e["receipt_id"], e["status"]
		}
		if id != taskID || status != "failed" || r.header.Get("Retry-After") == "" {
			t.Errorf("answer = %s, Retry-After %q; want the task %s, failed, and Retry-After", r.raw, r.header.Get("Retry-After"), taskID)
		}
	}
}

// invokeCases are the answers of an invoke route, async or sync, in either dialect.
func invokeCases(path, body string, serviceNet bool) []tcase {
	validation := 422
	if serviceNet {
		validation = 400
	}
	submitErr := func(err error) func(f *fake) { return func(f *fake) { f.submitErr = err } }
	big := `{"input":{"text":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}}`
	bad := `{"input":{}}`
	if serviceNet {
		bad = `{"region":"XYZ","auth_context_id":"nope","max_cost_units":-1}`
	}
	cases := []tcase{
		{name: "malformed json", method: "POST", path: path, body: `{"input":`, status: 400, code: "malformed_json"},
		{name: "array body", method: "POST", path: path, body: `[1]`, status: 400, code: "malformed_json"},
		{name: "empty body", method: "POST", path: path, body: ``, status: 400, code: "malformed_json"},
		{name: "unreadable body", method: "POST", path: path, reader: func() io.Reader { return errorReader{} }, status: 400, code: "unreadable_body"},
		{name: "invalid body", method: "POST", path: path, body: bad, status: validation, code: "validation_failed"},
		{name: "mistyped field", method: "POST", path: path, body: `{"message":5,"input":{"text":5}}`, status: validation, code: "validation_failed"},
		{name: "too deep", method: "POST", path: path, body: `{"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, status: validation, code: "validation_failed"},
		{name: "bad version", method: "POST", path: path + "?version=-x", body: body, status: validation, code: "validation_failed"},
		{name: "version twice", method: "POST", path: path + "?version=1&version=2", body: body, status: validation, code: "validation_failed"},
		{name: "long idempotency key", method: "POST", path: path, body: body, header: []string{"Idempotency-Key", strings.Repeat("k", 257)}, status: validation, code: "validation_failed"},
		{name: "body over 1 MiB", method: "POST", path: path, body: big, status: 413, code: "body_too_large"},
		{name: "too large to keep", method: "POST", path: path, body: body, setup: submitErr(fmt.Errorf("submit: %w", accept.ErrRequestTooLarge)), status: 413, code: "body_too_large"},
		{name: "approval", method: "POST", path: path, body: body, setup: submitErr(fmt.Errorf("submit: %w", &agent.PolicyError{Code: agent.ReasonApprovalRequired, Message: "confirm first"})), status: 403, code: "approval_required"},
		{name: "tasks in flight at the cap", method: "POST", path: path, body: body, setup: submitErr(fmt.Errorf("submit: %w", &tenantlimit.Error{Code: tenantlimit.CodeQuotaExceeded, Limit: 200, RetryAfter: 5 * time.Second})),
			status: 429, code: "tenant_quota_exceeded"},
		{name: "region", method: "POST", path: path, body: body, setup: submitErr(&agent.PolicyError{Code: agent.ReasonRegionNotAllowed, Message: "not from there"}), status: 403, code: "region_not_allowed"},
		{name: "unknown agent", method: "POST", path: path, body: body, setup: submitErr(fmt.Errorf("submit: %w", agent.ErrNotFound)), status: 404, code: "agent_not_found"},
		{name: "agent id not well formed", method: "POST", path: strings.Replace(path, "/echo/", "/.hidden/", 1), body: body, status: 404, code: "agent_not_found"},
		{name: "unknown auth context", method: "POST", path: path, body: body, setup: submitErr(fmt.Errorf("submit: %w", authctx.ErrNotFound)), status: 404, code: "auth_context_not_found"},
		{name: "unknown version", method: "POST", path: path + "?version=7", body: body, setup: submitErr(fmt.Errorf("submit: %w", agent.ErrVersionNotFound)), status: 404, code: "agent_version_not_found"},
		{name: "key reused", method: "POST", path: path, body: body, header: []string{"Idempotency-Key", "k-1"}, setup: submitErr(accept.ErrIdempotencyMismatch), status: 409, code: "idempotency_key_reused"},
		{name: "thread busy", method: "POST", path: path, body: body, setup: submitErr(fmt.Errorf("submit: %w", accept.ErrThreadBusy)), status: 409, code: "thread_busy"},
		// A submission that failed halfway: the dependency that failed, and the task recorded
		// failed, which will not run.
		{name: "send failed, task abandoned", method: "POST", path: path, body: body, setup: submitErr(&accept.DispatchError{Task: stored(task.Failed, task.Xpander), Err: fmt.Errorf("%w: sqs down", accept.ErrQueueUnavailable)}),
			status: 503, code: "queue_unavailable", check: namesFailedTask(serviceNet)},
		{name: "write failed, task abandoned", method: "POST", path: path, body: body, setup: submitErr(&accept.DispatchError{Task: stored(task.Failed, task.Xpander), Err: fmt.Errorf("%w: dynamodb timeout", accept.ErrStoreUnavailable)}),
			status: 503, code: "store_unavailable", check: namesFailedTask(serviceNet)},
		{name: "store unavailable", method: "POST", path: path, body: body, setup: submitErr(fmt.Errorf("submit: %w: throttled", accept.ErrStoreUnavailable)), status: 503, code: "store_unavailable"},
	}
	// The webhook_url's checks after the body's: 422 in both dialects.
	hooked := strings.TrimSuffix(body, "}") + `,"webhook_url":"https://hooks.example.com/agentq"}`
	cases = append(cases,
		tcase{name: "webhook url forbidden", method: "POST", path: path, body: strings.TrimSuffix(body, "}") + `,"webhook_url":"http://169.254.169.254/latest"}`,
			setup: submitErr(fmt.Errorf("check webhook_url: %w", settings.ErrForbiddenURL)), status: 422, code: "webhook_url_forbidden"},
		tcase{name: "no signing secret", method: "POST", path: path, body: hooked, setup: submitErr(fmt.Errorf("check webhook_url: %w", webhook.ErrNoSecret)), status: 422, code: "webhook_secret_missing"},
		tcase{name: "no webhooks here", method: "POST", path: path, body: hooked, setup: submitErr(accept.ErrWebhooksUnavailable), status: 422, code: "webhooks_unavailable"},
		// The body's check is the deliverer's (dialect.WebhookURLProblem): such a URL never
		// reaches it.
		tcase{name: "webhook url with an empty port", method: "POST", path: path, body: strings.TrimSuffix(body, "}") + `,"webhook_url":"https://hooks.example.com:/x"}`,
			status: validation, code: "validation_failed"},
		tcase{name: "webhook url relative", method: "POST", path: path, body: strings.TrimSuffix(body, "}") + `,"webhook_url":"/hook"}`, status: validation, code: "validation_failed"},
		tcase{name: "webhook url with credentials", method: "POST", path: path, body: strings.TrimSuffix(body, "}") + `,"webhook_url":"https://u:p@hooks.example.com/"}`, status: validation, code: "validation_failed"},
	)
	if !serviceNet { // xpander bodies name no auth context
		cases = slices.DeleteFunc(cases, func(c tcase) bool { return c.code == "auth_context_not_found" })
	}
	if serviceNet {
		cases = append(cases, tcase{name: "cost", method: "POST", path: path, body: `{"message":"x","max_cost_units":1}`,
			setup: submitErr(&agent.PolicyError{Code: agent.ReasonCostLimitExceeded, Message: "too dear"}), status: 403, code: "cost_limit_exceeded"})
	}
	return append(cases, commonErrors("POST", path, body)...)
}

// readCases are the answers of a route that reads one task by id, in either dialect.
func readCases(method, prefix, suffix string, serviceNet bool) []tcase {
	notFound := "task_not_found"
	if serviceNet {
		notFound = "receipt_not_found"
	}
	expired := stored(task.Succeeded, task.Xpander)
	expired.ExpiresAt = now.Add(-time.Second)
	theirs := stored(task.Running, task.Xpander)
	theirs.Tenant = "org-2"
	return append([]tcase{
		{name: "unknown", method: method, path: prefix + unknown + suffix, status: 404, code: notFound},
		{name: "not an id", method: method, path: prefix + "x" + suffix, status: 404, code: notFound},
		{name: "another tenant's", method: method, path: prefix + taskID + suffix, setup: withTask(theirs), status: 404, code: notFound},
		{name: "expired", method: method, path: prefix + taskID + suffix, setup: withTask(expired), status: 410, code: "task_expired"},
	}, commonErrors(method, prefix+taskID+suffix, "")...)
}

func listCases(path string) []tcase {
	page := func(f *fake) {
		f.listed = []*task.Task{stored(task.Succeeded, task.Xpander), stored(task.Queued, task.ServiceNet), stored(task.Failed, task.Xpander)}
		f.next = "eyJwayI6IngifQ"
	}
	q := "?status=completed,failed&status=pending&thread_id=" + threadID + "&created_after=2026-02-01T00:00:00Z&created_before=2026-02-08T00:00:00.5Z&limit=3&cursor=abc"
	return append([]tcase{
		{name: "a page", method: "GET", path: path, setup: page, status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if len(r.body["items"].([]any)) != 3 || r.body["next_cursor"] == nil {
				t.Errorf("page = %s", r.raw)
			}
		}},
		{name: "filtered", method: "GET", path: path + q + "&agent_id=echo", setup: page, status: 200, validRequest: true},
		{name: "xpander's page and filters", method: "GET", path: path + "?page=2&per_page=50&internal_status=succeeded,failed&parent_task_id=p-1&triggering_agent_id=planner" +
			"&from_date=2026-02-01T00:00:00Z&to_date=2026-02-08T00:00:00Z&status=completed", setup: func(f *fake) {
			page(f)
			// A cursor as the store makes them: 53 matching tasks before it.
			f.next, f.counted = "at:53", 4000
		}, status: 200, validRequest: true,
			check: func(t *testing.T, r answer) {
				if r.body["page"] != float64(2) || r.body["total"] != float64(4053) || r.body["total_pages"] != float64(82) || r.body["total_exact"] != false {
					t.Errorf("envelope = %s", r.raw)
				}
			}},
		{name: "past the page depth", method: "GET", path: path + "?page=21&per_page=50", status: 422, code: "validation_failed"},
		{name: "page and cursor", method: "GET", path: path + "?page=2&cursor=abc", status: 422, code: "validation_failed"},
		{name: "bad per_page", method: "GET", path: path + "?per_page=51", status: 422, code: "validation_failed"},
		{name: "bad internal status", method: "GET", path: path + "?internal_status=pending", status: 422, code: "validation_failed"},
		{name: "the last page", method: "GET", path: path + "?limit=100", setup: func(f *fake) { f.listed = nil }, status: 200, validRequest: true},
		{name: "bad cursor", method: "GET", path: path + "?cursor=zzz", setup: func(f *fake) { f.listErr = fmt.Errorf("list: %w", task.ErrInvalidCursor) }, status: 400, code: "invalid_cursor"},
		{name: "bad status", method: "GET", path: path + "?status=done", status: 422, code: "validation_failed"},
		{name: "bad limit", method: "GET", path: path + "?limit=0", status: 422, code: "validation_failed"},
		{name: "bad times", method: "GET", path: path + "?created_after=yesterday&created_before=2026", status: 422, code: "validation_failed"},
		{name: "bad agent filter", method: "GET", path: path + "?agent_id=-x", status: 422, code: "validation_failed"},
		{name: "limit twice", method: "GET", path: path + "?limit=1&limit=2", status: 422, code: "validation_failed"},
	}, commonErrors("GET", path, "")...)
}

// cases lists a request to every route for every answer the document gives it.
func cases() map[string][]tcase {
	const (
		xAsync  = "/v1/agents/echo/invoke/async"
		xSync   = "/v1/agents/echo/invoke"
		snAsync = "/v1/agents/echo/invoke-async"
	)
	out := map[string][]tcase{}

	// The async invokes.
	full := `{"input":{"text":"Generate a market report","files":["https://example.com/a.pdf"],"user":{"id":"user-42","email":"ada@example.com","display_name":"Ada",` +
		`"first_name":"Ada","last_name":"Lovelace","additional_attributes":{"team":"x"},"role":"member","is_super_admin":false,"timezone":"Europe/London"}},` +
		`"id":"a37db9a1-e483-4544-9136-b32120ae8c81","payload_extension":{"k":1},"parent_execution_id":"550e8400-e29b-41d4-a716-446655440000","worker_id":"w-1",` +
		`"source":"api-integration","output_format":"json","output_schema":{"type":"object"},"run_locally":false,"additional_context":"ctx",` +
		`"instructions_override":"be brief","test_run_node_id":"n-1","expected_output":"a summary","events_streaming":true,"mcp_servers":[{"url":"http://mcp"}],` +
		`"triggering_agent_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","title":"Q4 Sales Analysis","think_mode":"harder","disable_attachment_injection":true,` +
		`"user_tokens":{"github":"gh-SECRET"},"user_oidc_token":"oidc-SECRET","return_metrics":true,"llm_model_provider":"openai","llm_model_name":"gpt-5",` +
		`"llm_reasoning_effort":"xhigh","source_node_type":"sdk","multitask_strategy":"reject"}`
	nulls := `{"input":{"text":"hi","files":null,"user":null},"id":null,"payload_extension":null,"output_format":null,"think_mode":null,"mcp_servers":null,` +
		`"user_tokens":null,"user_oidc_token":null,"llm_reasoning_effort":null,"multitask_strategy":null,"title":null}`
	replay := func(f *fake) {
		f.submitted = func(accept.Submission) *task.Task { return stored(task.Succeeded, task.Xpander) }
	}
	noSecrets := func(t *testing.T, r answer) {
		if strings.Contains(string(r.raw), "SECRET") {
			t.Errorf("a secret is echoed: %s", r.raw)
		}
	}
	out["POST /v1/agents/{agent_id}/invoke/async"] = append([]tcase{
		{name: "basic", method: "POST", path: xAsync, body: xpanderBody, status: 200, validRequest: true},
		{name: "every field", method: "POST", path: xAsync + "?version=latest", body: full, header: []string{"Idempotency-Key", "order-1"}, status: 200, validRequest: true, check: noSecrets},
		{name: "nulls", method: "POST", path: xAsync, body: nulls, status: 200, validRequest: true},
		{name: "bearer", method: "POST", path: xAsync, body: xpanderBody, auth: "bearer", status: 200, validRequest: true},
		{name: "webhook url", method: "POST", path: xAsync, body: `{"input":{"text":"hi"},"webhook_url":"https://hooks.example.com/agentq?token=t"}`, status: 200, validRequest: true},
		{name: "null webhook url", method: "POST", path: xAsync, body: `{"input":{"text":"hi"},"webhook_url":null}`, status: 200, validRequest: true},
		{name: "next turn", method: "POST", path: xAsync, body: `{"input":{"text":"and Q2?"},"id":"` + threadID + `","multitask_strategy":"enqueue"}`, status: 200, validRequest: true},
		{name: "idempotent replay of an ended task", method: "POST", path: xAsync, body: xpanderBody, header: []string{"Idempotency-Key", "k"}, setup: replay, status: 200, validRequest: true},
		{name: "request id", method: "POST", path: xAsync, body: xpanderBody, header: []string{"X-Request-Id", "req-42"}, status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if r.header.Get("X-Request-Id") != "req-42" {
				t.Errorf("X-Request-Id = %q", r.header.Get("X-Request-Id"))
			}
		}},
	}, invokeCases(xAsync, xpanderBody, false)...)

	out["POST /v1/agents/{agent_id}/invoke-async"] = append([]tcase{
		{name: "the reference's example", method: "POST", path: "/v1/agents/stripe-agent/invoke-async", body: serviceNetBody, status: 200, validRequest: true, check: noSecrets},
		{name: "every field", method: "POST", path: snAsync + "?version=latest", header: []string{"Idempotency-Key", "order-2"}, status: 200, validRequest: true,
			body: `{"input":{"text":"hi","delay_ms":10},"message":"hi","task_id":"t-1","context_id":"ctx-1","skill_id":"s","auth_token":"tok-SECRET",` +
				`"auth_context_id":"` + unknown + `","region":"au","confirm_risky":true,"max_cost_units":5,"settlement":{"currency":"AUD"},"agent_envelope":{"kind":"message"},"multitask_strategy":"reject"}`,
			check: noSecrets},
		{name: "input only", method: "POST", path: snAsync, body: `{"input":{"message":"hi"}}`, status: 200, validRequest: true},
		{name: "webhook url", method: "POST", path: snAsync, body: `{"message":"hi","webhook_url":"http://hooks.example.com:8080/agentq"}`, status: 200, validRequest: true},
		{name: "envelope only", method: "POST", path: snAsync, body: `{"agent_envelope":{"parts":[]}}`, status: 200, validRequest: true},
		{name: "idempotent replay of an ended task", method: "POST", path: snAsync, body: serviceNetBody, setup: replay, status: 200, validRequest: true},
	}, invokeCases(snAsync, serviceNetBody, true)...)

	// The sync invoke: 200 once the task ended, 202 while it has not.
	ended := func(s task.State) func(f *fake) {
		return func(f *fake) {
			f.submitted = func(accept.Submission) *task.Task { return stored(s, task.Xpander) }
		}
	}
	syncCases := []tcase{
		{name: "queued, no wait", method: "POST", path: xSync + "?wait=0", body: xpanderBody, status: 202, validRequest: true, check: func(t *testing.T, r answer) {
			if loc := r.header.Get("Location"); loc != "/v1/tasks/"+r.body["task_id"].(string) {
				t.Errorf("Location = %q", loc)
			}
		}},
		{name: "paused", method: "POST", path: xSync, body: xpanderBody, setup: ended(task.Paused), status: 202, validRequest: true},
		{name: "wait bad", method: "POST", path: xSync + "?wait=26", body: xpanderBody, status: 422, code: "validation_failed"},
		{name: "webhook url", method: "POST", path: xSync + "?wait=0", body: `{"input":{"text":"hi"},"webhook_url":"https://hooks.example.com/agentq"}`, status: 202, validRequest: true},
	}
	for _, s := range []task.State{task.Succeeded, task.Failed, task.Error, task.Canceled} {
		syncCases = append(syncCases, tcase{name: string(s), method: "POST", path: xSync + "?wait=1", body: xpanderBody, setup: ended(s), status: 200, validRequest: true})
	}
	// A body with ServiceNet's fields is ServiceNet's: its answers and errors are ServiceNet's.
	snEnded := func(s task.State) func(f *fake) {
		return func(f *fake) {
			f.submitted = func(accept.Submission) *task.Task { return stored(s, task.ServiceNet) }
		}
	}
	snSync := `{"message":"Create a payment link for 15 AUD","region":"AU"}`
	for _, s := range []task.State{task.Succeeded, task.Failed, task.Canceled, task.Paused} {
		syncCases = append(syncCases, tcase{name: "servicenet " + string(s), method: "POST", path: xSync + "?wait=1", body: snSync, setup: snEnded(s), status: 200, validRequest: true,
			check: func(t *testing.T, r answer) {
				if st, _ := r.body["status"].(string); !strings.HasPrefix(st, "TASK_STATE_") || r.body["receipt_id"] != taskID {
					t.Errorf("answer = %s", r.raw)
				}
			}})
	}
	syncCases = append(syncCases,
		tcase{name: "servicenet, outlasts the wait", method: "POST", path: xSync + "?wait=0", body: snSync, status: 202, validRequest: true, check: func(t *testing.T, r answer) {
			if r.body["status"] != "running" || r.header.Get("Location") != "/v1/receipts/"+r.body["receipt_id"].(string) {
				t.Errorf("answer = %s, Location %q", r.raw, r.header.Get("Location"))
			}
		}},
		tcase{name: "servicenet, return_immediately", method: "POST", path: xSync, body: `{"message":"hi","return_immediately":true}`, status: 202, validRequest: true},
	)
	xSyncErrs := slices.DeleteFunc(invokeCases(xSync, xpanderBody, false), func(c tcase) bool { return c.name == "mistyped field" })
	snSyncErrs := slices.DeleteFunc(invokeCases(xSync, snSync, true), func(c tcase) bool {
		// Not ServiceNet bodies: no ServiceNet field, so xpander's, and checked as such above.
		return c.name == "too deep" || c.name == "body over 1 MiB" || c.code == "malformed_json" || c.code == "unreadable_body" || c.status == 401 || c.status == 405
	})
	for i := range snSyncErrs {
		snSyncErrs[i].name = "servicenet " + snSyncErrs[i].name
	}
	out["POST /v1/agents/{agent_id}/invoke"] = slices.Concat(syncCases, xSyncErrs, snSyncErrs)

	// Reads of a task or receipt, in every state, submitted through either dialect.
	var getTask, getReceipt []tcase
	for _, s := range allStates {
		for _, d := range []task.Dialect{task.Xpander, task.ServiceNet} {
			name := string(s) + ", submitted " + string(d)
			retry := func(t *testing.T, r answer) {
				if got := r.header.Get("Retry-After") != ""; got != !s.Terminal() {
					t.Errorf("Retry-After %q on a %s task", r.header.Get("Retry-After"), s)
				}
			}
			getTask = append(getTask, tcase{name: name, method: "GET", path: "/v1/tasks/" + taskID, setup: withTask(stored(s, d)), status: 200, validRequest: true, check: retry})
			getReceipt = append(getReceipt, tcase{name: name, method: "GET", path: "/v1/receipts/" + taskID, setup: withTask(stored(s, d)), status: 200, validRequest: true, check: retry})
		}
	}
	threaded := func(f *fake) {
		first := stored(task.Succeeded, task.Xpander)
		first.ThreadID = threadID
		second := stored(task.Running, task.Xpander)
		second.ID, second.ThreadID, second.ThreadSeq, second.Text = unknown, threadID, 2, "and Q2?"
		f.put(first)
		f.put(second)
		f.threads[tenant+"#"+threadID] = unknown
	}
	// A task with nothing but its text: a request kept elsewhere, or a body that is not JSON.
	bare := func(f *fake) {
		t := stored(task.Succeeded, task.ServiceNet)
		t.Request, t.Output, t.ThreadID = nil, json.RawMessage(`[1,2]`), "ctx-1"
		f.put(t)
	}
	nullInput := func(f *fake) {
		t := stored(task.Queued, task.ServiceNet)
		t.Request = json.RawMessage(`{"message":"x","input":null}`)
		f.put(t)
	}
	getTask = append(getTask,
		tcase{name: "by thread id", method: "GET", path: "/v1/tasks/" + threadID, setup: threaded, status: 200, validRequest: true},
		tcase{name: "waits", method: "GET", path: "/v1/tasks/" + taskID + "?wait=1", setup: withTask(stored(task.Running, task.Xpander)), status: 200, validRequest: true},
		tcase{name: "bare", method: "GET", path: "/v1/tasks/" + taskID, setup: bare, status: 200, validRequest: true},
		tcase{name: "null input", method: "GET", path: "/v1/tasks/" + taskID, setup: nullInput, status: 200, validRequest: true},
		tcase{name: "wait bad", method: "GET", path: "/v1/tasks/" + taskID + "?wait=x", status: 422, code: "validation_failed"},
	)
	getReceipt = append(getReceipt,
		tcase{name: "waits", method: "GET", path: "/v1/receipts/" + taskID + "?wait=1", setup: withTask(stored(task.Queued, task.ServiceNet)), status: 200, validRequest: true},
		tcase{name: "bare", method: "GET", path: "/v1/receipts/" + taskID, setup: bare, status: 200, validRequest: true},
		tcase{name: "wait bad", method: "GET", path: "/v1/receipts/" + taskID + "?wait=99", status: 400, code: "validation_failed"},
	)
	out["GET /v1/tasks/{task_id}"] = append(getTask, readCases("GET", "/v1/tasks/", "", false)...)
	out["GET /v1/receipts/{receipt_id}"] = append(getReceipt, readCases("GET", "/v1/receipts/", "", true)...)

	// Stops: of every state a task can be stopped in, and of one that ended.
	var stopTask, stopReceipt []tcase
	for _, s := range []task.State{task.Queued, task.Running, task.Paused, task.Succeeded, task.Failed, task.Rejected} {
		for _, d := range []task.Dialect{task.Xpander, task.ServiceNet} {
			name := string(s) + ", submitted " + string(d)
			stopTask = append(stopTask, tcase{name: name, method: "POST", path: "/v1/tasks/" + taskID + "/stop", setup: withTask(stored(s, d)), status: 200, validRequest: true})
			stopReceipt = append(stopReceipt, tcase{name: name, method: "POST", path: "/v1/receipts/" + taskID + "/stop", setup: withTask(stored(s, d)), status: 200, validRequest: true})
		}
	}
	stopTask = append(stopTask, tcase{name: "by thread id", method: "POST", path: "/v1/tasks/" + threadID + "/stop", setup: threaded, status: 200, validRequest: true})
	out["POST /v1/tasks/{task_id}/stop"] = append(stopTask, readCases("POST", "/v1/tasks/", "/stop", false)...)
	out["POST /v1/receipts/{receipt_id}/stop"] = append(stopReceipt, readCases("POST", "/v1/receipts/", "/stop", true)...)

	// Threads.
	out["GET /v1/tasks/{task_id}/thread"] = append([]tcase{
		{name: "two turns", method: "GET", path: "/v1/tasks/" + threadID + "/thread", setup: threaded, status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if n := len(r.body["messages"].([]any)); n != 3 {
				t.Errorf("%d messages, want 3: %s", n, r.raw)
			}
		}},
		{name: "a turn's id", method: "GET", path: "/v1/tasks/" + taskID + "/thread", setup: threaded, status: 200, validRequest: true},
		{name: "a task outside any thread", method: "GET", path: "/v1/tasks/" + taskID + "/thread", setup: withTask(stored(task.Succeeded, task.ServiceNet)), status: 200, validRequest: true},
	}, readCases("GET", "/v1/tasks/", "/thread", false)...)

	// Deletes, full threads, usage.
	family := func(f *fake) {
		threaded(f)
		sub := stored(task.Queued, task.Xpander)
		sub.ID, sub.ThreadID, sub.ParentTaskID = subTaskID, subTaskID, taskID
		f.put(sub)
	}
	tooMany := func(f *fake) {
		f.put(stored(task.Succeeded, task.Xpander))
		f.familyErr = fmt.Errorf("family: %w", task.ErrFamilyTooLarge)
	}
	out["DELETE /v1/tasks/{task_id}"] = append([]tcase{
		{name: "a conversation with a sub-task", method: "DELETE", path: "/v1/tasks/" + threadID, setup: family, status: 204, validRequest: true, check: func(t *testing.T, r answer) {
			if len(r.raw) != 0 || r.header.Get("X-Request-Id") == "" {
				t.Errorf("204 = %q %v", r.raw, r.header)
			}
		}},
		{name: "a running task", method: "DELETE", path: "/v1/tasks/" + taskID, setup: withTask(stored(task.Running, task.ServiceNet)), status: 204, validRequest: true},
		{name: "too many", method: "DELETE", path: "/v1/tasks/" + taskID, setup: tooMany, status: 409, code: "too_many_tasks"},
	}, readCases("DELETE", "/v1/tasks/", "", false)...)
	out["GET /v1/tasks/{task_id}/thread/full"] = append([]tcase{
		{name: "a conversation with a sub-task", method: "GET", path: "/v1/tasks/" + threadID + "/thread/full", setup: family, status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if root, _ := r.body["root"].([]any); len(root) != 3 || r.body[subTaskID] == nil {
				t.Errorf("full thread = %s", r.raw)
			}
		}},
		{name: "a task outside any thread", method: "GET", path: "/v1/tasks/" + taskID + "/thread/full", setup: withTask(stored(task.Succeeded, task.ServiceNet)), status: 200, validRequest: true},
		{name: "too many", method: "GET", path: "/v1/tasks/" + taskID + "/thread/full", setup: tooMany, status: 409, code: "too_many_tasks"},
	}, readCases("GET", "/v1/tasks/", "/thread/full", false)...)
	out["GET /v1/tasks/{task_id}/llm_usage"] = append([]tcase{
		{name: "a conversation", method: "GET", path: "/v1/tasks/" + threadID + "/llm_usage", setup: threaded, status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if r.body["tokens"] != float64(7) || r.body["cost"] != 0.00042 || r.body["actions"] != float64(1) {
				t.Errorf("usage = %s", r.raw)
			}
		}},
		{name: "nothing reported", method: "GET", path: "/v1/tasks/" + taskID + "/llm_usage", setup: withTask(stored(task.Failed, task.ServiceNet)), status: 200, validRequest: true},
	}, readCases("GET", "/v1/tasks/", "/llm_usage", false)...)

	// Human in the loop.
	paused := func(f *fake) { f.put(stored(task.Paused, task.Xpander)) }
	decisions := func(verb, body, bad string) []tcase {
		path := "/v1/hitl/" + taskID + "/" + verb
		cases := []tcase{
			{name: "paused", method: "POST", path: path, body: body, setup: paused, status: 200, validRequest: true},
			{name: "by thread id", method: "POST", path: "/v1/hitl/" + threadID + "/" + verb, body: body, setup: func(f *fake) {
				p := stored(task.Paused, task.Xpander)
				p.ThreadID = threadID
				f.put(p)
				f.threads[tenant+"#"+threadID] = taskID
			}, status: 200, validRequest: true},
			{name: "not paused", method: "POST", path: path, body: body, setup: withTask(stored(task.Running, task.Xpander)), status: 409, code: "task_not_paused"},
			{name: "ended", method: "POST", path: path, body: body, setup: withTask(stored(task.Succeeded, task.Xpander)), status: 409, code: "task_not_paused"},
			{name: "who is missing", method: "POST", path: path, body: `{}`, setup: paused, status: 422, code: "validation_failed"},
			{name: "the other decision's field", method: "POST", path: path, body: bad, setup: paused, status: 422, code: "validation_failed"},
			{name: "not JSON", method: "POST", path: path, body: `{"`, setup: paused, status: 422, code: "validation_failed"},
			{name: "unreadable body", method: "POST", path: path, reader: func() io.Reader { return errorReader{} }, setup: paused, status: 400, code: "unreadable_body"},
			{name: "body over 1 MiB", method: "POST", path: path, body: `{"x":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`, setup: paused, status: 413, code: "body_too_large"},
		}
		// The task is read after the body: its answers need a good one.
		for _, c := range readCases("POST", "/v1/hitl/", "/"+verb, false) {
			if c.code != "method_not_allowed" {
				c.body = body
			}
			cases = append(cases, c)
		}
		return cases
	}
	approve := decisions("approve", `{"approved_by":"ana@example.com","message":"ship it"}`, `{"rejected_by":"bo"}`)
	approve = append(approve,
		tcase{name: "agent gone", method: "POST", path: "/v1/hitl/" + taskID + "/approve", body: `{"approved_by":"ana"}`,
			setup: func(f *fake) { paused(f); f.resumeErr = fmt.Errorf("resume: %w", agent.ErrNotFound) }, status: 404, code: "agent_not_found"},
		tcase{name: "version gone", method: "POST", path: "/v1/hitl/" + taskID + "/approve", body: `{"approved_by":"ana"}`,
			setup: func(f *fake) { paused(f); f.resumeErr = fmt.Errorf("resume: %w", agent.ErrVersionNotFound) }, status: 404, code: "agent_version_not_found"},
		tcase{name: "queue down", method: "POST", path: "/v1/hitl/" + taskID + "/approve", body: `{"approved_by":"ana"}`,
			setup: func(f *fake) { paused(f); f.resumeErr = errors.New("sqs: throttled") }, status: 503, code: "unavailable"})
	out["POST /v1/hitl/{task_id}/approve"] = approve
	out["POST /v1/hitl/{task_id}/reject"] = decisions("reject", `{"rejected_by":"bo@example.com","reason":"over budget"}`, `{"approved_by":"ana"}`)

	// Lists.
	out["GET /v1/tasks"] = listCases("/v1/tasks")
	out["GET /v1/agents/{agent_id}/tasks"] = append(listCases("/v1/agents/echo/tasks"),
		tcase{name: "agent id not well formed", method: "GET", path: "/v1/agents/-x/tasks", status: 404, code: "agent_not_found"},
		tcase{name: "agent filters disagree", method: "GET", path: "/v1/agents/echo/tasks?agent_id=other", status: 422, code: "validation_failed"},
	)

	// The agent registry.
	agentBody := `{"name":"Billing","protocol":"http","endpoint":"https://billing.example.com/agent","timeout":"1m30s","auth":"forward",` +
		`"requires_approval":true,"cost_units":5,"allowed_regions":["AU","NZ"],"tenants":["acme"],"skills":[{"id":"invoice","name":"Invoice"}],` +
		`"output_format":"json","output_schema":{"type":"object"}}`
	adminErrors := func(method, path, body string) []tcase {
		return append([]tcase{
			{name: "a tenant's key", method: method, path: path, body: body, status: 403, code: "admin_required"},
			{name: "a tenant's key as bearer", method: method, path: path, body: body, auth: "bearer", status: 403, code: "admin_required"},
		}, commonErrorsAs("admin", method, path, body)...)
	}
	out["GET /v1/agents"] = append([]tcase{
		{name: "the published agents the tenant may use", method: "GET", path: "/v1/agents", status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			// Not the draft, not the unpublished one; never an endpoint or a credential.
			if n := len(r.body["items"].([]any)); n != 2 {
				t.Errorf("%d agents, want 2: %s", n, r.raw)
			}
			for _, leak := range []string{"endpoint", "auth_context", "tenants", "arn:", "example.com", "127.0.0.1"} {
				if strings.Contains(string(r.raw), leak) {
					t.Errorf("the listing shows %q: %s", leak, r.raw)
				}
			}
		}},
		{name: "another tenant's view", method: "GET", path: "/v1/agents", auth: "other", status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if n := len(r.body["items"].([]any)); n != 1 {
				t.Errorf("%d agents, want 1 (billing is kept for %s): %s", n, tenant, r.raw)
			}
		}},
		{name: "none", method: "GET", path: "/v1/agents", setup: func(f *fake) { f.agents = map[string]registry.Summary{} }, status: 200, validRequest: true},
	}, commonErrors("GET", "/v1/agents", "")...)
	var getAgent []tcase
	for _, id := range []string{"echo", "billing"} {
		getAgent = append(getAgent, tcase{name: id, method: "GET", path: "/v1/agents/" + id, status: 200, validRequest: true})
	}
	out["GET /v1/agents/{agent_id}"] = append(append(getAgent,
		tcase{name: "a draft", method: "GET", path: "/v1/agents/draft", status: 404, code: "agent_not_found"},
		tcase{name: "unpublished", method: "GET", path: "/v1/agents/gone", status: 404, code: "agent_not_found"},
		tcase{name: "kept for another tenant", method: "GET", path: "/v1/agents/billing", auth: "other", status: 404, code: "agent_not_found"},
		tcase{name: "unknown", method: "GET", path: "/v1/agents/nope", status: 404, code: "agent_not_found"},
		tcase{name: "not well formed", method: "GET", path: "/v1/agents/-x", status: 404, code: "agent_not_found"},
	), commonErrors("GET", "/v1/agents/echo", "")...)
	out["PUT /v1/agents/{agent_id}"] = append([]tcase{
		{name: "a new draft", method: "PUT", path: "/v1/agents/new", body: agentBody, auth: "admin", status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if r.body["has_draft"] != true || r.body["current_version"] != 0.0 {
				t.Errorf("agent = %s", r.raw)
			}
		}},
		{name: "published at once", method: "PUT", path: "/v1/agents/new", body: `{"id":"new","protocol":"lambda","endpoint":"arn:aws:lambda:eu-west-1:123456789012:function:f","publish":true}`,
			auth: "admin", status: 200, validRequest: true},
		{name: "a draft over a published agent", method: "PUT", path: "/v1/agents/billing", body: `{"protocol":"a2a","endpoint":"https://a2a.example.com"}`, auth: "admin", status: 200, validRequest: true},
		{name: "as bearer", method: "PUT", path: "/v1/agents/new", body: agentBody, auth: "none", header: []string{"Authorization", "Bearer " + adminKey}, status: 200},
		{name: "not JSON", method: "PUT", path: "/v1/agents/new", body: `{"protocol":`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "unknown field", method: "PUT", path: "/v1/agents/new", body: `{"protocol":"http","endpoint":"https://x","color":"red"}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "another id", method: "PUT", path: "/v1/agents/new", body: `{"id":"old","protocol":"http","endpoint":"https://x"}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "unknown protocol", method: "PUT", path: "/v1/agents/new", body: `{"protocol":"smtp","endpoint":"https://x"}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "bad output format", method: "PUT", path: "/v1/agents/new", body: `{"protocol":"http","endpoint":"https://x","output_format":"pdf"}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "bad timeout", method: "PUT", path: "/v1/agents/new", body: `{"protocol":"http","endpoint":"https://x","timeout":"soon"}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "id not well formed", method: "PUT", path: "/v1/agents/-x", body: agentBody, auth: "admin", status: 422, code: "validation_failed"},
		{name: "unreadable body", method: "PUT", path: "/v1/agents/new", reader: func() io.Reader { return errorReader{} }, auth: "admin", status: 400, code: "unreadable_body"},
		{name: "body over 1 MiB", method: "PUT", path: "/v1/agents/new", body: `{"name":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`, auth: "admin", status: 413, code: "body_too_large"},
		{name: "publish raced", method: "PUT", path: "/v1/agents/new", body: `{"protocol":"http","endpoint":"https://x","publish":true}`, auth: "admin",
			setup: func(f *fake) { f.publishErr = fmt.Errorf("publish: %w", registry.ErrConflict) }, status: 409, code: "agent_conflict"},
		{name: "draft gone before publishing", method: "PUT", path: "/v1/agents/new", body: `{"protocol":"http","endpoint":"https://x","publish":true}`, auth: "admin",
			setup: func(f *fake) { f.publishErr = fmt.Errorf("publish: %w", registry.ErrNoDraft) }, status: 409, code: "no_draft"},
	}, adminErrors("PUT", "/v1/agents/new", agentBody)...)
	out["POST /v1/agents/{agent_id}/publish"] = append([]tcase{
		{name: "a draft", method: "POST", path: "/v1/agents/draft/publish", auth: "admin", status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if r.body["current_version"] != 1.0 || r.body["agent"].(map[string]any)["version"] != "1" {
				t.Errorf("agent = %s", r.raw)
			}
		}},
		{name: "no draft", method: "POST", path: "/v1/agents/echo/publish", auth: "admin", status: 409, code: "no_draft"},
		{name: "raced", method: "POST", path: "/v1/agents/draft/publish", auth: "admin", setup: func(f *fake) { f.publishErr = registry.ErrConflict }, status: 409, code: "agent_conflict"},
	}, adminErrors("POST", "/v1/agents/draft/publish", "")...)
	out["DELETE /v1/agents/{agent_id}"] = append([]tcase{
		{name: "published", method: "DELETE", path: "/v1/agents/billing", auth: "admin", status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if r.body["deleted"] != true {
				t.Errorf("agent = %s", r.raw)
			}
		}},
		{name: "kept as code", method: "DELETE", path: "/v1/agents/echo", auth: "admin", status: 200, validRequest: true},
		{name: "unknown", method: "DELETE", path: "/v1/agents/nope", auth: "admin", status: 404, code: "agent_not_found"},
		{name: "not well formed", method: "DELETE", path: "/v1/agents/-x", auth: "admin", status: 404, code: "agent_not_found"},
	}, adminErrors("DELETE", "/v1/agents/billing", "")...)

	// Auth contexts.
	ctxBody := `{"tenant":"acme","name":"Stripe key","kind":"bearer","secret":"sk-SECRET"}`
	const ctxPath = "/v1/auth-contexts/" + contextID + "?tenant=acme"
	out["POST /v1/auth-contexts"] = append([]tcase{
		{name: "bearer", method: "POST", path: "/v1/auth-contexts", body: ctxBody, auth: "admin", status: 201, validRequest: true, check: noSecrets},
		{name: "header", method: "POST", path: "/v1/auth-contexts", body: `{"tenant":"acme","name":"k","kind":"header","header":"X-Key","secret":"v-SECRET"}`, auth: "admin", status: 201, validRequest: true, check: noSecrets},
		{name: "unknown field", method: "POST", path: "/v1/auth-contexts", body: `{"tenant":"acme","name":"k","kind":"bearer","secret":"s","ttl":5}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "no tenant", method: "POST", path: "/v1/auth-contexts", body: `{"name":"k","kind":"bearer","secret":"s"}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "bad kind", method: "POST", path: "/v1/auth-contexts", body: `{"tenant":"acme","name":"k","kind":"basic","secret":"s"}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "transport header", method: "POST", path: "/v1/auth-contexts", body: `{"tenant":"acme","name":"k","kind":"header","header":"Host","secret":"s"}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "mistyped", method: "POST", path: "/v1/auth-contexts", body: `{"tenant":"acme","name":5,"kind":"bearer","secret":"s"}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "not JSON", method: "POST", path: "/v1/auth-contexts", body: `{"tenant":`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "unreadable body", method: "POST", path: "/v1/auth-contexts", reader: func() io.Reader { return errorReader{} }, auth: "admin", status: 400, code: "unreadable_body"},
		{name: "body over 1 MiB", method: "POST", path: "/v1/auth-contexts", body: `{"secret":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`, auth: "admin", status: 413, code: "body_too_large"},
	}, adminErrors("POST", "/v1/auth-contexts", ctxBody)...)
	readContext := func(method string) []tcase {
		return append([]tcase{
			{name: "the context", method: method, path: ctxPath, auth: "admin", status: 200, validRequest: true},
			{name: "upper-case id", method: method, path: "/v1/auth-contexts/" + strings.ToUpper(contextID) + "?tenant=acme", auth: "admin", status: 200},
			{name: "another tenant's", method: method, path: "/v1/auth-contexts/" + contextID + "?tenant=other", auth: "admin", status: 404, code: "auth_context_not_found"},
			{name: "not an id", method: method, path: "/v1/auth-contexts/x?tenant=acme", auth: "admin", status: 404, code: "auth_context_not_found"},
			{name: "no tenant", method: method, path: "/v1/auth-contexts/" + contextID, auth: "admin", status: 422, code: "validation_failed"},
			{name: "tenant twice", method: method, path: ctxPath + "&tenant=b", auth: "admin", status: 422, code: "validation_failed"},
		}, adminErrors(method, ctxPath, "")...)
	}
	out["GET /v1/auth-contexts/{auth_context_id}"] = readContext("GET")
	out["DELETE /v1/auth-contexts/{auth_context_id}"] = readContext("DELETE")

	// API keys.
	keyBody := `{"tenant":"acme","name":"CI"}`
	out["POST /v1/api-keys"] = append([]tcase{
		{name: "created", method: "POST", path: "/v1/api-keys", body: keyBody, auth: "admin", status: 201, validRequest: true, check: func(t *testing.T, r answer) {
			if r.body["key"] != "aq_NEWKEY" || r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("answer = %s, Cache-Control %q", r.raw, r.header.Get("Cache-Control"))
			}
		}},
		{name: "no name", method: "POST", path: "/v1/api-keys", body: `{"tenant":"acme"}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "no tenant", method: "POST", path: "/v1/api-keys", body: `{"name":"CI"}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "unknown field", method: "POST", path: "/v1/api-keys", body: `{"tenant":"acme","name":"CI","key":"mine"}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "control characters", method: "POST", path: "/v1/api-keys", body: `{"tenant":"ac\u0000me","name":"CI"}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "not JSON", method: "POST", path: "/v1/api-keys", body: `{"tenant":`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "unreadable body", method: "POST", path: "/v1/api-keys", reader: func() io.Reader { return errorReader{} }, auth: "admin", status: 400, code: "unreadable_body"},
		{name: "body over 1 MiB", method: "POST", path: "/v1/api-keys", body: `{"name":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`, auth: "admin", status: 413, code: "body_too_large"},
	}, adminErrors("POST", "/v1/api-keys", keyBody)...)
	out["GET /v1/api-keys"] = append([]tcase{
		{name: "a tenant's keys", method: "GET", path: "/v1/api-keys?tenant=acme", auth: "admin", status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if items := r.body["items"].([]any); len(items) != 1 || strings.Contains(string(r.raw), "key\"") {
				t.Errorf("answer = %s", r.raw)
			}
		}},
		{name: "none", method: "GET", path: "/v1/api-keys?tenant=other", auth: "admin", status: 200, validRequest: true},
		{name: "no tenant", method: "GET", path: "/v1/api-keys", auth: "admin", status: 422, code: "validation_failed"},
		{name: "tenant twice", method: "GET", path: "/v1/api-keys?tenant=a&tenant=b", auth: "admin", status: 422, code: "validation_failed"},
	}, adminErrors("GET", "/v1/api-keys?tenant=acme", "")...)
	limitsPath := "/v1/tenants/acme/limits"
	limitsBody := `{"rate":5,"max_in_flight":50}`
	out["GET /v1/tenants/{tenant}/limits"] = append([]tcase{
		{name: "own", method: "GET", path: limitsPath, auth: "admin", setup: func(f *fake) { f.limits = map[string]tenantlimit.Limits{"acme": {Rate: 5}} },
			status: 200, validRequest: true, check: func(t *testing.T, r answer) {
				if r.body["own"] != true || r.body["rate"] != 5.0 {
					t.Errorf("answer = %s", r.raw)
				}
			}},
		{name: "the defaults", method: "GET", path: "/v1/tenants/other/limits", auth: "admin", status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if r.body["own"] != false || r.body["rate"] != 20.0 {
				t.Errorf("answer = %s", r.raw)
			}
		}},
		{name: "not a tenant name", method: "GET", path: "/v1/tenants/a%23b/limits", auth: "admin", status: 422, code: "validation_failed"},
	}, adminErrors("GET", limitsPath, "")...)
	out["PUT /v1/tenants/{tenant}/limits"] = append([]tcase{
		{name: "set", method: "PUT", path: limitsPath, body: limitsBody, auth: "admin", status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if r.body["own"] != true || r.body["max_in_flight"] != 50.0 {
				t.Errorf("answer = %s", r.raw)
			}
		}},
		{name: "negative", method: "PUT", path: limitsPath, body: `{"rate":-1,"max_in_flight":5}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "half", method: "PUT", path: limitsPath, body: `{"rate":1}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "unknown field", method: "PUT", path: limitsPath, body: `{"rate":1,"max_in_flight":1,"burst":3}`, auth: "admin", status: 422, code: "validation_failed"},
		{name: "unreadable body", method: "PUT", path: limitsPath, reader: func() io.Reader { return errorReader{} }, auth: "admin", status: 400, code: "unreadable_body"},
		{name: "body over 1 MiB", method: "PUT", path: limitsPath, body: `{"rate":1,"x":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`, auth: "admin", status: 413, code: "body_too_large"},
	}, adminErrors("PUT", limitsPath, limitsBody)...)
	out["DELETE /v1/tenants/{tenant}/limits"] = append([]tcase{
		{name: "removed", method: "DELETE", path: limitsPath, auth: "admin", status: 200, validRequest: true},
		{name: "not a tenant name", method: "DELETE", path: "/v1/tenants/-x/limits", auth: "admin", status: 422, code: "validation_failed"},
	}, adminErrors("DELETE", limitsPath, "")...)
	out["DELETE /v1/api-keys/{api_key_id}"] = append([]tcase{
		{name: "revoked", method: "DELETE", path: "/v1/api-keys/" + apiKeyID, auth: "admin", status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if r.body["revoked"] != true {
				t.Errorf("answer = %s", r.raw)
			}
		}},
		{name: "unknown", method: "DELETE", path: "/v1/api-keys/ffffffffffffffff", auth: "admin", status: 404, code: "api_key_not_found"},
		{name: "not an id", method: "DELETE", path: "/v1/api-keys/x", auth: "admin", status: 404, code: "api_key_not_found"},
	}, adminErrors("DELETE", "/v1/api-keys/"+apiKeyID, "")...)

	// Webhooks: a task's deliveries, and the tenant's settings.
	const deliveriesPath = "/v1/tasks/" + taskID + "/deliveries"
	const replayPath = deliveriesPath + "/" + deliveryID + "/replay"
	out["GET /v1/tasks/{task_id}/deliveries"] = append([]tcase{
		{name: "two deliveries", method: "GET", path: deliveriesPath, setup: withDeliveries, status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if items := r.body["items"].([]any); len(items) != 2 || r.body["task_id"] != taskID {
				t.Errorf("answer = %s", r.raw)
			}
		}},
		{name: "none yet", method: "GET", path: deliveriesPath, setup: withTask(stored(task.Running, task.Xpander)), status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if items, ok := r.body["items"].([]any); !ok || len(items) != 0 {
				t.Errorf("answer = %s", r.raw)
			}
		}},
		{name: "by thread id", method: "GET", path: "/v1/tasks/" + threadID + "/deliveries", setup: threaded, status: 404, code: "task_not_found"},
	}, readCases("GET", "/v1/tasks/", "/deliveries", false)...)
	out["POST /v1/tasks/{task_id}/deliveries/{delivery_id}/replay"] = append([]tcase{
		{name: "replayed", method: "POST", path: replayPath, setup: withDeliveries, status: 202, validRequest: true, check: func(t *testing.T, r answer) {
			if r.body["replay_of"] != deliveryID || r.body["state"] != "pending" || r.body["message_id"] != "msg_7c1e0a9b3d5f2e4a6b8c0d1e2f" {
				t.Errorf("answer = %s", r.raw)
			}
		}},
		{name: "unknown delivery", method: "POST", path: deliveriesPath + "/dlv_ffffffffffffffffffffffffff/replay", setup: withDeliveries, status: 404, code: "delivery_not_found"},
		{name: "not a delivery id", method: "POST", path: deliveriesPath + "/x/replay", setup: withDeliveries, status: 404, code: "delivery_not_found"},
		{name: "replayed too often", method: "POST", path: replayPath, setup: func(f *fake) { withDeliveries(f); f.replayErr = fmt.Errorf("replay: %w", webhook.ErrReplayLimit) },
			status: 429, code: "replay_limit_reached"},
	}, readCases("POST", "/v1/tasks/", "/deliveries/"+deliveryID+"/replay", false)...)
	out["GET /v1/webhooks"] = append([]tcase{
		{name: "set", method: "GET", path: "/v1/webhooks", setup: withHooks, status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if len(r.body["secrets"].([]any)) != 2 || r.body["secret"] != nil {
				t.Errorf("answer = %s", r.raw)
			}
		}},
		{name: "never set", method: "GET", path: "/v1/webhooks", status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if _, ok := r.body["updated_at"]; ok || len(r.body["urls"].([]any)) != 0 {
				t.Errorf("answer = %s", r.raw)
			}
		}},
	}, commonErrors("GET", "/v1/webhooks", "")...)
	hooksBody := `{"urls":["https://hooks.example.com/agentq","http://hooks.example.com:8080/b?token=t"]}`
	noStore := func(secret bool) func(t *testing.T, r answer) {
		return func(t *testing.T, r answer) {
			if _, ok := r.body["secret"]; ok != secret || r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("answer = %s, Cache-Control %q, want a secret: %v", r.raw, r.header.Get("Cache-Control"), secret)
			}
		}
	}
	elevenURLs := `{"urls":["https://a.example.com/1"`
	for i := 2; i <= 11; i++ {
		elevenURLs += fmt.Sprintf(`,"https://a.example.com/%d"`, i)
	}
	elevenURLs += "]}"
	out["PUT /v1/webhooks"] = append([]tcase{
		{name: "first, with a new secret", method: "PUT", path: "/v1/webhooks", body: hooksBody, status: 200, validRequest: true, check: noStore(true)},
		{name: "again, no secret", method: "PUT", path: "/v1/webhooks", body: hooksBody, setup: withHooks, status: 200, validRequest: true, check: noStore(false)},
		{name: "none", method: "PUT", path: "/v1/webhooks", body: `{"urls":[]}`, setup: withHooks, status: 200, validRequest: true, check: noStore(false)},
		{name: "no urls", method: "PUT", path: "/v1/webhooks", body: `{}`, status: 422, code: "validation_failed"},
		{name: "null urls", method: "PUT", path: "/v1/webhooks", body: `{"urls":null}`, status: 422, code: "validation_failed"},
		{name: "unknown field", method: "PUT", path: "/v1/webhooks", body: `{"urls":[],"secret":"mine"}`, status: 422, code: "validation_failed"},
		{name: "not JSON", method: "PUT", path: "/v1/webhooks", body: `{"urls":`, status: 422, code: "validation_failed"},
		{name: "empty body", method: "PUT", path: "/v1/webhooks", body: ``, status: 422, code: "validation_failed"},
		{name: "two objects", method: "PUT", path: "/v1/webhooks", body: `{"urls":[]}{}`, status: 422, code: "validation_failed"},
		{name: "not a URL", method: "PUT", path: "/v1/webhooks", body: `{"urls":["/hook"]}`, status: 422, code: "validation_failed"},
		{name: "credentials", method: "PUT", path: "/v1/webhooks", body: `{"urls":["https://u:p@hooks.example.com/"]}`, status: 422, code: "validation_failed"},
		{name: "more than 10", method: "PUT", path: "/v1/webhooks", body: elevenURLs, status: 422, code: "validation_failed"},
		{name: "metadata address", method: "PUT", path: "/v1/webhooks", body: `{"urls":["http://169.254.169.254/latest"]}`, status: 422, code: "webhook_url_forbidden"},
		{name: "private address", method: "PUT", path: "/v1/webhooks", body: `{"urls":["https://10.0.0.7/hook"]}`, status: 422, code: "webhook_url_forbidden"},
		{name: "localhost", method: "PUT", path: "/v1/webhooks", body: `{"urls":["http://localhost:9000/hook"]}`, status: 422, code: "webhook_url_forbidden"},
		{name: "raced", method: "PUT", path: "/v1/webhooks", body: hooksBody, setup: func(f *fake) { f.hookErr = fmt.Errorf("set: %w", settings.ErrConflict) }, status: 409, code: "webhooks_changed"},
		{name: "unreadable body", method: "PUT", path: "/v1/webhooks", reader: func() io.Reader { return errorReader{} }, status: 400, code: "unreadable_body"},
		{name: "body over 1 MiB", method: "PUT", path: "/v1/webhooks", body: `{"urls":["` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"]}`, status: 413, code: "body_too_large"},
	}, commonErrors("PUT", "/v1/webhooks", hooksBody)...)
	out["POST /v1/webhooks/rotate-secret"] = append([]tcase{
		{name: "default grace", method: "POST", path: "/v1/webhooks/rotate-secret", setup: withHooks, status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			noStore(true)(t, r)
			if n := len(r.body["secrets"].([]any)); n != 3 {
				t.Errorf("%d secrets, want 3: %s", n, r.raw)
			}
		}},
		{name: "the first secret", method: "POST", path: "/v1/webhooks/rotate-secret", body: `{}`, status: 200, validRequest: true, check: noStore(true)},
		{name: "at once", method: "POST", path: "/v1/webhooks/rotate-secret", body: `{"grace_seconds":0}`, setup: withHooks, status: 200, validRequest: true, check: noStore(true)},
		{name: "a week", method: "POST", path: "/v1/webhooks/rotate-secret", body: `{"grace_seconds":604800}`, setup: withHooks, status: 200, validRequest: true, check: noStore(true)},
		{name: "too long a grace", method: "POST", path: "/v1/webhooks/rotate-secret", body: `{"grace_seconds":604801}`, status: 422, code: "validation_failed"},
		{name: "negative grace", method: "POST", path: "/v1/webhooks/rotate-secret", body: `{"grace_seconds":-1}`, status: 422, code: "validation_failed"},
		{name: "grace not an integer", method: "POST", path: "/v1/webhooks/rotate-secret", body: `{"grace_seconds":"1d"}`, status: 422, code: "validation_failed"},
		{name: "unknown field", method: "POST", path: "/v1/webhooks/rotate-secret", body: `{"secret":"mine"}`, status: 422, code: "validation_failed"},
		{name: "not JSON", method: "POST", path: "/v1/webhooks/rotate-secret", body: `{"grace_seconds":`, status: 422, code: "validation_failed"},
		{name: "raced", method: "POST", path: "/v1/webhooks/rotate-secret", setup: func(f *fake) { f.hookErr = settings.ErrConflict }, status: 409, code: "webhooks_changed"},
		{name: "unreadable body", method: "POST", path: "/v1/webhooks/rotate-secret", reader: func() io.Reader { return errorReader{} }, status: 400, code: "unreadable_body"},
		{name: "body over 1 MiB", method: "POST", path: "/v1/webhooks/rotate-secret", body: `{"x":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`, status: 413, code: "body_too_large"},
	}, commonErrors("POST", "/v1/webhooks/rotate-secret", "")...)

	out["GET /healthz"] = []tcase{{name: "ok", method: "GET", path: "/healthz", auth: "none", status: 200, validRequest: false}}
	streamCases(out)

	// Receipts: lists, verdicts and the issuer's keys.
	receiptPage := func(f *fake) {
		f.listed = []*task.Task{stored(task.Succeeded, task.ServiceNet), stored(task.Queued, task.Xpander), stored(task.Failed, task.ServiceNet)}
		f.next = "eyJwayI6IngifQ"
	}
	out["GET /v1/receipts"] = append([]tcase{
		{name: "a page", method: "GET", path: "/v1/receipts", setup: receiptPage, status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			items, _ := r.body["items"].([]any)
			if len(items) != 3 || r.body["next_cursor"] == nil {
				t.Errorf("page = %s", r.raw)
			}
			for _, it := range items {
				var v struct {
					Receipt receipt.Receipt `json:"receipt"`
				}
				b, _ := json.Marshal(it)
				if err := json.Unmarshal(b, &v); err != nil || issuer.Issued(context.Background(), v.Receipt) != nil {
					t.Errorf("a listed receipt is not signed: %s", b)
				}
			}
		}},
		{name: "filtered", method: "GET", path: "/v1/receipts?agent_id=echo&provider_id=agentq&caller_agent_id=a&caller_public_id=p&invoke_mode=async&verification=not_required&limit=5&cursor=abc", setup: receiptPage, status: 200, validRequest: true},
		{name: "another provider", method: "GET", path: "/v1/receipts?provider_id=other", setup: receiptPage, status: 200, validRequest: true},
		{name: "the last page", method: "GET", path: "/v1/receipts?limit=100", status: 200, validRequest: true},
		{name: "bad cursor", method: "GET", path: "/v1/receipts?cursor=zzz", setup: func(f *fake) { f.listErr = fmt.Errorf("list: %w", task.ErrInvalidCursor) }, status: 400, code: "invalid_cursor"},
		{name: "bad mode", method: "GET", path: "/v1/receipts?invoke_mode=both", status: 400, code: "validation_failed"},
		{name: "bad verdict", method: "GET", path: "/v1/receipts?verification=maybe", status: 400, code: "validation_failed"},
		{name: "bad limit", method: "GET", path: "/v1/receipts?limit=101", status: 400, code: "validation_failed"},
	}, commonErrors("GET", "/v1/receipts", "")...)
	verifyPath := "/v1/receipts/" + taskID + "/verify"
	verdict := `{"verifier_id":"auditor-1","verdict":"verified","automated":true,"reason":"checked"}`
	out["POST /v1/receipts/{receipt_id}/verify"] = append([]tcase{
		{name: "verified", method: "POST", path: verifyPath, body: verdict, setup: withTask(stored(task.Succeeded, task.ServiceNet)), status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if rc, _ := r.body["receipt"].(map[string]any); rc["verification"] != "verified" {
				t.Errorf("receipt = %s", r.raw)
			}
		}},
		{name: "minimal", method: "POST", path: verifyPath, body: `{"verifier_id":"v","verdict":"failed"}`, setup: withTask(stored(task.Running, task.Xpander)), status: 200, validRequest: true},
		{name: "no verdict", method: "POST", path: verifyPath, body: `{"verifier_id":"v"}`, setup: withTask(stored(task.Succeeded, task.ServiceNet)), status: 400, code: "validation_failed"},
		{name: "not json", method: "POST", path: verifyPath, body: `{`, setup: withTask(stored(task.Succeeded, task.ServiceNet)), status: 400, code: "validation_failed"},
		{name: "too large", method: "POST", path: verifyPath, body: `{"verifier_id":"` + strings.Repeat("v", httpapi.MaxBodyBytes) + `"}`, setup: withTask(stored(task.Succeeded, task.ServiceNet)), status: 413, code: "body_too_large"},
	}, readCases("POST", "/v1/receipts/", "/verify", true)...)
	out["GET /v1/receipt-issuer"] = append([]tcase{
		{name: "the keys", method: "GET", path: "/v1/receipt-issuer", status: 200, validRequest: true, check: func(t *testing.T, r answer) {
			if did, _ := issuer.DID(context.Background()); r.body["did"] != did {
				t.Errorf("issuer = %s", r.raw)
			}
		}},
	}, commonErrors("GET", "/v1/receipt-issuer", "")...)

	return out
}

// ---- the tests ----

// TestDocument loads the document: it parses as OpenAPI 3.1, validates (its examples too), and
// every operation documents its answers in full.
func TestDocument(t *testing.T) {
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	ops, _ := Operations()
	for _, o := range ops {
		name := o.Method + " " + o.Path
		if o.Op.OperationID == "" || o.Op.Summary == "" || len(o.Op.Tags) == 0 {
			t.Errorf("%s: needs an operationId, a summary and a tag", name)
		}
		for status, ref := range o.Op.Responses.Map() {
			r := ref.Value
			if status == "204" {
				if len(r.Content) != 0 {
					t.Errorf("%s %s: a 204 has no body", name, status)
				}
			} else if r.Content.Get("application/json") == nil && r.Content.Get(sse.ContentType) == nil {
				t.Errorf("%s %s: no application/json (or text/event-stream) body", name, status)
			}
			if r.Headers["X-Request-Id"] == nil {
				t.Errorf("%s %s: no X-Request-Id header", name, status)
			}
			code, _ := strconv.Atoi(status)
			if code == 503 && (r.Headers["Retry-After"] == nil || !r.Headers["Retry-After"].Value.Required) {
				t.Errorf("%s %s: no required Retry-After", name, status)
			}
			if code == 405 && r.Headers["Allow"] == nil {
				t.Errorf("%s %s: no Allow", name, status)
			}
			if code >= 400 && len(documentedCodes(r)) == 0 {
				t.Errorf("%s %s: the error codes are not listed", name, status)
			}
		}
		if o.Path == "/healthz" {
			continue
		}
		for _, status := range []string{"401", "405", "500", "503"} {
			if o.Op.Responses.Value(status) == nil {
				t.Errorf("%s: no %s answer", name, status)
			}
		}
	}
	// The webhooks agentq sends (OpenAPI 3.1's top-level webhooks): each a POST with a JSON body,
	// the Standard Webhooks headers and the answers the deliverer tells apart.
	if len(doc.Webhooks) == 0 {
		t.Error("no webhooks documented")
	}
	for name, item := range doc.Webhooks {
		for method, op := range item.Operations() {
			where := "webhook " + name + " " + method
			if method != http.MethodPost || op.OperationID == "" || op.Summary == "" || len(op.Tags) == 0 {
				t.Errorf("%s: needs to be a POST with an operationId, a summary and a tag", where)
			}
			if op.RequestBody == nil || op.RequestBody.Value.Content.Get("application/json") == nil {
				t.Errorf("%s: no application/json request body", where)
			}
			for _, h := range []string{signing.HeaderID, signing.HeaderTimestamp, signing.HeaderSignature} {
				if p := op.Parameters.GetByInAndName("header", h); p == nil || !p.Required {
					t.Errorf("%s: no required %s header", where, h)
				}
			}
			if op.Responses.Value("2XX") == nil || op.Responses.Default() == nil {
				t.Errorf("%s: needs a 2XX and a default answer", where)
			}
		}
	}
	if len(doc.Components.SecuritySchemes) != 5 {
		t.Errorf("security schemes = %v, want ApiKey and Bearer, and agents' ProgressToken, PushToken and PushToken03", slices.Collect(maps.Keys(doc.Components.SecuritySchemes)))
	}
}

// handlerRoutes lists the routes httpapi.New registers: its route table and GET /healthz.
func handlerRoutes(t *testing.T) []string {
	t.Helper()
	routes := []string{"GET /healthz"} // served without a key, outside the table
	for _, r := range append(httpapi.Table(), httpapi.StreamTable()...) {
		routes = append(routes, r.Method+" "+r.Path)
	}
	return routes
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// TestEveryRouteDocumented compares the routes of the handler's source with the document's, both
// ways, and probes every documented route on a handler with every dependency configured: none
// may answer route_not_found or method_not_allowed.
func TestEveryRouteDocumented(t *testing.T) {
	ops, err := Operations()
	if err != nil {
		t.Fatal(err)
	}
	norm := func(route string) string { return wildcard.ReplaceAllString(route, "{}") }
	var documented []string
	for _, o := range ops {
		documented = append(documented, norm(o.Method+" "+o.Path))
	}
	var registered []string
	for _, r := range handlerRoutes(t) {
		registered = append(registered, norm(r))
	}
	for _, must := range []string{"POST /v1/agents/{}/invoke/async", "GET /v1/receipts/{}", "GET /healthz"} {
		if !slices.Contains(registered, must) {
			t.Fatalf("httpapi.Table lacks %s (found %v)", must, registered)
		}
	}
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("the handler serves %s, which api/openapi.yaml does not document", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(registered, d) {
			t.Errorf("api/openapi.yaml documents %s, which the handler does not register", d)
		}
	}

	f := newFake()
	f.put(stored(task.Running, task.Xpander))
	h := f.handler()
	for _, o := range ops {
		path := o.Path
		for name, v := range map[string]string{"agent_id": "echo", "task_id": taskID, "receipt_id": taskID, "auth_context_id": contextID, "api_key_id": apiKeyID, "delivery_id": deliveryID, "tenant": "acme"} {
			path = strings.ReplaceAll(path, "{"+name+"}", v)
		}
		if strings.Contains(path, "{") {
			t.Errorf("%s %s: no probe value for its parameters", o.Method, o.Path)
			continue
		}
		body := map[string]string{"/v1/agents/{agent_id}/invoke-async": serviceNetBody, "/v1/agents/{agent_id}": `{"protocol":"http","endpoint":"https://x"}`,
			"/v1/auth-contexts": `{"tenant":"acme","name":"k","kind":"bearer","secret":"s"}`, "/v1/api-keys": `{"tenant":"acme","name":"k"}`}[o.Path]
		if body == "" && o.Method == http.MethodPost {
			body = xpanderBody
		}
		auth := ""
		if o.Op.Security != nil && slices.ContainsFunc(*o.Op.Security, func(r openapi3.SecurityRequirement) bool { return slices.Contains(r["ApiKey"], "admin") }) {
			auth = "admin"
		}
		req := tcase{method: o.Method, path: path + "?wait=0&tenant=acme", body: body, auth: auth}.request()
		r := serve(t, h, req)
		if c := codeOf(r.body); c == "route_not_found" || c == "method_not_allowed" {
			t.Errorf("documented %s %s: the handler answers %d %s", o.Method, o.Path, r.status, c)
		}
	}
}

// documentedCodes lists the reason codes a response's schema allows: the enum of its code (xpander)
// or error.code (ServiceNet), through allOf, anyOf and oneOf.
func documentedCodes(r *openapi3.Response) []string {
	mt := r.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	var enumAt func(s *openapi3.Schema, path []string) []string
	enumAt = func(s *openapi3.Schema, path []string) []string {
		if s == nil {
			return nil
		}
		var out []string
		for _, a := range slices.Concat(s.AllOf, s.AnyOf, s.OneOf) {
			out = append(out, enumAt(a.Value, path)...)
		}
		if len(path) == 0 {
			for _, e := range s.Enum {
				out = append(out, fmt.Sprint(e))
			}
			return out
		}
		if p := s.Properties[path[0]]; p != nil {
			out = append(out, enumAt(p.Value, path[1:])...)
		}
		return out
	}
	codes := append(enumAt(mt.Schema.Value, []string{"code"}), enumAt(mt.Schema.Value, []string{"error", "code"})...)
	slices.Sort(codes)
	return slices.Compact(codes)
}

// TestResponsesFitTheDocument drives the handler through every route and every answer the
// document lists for it (each status, each error code), in both dialects, and validates each
// answer's status, headers and body against the document. It then checks that every documented
// answer was seen: the document lists nothing the handler does not do.
func TestResponsesFitTheDocument(t *testing.T) {
	ops, err := Operations()
	if err != nil {
		t.Fatal(err)
	}
	all := cases()
	seen := map[string]bool{}
	var mu sync.Mutex
	total := 0
	for route, list := range all {
		t.Run(route, func(t *testing.T) {
			for _, c := range list {
				total++
				t.Run(c.name, func(t *testing.T) {
					f := newFake()
					if c.setup != nil {
						c.setup(f)
					}
					req := c.request()
					if c.validRequest {
						if err := CheckRequest(req, []byte(c.body)); err != nil {
							t.Errorf("the handler accepts a request the document refuses: %v", err)
						}
					}
					r := serve(t, f.handler(), req)
					if err := CheckResponse(req, r.status, r.header, r.raw); err != nil {
						t.Fatal(err)
					}
					if r.status != c.status || codeOf(r.body) != c.code {
						t.Fatalf("answer = %d %q, want %d %q: %s", r.status, codeOf(r.body), c.status, c.code, r.raw)
					}
					if c.check != nil {
						c.check(t, r)
					}
					// The answer counts for its operation; a 405 for every operation of its path.
					mu.Lock()
					for _, o := range ops {
						if _, _, ok := o.match(req.URL.EscapedPath()); ok && (o.Method == req.Method || r.status == http.StatusMethodNotAllowed) {
							if o2, ok := FindOperation(req.Method, req.URL.String()); !ok || o2.Path == o.Path {
								seen[fmt.Sprintf("%s %s %d %s", o.Method, o.Path, r.status, c.code)] = true
							}
						}
					}
					mu.Unlock()
				})
			}
		})
	}
	var missing []string
	documented := 0
	for _, o := range ops {
		if _, ok := all[o.Method+" "+o.Path]; !ok {
			t.Errorf("no cases for %s %s", o.Method, o.Path)
		}
		for status, ref := range o.Op.Responses.Map() {
			codes := []string{""}
			if n, _ := strconv.Atoi(status); n >= 400 {
				codes = documentedCodes(ref.Value)
			}
			for _, code := range codes {
				documented++
				key := fmt.Sprintf("%s %s %s %s", o.Method, o.Path, status, code)
				if !seen[key] {
					missing = append(missing, key)
				}
			}
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("documented but never answered: %s", m)
	}
	t.Logf("%d requests on %d routes; %d documented answers (route, status, code), %d seen", total, len(ops), documented, documented-len(missing))
}

// TestRouteNotFound checks the answer to paths no route serves.
func TestRouteNotFound(t *testing.T) {
	h := newFake().handler()
	for _, path := range []string{"/", "/v2/tasks", "/v1/receipts/" + taskID + "/extra", "/v1/agents/echo/extra/invoke-async", "/v1/tasks/" + taskID + "/turns"} {
		req := tcase{method: "GET", path: path}.request()
		r := serve(t, h, req)
		if err := CheckResponse(req, r.status, r.header, r.raw); err != nil {
			t.Error(err)
		}
		if codeOf(r.body) != "route_not_found" {
			t.Errorf("GET %s = %d %s", path, r.status, r.raw)
		}
	}
}

// TestValidatorCatchesDrift makes sure the validation is not vacuous: answers that drift from the
// document in one way each must fail it.
func TestValidatorCatchesDrift(t *testing.T) {
	f := newFake()
	f.put(stored(task.Failed, task.Xpander))
	h := f.handler()
	get := tcase{method: "GET", path: "/v1/tasks/" + taskID}.request()
	good := serve(t, h, get)
	if err := CheckResponse(get, good.status, good.header, good.raw); err != nil {
		t.Fatalf("the unchanged answer fails: %v", err)
	}
	edit := func(f func(m map[string]any)) []byte { return editRaw(good.raw, f) }
	hdr := func(f func(h http.Header)) http.Header {
		h := good.header.Clone()
		f(h)
		return h
	}
	receiptReq := tcase{method: "GET", path: "/v1/receipts/" + taskID}.request()
	receipt := serve(t, h, receiptReq)
	notFoundReq := tcase{method: "GET", path: "/v1/receipts/" + unknown}.request()
	notFound := serve(t, h, notFoundReq)
	invokeReq := tcase{method: "POST", path: "/v1/agents/echo/invoke-async", body: serviceNetBody}.request()
	agentReq := tcase{method: "GET", path: "/v1/agents/billing"}.request()
	agentAns := serve(t, h, agentReq)
	if err := CheckResponse(agentReq, agentAns.status, agentAns.header, agentAns.raw); err != nil {
		t.Fatalf("the unchanged agent fails: %v", err)
	}
	syncReq := tcase{method: "POST", path: "/v1/agents/echo/invoke", body: xpanderBody}.request()
	listReq := tcase{method: "GET", path: "/v1/tasks"}.request()
	item := func(f func(m map[string]any)) string {
		return string(edit(func(m map[string]any) {
			m["user_id"], m["parent_task_id"], m["updated_at"], m["source_node_type"] = "u1", nil, "2026-02-07T02:13:26Z", "sdk"
			f(m)
		}))
	}
	const envelope = `"total":1,"page":1,"per_page":20,"total_pages":1,"total_exact":true`
	if err := CheckResponse(listReq, 200, good.header, []byte(`{"items":[`+item(func(map[string]any) {})+`],`+envelope+`,"next_cursor":"c"}`)); err != nil {
		t.Fatalf("a list of the unchanged task fails: %v", err)
	}
	tests := []struct {
		name   string
		req    *http.Request
		status int
		header http.Header
		body   []byte
	}{
		{"unknown status value", get, 200, good.header, edit(func(m map[string]any) { m["status"] = "done" })},
		{"missing field", get, 200, good.header, edit(func(m map[string]any) { delete(m, "title") })},
		{"undocumented field", get, 200, good.header, edit(func(m map[string]any) { m["priority"] = 1 })},
		{"null where not nullable", get, 200, good.header, edit(func(m map[string]any) { m["status"] = nil })},
		{"wrong type", get, 200, good.header, edit(func(m map[string]any) { m["execution_attempts"] = "1" })},
		{"echoed secret", get, 200, good.header, edit(func(m map[string]any) { m["user_oidc_token"] = "tok" })},
		{"echoed user tokens", get, 200, good.header, edit(func(m map[string]any) { m["user_tokens"] = map[string]any{"gh": "x"} })},
		{"not a date-time", get, 200, good.header, edit(func(m map[string]any) { m["created_at"] = "yesterday" })},
		{"unknown reason code", get, 200, good.header, edit(func(m map[string]any) { m["error"] = map[string]any{"code": "oops"} })},
		{"undocumented status", get, 418, good.header, good.raw},
		{"no request id", get, 200, hdr(func(h http.Header) { h.Del("X-Request-Id") }), good.raw},
		{"not JSON", get, 200, hdr(func(h http.Header) { h.Set("Content-Type", "text/plain") }), good.raw},
		{"task for a receipt", receiptReq, 200, receipt.header, good.raw},
		{"receipt status of xpander", receiptReq, 200, receipt.header, edit(func(m map[string]any) { m["status"] = "completed" })},
		{"undocumented error code", notFoundReq, 404, notFound.header, []byte(`{"error":{"code":"task_gone","message":"gone"}}`)},
		{"error in the other dialect's shape", notFoundReq, 404, notFound.header, []byte(`{"detail":"gone","code":"receipt_not_found"}`)},
		{"error code of another status", notFoundReq, 404, notFound.header, []byte(`{"error":{"code":"task_expired","message":"gone"}}`)},
		{"an empty message", notFoundReq, 404, notFound.header, []byte(`{"error":{"code":"receipt_not_found","message":""}}`)},
		{"no Retry-After on 503", invokeReq, 503, notFound.header, []byte(`{"error":{"code":"unavailable","message":"down"}}`)},
		{"a 200 not documented on the method", tcase{method: "DELETE", path: "/v1/tasks/" + taskID}.request(), 200, good.header, good.raw},
		{"an undocumented path answered", tcase{method: "GET", path: "/v1/things"}.request(), 200, good.header, good.raw},
		{"receipt message", receiptReq, 200, receipt.header, editRaw(receipt.raw, func(m map[string]any) { m["message"] = "done" })},
		{"hitl_request not an object", get, 200, good.header, edit(func(m map[string]any) { m["hitl_request"] = "x" })},
		{"problem without loc", tcase{method: "GET", path: "/v1/tasks/" + taskID + "?wait=x"}.request(), 422, notFound.header,
			[]byte(`{"detail":[{"msg":"bad","type":"range"}],"code":"validation_failed"}`)},
		{"validation detail as a string", tcase{method: "GET", path: "/v1/tasks/" + taskID + "?wait=x"}.request(), 422, notFound.header,
			[]byte(`{"detail":"bad","code":"validation_failed"}`)},
		{"sync 200 of a pending task", syncReq, 200, good.header, edit(func(m map[string]any) { m["status"] = "pending" })},
		{"sync 200 with an undocumented field", syncReq, 200, good.header, edit(func(m map[string]any) { m["priority"] = 1 })},
		{"sync 202 without Location", syncReq, 202, hdr(func(h http.Header) { h.Set("Retry-After", "2") }), edit(func(m map[string]any) { m["status"] = "pending" })},
		{"list item with an undocumented field", listReq, 200, good.header, []byte(`{"items":[` + item(func(m map[string]any) { m["priority"] = 1 }) + `],` + envelope + `,"next_cursor":null}`)},
		{"list item without xpander's list fields", listReq, 200, good.header, []byte(`{"items":[` + string(good.raw) + `],` + envelope + `,"next_cursor":null}`)},
		{"list without next_cursor", listReq, 200, good.header, []byte(`{"items":[],` + envelope + `}`)},
		{"list without total", listReq, 200, good.header, []byte(`{"items":[],"page":1,"per_page":20,"total_pages":0,"total_exact":true,"next_cursor":null}`)},
		{"list page past 50 a page", listReq, 200, good.header, []byte(`{"items":[],"total":0,"page":1,"per_page":101,"total_pages":0,"total_exact":true,"next_cursor":null}`)},
		{"agent with an undocumented field", agentReq, 200, agentAns.header, editRaw(agentAns.raw, func(m map[string]any) { m["color"] = "red" })},
		{"agent with an unknown protocol", agentReq, 200, agentAns.header, editRaw(agentAns.raw, func(m map[string]any) { m["protocol"] = "smtp" })},
		{"agent with an endpoint", agentReq, 200, agentAns.header, editRaw(agentAns.raw, func(m map[string]any) { m["endpoint"] = "https://x" })},
		{"agent without its policy", agentReq, 200, agentAns.header, editRaw(agentAns.raw, func(m map[string]any) { delete(m, "policy") })},
		{"accepted with a result", invokeReq, 200, notFound.header, []byte(`{"agent_id":"echo","status":"running","receipt_id":"` + taskID + `","message":"ServiceNet invocation accepted","raw":{"x":1}}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckResponse(tt.req, tt.status, tt.header, tt.body); err == nil {
				t.Errorf("the validator accepts it: %d %s", tt.status, tt.body)
			}
		})
	}

	// And requests: the document refuses what the handler refuses.
	for _, c := range []tcase{
		{method: "POST", path: "/v1/agents/echo/invoke/async", body: `{"input":{}}`},
		{method: "POST", path: "/v1/agents/echo/invoke/async", body: `{"input":{"text":"x"},"think_mode":"deep"}`},
		{method: "POST", path: "/v1/agents/echo/invoke-async", body: `{"message":"x","region":"AUS"}`},
		{method: "POST", path: "/v1/agents/echo/invoke-async?version=-1", body: serviceNetBody},
		{method: "GET", path: "/v1/tasks?limit=101"},
		{method: "GET", path: "/v1/tasks?status=done"},
		{method: "GET", path: "/v1/receipts/" + taskID + "?wait=26"},
		{method: "GET", path: "/v1/tasks/" + taskID, auth: "none"},
		{method: "PUT", path: "/v1/agents/x", auth: "admin", body: `{"protocol":"http","endpoint":"https://x","color":"red"}`},
		{method: "PUT", path: "/v1/agents/x", auth: "admin", body: `{"protocol":"smtp","endpoint":"https://x"}`},
		{method: "PUT", path: "/v1/agents/x", auth: "admin", body: `{"protocol":"http","endpoint":"https://x","timeout":"soon"}`},
	} {
		if err := CheckRequest(c.request(), []byte(c.body)); err == nil {
			t.Errorf("the document accepts %s %s %s", c.method, c.path, c.body)
		}
	}
}

// TestValidatorCatchesWebhookDrift is TestValidatorCatchesDrift for the webhook routes and the
// invokes' webhook_url: answers that drift from the document fail it, and the document refuses
// the requests the handler refuses.
func TestValidatorCatchesWebhookDrift(t *testing.T) {
	f := newFake()
	withDeliveries(f)
	withHooks(f)
	h := f.handler()
	get := func(path string) (*http.Request, answer) {
		req := tcase{method: "GET", path: path}.request()
		a := serve(t, h, req)
		if err := CheckResponse(req, a.status, a.header, a.raw); err != nil || a.status != 200 {
			t.Fatalf("the unchanged answer fails: %d %v", a.status, err)
		}
		return req, a
	}
	listReq, list := get("/v1/tasks/" + taskID + "/deliveries")
	hooksReq, hooks := get("/v1/webhooks")
	putReq := tcase{method: "PUT", path: "/v1/webhooks", body: `{"urls":[]}`}.request()
	put := serve(t, h, putReq)
	rotateReq := tcase{method: "POST", path: "/v1/webhooks/rotate-secret"}.request()
	rotate := serve(t, h, rotateReq)
	replayReq := tcase{method: "POST", path: "/v1/tasks/" + taskID + "/deliveries/" + deliveryID + "/replay"}.request()
	replayed := serve(t, h, replayReq)
	for _, a := range []answer{put, rotate, replayed} {
		if a.status >= 300 {
			t.Fatalf("answer = %d %s", a.status, a.raw)
		}
	}
	delivery := func(f func(d map[string]any)) []byte {
		return editRaw(list.raw, func(m map[string]any) { f(m["items"].([]any)[0].(map[string]any)) })
	}
	hdr := func(from http.Header, f func(h http.Header)) http.Header {
		c := from.Clone()
		f(c)
		return c
	}
	xInvoke := tcase{method: "POST", path: "/v1/agents/echo/invoke/async", body: xpanderBody}.request()
	snInvoke := tcase{method: "POST", path: "/v1/agents/echo/invoke-async", body: serviceNetBody}.request()
	errHeader := hdr(list.header, func(http.Header) {})
	tests := []struct {
		name   string
		req    *http.Request
		status int
		header http.Header
		body   []byte
	}{
		{"unknown delivery state", listReq, 200, list.header, delivery(func(d map[string]any) { d["state"] = "done" })},
		{"delivery with its payload", listReq, 200, list.header, delivery(func(d map[string]any) { d["payload"] = map[string]any{} })},
		{"delivery without message_id", listReq, 200, list.header, delivery(func(d map[string]any) { delete(d, "message_id") })},
		{"unknown event type", listReq, 200, list.header, delivery(func(d map[string]any) { d["event_type"] = "task.done" })},
		{"attempt without duration", listReq, 200, list.header, delivery(func(d map[string]any) { delete(d["attempts"].([]any)[0].(map[string]any), "duration_ms") })},
		{"not a delivery id", listReq, 200, list.header, delivery(func(d map[string]any) { d["delivery_id"] = "42" })},
		{"list without task_id", listReq, 200, list.header, editRaw(list.raw, func(m map[string]any) { delete(m, "task_id") })},
		{"replay not pending", replayReq, 202, replayed.header, editRaw(replayed.raw, func(m map[string]any) { m["state"] = "succeeded" })},
		{"replay without replay_of", replayReq, 202, replayed.header, editRaw(replayed.raw, func(m map[string]any) { delete(m, "replay_of") })},
		{"a secret read back", hooksReq, 200, hooks.header, editRaw(hooks.raw, func(m map[string]any) { m["secret"] = secret })},
		{"a secret's value listed", hooksReq, 200, hooks.header, editRaw(hooks.raw, func(m map[string]any) { m["secrets"].([]any)[0].(map[string]any)["value"] = secret })},
		{"settings without urls", hooksReq, 200, hooks.header, editRaw(hooks.raw, func(m map[string]any) { delete(m, "urls") })},
		{"put without Cache-Control", putReq, 200, hdr(put.header, func(h http.Header) { h.Del("Cache-Control") }), put.raw},
		{"rotation without the secret", rotateReq, 200, rotate.header, editRaw(rotate.raw, func(m map[string]any) { delete(m, "secret") })},
		{"rotation without Cache-Control", rotateReq, 200, hdr(rotate.header, func(h http.Header) { h.Del("Cache-Control") }), rotate.raw},
		{"a secret not whsec_", rotateReq, 200, rotate.header, editRaw(rotate.raw, func(m map[string]any) { m["secret"] = "hunter2" })},
		{"webhook refusal with problems", xInvoke, 422, errHeader, []byte(`{"detail":[{"loc":["body","webhook_url"],"msg":"no","type":"url"}],"code":"webhook_url_forbidden"}`)},
		{"undocumented 422 code", xInvoke, 422, errHeader, []byte(`{"detail":"no","code":"webhook_gone"}`)},
		{"ServiceNet refusal in the xpander shape", snInvoke, 422, errHeader, []byte(`{"detail":"no","code":"webhooks_unavailable"}`)},
		{"ServiceNet refusal with an undocumented code", snInvoke, 422, errHeader, []byte(`{"error":{"code":"malformed_json","message":"no"}}`)},
		{"replay conflict", replayReq, 409, errHeader, []byte(`{"detail":"no","code":"webhooks_changed"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckResponse(tt.req, tt.status, tt.header, tt.body); err == nil {
				t.Errorf("the validator accepts it: %d %s", tt.status, tt.body)
			}
		})
	}

	for _, c := range []tcase{
		{method: "POST", path: "/v1/agents/echo/invoke/async", body: `{"input":{"text":"x"},"webhook_url":"/hook"}`},
		{method: "POST", path: "/v1/agents/echo/invoke/async", body: `{"input":{"text":"x"},"webhook_url":"ftp://hooks.example.com/"}`},
		{method: "POST", path: "/v1/agents/echo/invoke/async", body: `{"input":{"text":"x"},"webhook_url":"https://u:p@hooks.example.com/"}`},
		{method: "POST", path: "/v1/agents/echo/invoke", body: `{"input":{"text":"x"},"webhook_url":"https://hooks.example.com/#top"}`},
		{method: "POST", path: "/v1/agents/echo/invoke-async", body: `{"message":"x","webhook_url":5}`},
		{method: "POST", path: "/v1/agents/echo/invoke-async", body: `{"message":"x","webhook_url":"https://hooks.example.com/` + strings.Repeat("a", 2048) + `"}`},
		{method: "PUT", path: "/v1/webhooks", body: `{}`},
		{method: "PUT", path: "/v1/webhooks", body: `{"urls":"https://hooks.example.com/"}`},
		{method: "PUT", path: "/v1/webhooks", body: `{"urls":[],"secret":"mine"}`},
		{method: "PUT", path: "/v1/webhooks", body: `{"urls":["/hook"]}`},
		{method: "PUT", path: "/v1/webhooks", body: `{"urls":["https://a.example.com/1","https://a.example.com/2","https://a.example.com/3","https://a.example.com/4",` +
			`"https://a.example.com/5","https://a.example.com/6","https://a.example.com/7","https://a.example.com/8","https://a.example.com/9","https://a.example.com/10","https://a.example.com/11"]}`},
		{method: "POST", path: "/v1/webhooks/rotate-secret", body: `{"grace_seconds":-1}`},
		{method: "POST", path: "/v1/webhooks/rotate-secret", body: `{"grace_seconds":604801}`},
		{method: "POST", path: "/v1/webhooks/rotate-secret", body: `{"grace_seconds":1.5}`},
		{method: "POST", path: "/v1/webhooks/rotate-secret", body: `{"secret":"mine"}`},
	} {
		if err := CheckRequest(c.request(), []byte(c.body)); err == nil {
			t.Errorf("the document accepts %s %s %s", c.method, c.path, c.body)
		}
	}
}

// TestWebhookEventsFitTheDocument validates the body of every event the notifier sends
// (notify.NewDetail in a webhook.Event), for each state that sends one, in both dialects, and one
// too large to send whole, against the taskOutcome webhook's schema.
func TestWebhookEventsFitTheDocument(t *testing.T) {
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	item := doc.Webhooks["taskOutcome"]
	if item == nil || item.Post == nil {
		t.Fatal("no taskOutcome webhook")
	}
	schema := item.Post.RequestBody.Value.Content.Get("application/json").Schema.Value
	validate := func(body []byte) error {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		return schema.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors())
	}
	event := func(t *testing.T, tk *task.Task) []byte {
		t.Helper()
		_, typ, ok := notify.Kind(tk.State)
		if !ok {
			t.Fatalf("state %s sends no event", tk.State)
		}
		detail, err := notify.NewDetail(tk)
		if err != nil {
			t.Fatal(err)
		}
		body, err := json.Marshal(webhook.Event{Type: typ, Timestamp: tk.UpdatedAt.UTC(), Data: detail})
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	n := 0
	for _, s := range allStates {
		if _, _, ok := notify.Kind(s); !ok {
			continue
		}
		for _, d := range []task.Dialect{task.Xpander, task.ServiceNet} {
			t.Run(string(s)+", "+string(d), func(t *testing.T) {
				n++
				if err := validate(event(t, stored(s, d))); err != nil {
					t.Error(err)
				}
			})
		}
	}
	if n < 10 {
		t.Errorf("only %d events", n)
	}
	big := stored(task.Succeeded, task.Xpander)
	big.Result = strings.Repeat("a", notify.MaxDetailBytes)
	body := event(t, big)
	if !strings.Contains(string(body), `"truncated":true`) {
		t.Fatalf("the event of a large answer is not truncated: %d bytes", len(body))
	}
	if err := validate(body); err != nil {
		t.Errorf("a truncated event: %v", err)
	}

	// And the schema is not vacuous.
	good := event(t, stored(task.Failed, task.ServiceNet))
	for name, f := range map[string]func(m map[string]any){
		"unknown type":           func(m map[string]any) { m["type"] = "task.done" },
		"no data":                func(m map[string]any) { delete(m, "data") },
		"queued state":           func(m map[string]any) { m["data"].(map[string]any)["state"] = "queued" },
		"the webhook url":        func(m map[string]any) { m["data"].(map[string]any)["webhook_url"] = "https://x" },
		"no version":             func(m map[string]any) { delete(m["data"].(map[string]any), "version") },
		"a task of neither kind": func(m map[string]any) { m["data"].(map[string]any)["task"] = map[string]any{"id": "x"} },
		"a task with a secret": func(m map[string]any) {
			m["data"].(map[string]any)["task"].(map[string]any)["auth_token"] = "tok"
		},
	} {
		if err := validate(editRaw(good, f)); err == nil {
			t.Errorf("%s: the schema accepts it", name)
		}
	}
}

// editRaw returns a JSON object changed by f.
func editRaw(raw []byte, f func(m map[string]any)) []byte {
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	f(m)
	b, _ := json.Marshal(m)
	return b
}

// TestExamplesFitTheirSchemas validates each example of a request or response body against its
// schema (the loader validates them too; this keeps it so if that ever changes).
func TestExamplesFitTheirSchemas(t *testing.T) {
	ops, err := Operations()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	check := func(where string, mt *openapi3.MediaType) {
		if mt == nil || mt.Schema == nil {
			return
		}
		values := map[string]any{}
		if mt.Example != nil {
			values["example"] = mt.Example
		}
		for name, ex := range mt.Examples {
			values[name] = ex.Value.Value
		}
		for name, v := range values {
			n++
			if err := mt.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
				t.Errorf("%s example %s: %v", where, name, err)
			}
		}
	}
	doc, _ := Load()
	for name, item := range doc.Webhooks {
		for method, op := range item.Operations() {
			if rb := op.RequestBody; rb != nil {
				check("webhook "+name+" "+method+" request", rb.Value.Content.Get("application/json"))
			}
		}
	}
	for _, o := range ops {
		if rb := o.Op.RequestBody; rb != nil {
			check(o.Method+" "+o.Path+" request", rb.Value.Content.Get("application/json"))
		}
		for status, ref := range o.Op.Responses.Map() {
			check(o.Method+" "+o.Path+" "+status, ref.Value.Content.Get("application/json"))
		}
	}
	if n < 10 {
		t.Errorf("only %d examples", n)
	}
}

// TestServiceNetBodyInXpanderView reads, through the xpander dialect, tasks submitted through
// ServiceNet whose bodies carry xpander field names the ServiceNet decoder does not check.
// dialect.Xpander echoes them from the stored body, unvalidated, so the xpander view can break the
// xpander contract (an output_format outside its enum, a payload_extension that is not an object).
// Known mismatch between shared/dialect and the document: skipped until the projection ignores or
// validates those fields for ServiceNet tasks.
func TestServiceNetBodyInXpanderView(t *testing.T) {
	for _, extra := range []string{
		`"output_format":"speech"`, `"think_mode":"deep"`, `"llm_reasoning_effort":"max"`,
		`"payload_extension":5`, `"output_schema":"s"`, `"mcp_servers":[1]`,
	} {
		t.Run(extra, func(t *testing.T) {
			f := newFake()
			h := f.handler()
			r := serve(t, h, tcase{method: "POST", path: "/v1/agents/echo/invoke-async", body: `{"message":"hi",` + extra + `}`}.request())
			if r.status != 200 {
				t.Fatalf("invoke = %d %s", r.status, r.raw)
			}
			get := tcase{method: "GET", path: "/v1/tasks/" + r.body["receipt_id"].(string)}.request()
			a := serve(t, h, get)
			if err := CheckResponse(get, a.status, a.header, a.raw); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestReadmeErrorTable keeps the README's error table and the document's error codes the same.
func TestReadmeErrorTable(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Errors")
	if !ok {
		t.Fatal("README.md has no ### Errors section")
	}
	row := regexp.MustCompile(`(?m)^\|\s*[0-9]{3}[^|]*\|([^|]*)\|`)
	code := regexp.MustCompile("`([a-z_]+)`")
	var table []string
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		for _, c := range code.FindAllStringSubmatch(m[1], -1) {
			table = append(table, c[1])
		}
	}
	ops, err := Operations()
	if err != nil {
		t.Fatal(err)
	}
	documented := []string{"route_not_found"}
	for _, o := range ops {
		for status, ref := range o.Op.Responses.Map() {
			if n, _ := strconv.Atoi(status); n >= 400 {
				documented = append(documented, documentedCodes(ref.Value)...)
			}
		}
	}
	slices.Sort(table)
	slices.Sort(documented)
	table, documented = slices.Compact(table), slices.Compact(documented)
	for _, c := range documented {
		if !slices.Contains(table, c) {
			t.Errorf("error code %s is in api/openapi.yaml but not in README.md's error table", c)
		}
	}
	for _, c := range table {
		if !slices.Contains(documented, c) {
			t.Errorf("error code %s is in README.md's error table but not in api/openapi.yaml", c)
		}
	}
}

// reasonConstants reads the string constants named Reason* of a Go source file.
func reasonConstants(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if i < len(vs.Values) && strings.HasPrefix(name.Name, "Reason") {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					out[name.Name], _ = strconv.Unquote(lit.Value)
				}
			}
		}
		return true
	})
	if len(out) == 0 {
		t.Fatalf("no Reason constants in %s", file)
	}
	return out
}

// TestReasonCodesDocumented keeps ErrorInfo's code enum the task reason codes of shared/task and
// the policy codes of shared/agent, and the 403 answers the policy codes.
func TestReasonCodesDocumented(t *testing.T) {
	doc, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	var enum []string
	for _, e := range doc.Components.Schemas["ErrorInfo"].Value.Properties["code"].Value.Enum {
		enum = append(enum, fmt.Sprint(e))
	}
	reasons := reasonConstants(t, "../shared/task/outcome.go")
	// answered ends a paused turn as succeeded, and a succeeded task shows no error.
	delete(reasons, "ReasonAnswered")
	policy := reasonConstants(t, "../shared/agent/policy.go")
	for name, code := range reasons {
		if !slices.Contains(enum, code) {
			t.Errorf("task.%s (%q) is not in ErrorInfo.code", name, code)
		}
	}
	for name, code := range policy {
		if !slices.Contains(enum, code) {
			t.Errorf("agent.%s (%q) is not in ErrorInfo.code (a rejected task carries it)", name, code)
		}
		for _, r := range []string{"ServiceNetPolicyRefused", "XpanderPolicyRefused"} {
			codes := documentedCodes(doc.Components.Responses[r].Value)
			if !slices.Contains(codes, code) && !(r == "XpanderPolicyRefused" && code == agent.ReasonCostLimitExceeded) {
				t.Errorf("agent.%s (%q) is not among %s's codes %v", name, code, r, codes)
			}
		}
	}
	for _, code := range enum {
		if !slices.Contains(slices.Collect(maps.Values(reasons)), code) && !slices.Contains(slices.Collect(maps.Values(policy)), code) {
			t.Errorf("ErrorInfo.code %q is no reason code of shared/task or shared/agent", code)
		}
	}
}
