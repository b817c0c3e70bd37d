package dispatch_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/task"
)

// leakyEndpoints are agent endpoints whose credentials must never reach a task's error: a
// password in the userinfo (which *url.Error rewrites to "***", so the endpoint is no longer
// found verbatim in the message), a key in the query, a token in the fragment.
var leakyEndpoints = []string{
	"http://user:PASS-SECRET@%s/x?api_key=QUERY-SECRET",
	"http://TOKEN-SECRET@%s/x",
	"http://%s/x?token=QUERY-SECRET#FRAG-SECRET",
}

func TestCallErrorsCarryNoEndpointSecrets(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens there any more: every call fails with a *url.Error
	for _, proto := range []agent.Protocol{agent.HTTP, agent.A2A} {
		for _, pattern := range leakyEndpoints {
			a := httpAgent(strings.Replace(pattern, "%s", host, 1))
			a.Protocol = proto
			_, err := dispatch.New(dispatch.HTTPClient(testGuard)).Call(context.Background(), baseCall(a))
			de := wantError(t, err, task.ReasonAgentUnavailable, true)
			for _, secret := range []string{"SECRET", "***", "api_key", "token="} {
				if strings.Contains(de.Message, secret) {
					t.Errorf("%s %s: message %q carries %q", proto, pattern, de.Message, secret)
				}
			}
			if !strings.Contains(de.Message, host) {
				t.Errorf("%s: message %q no longer says where the agent is", proto, de.Message)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{`Post "http://u:***@h:1/x?api_key=S": dial tcp: refused`, `Post "http://h:1/x?…": dial tcp: refused`},
		{`Get "https://h/p#frag": EOF`, `Get "https://h/p?…": EOF`},
		{`plain https://h/p failed`, `plain https://h/p failed`},
		{`User: arn:aws:sts::123456789012:assumed-role/r is not authorized on arn:aws:lambda:us-east-1:123456789012:function:f`,
			`User: arn:aws:sts::************:assumed-role/r is not authorized on arn:aws:lambda:us-east-1:************:function:f`},
	}
	for _, tt := range tests {
		if got := dispatch.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestConversationIDSeparatesTenants: two tenants choosing the same thread id never share a
// conversation at an agent, and no tenant and thread pair spells another's.
func TestConversationIDSeparatesTenants(t *testing.T) {
	pairs := [][2]string{{"a", "b#c"}, {"a#b", "c"}, {"ab", "c"}, {"a", "bc"}, {"acme", "t1"}, {"globex", "t1"}}
	seen := map[string][2]string{}
	for _, p := range pairs {
		id := dispatch.ConversationID(p[0], p[1])
		if prev, dup := seen[id]; dup {
			t.Errorf("%v and %v share conversation %s", prev, p, id)
		}
		seen[id] = p
		if id != dispatch.ConversationID(p[0], p[1]) {
			t.Errorf("ConversationID%v = %q: not a stable derived id", p, id)
		}
	}
	if dispatch.ConversationID("acme", "") != "" {
		t.Error("no thread has a conversation")
	}
}
