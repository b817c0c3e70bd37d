// Package httpapi is agentq's HTTP API: one net/http handler serving both dialects, used as it is
// by the local runner and through an API Gateway adapter in Lambda.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/deadline"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tenantlimit"
)

// Submitter accepts invocations.
type Submitter interface {
	Submit(ctx context.Context, sub accept.Submission) (*task.Task, error)
}

// Reader reads tasks by id.
type Reader interface {
	Get(ctx context.Context, id string) (*task.Task, error)
}

// Resolver finds what an xpander id names: a task, or a thread (its latest turn).
type Resolver interface {
	Resolve(ctx context.Context, tenant, id string) (*task.Task, error)
}

// Canceler asks an agent to stop the work of a stopped task.
type Canceler interface {
	CancelRemote(ctx context.Context, t *task.Task) error
}

// Stopper moves tasks to another state with a conditional write.
type Stopper interface {
	Transition(ctx context.Context, id string, c task.Change) (*task.Task, error)
}

// Lister lists a tenant's tasks, newest first, a page at a time.
type Lister interface {
	List(ctx context.Context, q task.ListQuery) (items []*task.Task, next string, err error)
	// Count counts what q matches after its cursor, up to a bound; exact is false past it.
	Count(ctx context.Context, q task.ListQuery) (n int, exact bool, err error)
	// CursorPosition is how many matching tasks come before a cursor List answered.
	CursorPosition(cursor string) int
}

// Families finds a task's family: its conversation's turns and their sub-tasks.
type Families interface {
	Family(ctx context.Context, t *task.Task) ([]*task.Task, error)
}

// Deleter deletes a task's family for good.
type Deleter interface {
	Families
	Delete(ctx context.Context, ts []*task.Task) error
}

// Resumer sends a paused task that a person approved back to its agent.
type Resumer interface {
	Resume(ctx context.Context, t *task.Task, answer string) error
}

// Threads reads the turns of a conversation, oldest first.
type Threads interface {
	Turns(ctx context.Context, tenant, threadID string, limit int) ([]*task.Task, error)
}

// Authenticator maps API keys to tenants.
type Authenticator interface {
	Tenant(key string) (string, bool)
}

// Routes selects which of its routes a handler serves.
type Routes int

// The route sets. A route is served when its set is selected and what it needs is configured.
const (
	// AllRoutes serves every route whose dependencies are configured (the local runner).
	AllRoutes Routes = iota
	// WriteRoutes serves the routes that create or change work (the invoke function): the three
	// invokes and the two stops.
	WriteRoutes
	// ReadRoutes serves the routes that only read (the poll function): tasks, receipts, threads
	// and lists.
	ReadRoutes
	// StreamRoutes serves only the streaming routes (StreamTable: the stream function, behind a
	// function URL in response-streaming mode): event streams, invoke/stream, and the routes
	// agents report progress on.
	StreamRoutes
)

// Config holds what the handler needs. A nil dependency leaves out the routes that need it, so
// each Lambda function serves only its own routes:
//
//	POST /v1/agents/{agent_id}/invoke/async, /invoke-async   Submitter
//	POST /v1/agents/{agent_id}/invoke (sync)                  Submitter, Reader
//	POST /v1/tasks/{id}/stop, /v1/receipts/{id}/stop          Stopper, Reader
//	GET  /v1/tasks/{id}, /v1/receipts/{id}                    Reader
//	GET  /v1/tasks/{id}/thread                                Reader, Threads
//	GET  /v1/tasks/{id}/thread/full                           Reader, Families
//	GET  /v1/tasks/{id}/llm_usage                             Reader (Threads: a conversation's sum)
//	DELETE /v1/tasks/{id}                                     Deleter, Stopper, Reader
//	POST /v1/hitl/{id}/approve, /v1/hitl/{id}/reject          Stopper, Reader, Resumer
//	GET  /v1/tasks, /v1/agents/{agent_id}/tasks, /v1/receipts  Lister
//	POST /v1/receipts/{id}/verify                             Reader, Receipts, ReceiptStore
//	GET  /v1/receipt-issuer                                  Receipts
//	GET  /v1/tasks/{id}/deliveries, POST .../{delivery_id}/replay  Deliveries, Reader
//	GET, PUT /v1/webhooks, POST /v1/webhooks/rotate-secret    Webhooks
//
// Resolver, when set, lets the /v1/tasks/{id} routes take a thread id as well as a task id.
type Config struct {
	Submitter Submitter
	// Schemas compiles the output_schema of a submission and of an agent definition (a 422 names
	// the bound it breaks); outputschema.Checker is one. The functions that accept work set it;
	// without it a submission's schema is left to the worker, which refuses an unusable one
	// before calling the agent, and an agent definition's is refused if present.
	Schemas  SchemaChecker
	Reader   Reader
	Resolver Resolver
	Stopper  Stopper
	// Canceler, when set, passes stops on to agents that work asynchronously.
	Canceler Canceler
	Lister   Lister
	Threads  Threads
	// Families adds a task's full thread (its conversation and its sub-tasks'); Deleter, with
	// Stopper, the deletion of a task and its family.
	Families Families
	Deleter  Deleter
	// Resumer, with Stopper, adds the approval and rejection of paused tasks (human in the loop).
	Resumer Resumer
	Keys    Authenticator
	// Agents and AdminKeys, both set, add the agent registry routes: writes need an admin key,
	// reads any valid key.
	Agents    AgentAdmin
	AdminKeys Authenticator
	// AuthContexts, with AdminKeys, adds the auth context routes, all of them an admin's.
	AuthContexts AuthContexts
	// APIKeys, with AdminKeys, adds the API key routes, all of them an admin's.
	APIKeys APIKeys
	// Deliveries, with Reader, adds a task's webhook delivery log and its replay route.
	Deliveries Deliveries
	// Webhooks adds the routes of the caller's tenant's webhook settings: default URLs and
	// signing secrets.
	Webhooks WebhookSettings
	// Receipts signs ServiceNet receipts and adds GET /v1/receipt-issuer, which publishes its
	// keys; without it receipts are answered unsigned.
	Receipts ReceiptIssuer
	// ReceiptStore keeps issued receipt signatures (so that a receipt is signed once per
	// change, not per read) and, with Reader and Receipts, adds POST /v1/receipts/{id}/verify.
	ReceiptStore ReceiptStore
	// Limiter, when set, bounds each tenant's request rate (tenantlimit.Limiter does): every
	// tenant request spends from it, a long poll or a sync invoke a request per second it may
	// wait, a webhook replay replayCost.
	Limiter RateLimiter
	// Limits, with AdminKeys, adds the routes of a tenant's own limits, all of them an admin's;
	// TenantDefaults are the limits of a tenant without its own.
	Limits         TenantLimits
	TenantDefaults tenantlimit.Limits
	// Routes narrows the routes served; the zero value serves all that are configured.
	Routes Routes
	Logger *slog.Logger
	Now    func() time.Time
	// SyncWait bounds how long a sync invoke waits for its task to end; default and maximum
	// MaxWait.
	SyncWait time.Duration
	// Events, with Reader, adds the task event routes (StreamTable); with Submitter too,
	// invoke/stream.
	Events EventLog
	// Progress adds the routes agents report progress on, with the task's token instead of a key.
	Progress Progress
	// StreamFor bounds one stream connection (default DefaultStreamFor); Heartbeat is how often an
	// idle stream sends a keep-alive comment (default DefaultHeartbeat).
	StreamFor time.Duration
	Heartbeat time.Duration
	// Budget bounds every request: its own work gets Budget.Request, plus the wait it asked for
	// (a long poll, a sync invoke), and never more than the caller's deadline less Budget.Answer.
	// A dependency that hangs then costs a 503 with Retry-After, never a hang. Zero is
	// deadline.Default().
	Budget deadline.Budget
}

// SchemaChecker compiles an output_schema (dialect.SchemaChecker, agent.SchemaChecker): declared
// here, not imported, so that the functions that only read do not link a JSON Schema library.
type SchemaChecker interface {
	CheckSchema(raw json.RawMessage) error
}

// MaxBodyBytes bounds a request body: the accept core's bound.
const MaxBodyBytes = accept.MaxBodyBytes

// Retry-After values, in seconds.
const (
	pollRetryAfter  = "2"
	retryAfterError = "5"
)

type api struct {
	Config
}

// New returns the API handler.
func New(c Config) http.Handler {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SyncWait <= 0 || c.SyncWait > MaxWait {
		c.SyncWait = MaxWait
	}
	if c.StreamFor <= 0 {
		c.StreamFor = DefaultStreamFor
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	c.Budget = c.Budget.OrDefault()
	a := &api{c}
	mux := http.NewServeMux()
	allowed := map[string][]string{} // path -> methods, for the 405 answers
	var order []string
	on := func(method, path string, h http.Handler) {
		mux.Handle(method+" "+path, h)
		if _, ok := allowed[path]; !ok {
			order = append(order, path)
		}
		allowed[path] = append(allowed[path], method)
	}
	writes, reads := c.Routes == AllRoutes || c.Routes == WriteRoutes, c.Routes == AllRoutes || c.Routes == ReadRoutes
	streams := c.Routes == AllRoutes || c.Routes == StreamRoutes
	defs := []routeDef{}
	for _, d := range routeDefs {
		if ((d.Write && writes) || (!d.Write && reads)) && d.needs(&c) {
			defs = append(defs, d)
		}
	}
	for _, d := range streamDefs {
		if streams && d.needs(&c) {
			defs = append(defs, d)
		}
	}
	for _, d := range defs {
		switch {
		case d.open != nil:
			on(d.Method, d.Path, a.unauthed(d.open))
		case d.admin != nil:
			on(d.Method, d.Path, a.adminAuthed(func(w http.ResponseWriter, r *http.Request) error { return d.admin(a, w, r) }))
		default:
			on(d.Method, d.Path, a.authed(dialectOf(d.Path), func(w http.ResponseWriter, r *http.Request, t string) error { return d.tenant(a, w, r, t) }))
		}
	}
	// Any other method on a known path is a 405, not a 404.
	for _, path := range order {
		methods := strings.Join(allowed[path], ", ")
		d := dialectOf(path)
		mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", methods)
			writeError(w, d, &apiError{http.StatusMethodNotAllowed, "method_not_allowed", "use " + methods + " on this route"})
		}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, dialectOf(r.URL.Path), &apiError{http.StatusNotFound, "route_not_found", "no route " + r.Method + " " + r.URL.Path})
	})
	return a.logged(a.bounded(mux))
}

// bounded gives every request its deadline (Config.Budget): its own work, plus the wait it may
// take, which it reads leniently here (the handler refuses a malformed one).
func (a *api) bounded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := a.Budget.ForRequest(r.Context(), a.waitOf(r))
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// waitOf is the longest a request may wait for a task: ?wait= on a read, the sync invoke's
// bound on a sync invoke, the stream's bound on an event stream.
func (a *api) waitOf(r *http.Request) time.Duration {
	wait := time.Duration(0)
	if isStream(r) {
		wait = a.StreamFor
	} else if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/invoke") {
		wait = a.SyncWait
	} else if n, err := strconv.Atoi(r.URL.Query().Get("wait")); err == nil && n > 0 {
		wait = min(time.Duration(n)*time.Second, MaxWait)
	}
	return wait
}

// Route is one route of the API: a method and a path pattern (net/http's, which are API
// Gateway's too). Write routes create or change work or settings and are served by the invoke
// function (WriteRoutes); the others only read and are the poll function's (ReadRoutes).
type Route struct {
	Method, Path string
	Write        bool
}

// routeDef is a route, what it needs configured, and its handler: one that takes the caller's
// tenant (any valid key), or an admin's.
type routeDef struct {
	Route
	needs  func(c *Config) bool
	tenant func(a *api, w http.ResponseWriter, r *http.Request, tenant string) error
	admin  func(a *api, w http.ResponseWriter, r *http.Request) error
	// open handles a route that authenticates its caller itself (agents, by their task's token).
	open func(a *api, w http.ResponseWriter, r *http.Request) error
}

// Table returns every route of the API, as New serves them with everything configured, in the
// order it registers them (GET /healthz, which needs no key, aside). The stack's route list and
// the OpenAPI document are checked against it.
func Table() []Route {
	out := make([]Route, len(routeDefs))
	for i, d := range routeDefs {
		out[i] = d.Route
	}
	return out
}

// StreamTable returns the streaming routes (served with StreamRoutes, and by the local runner
// with the others): they hold a connection open or are called by agents, not by API clients, so
// on AWS the stream function's URL serves them rather than the API's gateway.
func StreamTable() []Route {
	out := make([]Route, len(streamDefs))
	for i, d := range streamDefs {
		out[i] = d.Route
	}
	return out
}

// What routes need configured.
var (
	withEvents       = func(c *Config) bool { return c.Events != nil && c.Reader != nil }
	withStream       = func(c *Config) bool { return c.Events != nil && c.Reader != nil && c.Submitter != nil }
	withProgress     = func(c *Config) bool { return c.Progress != nil }
	withSubmitter    = func(c *Config) bool { return c.Submitter != nil }
	withSync         = func(c *Config) bool { return c.Submitter != nil && c.Reader != nil }
	withStopper      = func(c *Config) bool { return c.Stopper != nil && c.Reader != nil }
	withReader       = func(c *Config) bool { return c.Reader != nil }
	withThreads      = func(c *Config) bool { return c.Reader != nil && c.Threads != nil }
	withFamilies     = func(c *Config) bool { return c.Reader != nil && c.Families != nil }
	withDeleter      = func(c *Config) bool { return c.Reader != nil && c.Stopper != nil && c.Deleter != nil }
	withResumer      = func(c *Config) bool { return c.Reader != nil && c.Stopper != nil && c.Resumer != nil }
	withLister       = func(c *Config) bool { return c.Lister != nil }
	withDeliveries   = func(c *Config) bool { return c.Deliveries != nil && c.Reader != nil }
	withWebhooks     = func(c *Config) bool { return c.Webhooks != nil }
	withRegistry     = func(c *Config) bool { return c.Agents != nil && c.AdminKeys != nil }
	withAuthContexts = func(c *Config) bool { return c.AuthContexts != nil && c.AdminKeys != nil }
	withAPIKeys      = func(c *Config) bool { return c.APIKeys != nil && c.AdminKeys != nil }
	withLimits       = func(c *Config) bool { return c.Limits != nil && c.AdminKeys != nil }
	withVerify       = func(c *Config) bool { return c.Reader != nil && c.Receipts != nil && c.ReceiptStore != nil }
	withIssuer       = func(c *Config) bool { return c.Receipts != nil }
)

// routeDefs are the API's routes. A route is served when its set (Config.Routes) is selected and
// what it needs is configured.
var routeDefs = []routeDef{
	{Route: Route{http.MethodPost, "/v1/agents/{agent_id}/invoke/async", true}, needs: withSubmitter, tenant: (*api).invokeXpander},
	{Route: Route{http.MethodPost, "/v1/agents/{agent_id}/invoke-async", true}, needs: withSubmitter, tenant: (*api).invokeServiceNet},
	{Route: Route{http.MethodPost, "/v1/agents/{agent_id}/invoke", true}, needs: withSync, tenant: (*api).invokeSync},
	{Route: Route{http.MethodPost, "/v1/tasks/{task_id}/stop", true}, needs: withStopper, tenant: (*api).stopTask},
	{Route: Route{http.MethodPost, "/v1/receipts/{receipt_id}/stop", true}, needs: withStopper, tenant: (*api).stopReceipt},
	{Route: Route{http.MethodGet, "/v1/tasks/{task_id}", false}, needs: withReader, tenant: (*api).getTask},
	{Route: Route{http.MethodGet, "/v1/receipts/{receipt_id}", false}, needs: withReader, tenant: (*api).getReceipt},
	{Route: Route{http.MethodGet, "/v1/receipts", false}, needs: withLister, tenant: (*api).listReceipts},
	{Route: Route{http.MethodPost, "/v1/receipts/{receipt_id}/verify", true}, needs: withVerify, tenant: (*api).verifyReceipt},
	{Route: Route{http.MethodGet, "/v1/receipt-issuer", false}, needs: withIssuer, tenant: (*api).receiptIssuer},
	{Route: Route{http.MethodGet, "/v1/tasks/{task_id}/thread", false}, needs: withThreads, tenant: (*api).getThread},
	{Route: Route{http.MethodGet, "/v1/tasks/{task_id}/thread/full", false}, needs: withFamilies, tenant: (*api).getFullThread},
	{Route: Route{http.MethodGet, "/v1/tasks/{task_id}/llm_usage", false}, needs: withReader, tenant: (*api).getUsage},
	{Route: Route{http.MethodDelete, "/v1/tasks/{task_id}", true}, needs: withDeleter, tenant: (*api).deleteTask},
	{Route: Route{http.MethodPost, "/v1/hitl/{task_id}/approve", true}, needs: withResumer, tenant: (*api).approveTask},
	{Route: Route{http.MethodPost, "/v1/hitl/{task_id}/reject", true}, needs: withResumer, tenant: (*api).rejectTask},
	{Route: Route{http.MethodGet, "/v1/tasks", false}, needs: withLister, tenant: (*api).listTasks},
	{Route: Route{http.MethodGet, "/v1/agents/{agent_id}/tasks", false}, needs: withLister, tenant: (*api).listAgentTasks},
	{Route: Route{http.MethodPost, "/v1/tasks/{task_id}/deliveries/{delivery_id}/replay", true}, needs: withDeliveries, tenant: (*api).replayDelivery},
	{Route: Route{http.MethodGet, "/v1/tasks/{task_id}/deliveries", false}, needs: withDeliveries, tenant: (*api).listDeliveries},
	{Route: Route{http.MethodPut, "/v1/webhooks", true}, needs: withWebhooks, tenant: (*api).putWebhooks},
	{Route: Route{http.MethodPost, "/v1/webhooks/rotate-secret", true}, needs: withWebhooks, tenant: (*api).rotateWebhookSecret},
	{Route: Route{http.MethodGet, "/v1/webhooks", false}, needs: withWebhooks, tenant: (*api).getWebhooks},
	{Route: Route{http.MethodPut, "/v1/agents/{agent_id}", true}, needs: withRegistry, admin: (*api).putAgent},
	{Route: Route{http.MethodPost, "/v1/agents/{agent_id}/publish", true}, needs: withRegistry, admin: (*api).publishAgent},
	{Route: Route{http.MethodDelete, "/v1/agents/{agent_id}", true}, needs: withRegistry, admin: (*api).deleteAgent},
	{Route: Route{http.MethodGet, "/v1/agents", false}, needs: withRegistry, tenant: (*api).listAgents},
	{Route: Route{http.MethodGet, "/v1/agents/{agent_id}", false}, needs: withRegistry, tenant: (*api).getAgent},
	{Route: Route{http.MethodPost, "/v1/auth-contexts", true}, needs: withAuthContexts, admin: (*api).createAuthContext},
	{Route: Route{http.MethodDelete, "/v1/auth-contexts/{auth_context_id}", true}, needs: withAuthContexts, admin: (*api).deleteAuthContext},
	{Route: Route{http.MethodGet, "/v1/auth-contexts/{auth_context_id}", false}, needs: withAuthContexts, admin: (*api).getAuthContext},
	{Route: Route{http.MethodPost, "/v1/api-keys", true}, needs: withAPIKeys, admin: (*api).createAPIKey},
	{Route: Route{http.MethodDelete, "/v1/api-keys/{api_key_id}", true}, needs: withAPIKeys, admin: (*api).revokeAPIKey},
	{Route: Route{http.MethodGet, "/v1/api-keys", false}, needs: withAPIKeys, admin: (*api).listAPIKeys},
	{Route: Route{http.MethodPut, "/v1/tenants/{tenant}/limits", true}, needs: withLimits, admin: (*api).putTenantLimits},
	{Route: Route{http.MethodDelete, "/v1/tenants/{tenant}/limits", true}, needs: withLimits, admin: (*api).deleteTenantLimits},
	{Route: Route{http.MethodGet, "/v1/tenants/{tenant}/limits", false}, needs: withLimits, admin: (*api).getTenantLimits},
}

// streamDefs are the streaming routes (see StreamTable).
var streamDefs = []routeDef{
	{Route: Route{http.MethodGet, "/v1/tasks/{task_id}/events", false}, needs: withEvents, tenant: (*api).getTaskEvents},
	{Route: Route{http.MethodGet, "/v1/receipts/{receipt_id}/events", false}, needs: withEvents, tenant: (*api).getReceiptEvents},
	{Route: Route{http.MethodPost, "/v1/agents/{agent_id}/invoke/stream", true}, needs: withStream, tenant: (*api).invokeStream},
	{Route: Route{http.MethodPost, "/v1/tasks/{task_id}/progress", true}, needs: withProgress, open: (*api).postProgress},
	{Route: Route{http.MethodPost, "/v1/tasks/{task_id}/push", true}, needs: withProgress, open: (*api).postPush},
}

// unauthed serves a route whose handler authenticates the caller itself.
func (a *api) unauthed(h func(*api, http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(a, w, r); err != nil {
			writeError(w, dialectOf(r.URL.Path), a.classify(r, err))
		}
	})
}

func dialectOf(path string) task.Dialect {
	if strings.HasPrefix(path, "/v1/receipt") || strings.HasSuffix(path, "/invoke-async") { // receipts, receipt-issuer
		return task.ServiceNet
	}
	return task.Xpander
}

// authed authenticates the caller by API key before calling h with the caller's tenant.
func (a *api) authed(d task.Dialect, h func(http.ResponseWriter, *http.Request, string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := apiKey(r)
		if key == "" {
			writeError(w, d, &apiError{http.StatusUnauthorized, "missing_api_key", "send an API key in the x-api-key header or as Authorization: Bearer"})
			return
		}
		tenant, ok := a.Keys.Tenant(key)
		if !ok {
			writeError(w, d, &apiError{http.StatusUnauthorized, "invalid_api_key", "the API key is not valid"})
			return
		}
		if sw, ok := w.(*statusWriter); ok {
			sw.tenant = tenant
		}
		if err := a.allow(r, tenant); err != nil {
			writeError(w, d, a.classify(r, err))
			return
		}
		defer a.settle(r, tenant)
		if err := h(w, r, tenant); err != nil {
			writeError(w, d, a.classify(r, err))
		}
	})
}

// logged gives every request an id and logs one line per request, without headers or bodies.
func (a *api) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 128 {
			id = uuid.NewString()
		}
		w.Header().Set("X-Request-Id", id)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				a.Logger.Error("panic serving request", "request_id", id, "panic", p)
				if !sw.wrote {
					writeError(sw, dialectOf(r.URL.Path), &apiError{http.StatusInternalServerError, "internal_error", "internal error"})
				}
			}
			level := slog.LevelInfo
			if sw.status >= 500 {
				level = slog.LevelError
			}
			a.Logger.Log(r.Context(), level, "request", "request_id", id, "method", r.Method, "path", r.URL.Path,
				"status", sw.status, "tenant", sw.tenant, "agent_id", sw.agentID, "task_id", sw.taskID, "duration_ms", time.Since(start).Milliseconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status         int
	wrote          bool
	tenant, taskID string
	agentID        string
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's writer: event streams flush it.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

// noteTask records the ids a request concerns for its log line.
func noteTask(w http.ResponseWriter, id, agentID string) {
	if sw, ok := w.(*statusWriter); ok {
		sw.taskID, sw.agentID = id, agentID
	}
}

// decodeStrict reads a bounded body holding exactly one JSON object into v, refusing unknown
// fields, and answers 422 validation_failed naming the expected shape otherwise. An empty body
// leaves v as it is when emptyOK.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any, emptyOK bool, shape string) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if emptyOK && len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.Decode(&struct{}{}) != io.EOF {
		return &apiError{http.StatusUnprocessableEntity, "validation_failed", "the body must be one JSON object: " + shape}
	}
	return nil
}

// readBody reads a bounded request body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, &apiError{http.StatusRequestEntityTooLarge, "body_too_large", "the request body is larger than 1 MiB"}
	}
	if err != nil {
		return nil, &apiError{http.StatusBadRequest, "unreadable_body", "the request body could not be read"}
	}
	return body, nil
}
