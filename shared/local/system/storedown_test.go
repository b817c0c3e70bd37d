package system

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/store"
)

// TestStoreUnavailableAtAccept points the accept path at a DynamoDB endpoint that refuses
// connections: the caller gets 503 store_unavailable with Retry-After, and the message that went
// out concurrently is dropped by the worker, so nothing runs that the caller was told to retry.
func TestStoreUnavailableAtAccept(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more
	deadDDB, sq := Clients(dead, sys.SQSEndpoint, 1)
	reg, err := agent.NewStatic([]agent.Agent{counterAgent})
	if err != nil {
		t.Fatal(err)
	}
	keys := &apikey.Keys{}
	if err := keys.Add("default", apikey.Hash(testKey)); err != nil {
		t.Fatal(err)
	}
	h := httpapi.New(httpapi.Config{
		Submitter: accept.New(accept.Config{Store: store.New(deadDDB, sys.Table), Queue: queue.NewClient(sq, sys.Queues.URL), Registry: reg}),
		Keys:      keys,
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	calls := counter.total.Load()
	for _, tt := range []struct{ path, body string }{
		{"/v1/agents/counter/invoke/async", `{"input":{"text":"store down"}}`},
		{"/v1/agents/counter/invoke-async", `{"message":"store down"}`},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+tt.path, strings.NewReader(tt.body))
		req.Header.Set("x-api-key", testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || errCode(body) != "store_unavailable" {
			t.Fatalf("%s = %d (Retry-After %q) %v", tt.path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
	}
	// The orphaned messages are delivered to the real worker, which finds no task: the agent is
	// never called for them. They are retried for a moment (the write might have been slow), then
	// dropped, so the queue drains.
	waitDrained(t)
	time.Sleep(300 * time.Millisecond)
	if n := counter.total.Load() - calls; n != 0 {
		t.Fatalf("the agent was called %d times for submissions the caller was told to retry", n)
	}
}
