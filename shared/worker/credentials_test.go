package worker_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/dispatch/a2atest"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/task/tasktest"
	"github.com/agentq/agentq/shared/worker"
)

// oneContext resolves every auth context to the same header credential.
type oneContext struct{}

func (oneContext) Resolve(context.Context, string, string) (authctx.Credential, error) {
	return authctx.Credential{Kind: authctx.Header, Header: "X-Agent-Key", Secret: "ctx-SECRET"}, nil
}

// TestStoredCredentialReachesEveryAgentRequest runs a real A2A agent that uses an auth context:
// the send, a check, a stop's cancel and a deadline's cancel must all carry the stored credential.
func TestStoredCredentialReachesEveryAgentRequest(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		maxDur  time.Duration
		kind    string
		methods []string
	}{
		{name: "send then check", text: "slow", methods: []string{"SendMessage", "GetTask"}},
		{name: "deadline cancel", text: "hold", maxDur: 30 * time.Second, methods: []string{"SendMessage", "CancelTask"}},
		{name: "stop cancel", kind: queue.KindCancel, methods: []string{"CancelTask"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ag := a2atest.New(t, 1)
			a := agent.Agent{ID: "remote", Version: "1", Protocol: agent.A2A, Endpoint: ag.URL,
				Timeout: agent.Duration(10 * time.Second), MaxDuration: agent.Duration(tt.maxDur),
				Auth: agent.AuthContext, AuthContextID: "ctx-1"}
			st := tasktest.New(newTask(id1, task.Queued))
			q := &fakeQueue{}
			p := worker.New(worker.Config{
				Store: st, Dispatcher: dispatch.New(http.DefaultClient), Queue: q, AuthContexts: oneContext{},
				DeadLetterARN: dlqARN, Backoff: backoff, Now: func() time.Time { return now },
			})
			m := message(id1)
			m.Agent, m.Text, m.AuthToken, m.Secrets = a, tt.text, "", nil
			if tt.kind == queue.KindCancel {
				m = &queue.Message{Kind: queue.KindCancel, TaskID: id1, Tenant: "org-1", Agent: a, RemoteTaskID: "remote-5", AcceptedAt: now}
			}
			h := &harness{p: p, store: st, queue: q}
			handle(t, h, record(t, m, workARN, 1))
			if tt.text == "slow" {
				if len(q.sent) != 1 {
					t.Fatalf("checks scheduled = %d, want 1", len(q.sent))
				}
				handle(t, h, record(t, q.sent[0], workARN, 1))
			}
			methods, headers := ag.Requests()
			if len(methods) != len(tt.methods) {
				t.Fatalf("requests = %v, want %v", methods, tt.methods)
			}
			for i, method := range methods {
				if method != tt.methods[i] {
					t.Errorf("request %d = %s, want %s", i, method, tt.methods[i])
				}
				if got := headers[i].Get("X-Agent-Key"); got != "ctx-SECRET" {
					t.Errorf("%s carried X-Agent-Key %q, want the stored credential", method, got)
				}
			}
		})
	}
}
