package system

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// headerAgent answers with nothing of note, and remembers the credentials it was sent.
type headerAgent struct {
	mu     sync.Mutex
	seen   []http.Header
	server *httptest.Server
}

func (a *headerAgent) last() http.Header {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		return nil
	}
	return a.seen[len(a.seen)-1]
}

func newHeaderAgent(t *testing.T) *headerAgent {
	a := &headerAgent{}
	a.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.seen = append(a.seen, r.Header.Clone())
		a.mu.Unlock()
		fmt.Fprint(w, `{"output":"ok"}`)
	}))
	t.Cleanup(a.server.Close)
	return a
}

// TestCredentialsReachTheAgent: the worker presents the auth context a caller names (or the
// agent's own) to agents that take credentials, and nothing to agents that do not.
func TestCredentialsReachTheAgent(t *testing.T) {
	ag := newHeaderAgent(t)
	code, created := request(t, http.MethodPost, "/v1/auth-contexts", testAdminKey,
		`{"tenant":"default","name":"agent key","kind":"bearer","secret":"bearer-s3cr3t-1"}`)
	if code != http.StatusCreated {
		t.Fatalf("create = %d %v", code, created)
	}
	ctxID := created["id"].(string)
	publish := func(id, auth string) {
		t.Helper()
		body := fmt.Sprintf(`{"protocol":"http","endpoint":%q,%s,"publish":true}`, ag.server.URL, auth)
		if code, got := request(t, http.MethodPut, "/v1/agents/"+id, testAdminKey, body); code != http.StatusOK {
			t.Fatalf("publish %s = %d %v", id, code, got)
		}
	}
	publish("cred-forward", `"auth":"forward"`)
	publish("cred-own", fmt.Sprintf(`"auth":"context","auth_context_id":%q`, ctxID))
	publish("cred-none", `"auth":"none"`)

	tests := []struct {
		agent, body, want string
	}{
		{"cred-forward", fmt.Sprintf(`{"message":"x","auth_context_id":%q,"auth_token":"tok"}`, ctxID), "Bearer bearer-s3cr3t-1"},
		{"cred-forward", `{"message":"x","auth_token":"tok-1"}`, "Bearer tok-1"},
		{"cred-own", `{"message":"x"}`, "Bearer bearer-s3cr3t-1"},
		{"cred-none", fmt.Sprintf(`{"message":"x","auth_context_id":%q,"auth_token":"tok"}`, ctxID), ""},
	}
	for _, tt := range tests {
		t.Run(tt.agent+" "+tt.want, func(t *testing.T) {
			code, body := post(t, "/v1/agents/"+tt.agent+"/invoke-async", tt.body)
			if code != http.StatusOK {
				t.Fatalf("invoke = %d %v", code, body)
			}
			waitFor(t, "/v1/receipts/"+body["receipt_id"].(string), "succeeded")
			if got := ag.last().Get("Authorization"); got != tt.want {
				t.Errorf("Authorization = %q, want %q", got, tt.want)
			}
		})
	}

	// A context that is gone when the worker resolves it fails the task with a code, not a
	// retry loop.
	if code, got := request(t, http.MethodDelete, "/v1/auth-contexts/"+ctxID+"?tenant=default", testAdminKey, ""); code != http.StatusOK && code != http.StatusNoContent {
		t.Fatalf("delete = %d %v", code, got)
	}
	_, body := post(t, "/v1/agents/cred-own/invoke-async", `{"message":"after delete"}`)
	done := waitFor(t, "/v1/receipts/"+body["receipt_id"].(string), "succeeded", "failed")
	if e, _ := done["error"].(map[string]any); statusOf(done) != "failed" || e["code"] != "auth_context_unusable" {
		t.Fatalf("task with a deleted context = %v", done)
	}
}
