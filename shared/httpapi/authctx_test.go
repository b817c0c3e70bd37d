package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/task"
)

const (
	adminKey      = "admin-key-SECRET"
	contextSecret = "sk-live-CONTEXT-SECRET"
)

// fakeContexts keeps auth contexts in memory, secrets included, so that a test can tell whether any
// answer shows one.
type fakeContexts struct {
	mu      sync.Mutex
	items   map[string]authctx.Context // tenant/id
	secrets map[string]string
}

func newFakeContexts() *fakeContexts {
	return &fakeContexts{items: map[string]authctx.Context{}, secrets: map[string]string{}}
}

func (f *fakeContexts) Create(_ context.Context, tenant string, in authctx.Input) (authctx.Context, error) {
	if err := in.Validate(); err != nil {
		return authctx.Context{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := authctx.Context{ID: uuid.NewString(), Tenant: tenant, Name: in.Name, Kind: in.Kind, Header: in.Header, CreatedAt: now}
	f.items[tenant+"/"+c.ID], f.secrets[tenant+"/"+c.ID] = c, in.Secret
	return c, nil
}

func (f *fakeContexts) Get(_ context.Context, tenant, id string) (authctx.Context, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.items[tenant+"/"+id]
	if !ok {
		return authctx.Context{}, fmt.Errorf("get %s: %w", id, authctx.ErrNotFound)
	}
	return c, nil
}

func (f *fakeContexts) Delete(_ context.Context, tenant, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.items[tenant+"/"+id]; !ok {
		return fmt.Errorf("delete %s: %w", id, authctx.ErrNotFound)
	}
	delete(f.items, tenant+"/"+id)
	return nil
}

func (f *fakeContexts) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.items)
}

type contextsHarness struct {
	h        http.Handler
	contexts *fakeContexts
	sub      *fakeSubmitter
	logs     *bytes.Buffer
}

func newContextsHarness(routes httpapi.Routes) *contextsHarness {
	hs := &contextsHarness{contexts: newFakeContexts(), sub: &fakeSubmitter{}, logs: &bytes.Buffer{}}
	hs.h = httpapi.New(httpapi.Config{
		Submitter: hs.sub, Keys: keys, AdminKeys: fakeKeys{adminKey: "admin"}, AuthContexts: hs.contexts, Routes: routes,
		Logger: slog.New(slog.NewJSONHandler(&syncWriter{w: hs.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return hs
}

func asAdmin() []string { return []string{"X-Api-Key", adminKey} }

func noSecret(t *testing.T, r response) {
	t.Helper()
	if strings.Contains(r.raw, contextSecret) || strings.Contains(r.raw, `"secret"`) {
		t.Errorf("an answer shows the secret: %s", r.raw)
	}
}

func TestAuthContextLifecycle(t *testing.T) {
	hs := newContextsHarness(httpapi.AllRoutes)
	body := `{"tenant":"org-1","name":"stripe","kind":"header","header":"X-Api-Key","secret":"` + contextSecret + `"}`
	r := do(t, hs.h, http.MethodPost, "/v1/auth-contexts", body, asAdmin()...)
	if r.status != http.StatusCreated {
		t.Fatalf("create = %d %s", r.status, r.raw)
	}
	noSecret(t, r)
	id, _ := r.body["id"].(string)
	if _, err := uuid.Parse(id); err != nil || r.body["tenant"] != "org-1" || r.body["name"] != "stripe" || r.body["kind"] != "header" ||
		r.body["header"] != "X-Api-Key" || r.body["created_at"] == nil {
		t.Fatalf("created = %s", r.raw)
	}

	path := "/v1/auth-contexts/" + id
	r = do(t, hs.h, http.MethodGet, path+"?tenant=org-1", "", asAdmin()...)
	if r.status != http.StatusOK || r.body["id"] != id {
		t.Fatalf("get = %d %s", r.status, r.raw)
	}
	noSecret(t, r)
	wantError(t, do(t, hs.h, http.MethodGet, path+"?tenant=org-2", "", asAdmin()...), task.Xpander, http.StatusNotFound, "auth_context_not_found")
	wantError(t, do(t, hs.h, http.MethodGet, "/v1/auth-contexts/f1e2d3c4-0000-4000-8000-000000000002?tenant=org-1", "", asAdmin()...), task.Xpander, http.StatusNotFound, "auth_context_not_found")

	r = do(t, hs.h, http.MethodDelete, path+"?tenant=org-1", "", asAdmin()...)
	if r.status != http.StatusOK || r.body["id"] != id {
		t.Fatalf("delete = %d %s", r.status, r.raw)
	}
	noSecret(t, r)
	wantError(t, do(t, hs.h, http.MethodGet, path+"?tenant=org-1", "", asAdmin()...), task.Xpander, http.StatusNotFound, "auth_context_not_found")
	wantError(t, do(t, hs.h, http.MethodDelete, path+"?tenant=org-1", "", asAdmin()...), task.Xpander, http.StatusNotFound, "auth_context_not_found")

	if strings.Contains(hs.logs.String(), contextSecret) {
		t.Errorf("the logs show the secret: %s", hs.logs.String())
	}
}

// TestAuthContextRoutesNeedAdmin: a tenant's key is refused on every route, and nothing changes.
func TestAuthContextRoutesNeedAdmin(t *testing.T) {
	hs := newContextsHarness(httpapi.AllRoutes)
	c, _ := hs.contexts.Create(context.Background(), "org-1", authctx.Input{Name: "n", Kind: authctx.Bearer, Secret: contextSecret})
	body := `{"tenant":"org-1","name":"x","kind":"bearer","secret":"` + contextSecret + `"}`
	for _, rt := range []struct{ method, path, body string }{
		{http.MethodPost, "/v1/auth-contexts", body},
		{http.MethodGet, "/v1/auth-contexts/" + c.ID + "?tenant=org-1", ""},
		{http.MethodDelete, "/v1/auth-contexts/" + c.ID + "?tenant=org-1", ""},
	} {
		t.Run(rt.method, func(t *testing.T) {
			r := do(t, hs.h, rt.method, rt.path, rt.body, authed()...)
			wantError(t, r, task.Xpander, http.StatusForbidden, "admin_required")
			noSecret(t, r)
			r = do(t, hs.h, rt.method, rt.path, rt.body, "Authorization", "Bearer "+apiKey)
			wantError(t, r, task.Xpander, http.StatusForbidden, "admin_required")
			wantError(t, do(t, hs.h, rt.method, rt.path, rt.body), task.Xpander, http.StatusUnauthorized, "missing_api_key")
			wantError(t, do(t, hs.h, rt.method, rt.path, rt.body, "X-Api-Key", "nope"), task.Xpander, http.StatusUnauthorized, "invalid_api_key")
		})
	}
	if n := hs.contexts.count(); n != 1 {
		t.Errorf("%d contexts, want the 1 there was", n)
	}
}

func TestAuthContextValidation(t *testing.T) {
	s := contextSecret
	tests := []struct{ name, body string }{
		{"not JSON", `{"tenant":`},
		{"not an object", `["` + s + `"]`},
		{"empty", ``},
		{"trailing data", `{"tenant":"org-1","name":"n","kind":"bearer","secret":"` + s + `"} {}`},
		{"unknown field", `{"tenant":"org-1","name":"n","kind":"bearer","secret":"` + s + `","expires":1}`},
		{"mistyped secret", `{"tenant":"org-1","name":"n","kind":"bearer","secret":["` + s + `"]}`},
		{"no tenant", `{"name":"n","kind":"bearer","secret":"` + s + `"}`},
		{"no name", `{"tenant":"org-1","kind":"bearer","secret":"` + s + `"}`},
		{"unknown kind", `{"tenant":"org-1","name":"n","kind":"basic","secret":"` + s + `"}`},
		{"header kind without a header", `{"tenant":"org-1","name":"n","kind":"header","secret":"` + s + `"}`},
		{"bearer with a header", `{"tenant":"org-1","name":"n","kind":"bearer","header":"X-Key","secret":"` + s + `"}`},
		{"bad header name", `{"tenant":"org-1","name":"n","kind":"header","header":"X Key","secret":"` + s + `"}`},
		{"no secret", `{"tenant":"org-1","name":"n","kind":"bearer"}`},
		{"secret with a newline", `{"tenant":"org-1","name":"n","kind":"bearer","secret":"` + s + `\r\nX-Evil: 1"}`},
		{"everything wrong", `{"kind":"x"}`},
	}
	hs := newContextsHarness(httpapi.AllRoutes)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, hs.h, http.MethodPost, "/v1/auth-contexts", tt.body, asAdmin()...)
			wantError(t, r, task.Xpander, http.StatusUnprocessableEntity, "validation_failed")
			if strings.Contains(r.raw, s) {
				t.Errorf("the error quotes the secret: %s", r.raw)
			}
		})
	}
	for _, q := range []string{"", "?tenant=", "?tenant=a&tenant=b", "?tenant=a%0Ab"} {
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			r := do(t, hs.h, method, "/v1/auth-contexts/f1e2d3c4-0000-4000-8000-000000000002"+q, "", asAdmin()...)
			wantError(t, r, task.Xpander, http.StatusUnprocessableEntity, "validation_failed")
		}
	}
	if hs.contexts.count() != 0 {
		t.Error("an invalid context was created")
	}
	if strings.Contains(hs.logs.String(), s) {
		t.Errorf("the logs show the secret: %s", hs.logs.String())
	}
}

// TestInvokeUnknownAuthContext maps the accept core's authctx.ErrNotFound in each dialect.
func TestInvokeUnknownAuthContext(t *testing.T) {
	hs := newContextsHarness(httpapi.AllRoutes)
	hs.sub.err = fmt.Errorf("submit to agent echo: read auth context x: %w", authctx.ErrNotFound)
	r := do(t, hs.h, http.MethodPost, serviceNetPath, `{"message":"hi","auth_context_id":"f1e2d3c4-0000-4000-8000-000000000002"}`, authed()...)
	wantError(t, r, task.ServiceNet, http.StatusNotFound, "auth_context_not_found")
}

func TestAuthContextRoutesFollowTheConfig(t *testing.T) {
	id := "/v1/auth-contexts/f1e2d3c4-0000-4000-8000-000000000002?tenant=org-1"
	tests := []struct {
		routes         httpapi.Routes
		method, path   string
		wantNotServed  bool
		wantStatusCode int
	}{
		{httpapi.WriteRoutes, http.MethodPost, "/v1/auth-contexts", false, http.StatusUnprocessableEntity},
		{httpapi.WriteRoutes, http.MethodDelete, id, false, http.StatusNotFound},
		{httpapi.WriteRoutes, http.MethodGet, id, true, http.StatusMethodNotAllowed},
		{httpapi.ReadRoutes, http.MethodGet, id, false, http.StatusNotFound},
		{httpapi.ReadRoutes, http.MethodPost, "/v1/auth-contexts", true, http.StatusNotFound},
		{httpapi.ReadRoutes, http.MethodDelete, id, true, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		r := do(t, newContextsHarness(tt.routes).h, tt.method, tt.path, `{}`, asAdmin()...)
		if r.status != tt.wantStatusCode {
			t.Errorf("routes %d: %s %s = %d %s, want %d", tt.routes, tt.method, tt.path, r.status, r.raw, tt.wantStatusCode)
		}
	}
	// Without a store, or without admin keys, there are no such routes.
	for _, c := range []httpapi.Config{
		{Keys: keys, AdminKeys: fakeKeys{adminKey: "admin"}},
		{Keys: keys, AuthContexts: newFakeContexts()},
	} {
		r := do(t, httpapi.New(c), http.MethodPost, "/v1/auth-contexts", `{}`, asAdmin()...)
		wantError(t, r, task.Xpander, http.StatusNotFound, "route_not_found")
	}
}

// FuzzAuthContextCreate drives POST /v1/auth-contexts with any body: the handler never fails
// (5xx), always answers a JSON object, and never answers a secret.
func FuzzAuthContextCreate(f *testing.F) {
	for _, b := range []string{
		`{"tenant":"org-1","name":"n","kind":"bearer","secret":"` + contextSecret + `"}`,
		`{"tenant":"org-1","name":"n","kind":"header","header":"X-Key","secret":"` + contextSecret + `"}`,
		`{"tenant":"org-1","name":"n","kind":"header","header":"X Key","secret":"` + contextSecret + `\n"}`,
		`{"tenant":"","secret":5}`, `{"secret":"` + contextSecret + `"} x`, `[`, ``, `null`, `{"tenant":"\u0000"}`,
	} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		hs := newContextsHarness(httpapi.AllRoutes)
		r := httptest.NewRequest(http.MethodPost, "/v1/auth-contexts", bytes.NewReader(body))
		r.Header.Set("X-Api-Key", adminKey)
		rec := httptest.NewRecorder()
		hs.h.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("answered %d: %s", rec.Code, rec.Body)
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("answered %d with a body that is not a JSON object: %q", rec.Code, rec.Body)
		}
		// A success answers the context's metadata and nothing else.
		for k := range v {
			if rec.Code == http.StatusCreated && !slices.Contains([]string{"id", "tenant", "name", "kind", "header", "created_at"}, k) {
				t.Fatalf("answered 201 with the field %q: %s", k, rec.Body)
			}
		}
		if _, ok := v["secret"]; ok {
			t.Fatalf("answered %d with a secret field: %s", rec.Code, rec.Body)
		}
	})
}
