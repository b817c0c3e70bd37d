package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/task/tasktest"
)

const (
	apiKey      = "key-of-org-1-SECRET"
	otherKey    = "key-of-org-2"
	taskID      = "81250b20-e9d7-4b3b-9995-07dc72b4bb59"
	otherTaskID = "f1e2d3c4-0000-4000-8000-000000000002"
)

var now = time.Date(2026, 2, 7, 2, 13, 26, 0, time.UTC)

// fakeKeys maps API keys to tenants.
type fakeKeys map[string]string

func (k fakeKeys) Tenant(key string) (string, bool) { t, ok := k[key]; return t, ok }

var keys = fakeKeys{apiKey: "org-1", otherKey: "org-2"}

// fakeSubmitter accepts every submission as a queued task, unless err or submit says otherwise.
type fakeSubmitter struct {
	mu     sync.Mutex
	subs   []accept.Submission
	err    error
	submit func(sub accept.Submission) (*task.Task, error)
}

func (s *fakeSubmitter) Submit(_ context.Context, sub accept.Submission) (*task.Task, error) {
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	if s.submit != nil {
		return s.submit(sub)
	}
	if s.err != nil {
		return nil, s.err
	}
	return &task.Task{ID: taskID, Tenant: sub.Tenant, AgentID: sub.AgentID, Dialect: sub.Invocation.Dialect,
		Source: sub.Source, ThreadID: sub.Invocation.ThreadID, State: task.Queued, Version: 1,
		Request: sub.Invocation.Body, Text: sub.Invocation.Text, CreatedAt: now, UpdatedAt: now}, nil
}

func (s *fakeSubmitter) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// fakeReader is the in-memory task store (tasktest.Store) behind the API: it reads, resolves,
// stops, lists and threads tasks. Every answer is a copy, so a test may change a task (with set)
// while the handler waits on it. Calls of any method are counted.
type fakeReader struct {
	*tasktest.Store
	mu sync.Mutex
	// threads maps thread ids to their latest turn's task id, for Resolve.
	threads map[string]string
	err     error
	// gets counts every call, of any method.
	gets int
	// onGet, when set, runs (under the lock) before every Get or Resolve with the call's number.
	onGet func(n int)
	// conflictOnce, when set, makes the first Transition fail with a conflict showing this task,
	// as if another writer had moved it between the handler's read and its write.
	conflictOnce *task.Task
	// lists records the queries asked of List, which answers listed, next and listErr.
	lists   []task.ListQuery
	listed  []*task.Task
	next    string
	listErr error
	turnErr error
	// counted and countExact are what Count answers; counts records its queries.
	counted    int
	countExact bool
	counts     []task.ListQuery
	// deleted records the families Delete removed; resumed the answers Resume sent, which fails
	// with resumeErr.
	deleted   [][]*task.Task
	resumed   []string
	resumeErr error
}

func newFakeReader(ts ...*task.Task) *fakeReader {
	r := &fakeReader{Store: tasktest.New(ts...), threads: map[string]string{}}
	r.TransitionHook = func(string, task.Change) error {
		r.mu.Lock()
		cur := r.conflictOnce
		r.conflictOnce = nil
		r.mu.Unlock()
		if cur != nil {
			return fmt.Errorf("transition: %w", &task.ConflictError{Current: clone(cur)})
		}
		return nil
	}
	return r
}

func clone(t *task.Task) *task.Task {
	c := *t
	return &c
}

// count counts a call and answers the error set for reads.
func (r *fakeReader) count(read bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gets++
	if read && r.onGet != nil {
		r.onGet(r.gets)
	}
	if read {
		return r.err
	}
	return nil
}

func (r *fakeReader) Get(ctx context.Context, id string) (*task.Task, error) {
	if err := r.count(true); err != nil {
		return nil, err
	}
	return r.Store.Get(ctx, id)
}

func (r *fakeReader) Resolve(ctx context.Context, tenant, id string) (*task.Task, error) {
	r.mu.Lock()
	latest, ok := r.threads[tenant+"#"+id]
	r.mu.Unlock()
	if ok {
		id = latest
	}
	return r.Get(ctx, id)
}

// set changes a stored task while a request may be reading it.
func (r *fakeReader) set(id string, f func(t *task.Task)) {
	t := r.Task(id)
	f(&t)
	r.Put(&t)
}

func (r *fakeReader) Transition(ctx context.Context, id string, c task.Change) (*task.Task, error) {
	_ = r.count(false)
	return r.Store.Transition(ctx, id, c)
}

func (r *fakeReader) List(_ context.Context, q task.ListQuery) ([]*task.Task, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gets++
	r.lists = append(r.lists, q)
	return r.listed, r.next, r.listErr
}

func (r *fakeReader) Count(_ context.Context, q task.ListQuery) (int, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gets++
	r.counts = append(r.counts, q)
	return r.counted, r.countExact, nil
}

// CursorPosition reads the fake's cursors, "at:<position>".
func (r *fakeReader) CursorPosition(c string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(c, "at:"))
	return n
}

func (r *fakeReader) Delete(ctx context.Context, ts []*task.Task) error {
	_ = r.count(false)
	r.mu.Lock()
	r.deleted = append(r.deleted, ts)
	r.mu.Unlock()
	return r.Store.Delete(ctx, ts)
}

func (r *fakeReader) Resume(_ context.Context, t *task.Task, answer string) error {
	_ = r.count(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.resumeErr != nil {
		return r.resumeErr
	}
	r.resumed = append(r.resumed, t.ID+":"+answer)
	return nil
}

func (r *fakeReader) Turns(ctx context.Context, tenant, threadID string, limit int) ([]*task.Task, error) {
	_ = r.count(false)
	if r.turnErr != nil {
		return nil, r.turnErr
	}
	return r.Store.Turns(ctx, tenant, threadID, limit)
}

func (r *fakeReader) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gets
}

type harness struct {
	h    http.Handler
	sub  *fakeSubmitter
	read *fakeReader
	logs *bytes.Buffer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	hs := &harness{sub: &fakeSubmitter{}, read: newFakeReader(), logs: &bytes.Buffer{}}
	hs.h = httpapi.New(httpapi.Config{
		Submitter: hs.sub, Reader: hs.read, Resolver: hs.read, Stopper: hs.read, Lister: hs.read, Threads: hs.read,
		Families: hs.read, Deleter: hs.read, Resumer: hs.read,
		Keys:   keys,
		Logger: slog.New(slog.NewJSONHandler(&syncWriter{w: hs.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    func() time.Time { return now },
	})
	return hs
}

// syncWriter serializes the writes of a logger shared by concurrent requests.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// response is an answer, its body parsed as a JSON object.
type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// do sends a request and checks what every answer must have: a request id and a JSON body.
func do(t *testing.T, h http.Handler, method, path, body string, header ...string) response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if rec.Header().Get("X-Request-Id") == "" {
		t.Errorf("%s %s: answer %d has no X-Request-Id", method, path, rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type = %q, want application/json", method, path, ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res.body); err != nil {
		t.Fatalf("%s %s: answer %d is not a JSON object: %v: %q", method, path, rec.Code, err, rec.Body.String())
	}
	return res
}

func authed(h ...string) []string { return append([]string{"X-Api-Key", apiKey}, h...) }

// wantError checks an error answer's status, reason code and dialect shape.
func wantError(t *testing.T, r response, d task.Dialect, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d: %s", r.status, status, r.raw)
	}
	switch d {
	case task.ServiceNet:
		e, ok := r.body["error"].(map[string]any)
		if !ok || len(r.body) != 1 {
			t.Fatalf("body = %s, want ServiceNet's {\"error\": {...}}", r.raw)
		}
		if e["code"] != code {
			t.Errorf("error.code = %v, want %s", e["code"], code)
		}
		if msg, _ := e["message"].(string); msg == "" {
			t.Errorf("error.message is empty: %s", r.raw)
		}
		for k := range e {
			if !slices.Contains([]string{"code", "message", "details", "receipt_id", "status"}, k) {
				t.Errorf("unexpected error field %q: %s", k, r.raw)
			}
		}
	default:
		if r.body["code"] != code {
			t.Errorf("code = %v, want %s: %s", r.body["code"], code, r.raw)
		}
		if r.body["detail"] == nil || r.body["detail"] == "" {
			t.Errorf("detail is empty: %s", r.raw)
		}
		for k := range r.body {
			if !slices.Contains([]string{"detail", "code", "task_id", "status"}, k) {
				t.Errorf("unexpected field %q in xpander error: %s", k, r.raw)
			}
		}
	}
}

const (
	xpanderPath    = "/v1/agents/echo/invoke/async"
	serviceNetPath = "/v1/agents/echo/invoke-async"
	xpanderBody    = `{"input":{"text":"hello"}}`
	serviceNetBody = `{"message":"hello"}`
)

// routes lists every authenticated route with a request that succeeds on it.
var routes = []struct {
	name, method, path, body string
	dialect                  task.Dialect
}{
	{"xpander invoke", http.MethodPost, xpanderPath, xpanderBody, task.Xpander},
	{"servicenet invoke", http.MethodPost, serviceNetPath, serviceNetBody, task.ServiceNet},
	{"xpander task", http.MethodGet, "/v1/tasks/" + taskID, "", task.Xpander},
	{"servicenet receipt", http.MethodGet, "/v1/receipts/" + taskID, "", task.ServiceNet},
	{"xpander sync invoke", http.MethodPost, "/v1/agents/echo/invoke?wait=0", xpanderBody, task.Xpander},
	{"xpander stop", http.MethodPost, "/v1/tasks/" + taskID + "/stop", "", task.Xpander},
	{"servicenet stop", http.MethodPost, "/v1/receipts/" + taskID + "/stop", "", task.ServiceNet},
	{"xpander thread", http.MethodGet, "/v1/tasks/" + taskID + "/thread", "", task.Xpander},
	{"xpander list", http.MethodGet, "/v1/tasks", "", task.Xpander},
	{"xpander agent list", http.MethodGet, "/v1/agents/echo/tasks", "", task.Xpander},
}

func storedTask(state task.State) *task.Task {
	return &task.Task{ID: taskID, Tenant: "org-1", AgentID: "echo", Dialect: task.Xpander, State: state, Version: 2,
		Request: json.RawMessage(xpanderBody), Text: "hello", Result: "hi back", CreatedAt: now, UpdatedAt: now,
		ExpiresAt: now.Add(time.Hour)}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name   string
		header []string
		status int
		code   string
	}{
		{"no key", nil, http.StatusUnauthorized, "missing_api_key"},
		{"empty x-api-key", []string{"X-Api-Key", ""}, http.StatusUnauthorized, "missing_api_key"},
		{"basic auth", []string{"Authorization", "Basic " + apiKey}, http.StatusUnauthorized, "missing_api_key"},
		{"empty bearer", []string{"Authorization", "Bearer "}, http.StatusUnauthorized, "missing_api_key"},
		{"wrong x-api-key", []string{"X-Api-Key", "not-a-key"}, http.StatusUnauthorized, "invalid_api_key"},
		{"wrong bearer", []string{"Authorization", "Bearer not-a-key"}, http.StatusUnauthorized, "invalid_api_key"},
		{"key with a suffix", []string{"X-Api-Key", apiKey + "x"}, http.StatusUnauthorized, "invalid_api_key"},
		{"x-api-key", []string{"X-Api-Key", apiKey}, http.StatusOK, ""},
		{"lower-case x-api-key", []string{"x-api-key", apiKey}, http.StatusOK, ""},
		{"bearer", []string{"Authorization", "Bearer " + apiKey}, http.StatusOK, ""},
		{"bearer with spaces", []string{"Authorization", "Bearer   " + apiKey + " "}, http.StatusOK, ""},
		{"bearer in lower case", []string{"Authorization", "bearer " + apiKey}, http.StatusOK, ""},
		{"x-api-key wins over bearer", []string{"X-Api-Key", apiKey, "Authorization", "Bearer not-a-key"}, http.StatusOK, ""},
	}
	for _, rt := range routes {
		for _, tt := range tests {
			t.Run(rt.name+"/"+tt.name, func(t *testing.T) {
				hs := newHarness(t)
				hs.read.Put(storedTask(task.Running))
				r := do(t, hs.h, rt.method, rt.path, rt.body, tt.header...)
				if tt.code == "" {
					if r.status/100 != tt.status/100 {
						t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.raw)
					}
					return
				}
				wantError(t, r, rt.dialect, tt.status, tt.code)
				if hs.sub.calls() != 0 || hs.read.calls() != 0 {
					t.Errorf("an unauthenticated request reached the submitter or reader")
				}
			})
		}
	}
}

func TestInvokeXpander(t *testing.T) {
	hs := newHarness(t)
	body := `{"input":{"text":"hello","user":{"id":"u1","email":"ada@example.com"}},"id":"thread-1","title":"T","user_oidc_token":"oidc-SECRET"}`
	r := do(t, hs.h, http.MethodPost, xpanderPath, body, authed()...)
	if r.status != http.StatusOK {
		t.Fatalf("status = %d: %s", r.status, r.raw)
	}
	if len(hs.sub.subs) != 1 {
		t.Fatalf("submitted %d times", len(hs.sub.subs))
	}
	sub := hs.sub.subs[0]
	if sub.Tenant != "org-1" || sub.AgentID != "echo" || sub.Source != "api" || sub.Invocation.Dialect != task.Xpander ||
		sub.Invocation.Text != "hello" || sub.Invocation.ThreadID != "thread-1" {
		t.Errorf("submission = %+v", sub)
	}
	for k, want := range map[string]any{"id": "thread-1", "task_id": taskID, "agent_id": "echo", "organization_id": "org-1", "status": "pending",
		"result": nil, "title": "T", "thread_id": "thread-1", "created_at": "2026-02-07T02:13:26Z"} {
		if !reflect.DeepEqual(r.body[k], want) {
			t.Errorf("%s = %#v, want %#v", k, r.body[k], want)
		}
	}
	if !reflect.DeepEqual(r.body["input"], map[string]any{"text": "hello", "user": map[string]any{"id": "u1", "email": "ada@example.com"}}) {
		t.Errorf("input = %v, want the input as sent", r.body["input"])
	}
	if strings.Contains(r.raw, "oidc-SECRET") {
		t.Errorf("answer echoes a secret: %s", r.raw)
	}
	if r.header.Get("Retry-After") != "" {
		t.Errorf("Retry-After on an accepted invocation")
	}
}

func TestInvokeServiceNet(t *testing.T) {
	hs := newHarness(t)
	r := do(t, hs.h, http.MethodPost, "/v1/agents/stripe-agent/invoke-async",
		`{"message":"Create a payment link for 15 AUD","auth_token":"secret-token","region":"AU"}`,
		"Authorization", "Bearer "+apiKey)
	if r.status != http.StatusOK {
		t.Fatalf("status = %d: %s", r.status, r.raw)
	}
	want := `{"agent_id":"stripe-agent","status":"running","receipt_id":"` + taskID + `","message":"ServiceNet invocation accepted","raw":{}}` + "\n"
	if r.raw != want {
		t.Errorf("body = %s\nwant   %s", r.raw, want)
	}
	sub := hs.sub.subs[0]
	if sub.Invocation.AuthToken != "secret-token" || sub.Invocation.Ask.Region != "AU" || sub.Invocation.Dialect != task.ServiceNet {
		t.Errorf("invocation = %+v", sub.Invocation)
	}
}

func TestInvokeErrors(t *testing.T) {
	big := `{"input":{"text":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}}`
	atLimit := `{"message":"` + strings.Repeat("a", httpapi.MaxBodyBytes-len(`{"message":""}`)) + `"}`
	tests := []struct {
		name       string
		path       string
		body       string
		err        error
		status     int
		code       string
		retryAfter string
		submitted  bool
	}{
		{"unknown agent", xpanderPath, xpanderBody, fmt.Errorf("submit: %w", agent.ErrNotFound), 404, "agent_not_found", "", true},
		{"unknown agent", serviceNetPath, serviceNetBody, fmt.Errorf("submit: %w", agent.ErrNotFound), 404, "agent_not_found", "", true},
		{"agent id not valid", "/v1/agents/bad%20id%21/invoke/async", xpanderBody, nil, 404, "agent_not_found", "", false},
		{"agent id not valid", "/v1/agents/" + strings.Repeat("a", 129) + "/invoke-async", serviceNetBody, nil, 404, "agent_not_found", "", false},
		{"agent id starting with a dot", "/v1/agents/.hidden/invoke-async", serviceNetBody, nil, 404, "agent_not_found", "", false},
		{"malformed json", xpanderPath, `{"input":`, nil, 400, "malformed_json", "", false},
		{"malformed json", serviceNetPath, `not json`, nil, 400, "malformed_json", "", false},
		{"empty body", xpanderPath, ``, nil, 400, "malformed_json", "", false},
		{"array body", serviceNetPath, `[{"message":"hi"}]`, nil, 400, "malformed_json", "", false},
		{"invalid", xpanderPath, `{"input":{}}`, nil, 422, "validation_failed", "", false},
		{"invalid", serviceNetPath, `{"region":"XYZ"}`, nil, 400, "validation_failed", "", false},
		{"too deep", xpanderPath, `{"input":{"text":"t"},"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, nil, 422, "validation_failed", "", false},
		{"body over 1 MiB", xpanderPath, big, nil, 413, "body_too_large", "", false},
		{"body over 1 MiB", serviceNetPath, big, nil, 413, "body_too_large", "", false},
		{"body of exactly 1 MiB is read", serviceNetPath, atLimit, nil, 400, "validation_failed", "", false},
		{"policy", xpanderPath, xpanderBody, fmt.Errorf("submit: %w", &agent.PolicyError{Code: agent.ReasonApprovalRequired, Message: "confirm first"}), 403, agent.ReasonApprovalRequired, "", true},
		{"policy", serviceNetPath, serviceNetBody, &agent.PolicyError{Code: agent.ReasonRegionNotAllowed, Message: "not from there"}, 403, agent.ReasonRegionNotAllowed, "", true},
		{"send failed, task abandoned", xpanderPath, xpanderBody, &accept.DispatchError{Task: &task.Task{ID: taskID}, Err: fmt.Errorf("%w: sqs down", accept.ErrQueueUnavailable)}, 503, "queue_unavailable", "5", true},
		{"send failed, task abandoned", serviceNetPath, serviceNetBody, &accept.DispatchError{Err: fmt.Errorf("%w: sqs down", accept.ErrQueueUnavailable)}, 503, "queue_unavailable", "5", true},
		{"write failed, task abandoned", xpanderPath, xpanderBody, &accept.DispatchError{Task: &task.Task{ID: taskID}, Err: fmt.Errorf("%w: sqs down", accept.ErrStoreUnavailable)}, 503, "store_unavailable", "5", true},
		{"write failed, task abandoned", serviceNetPath, serviceNetBody, &accept.DispatchError{Err: fmt.Errorf("%w: sqs down", accept.ErrStoreUnavailable)}, 503, "store_unavailable", "5", true},
		{"store unavailable", xpanderPath, xpanderBody, fmt.Errorf("submit: %w: throttled", accept.ErrStoreUnavailable), 503, "store_unavailable", "5", true},
		{"store unavailable", serviceNetPath, serviceNetBody, fmt.Errorf("submit: %w: throttled", accept.ErrStoreUnavailable), 503, "store_unavailable", "5", true},
		{"unclassified", xpanderPath, xpanderBody, errors.New("internal detail arn:aws:dynamodb:eu-west-1:123456789012:table/x"), 503, "unavailable", "5", true},
	}
	for _, tt := range tests {
		d := task.Xpander
		if strings.HasSuffix(tt.path, "-async") {
			d = task.ServiceNet
		}
		t.Run(string(d)+"/"+tt.name, func(t *testing.T) {
			hs := newHarness(t)
			hs.sub.err = tt.err
			r := do(t, hs.h, http.MethodPost, tt.path, tt.body, authed()...)
			wantError(t, r, d, tt.status, tt.code)
			if got := r.header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if got := hs.sub.calls() > 0; got != tt.submitted {
				t.Errorf("submitted = %v, want %v", got, tt.submitted)
			}
			if strings.Contains(r.raw, "arn:aws") || strings.Contains(r.raw, "sqs down") {
				t.Errorf("answer leaks internals: %s", r.raw)
			}
		})
	}
}

func TestValidationDetails(t *testing.T) {
	hs := newHarness(t)
	r := do(t, hs.h, http.MethodPost, xpanderPath, `{"input":{"text":""},"think_mode":"x"}`, authed()...)
	wantError(t, r, task.Xpander, 422, "validation_failed")
	detail, ok := r.body["detail"].([]any)
	if !ok || len(detail) != 2 {
		t.Fatalf("detail = %v, want FastAPI-style list of 2 problems", r.body["detail"])
	}
	first, _ := detail[0].(map[string]any)
	if !reflect.DeepEqual(first["loc"], []any{"body", "input", "text"}) || first["type"] != "empty" || first["msg"] == "" {
		t.Errorf("detail[0] = %v", first)
	}

	r = do(t, hs.h, http.MethodPost, serviceNetPath, `{"region":"XYZ"}`, authed()...)
	wantError(t, r, task.ServiceNet, 400, "validation_failed")
	details, _ := r.body["error"].(map[string]any)["details"].([]any)
	if len(details) != 2 {
		t.Errorf("error.details = %v, want 2 problems (region, message)", details)
	}
}

// A submission that failed halfway answers 503 with the dependency that failed, and names its task
// in its final state (failed: it will not run) in both dialects.
func TestDispatchFailedNamesTheTask(t *testing.T) {
	for _, cause := range []struct {
		err  error
		code string
	}{
		{accept.ErrQueueUnavailable, "queue_unavailable"},
		{accept.ErrStoreUnavailable, "store_unavailable"},
	} {
		hs := newHarness(t)
		hs.sub.err = &accept.DispatchError{Task: &task.Task{ID: taskID, State: task.Failed}, Err: fmt.Errorf("%w: x", cause.err)}
		r := do(t, hs.h, http.MethodPost, xpanderPath, xpanderBody, authed()...)
		wantError(t, r, task.Xpander, http.StatusServiceUnavailable, cause.code)
		if r.body["task_id"] != taskID || r.body["status"] != "failed" || r.header.Get("Retry-After") == "" {
			t.Errorf("task_id = %v, status %v, Retry-After %q; want %s, failed, set", r.body["task_id"], r.body["status"], r.header.Get("Retry-After"), taskID)
		}
		r = do(t, hs.h, http.MethodPost, serviceNetPath, serviceNetBody, authed()...)
		wantError(t, r, task.ServiceNet, http.StatusServiceUnavailable, cause.code)
		if e, _ := r.body["error"].(map[string]any); e["receipt_id"] != taskID || e["status"] != "failed" || r.header.Get("Retry-After") == "" {
			t.Errorf("error.receipt_id = %v, status %v, Retry-After %q; want %s, failed, set", e["receipt_id"], e["status"], r.header.Get("Retry-After"), taskID)
		}
	}
}

func TestGetTask(t *testing.T) {
	for _, s := range []task.State{task.Queued, task.Running, task.Paused, task.Succeeded, task.Failed, task.Error, task.Canceled, task.Rejected} {
		for _, rt := range routes[2:4] {
			t.Run(string(s)+"/"+rt.name, func(t *testing.T) {
				hs := newHarness(t)
				hs.read.Put(storedTask(s))
				r := do(t, hs.h, rt.method, rt.path, "", authed()...)
				if r.status != http.StatusOK {
					t.Fatalf("status = %d: %s", r.status, r.raw)
				}
				wantRetry := ""
				if !s.Terminal() {
					wantRetry = "2"
				}
				if got := r.header.Get("Retry-After"); got != wantRetry {
					t.Errorf("Retry-After = %q, want %q", got, wantRetry)
				}
				if rt.dialect == task.Xpander {
					if r.body["id"] != taskID || r.body["status"] != dialect.XpanderStatus(s) {
						t.Errorf("task = %s", r.raw)
					}
				} else if rc := receiptOf(r.body); rc["receipt_id"] != taskID || rc["status"] != dialect.ServiceNetStatus(s) {
					t.Errorf("receipt = %s", r.raw)
				}
			})
		}
	}
}

func TestGetTaskErrors(t *testing.T) {
	// A receipt id is a task id, a UUID; an xpander id may also name a thread, any string of at
	// most 1 KiB, so only ServiceNet refuses a non-UUID without reading.
	tests := []struct {
		name    string
		id      string
		task    *task.Task
		readErr error
		status  int
		xCode   string
		snCode  string
		read    bool
		snRead  bool
		retry   string
	}{
		{"not found", taskID, nil, nil, 404, "task_not_found", "receipt_not_found", true, true, ""},
		{"another tenant's", taskID, &task.Task{ID: taskID, Tenant: "org-2", State: task.Succeeded}, nil, 404, "task_not_found", "receipt_not_found", true, true, ""},
		{"not a UUID", "not-a-uuid", nil, nil, 404, "task_not_found", "receipt_not_found", true, false, ""},
		{"a UUID with junk", taskID + "x", nil, nil, 404, "task_not_found", "receipt_not_found", true, false, ""},
		{"an id over 1 KiB", strings.Repeat("a", 1025), nil, nil, 404, "task_not_found", "receipt_not_found", false, false, ""},
		{"expired", taskID, &task.Task{ID: taskID, Tenant: "org-1", State: task.Succeeded, ExpiresAt: now}, nil, 410, "task_expired", "task_expired", true, true, ""},
		{"store down", taskID, nil, errors.New("dynamodb: timeout"), 503, "store_unavailable", "store_unavailable", true, true, "5"},
	}
	for _, tt := range tests {
		for _, rt := range []struct {
			prefix, code string
			d            task.Dialect
			read         bool
		}{{"/v1/tasks/", tt.xCode, task.Xpander, tt.read}, {"/v1/receipts/", tt.snCode, task.ServiceNet, tt.snRead}} {
			t.Run(string(rt.d)+"/"+tt.name, func(t *testing.T) {
				hs := newHarness(t)
				if tt.task != nil {
					hs.read.Put(tt.task)
				}
				hs.read.err = tt.readErr
				r := do(t, hs.h, http.MethodGet, rt.prefix+tt.id, "", authed()...)
				wantError(t, r, rt.d, tt.status, rt.code)
				if (hs.read.calls() > 0) != rt.read {
					t.Errorf("reader called = %v, want %v", hs.read.calls() > 0, rt.read)
				}
				if got := r.header.Get("Retry-After"); got != tt.retry {
					t.Errorf("Retry-After = %q, want %q", got, tt.retry)
				}
				if strings.Contains(r.raw, "dynamodb") {
					t.Errorf("answer leaks internals: %s", r.raw)
				}
			})
		}
	}
}

// A task of another tenant must be indistinguishable from no task at all.
func TestOtherTenantIndistinguishable(t *testing.T) {
	hs := newHarness(t)
	hs.read.Put(storedTask(task.Running))
	mine := do(t, hs.h, http.MethodGet, "/v1/tasks/"+otherTaskID, "", "X-Api-Key", otherKey)
	theirs := do(t, hs.h, http.MethodGet, "/v1/tasks/"+taskID, "", "X-Api-Key", otherKey)
	if mine.status != theirs.status || !reflect.DeepEqual(mine.body, theirs.body) {
		t.Errorf("missing task answers %d %s, another tenant's %d %s", mine.status, mine.raw, theirs.status, theirs.raw)
	}
	if theirs.header.Get("Retry-After") != "" {
		t.Errorf("another tenant's running task leaks a Retry-After")
	}
}

func TestMethodNotAllowed(t *testing.T) {
	tests := []struct {
		method, path, allow string
		d                   task.Dialect
	}{
		{http.MethodGet, xpanderPath, "POST", task.Xpander},
		{http.MethodPut, xpanderPath, "POST", task.Xpander},
		{http.MethodDelete, serviceNetPath, "POST", task.ServiceNet},
		{http.MethodPost, "/v1/tasks/" + taskID, "GET, DELETE", task.Xpander},
		{http.MethodDelete, "/v1/receipts/" + taskID, "GET", task.ServiceNet},
		{http.MethodGet, "/v1/agents/echo/invoke", "POST", task.Xpander},
		{http.MethodGet, "/v1/tasks/" + taskID + "/stop", "POST", task.Xpander},
		{http.MethodDelete, "/v1/receipts/" + taskID + "/stop", "POST", task.ServiceNet},
		{http.MethodPost, "/v1/tasks/" + taskID + "/thread", "GET", task.Xpander},
		{http.MethodPost, "/v1/tasks", "GET", task.Xpander},
		{http.MethodDelete, "/v1/agents/echo/tasks", "GET", task.Xpander},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			hs := newHarness(t)
			r := do(t, hs.h, tt.method, tt.path, "", authed()...)
			wantError(t, r, tt.d, http.StatusMethodNotAllowed, "method_not_allowed")
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestRouteNotFound(t *testing.T) {
	tests := []struct {
		method, path string
		d            task.Dialect
	}{
		{http.MethodGet, "/", task.Xpander},
		{http.MethodGet, "/v2/tasks/" + taskID, task.Xpander},
		{http.MethodPost, "/v1/agents/echo/invoke/sync", task.Xpander},
		{http.MethodGet, "/v1/tasks/" + taskID + "/turns", task.Xpander},
		{http.MethodPost, "/v1/receipts/" + taskID + "/cancel", task.ServiceNet},
		{http.MethodGet, "/v1/agents/echo/tasks/extra", task.Xpander},
		{http.MethodGet, "/v1/receipts/" + taskID + "/extra", task.ServiceNet},
		{http.MethodPost, "/v1/agents/echo/extra/invoke-async", task.ServiceNet},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			hs := newHarness(t)
			r := do(t, hs.h, tt.method, tt.path, "", authed()...)
			wantError(t, r, tt.d, http.StatusNotFound, "route_not_found")
		})
	}
}

func TestHealthz(t *testing.T) {
	hs := newHarness(t)
	r := do(t, hs.h, http.MethodGet, "/healthz", "")
	if r.status != http.StatusOK || r.body["status"] != "ok" {
		t.Errorf("healthz = %d %s", r.status, r.raw)
	}
}

func TestRoutesFollowTheConfig(t *testing.T) {
	readOnly := httpapi.New(httpapi.Config{Reader: newFakeReader(storedTask(task.Queued)), Keys: keys,
		Now: func() time.Time { return now }})
	writeOnly := httpapi.New(httpapi.Config{Submitter: &fakeSubmitter{}, Keys: keys})
	tests := []struct {
		name   string
		h      http.Handler
		route  int
		status int
	}{
		{"no submitter: no xpander invoke", readOnly, 0, 404},
		{"no submitter: no servicenet invoke", readOnly, 1, 404},
		{"no submitter: tasks served", readOnly, 2, 200},
		{"no submitter: receipts served", readOnly, 3, 200},
		{"no reader: xpander invoke served", writeOnly, 0, 200},
		{"no reader: servicenet invoke served", writeOnly, 1, 200},
		{"no reader: no tasks", writeOnly, 2, 404},
		{"no reader: no receipts", writeOnly, 3, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := routes[tt.route]
			r := do(t, tt.h, rt.method, rt.path, rt.body, authed()...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d: %s", r.status, tt.status, r.raw)
			}
			if tt.status == 404 {
				wantError(t, r, rt.dialect, 404, "route_not_found")
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	hs := newHarness(t)
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	req.Header.Set("X-Request-Id", "req-123")
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-Id"); got != "req-123" {
		t.Errorf("X-Request-Id = %q, want the caller's req-123", got)
	}

	req = httptest.NewRequest(http.MethodGet, "/healthz", nil)
	req.Header.Set("X-Request-Id", strings.Repeat("x", 129))
	rec = httptest.NewRecorder()
	hs.h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-Id"); len(got) != 36 {
		t.Errorf("X-Request-Id = %q, want a fresh UUID in place of an overlong one", got)
	}

	ids := map[string]bool{}
	for range 3 {
		r := do(t, hs.h, http.MethodGet, "/nope", "")
		ids[r.header.Get("X-Request-Id")] = true
	}
	if len(ids) != 3 {
		t.Errorf("request ids repeat: %v", ids)
	}
}

func TestRequestLog(t *testing.T) {
	hs := newHarness(t)
	do(t, hs.h, http.MethodPost, xpanderPath, xpanderBody, authed("X-Request-Id", "req-log-1")...)
	hs.sub.err = errors.New("boom")
	do(t, hs.h, http.MethodPost, xpanderPath, xpanderBody, authed("X-Request-Id", "req-log-2")...)

	lines := logLines(t, hs.logs)
	byID := map[string]map[string]any{}
	for _, l := range lines {
		if l["msg"] == "request" {
			byID[l["request_id"].(string)] = l
		}
	}
	ok := byID["req-log-1"]
	if ok == nil || ok["level"] != "INFO" || ok["status"] != float64(200) || ok["tenant"] != "org-1" ||
		ok["task_id"] != taskID || ok["method"] != "POST" || ok["path"] != xpanderPath {
		t.Errorf("request line = %v", ok)
	}
	failed := byID["req-log-2"]
	if failed == nil || failed["level"] != "ERROR" || failed["status"] != float64(503) {
		t.Errorf("failed request line = %v", failed)
	}
}

func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	for {
		var l map[string]any
		if err := dec.Decode(&l); err == io.EOF {
			return lines
		} else if err != nil {
			t.Fatalf("log is not JSON lines: %v", err)
		}
		lines = append(lines, l)
	}
}

func TestPanicAnswers500(t *testing.T) {
	hs := newHarness(t)
	hs.sub.submit = func(accept.Submission) (*task.Task, error) { panic("secret internal state") }
	r := do(t, hs.h, http.MethodPost, serviceNetPath, serviceNetBody, authed()...)
	wantError(t, r, task.ServiceNet, http.StatusInternalServerError, "internal_error")
	if strings.Contains(r.raw, "secret internal state") {
		t.Errorf("500 leaks the panic: %s", r.raw)
	}
	if !strings.Contains(hs.logs.String(), "panic serving request") {
		t.Errorf("panic not logged: %s", hs.logs)
	}
}

// TestSecretsNeverLeak sends secrets through every path and looks for them in every answer and
// every log line.
func TestSecretsNeverLeak(t *testing.T) {
	secrets := []string{"ghp-TOKEN-VALUE", "oidc-TOKEN-VALUE", "auth-TOKEN-VALUE", apiKey}
	xBody := `{"input":{"text":"hi"},"user_tokens":{"gh":"ghp-TOKEN-VALUE"},"user_oidc_token":"oidc-TOKEN-VALUE"}`
	xInvalid := `{"input":{"text":""},"user_tokens":{"gh":"ghp-TOKEN-VALUE"},"user_oidc_token":"oidc-TOKEN-VALUE"}`
	sBody := `{"message":"hi","auth_token":"auth-TOKEN-VALUE"}`
	sInvalid := `{"region":"nowhere","auth_token":"auth-TOKEN-VALUE"}`
	errs := []error{
		nil, agent.ErrNotFound, &agent.PolicyError{Code: "approval_required", Message: "m"},
		&accept.DispatchError{Task: &task.Task{ID: taskID}, Err: errors.New("sqs")}, accept.ErrStoreUnavailable, errors.New("other"),
	}
	hs := newHarness(t)
	hs.read.Put(storedTask(task.Succeeded))
	var answers []string
	for _, err := range errs {
		hs.sub.err = err
		for _, c := range []struct{ path, body string }{
			{xpanderPath, xBody}, {xpanderPath, xInvalid}, {serviceNetPath, sBody}, {serviceNetPath, sInvalid},
		} {
			answers = append(answers, do(t, hs.h, http.MethodPost, c.path, c.body, authed()...).raw)
			answers = append(answers, do(t, hs.h, http.MethodPost, c.path, c.body, "Authorization", "Bearer "+apiKey).raw)
		}
	}
	answers = append(answers,
		do(t, hs.h, http.MethodPost, xpanderPath, xBody, "X-Api-Key", apiKey+"-wrong").raw,
		do(t, hs.h, http.MethodGet, "/v1/tasks/"+taskID, "", authed()...).raw,
		do(t, hs.h, http.MethodGet, "/v1/receipts/"+taskID, "", authed()...).raw,
	)
	for _, a := range answers {
		for _, s := range secrets {
			if strings.Contains(a, s) {
				t.Errorf("answer holds secret %q: %s", s, a)
			}
		}
	}
	logs := hs.logs.String()
	if len(logs) == 0 {
		t.Fatal("nothing was logged")
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("log holds secret %q", s)
		}
	}
	// The secrets did reach the submitter, where they belong.
	var sawToken, sawOIDC bool
	for _, sub := range hs.sub.subs {
		sawToken = sawToken || sub.Invocation.AuthToken == "auth-TOKEN-VALUE"
		sawOIDC = sawOIDC || string(sub.Invocation.Secrets["user_oidc_token"]) == `"oidc-TOKEN-VALUE"`
	}
	if !sawToken || !sawOIDC {
		t.Errorf("secrets did not reach the submitter: auth_token %v, user_oidc_token %v", sawToken, sawOIDC)
	}
}

// TestInvokeCompletionEvent: over HTTP, in both dialects, completion_event reaches the accept core
// as the body said, and the submission is not event-driven (an HTTP caller gets no event unless
// it asks).
func TestInvokeCompletionEvent(t *testing.T) {
	for _, c := range []struct{ path, body string }{
		{xpanderPath, `{"input":{"text":"hello"},"completion_event":true}`},
		{"/v1/agents/echo/invoke-async", `{"message":"hello","completion_event":true}`},
	} {
		hs := newHarness(t)
		if r := do(t, hs.h, http.MethodPost, c.path, c.body, authed()...); r.status != http.StatusOK {
			t.Fatalf("%s: status = %d: %s", c.path, r.status, r.raw)
		}
		sub := hs.sub.subs[0]
		if inv := sub.Invocation; sub.EventDriven || inv.CompletionEvent == nil || !*inv.CompletionEvent || !accept.CompletionEvents(inv, sub.EventDriven) {
			t.Errorf("%s: submission event-driven %v, completion_event %v", c.path, sub.EventDriven, inv.CompletionEvent)
		}
		hs = newHarness(t)
		do(t, hs.h, http.MethodPost, c.path, strings.Replace(c.body, `,"completion_event":true`, "", 1), authed()...)
		if sub := hs.sub.subs[0]; accept.CompletionEvents(sub.Invocation, sub.EventDriven) {
			t.Errorf("%s: a body that does not ask gets the event", c.path)
		}
	}
}
