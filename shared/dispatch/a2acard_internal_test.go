package dispatch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentq/agentq/shared/agent"
)

// What a card said is trusted for cardTTL, then read again: an agent that moves to 1.0 is spoken
// to in 1.0 soon after, without a restart.
func TestCardVersionsExpire(t *testing.T) {
	var reads atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		_, _ = w.Write([]byte(`{"name":"x","supportedInterfaces":[{"url":"http://elsewhere.example/","protocolBinding":"JSONRPC","protocolVersion":"1.0"}]}`))
	}))
	defer srv.Close()
	cv := newCardVersions(srv.Client())
	a := agent.Agent{ID: "a", Protocol: agent.A2A, Endpoint: srv.URL + "/a2a"}
	ctx := context.Background()
	for range 2 {
		if v, err := cv.version(ctx, a); err != nil || v != a2a.Version {
			t.Fatalf("version = %q, %v; want 1.0", v, err)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("card read %d times, want once while it is fresh", n)
	}
	cv.mu.Lock()
	known := cv.known[a.Endpoint]
	known.at = known.at.Add(-cardTTL - time.Second)
	cv.known[a.Endpoint] = known
	cv.mu.Unlock()
	if _, err := cv.version(ctx, a); err != nil {
		t.Fatal(err)
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("card read %d times, want it read again once stale", n)
	}
}
