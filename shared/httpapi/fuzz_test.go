package httpapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/task"
)

// fuzzErrors are what the fake submitter answers, picked by the fuzzer.
var fuzzErrors = []error{
	nil, agent.ErrNotFound, &agent.PolicyError{Code: agent.ReasonApprovalRequired, Message: "m"},
	&accept.DispatchError{Task: &task.Task{ID: taskID}, Err: fmt.Errorf("%w: x", accept.ErrQueueUnavailable)},
	&accept.DispatchError{Err: fmt.Errorf("%w: x", accept.ErrStoreUnavailable)},
	accept.ErrStoreUnavailable, errors.New("unclassified"), agent.ErrVersionNotFound, accept.ErrIdempotencyMismatch,
	accept.ErrThreadBusy,
}

// FuzzInvoke drives both invoke routes end to end with any agent id path segment and any body:
// the handler must never panic (a panic would answer 500) nor answer 500 at all.
func FuzzInvoke(f *testing.F) {
	files, _ := filepath.Glob("../../events/apigw-*.json")
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var ev struct {
			Body string `json:"body"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			f.Fatal(err)
		}
		f.Add("echo", []byte(ev.Body), false, uint8(0))
		f.Add("echo", []byte(ev.Body), true, uint8(0))
	}
	for i := range fuzzErrors {
		f.Add("stripe-agent", []byte(`{"message":"Create a payment link for 15 AUD","auth_token":"secret-token","region":"AU"}`), true, uint8(i))
		f.Add("7c9e6679-7425-40de-944b-e07fc1f90ae7", []byte(`{"input":{"text":"Analyze competitor pricing for Q1 2026"}}`), false, uint8(i))
	}
	for _, seg := range []string{"", ".", "..", "a/b", "%2F", "a%00b", "é", strings.Repeat("a", 200), "a b", "{agent_id}"} {
		f.Add(seg, []byte(`{"input":{"text":"x"}}`), false, uint8(0))
	}
	f.Add("echo", []byte(`{"a":`+strings.Repeat("[", 100)), true, uint8(0))

	f.Fuzz(func(t *testing.T, segment string, body []byte, serviceNet bool, errKind uint8) {
		hs := newHarness(t)
		hs.sub.err = fuzzErrors[int(errKind)%len(fuzzErrors)]
		suffix := "/invoke/async"
		if serviceNet {
			suffix = "/invoke-async"
		}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		req.URL.Path = "/v1/agents/" + segment + suffix
		req.URL.RawPath = ""
		req.Header.Set("X-Api-Key", apiKey)
		rec := httptest.NewRecorder()
		hs.h.ServeHTTP(rec, req)

		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("POST %q answered %d: %s", req.URL.Path, rec.Code, rec.Body)
		}
		if rec.Header().Get("X-Request-Id") == "" {
			t.Fatalf("POST %q: answer %d without X-Request-Id", req.URL.Path, rec.Code)
		}
		if rec.Code >= 300 && rec.Code < 400 {
			return // ServeMux redirects unclean paths; nothing of ours ran.
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("POST %q answered %d with a body that is not a JSON object: %q", req.URL.Path, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK {
			if len(hs.sub.subs) != 1 || !agent.ValidID(hs.sub.subs[0].AgentID) {
				t.Fatalf("accepted without one submission for a valid agent id: %+v", hs.sub.subs)
			}
		}
	})
}

// FuzzQuery drives the read routes with any query string: whatever the parameters, the handler
// answers a JSON object, never a 5xx, and a list reaches the store only with bounds it accepts.
func FuzzQuery(f *testing.F) {
	for _, q := range []string{
		"", "wait=0", "wait=25", "wait=26", "wait=-1", "wait=1&wait=2", "status=pending,failed&limit=5",
		"status=completed&status=stopped", "created_after=2026-02-07T02:13:26Z&created_before=2026-02-07T02:13:26.5%2B01:00",
		"cursor=eyJwayI6IlRBU0sjeCJ9", "limit=0", "limit=100", "%zz", "status=%00", "agent_id=echo&thread_id=x", ";;&&==",
	} {
		for route := range uint8(5) {
			f.Add(route, q)
		}
	}
	paths := []string{"/v1/tasks", "/v1/agents/echo/tasks", "/v1/tasks/" + taskID, "/v1/receipts/" + taskID, "/v1/tasks/" + taskID + "/thread"}
	f.Fuzz(func(t *testing.T, route uint8, query string) {
		hs := newHarness(t)
		hs.read.Put(storedTask(task.Succeeded)) // ended, so that no wait waits
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = paths[int(route)%len(paths)]
		req.URL.RawQuery = query
		req.Header.Set("X-Api-Key", apiKey)
		rec := httptest.NewRecorder()
		hs.h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("GET %s?%s answered %d: %s", req.URL.Path, query, rec.Code, rec.Body)
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("GET %s?%s answered %d with a body that is not a JSON object: %q", req.URL.Path, query, rec.Code, rec.Body)
		}
		for _, q := range hs.read.lists {
			if q.Tenant != "org-1" || q.Limit < 1 || q.Limit > 100 || len(q.States) > 8 || len(q.ThreadID) > 1024 {
				t.Fatalf("list query out of bounds: %+v", q)
			}
			for _, s := range q.States {
				if !s.Valid() {
					t.Fatalf("list query with state %q", s)
				}
			}
		}
	})
}
