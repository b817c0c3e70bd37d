package dispatch_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/task"
)

// cardServer answers its agent card with status and card ({url} stands for the server's own
// URL) and every JSON-RPC request with a JSON-RPC error, recording the methods it was called with.
type cardServer struct {
	URL string

	mu       sync.Mutex
	methods  []string
	cardAuth []string // the Authorization header of each card request
	callAuth []string // the Authorization header of each JSON-RPC request
}

func newCardServer(t *testing.T, status int, card string) *cardServer {
	t.Helper()
	cs := &cardServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/agent-card.json" {
			cs.mu.Lock()
			cs.cardAuth = append(cs.cardAuth, r.Header.Get("Authorization"))
			cs.mu.Unlock()
			w.WriteHeader(status)
			_, _ = w.Write([]byte(strings.ReplaceAll(card, "{url}", cs.URL)))
			return
		}
		var req struct {
			Method string `json:"method"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		cs.mu.Lock()
		cs.methods = append(cs.methods, req.Method)
		cs.callAuth = append(cs.callAuth, r.Header.Get("Authorization"))
		cs.mu.Unlock()
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":"1","error":{"code":-32601,"message":"Method not found"}}`))
	}))
	t.Cleanup(srv.Close)
	cs.URL = srv.URL + "/a2a"
	return cs
}

func (cs *cardServer) called() []string {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return append([]string(nil), cs.methods...)
}

func TestA2AVersionFromCard(t *testing.T) {
	v1 := func(url, version string) string {
		return `{"url":"` + url + `","protocolBinding":"JSONRPC","protocolVersion":"` + version + `"}`
	}
	card := func(ifaces ...string) string {
		return `{"name":"x","supportedInterfaces":[` + strings.Join(ifaces, ",") + `]}`
	}
	legacyCard := `{"name":"x","protocolVersion":"0.3.0","url":"{url}","preferredTransport":"JSONRPC"}`
	tests := []struct {
		name   string
		status int
		card   string
		pin    string
		method string // the method the call used; "" when none was sent
		reason string // the call's failure when it is not the agent's JSON-RPC error
		retry  bool
	}{
		{"1.0 card", 200, card(v1("{url}", "1.0")), "", "SendMessage", "", false},
		{"1.x card", 200, card(v1("{url}", "1.2")), "", "SendMessage", "", false},
		{"0.3 card", 200, legacyCard, "", "message/send", "", false},
		{"both at the endpoint", 200, card(v1("{url}", "0.3"), v1("{url}", "1.0")), "", "SendMessage", "", false},
		{"0.3 at the endpoint, 1.0 elsewhere", 200, card(v1("http://elsewhere.example/a2a", "1.0"), v1("{url}", "0.3")), "", "message/send", "", false},
		{"1.0 elsewhere only", 200, card(v1("http://elsewhere.example/a2a", "1.0")), "", "SendMessage", "", false},
		{"grpc only", 200, card(`{"url":"{url}","protocolBinding":"GRPC","protocolVersion":"1.0"}`), "", "", task.ReasonAgentFailed, false},
		{"a version agentq does not speak", 200, card(v1("{url}", "2.0")), "", "", task.ReasonAgentFailed, false},
		{"no card", 404, "not found", "", "message/send", "", false},
		{"not a card", 200, "<html>hello</html>", "", "message/send", "", false},
		{"a document naming no interface", 200, `{"jsonrpc":"2.0"}`, "", "message/send", "", false},
		{"card unavailable", 503, "later", "", "", task.ReasonAgentUnavailable, true},
		{"pinned 0.3 over a 1.0 card", 200, card(v1("{url}", "1.0")), agent.A2AVersion03, "message/send", "", false},
		{"pinned 1.0 without a card", 404, "", agent.A2AVersion1, "SendMessage", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := newCardServer(t, tt.status, tt.card)
			a := agent.Agent{ID: "a", Protocol: agent.A2A, Endpoint: cs.URL, A2AVersion: tt.pin}
			_, err := dispatch.New(dispatch.HTTPClient(testGuard)).Call(testCtx(t), a2aCall(a, "hello"))
			if tt.reason != "" {
				de := wantError(t, err, tt.reason, tt.retry)
				if !strings.Contains(de.Message, "agent card") {
					t.Errorf("Message = %q, want it to name the agent card", de.Message)
				}
			} else if de := wantError(t, err, task.ReasonAgentRejected, false); !strings.Contains(de.Message, "JSON-RPC error") {
				t.Errorf("Message = %q, want the agent's JSON-RPC error", de.Message)
			}
			var want []string
			if tt.method != "" {
				want = []string{tt.method}
			}
			if got := cs.called(); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("methods = %v, want %v", got, want)
			}
		})
	}
}

func TestA2ACardReadOncePerAgent(t *testing.T) {
	ag := newA2AAgent(t, 1)
	cl := dispatch.New(dispatch.HTTPClient(testGuard))
	ctx := testCtx(t)
	for range 3 {
		if res, err := cl.Call(ctx, a2aCall(ag.agent(), "hello")); err != nil || res.Text != "hi there" {
			t.Fatalf("Call = %q, %v", res.Text, err)
		}
	}
	if _, err := cl.Check(ctx, ag.agent(), "no-such-task", dispatch.Credentials{}); err == nil {
		t.Fatal("Check of an unknown task succeeded")
	}
	if n := ag.CardRequests(); n != 1 {
		t.Errorf("the card was read %d times by one client, want once", n)
	}

	pinned := newA2AAgent(t, 1)
	a := pinned.agent()
	a.A2AVersion = agent.A2AVersion1
	if _, err := cl.Call(ctx, a2aCall(a, "hello")); err != nil {
		t.Fatal(err)
	}
	if n := pinned.CardRequests(); n != 0 {
		t.Errorf("the card of an agent with a pinned version was read %d times, want never", n)
	}
}

// The card is public: the caller's credentials go to the agent's endpoint only.
func TestA2ACardIsReadWithoutCredentials(t *testing.T) {
	cs := newCardServer(t, 200, `{"name":"x","supportedInterfaces":[{"url":"{url}","protocolBinding":"JSONRPC","protocolVersion":"1.0"}]}`)
	a := agent.Agent{ID: "a", Protocol: agent.A2A, Endpoint: cs.URL, Auth: agent.AuthForward}
	c := a2aCall(a, "hello")
	c.Credentials.AuthToken = "tok-secret"
	_, err := dispatch.New(dispatch.HTTPClient(testGuard)).Call(testCtx(t), c)
	wantError(t, err, task.ReasonAgentRejected, false)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if strings.Join(cs.cardAuth, ",") != "" || len(cs.cardAuth) != 1 {
		t.Errorf("card requests' Authorization = %q, want one request without", cs.cardAuth)
	}
	if strings.Join(cs.callAuth, ",") != "Bearer tok-secret" {
		t.Errorf("calls' Authorization = %q, want the caller's token", cs.callAuth)
	}
}
