// Package httpapi is agentq's HTTP API: one net/http handler serving both dialects, used as it is
// by the local runner and through an API Gateway adapter in Lambda.
package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/task"
)

// Submitter accepts invocations.
type Submitter interface {
	Submit(ctx context.Context, sub accept.Submission) (*task.Task, error)
}

// Reader reads tasks.
type Reader interface {
	Get(ctx context.Context, id string) (*task.Task, error)
}

// Authenticator maps API keys to tenants.
type Authenticator interface {
	Tenant(key string) (string, bool)
}

// Config holds what the handler needs. A nil Submitter leaves out the routes that create work, a
// nil Reader those that read it, so each Lambda function serves only its own routes.
type Config struct {
	Submitter Submitter
	Reader    Reader
	Keys      Authenticator
	Logger    *slog.Logger
	Now       func() time.Time
}

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

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
	a := &api{c}
	mux := http.NewServeMux()
	route := func(method, path string, d task.Dialect, h func(http.ResponseWriter, *http.Request, string) error) {
		mux.Handle(method+" "+path, a.authed(d, h))
		// Any other method on a known path is a 405, not a 404.
		mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", method)
			writeError(w, d, &apiError{http.StatusMethodNotAllowed, "method_not_allowed", "use " + method + " on this route"})
		}))
	}
	if c.Submitter != nil {
		route(http.MethodPost, "/v1/agents/{agent_id}/invoke/async", task.Xpander, a.invokeXpander)
		route(http.MethodPost, "/v1/agents/{agent_id}/invoke-async", task.ServiceNet, a.invokeServiceNet)
	}
	if c.Reader != nil {
		route(http.MethodGet, "/v1/tasks/{task_id}", task.Xpander, a.getTask)
		route(http.MethodGet, "/v1/receipts/{receipt_id}", task.ServiceNet, a.getReceipt)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, dialectOf(r.URL.Path), &apiError{http.StatusNotFound, "route_not_found", "no route " + r.Method + " " + r.URL.Path})
	})
	return a.logged(mux)
}

func dialectOf(path string) task.Dialect {
	if strings.HasPrefix(path, "/v1/receipts") || strings.HasSuffix(path, "/invoke-async") {
		return task.ServiceNet
	}
	return task.Xpander
}

type ctxKey int

const tenantKey ctxKey = iota

// authed authenticates the caller by API key before calling h with the caller's tenant.
func (a *api) authed(d task.Dialect, h func(http.ResponseWriter, *http.Request, string) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Api-Key")
		if key == "" {
			if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
				key = strings.TrimSpace(v)
			}
		}
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

func (a *api) invokeXpander(w http.ResponseWriter, r *http.Request, tenant string) error {
	t, err := a.submit(w, r, tenant, dialect.DecodeXpander)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dialect.Xpander(t))
	return nil
}

func (a *api) invokeServiceNet(w http.ResponseWriter, r *http.Request, tenant string) error {
	t, err := a.submit(w, r, tenant, dialect.DecodeServiceNet)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dialect.ServiceNetAccepted(t))
	return nil
}

func (a *api) submit(w http.ResponseWriter, r *http.Request, tenant string, decode func([]byte) (*dialect.Invocation, error)) (*task.Task, error) {
	agentID := r.PathValue("agent_id")
	if !agent.ValidID(agentID) {
		return nil, agent.ErrNotFound
	}
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	inv, err := decode(body)
	if err != nil {
		return nil, err
	}
	t, err := a.Submitter.Submit(r.Context(), accept.Submission{Tenant: tenant, AgentID: agentID, Source: "api", Invocation: inv})
	if err != nil {
		return nil, err
	}
	noteTask(w, t.ID, t.AgentID)
	return t, nil
}

func (a *api) getTask(w http.ResponseWriter, r *http.Request, tenant string) error {
	t, err := a.read(w, r, tenant, r.PathValue("task_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dialect.Xpander(t))
	return nil
}

func (a *api) getReceipt(w http.ResponseWriter, r *http.Request, tenant string) error {
	t, err := a.read(w, r, tenant, r.PathValue("receipt_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dialect.ServiceNet(t))
	return nil
}

// read fetches a task the tenant owns. Another tenant's task is indistinguishable from none.
func (a *api) read(w http.ResponseWriter, r *http.Request, tenant, id string) (*task.Task, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, store.ErrNotFound
	}
	noteTask(w, id, "")
	t, err := a.Reader.Get(r.Context(), id)
	if err != nil {
		return nil, err
	}
	noteTask(w, id, t.AgentID)
	if t.Tenant != tenant {
		return nil, store.ErrNotFound
	}
	if t.Expired(a.Now()) {
		return nil, errExpired
	}
	if !t.State.Terminal() {
		w.Header().Set("Retry-After", pollRetryAfter)
	}
	return t, nil
}
