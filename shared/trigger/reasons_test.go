package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/outputschema"
	"github.com/agentq/agentq/shared/registry"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/webhook"
	"github.com/agentq/agentq/shared/webhook/settings"
)

// The trigger and the HTTP API read the same reason table (package reason); these tests check
// that both edges answer alike by asking the real HTTP handler the same questions.

type keys struct{}

func (keys) Tenant(key string) (string, bool) { return "acme", key == "k" }

type submitter struct {
	err  error
	subs []accept.Submission
}

func (s *submitter) Submit(_ context.Context, sub accept.Submission) (*task.Task, error) {
	s.subs = append(s.subs, sub)
	if s.err != nil {
		return nil, s.err
	}
	return &task.Task{ID: "t", Tenant: sub.Tenant, AgentID: sub.AgentID, Dialect: sub.Invocation.Dialect, State: task.Queued}, nil
}

// httpAnswer posts body to the dialect's async invoke route and returns the status and code.
func httpAnswer(t *testing.T, s *submitter, d task.Dialect, query string, header map[string]string, body string) (int, string) {
	t.Helper()
	path := "/v1/agents/echo/invoke/async"
	if d == task.ServiceNet {
		path = "/v1/agents/echo/invoke-async"
	}
	h := httpapi.New(httpapi.Config{Submitter: s, Keys: keys{}})
	r := httptest.NewRequest(http.MethodPost, path+query, strings.NewReader(body))
	r.Header.Set("x-api-key", "k")
	r.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var ans struct {
		Code  string `json:"code"`
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &ans)
	if d == task.ServiceNet {
		return w.Code, ans.Error.Code
	}
	return w.Code, ans.Code
}

var validBodies = map[task.Dialect]string{task.Xpander: `{"input":{"text":"hi"}}`, task.ServiceNet: `{"message":"hi"}`}

// submitErrors are the errors Submit returns, one of each kind the HTTP API tells apart.
var submitErrors = []error{
	&dialect.ValidationError{Problems: []dialect.Problem{{Loc: []string{"body", "x"}, Msg: "bad", Type: "t"}}},
	fmt.Errorf("%w: x", dialect.ErrMalformed),
	fmt.Errorf("submit to agent echo: %w", agent.ErrNotFound),
	fmt.Errorf("submit to agent echo: %w", agent.ErrVersionNotFound),
	fmt.Errorf("submit to agent echo: %w", authctx.ErrNotFound),
	&agent.PolicyError{Code: agent.ReasonApprovalRequired, Message: "no"},
	&agent.PolicyError{Code: "approval_required", Message: "no"},
	&accept.DispatchError{Task: &task.Task{ID: "t"}, Err: fmt.Errorf("%w: sqs", accept.ErrQueueUnavailable)},
	&accept.DispatchError{Err: fmt.Errorf("%w: ddb", accept.ErrStoreUnavailable)},
	accept.ErrIdempotencyMismatch,
	fmt.Errorf("submit: %w", accept.ErrRequestTooLarge),
	fmt.Errorf("submit: %w", accept.ErrThreadBusy),
	fmt.Errorf("submit: %w: ddb", accept.ErrStoreUnavailable),
	fmt.Errorf("submit: %w", accept.ErrWebhooksUnavailable),
	fmt.Errorf("check webhook_url: %w", settings.ErrForbiddenURL),
	fmt.Errorf("check webhook_url: %w", settings.ErrInvalidURL),
	fmt.Errorf("check webhook_url: %w", webhook.ErrNoSecret),
	fmt.Errorf("check webhook_url: %w", webhook.ErrInvalid),
	fmt.Errorf("check webhook_url: %w", settings.ErrConflict),
	fmt.Errorf("check webhook_url: %w", webhook.ErrNotFound),
	fmt.Errorf("lookup: %w", registry.ErrConflict),
	fmt.Errorf("lookup: %w", registry.ErrNoDraft),
	context.DeadlineExceeded,
	errors.New("something unexpected"),
}

func TestReasonsMatchHTTPAPI(t *testing.T) {
	for _, err := range submitErrors {
		for _, d := range []task.Dialect{task.Xpander, task.ServiceNet} {
			t.Run(fmt.Sprintf("%s/%v", d, err), func(t *testing.T) {
				status, code := httpAnswer(t, &submitter{err: err}, d, "", nil, validBodies[d])
				f := classify(err, d, "")
				if f.code != code {
					t.Errorf("trigger says %s, the HTTP API %d %s", f.code, status, code)
				}
				if f.transient != (status >= 500) {
					t.Errorf("transient = %v for a %d", f.transient, status)
				}
			})
		}
	}
}

// TestDecodingMatchesHTTPAPI sends the same request both ways: as an HTTP request, and as an
// invocation object with the control fields for its path, query and header.
func TestDecodingMatchesHTTPAPI(t *testing.T) {
	tests := []struct {
		name    string
		dialect task.Dialect
		body    string
		version string
		key     string
	}{
		{name: "valid xpander", dialect: task.Xpander, body: validBodies[task.Xpander]},
		{name: "valid servicenet", dialect: task.ServiceNet, body: validBodies[task.ServiceNet]},
		{name: "not an object", dialect: task.Xpander, body: `[]`},
		{name: "null", dialect: task.ServiceNet, body: `null`},
		{name: "truncated", dialect: task.Xpander, body: `{"input":`},
		{name: "xpander without text", dialect: task.Xpander, body: `{"input":{}}`},
		{name: "servicenet without message", dialect: task.ServiceNet, body: `{}`},
		{name: "type error", dialect: task.Xpander, body: `{"input":{"text":1}}`},
		{name: "too deep", dialect: task.Xpander, body: `{"input":{"text":"x"},"payload_extension":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40) + `}`},
		{name: "bad auth context", dialect: task.ServiceNet, body: `{"message":"m","auth_context_id":"nope"}`},
		{name: "too large", dialect: task.Xpander, body: `{"input":{"text":"` + strings.Repeat("x", MaxDetailBytes) + `"}}`},
		{name: "version latest", dialect: task.Xpander, body: validBodies[task.Xpander], version: "latest"},
		{name: "version number", dialect: task.Xpander, body: validBodies[task.Xpander], version: "12"},
		{name: "version with dots", dialect: task.Xpander, body: validBodies[task.Xpander], version: "v1.2_3-rc"},
		{name: "version path", dialect: task.Xpander, body: validBodies[task.Xpander], version: "../1"},
		{name: "version leading dash", dialect: task.Xpander, body: validBodies[task.Xpander], version: "-1"},
		{name: "version too long", dialect: task.Xpander, body: validBodies[task.Xpander], version: strings.Repeat("a", 65)},
		{name: "key at the limit", dialect: task.Xpander, body: validBodies[task.Xpander], key: strings.Repeat("k", MaxIdempotencyKeyBytes)},
		{name: "key over the limit", dialect: task.ServiceNet, body: validBodies[task.ServiceNet], key: strings.Repeat("k", MaxIdempotencyKeyBytes+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query, header := "", map[string]string{}
			if tt.version != "" {
				query = "?version=" + tt.version
			}
			if tt.key != "" {
				header["Idempotency-Key"] = tt.key
			}
			hs := &submitter{}
			status, code := httpAnswer(t, hs, tt.dialect, query, header, tt.body)

			detail := tt.body
			if strings.HasPrefix(tt.body, "{") && len(tt.body) > 2 {
				ctl, _ := json.Marshal(map[string]string{"agent_id": "echo", "dialect": string(tt.dialect), "agent_version": tt.version, "idempotency_key": tt.key})
				detail = string(ctl[:len(ctl)-1]) + "," + tt.body[1:]
			} else if tt.body == "{}" {
				ctl, _ := json.Marshal(map[string]string{"agent_id": "echo", "dialect": string(tt.dialect)})
				detail = string(ctl)
			}
			p, err := decodeDetail([]byte(detail), "acme", outputschema.Checker{})
			if status/100 == 2 {
				if err != nil {
					t.Fatalf("the HTTP API accepts it (%d), the trigger refuses it: %v", status, err)
				}
				if s := hs.subs[0]; s.Version != p.version || s.IdempotencyKey != p.idempotencyKey || s.Invocation.Text != p.invocation.Text ||
					string(s.Invocation.Body) != string(p.invocation.Body) {
					t.Errorf("HTTP submission %+v, trigger %+v", s, p)
				}
				return
			}
			if err == nil {
				t.Fatalf("the HTTP API refuses it (%d %s), the trigger accepts it", status, code)
			}
			f := classify(err, tt.dialect, "")
			if f.code != code || f.transient != (status >= 500) {
				t.Errorf("trigger says %s (transient %v), the HTTP API %d %s", f.code, f.transient, status, code)
			}
		})
	}
}

func TestBoundsMatchHTTPAPI(t *testing.T) {
	if MaxDetailBytes != httpapi.MaxBodyBytes || MaxIdempotencyKeyBytes != httpapi.MaxIdempotencyKeyBytes {
		t.Errorf("bounds %d/%d, the HTTP API's %d/%d", MaxDetailBytes, MaxIdempotencyKeyBytes, httpapi.MaxBodyBytes, httpapi.MaxIdempotencyKeyBytes)
	}
}
