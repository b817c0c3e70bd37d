package dispatch_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/netguard"
	"github.com/agentq/agentq/shared/task"
)

// TestGuardedEndpoints: an endpoint whose address the guard refuses fails the call for good, and
// no connection is made (the guard runs before connect, so nothing is sent to the address).
func TestGuardedEndpoints(t *testing.T) {
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a refused endpoint was reached")
	}))
	defer local.Close()
	strict := dispatch.New(dispatch.HTTPClient(netguard.Policy{AllowPrivate: true}))
	for _, endpoint := range []string{"http://169.254.169.254/latest/meta-data/", local.URL + "/"} {
		for _, proto := range []agent.Protocol{agent.HTTP, agent.A2A} {
			t.Run(string(proto)+" "+endpoint, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_, err := strict.Call(ctx, dispatch.Call{TaskID: "t1", Text: "hi", Request: []byte(`{"message":"hi"}`),
					Agent: agent.Agent{ID: "a", Protocol: proto, Endpoint: endpoint}})
				var de *dispatch.Error
				if !errors.As(err, &de) || de.Retryable || de.Reason != task.ReasonAgentFailed {
					t.Fatalf("Call = %v, want a final agent_failed", err)
				}
			})
		}
	}
}
