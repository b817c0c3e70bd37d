package system

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentq/agentq/api"
	"github.com/agentq/agentq/shared/dispatch/a2atest"
	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/sse"
)

// contractClient sends requests to the running system and validates every answer against
// api/openapi.yaml. It remembers which documented routes it saw answered.
type contractClient struct {
	mu        sync.Mutex
	seen      map[string]bool
	validated int
}

// contractAnswer is an answer, its body parsed as a JSON object.
type contractAnswer struct {
	status int
	header http.Header
	body   map[string]any
	// raw is the body of an event stream.
	raw string
}

// code is an error answer's reason code, in either dialect.
func (a contractAnswer) code() string {
	if e, ok := a.body["error"].(map[string]any); ok {
		c, _ := e["code"].(string)
		return c
	}
	c, _ := a.body["code"].(string)
	return c
}

func (a contractAnswer) str(field string) string {
	s, _ := a.body[field].(string)
	return s
}

// do sends a request with the test key (unless headers set another) and validates the answer.
// A request expected to succeed (want < 300) is validated against the document first.
func (c *contractClient) do(t *testing.T, method, path, body string, want int, headers ...string) contractAnswer {
	t.Helper()
	req, err := http.NewRequest(method, sys.APIURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", testKey)
	if body != "" {
		req.Header.Set("content-type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	if want < 300 {
		api.ValidateRequest(t, req, []byte(body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	api.ValidateResponse(t, req, resp.StatusCode, resp.Header, raw)
	a := contractAnswer{status: resp.StatusCode, header: resp.Header}
	switch {
	case resp.StatusCode == http.StatusNoContent && len(raw) == 0:
		raw = []byte("{}") // no body, as documented (ValidateResponse checked it)
	case resp.Header.Get("Content-Type") == sse.ContentType:
		a.raw = string(raw) // an event stream, validated event by event
		raw = []byte("{}")
	}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("%s %s: answer %d is not a JSON object: %s", method, path, resp.StatusCode, raw)
	}
	if a.status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, a.status, raw, want)
	}
	if o, ok := api.FindOperation(method, path); ok {
		c.mu.Lock()
		c.seen[o.Method+" "+o.Path] = true
		c.validated++
		c.mu.Unlock()
	}
	return a
}

// until long-polls a task or receipt until its status is one of want, validating every answer.
func (c *contractClient) until(t *testing.T, path string, want ...string) contractAnswer {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		a := c.do(t, http.MethodGet, path+"?wait=5", "", http.StatusOK)
		st, _ := statusOf(a.body).(string)
		if slices.Contains(want, st) {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: status stayed %q, want one of %v", path, st, want)
		}
	}
}

// TestContract sends a representative request for every route of the running system, successes
// and errors in both dialects, and validates each answer against api/openapi.yaml.
func TestContract(t *testing.T) {
	c := &contractClient{seen: map[string]bool{}}
	const (
		xAsync  = "/v1/agents/echo/invoke/async"
		xSync   = "/v1/agents/echo/invoke"
		snAsync = "/v1/agents/echo/invoke-async"
	)

	t.Run("xpander: invoke, poll, thread, next turn", func(t *testing.T) {
		first := c.do(t, http.MethodPost, xAsync, `{"input":{"text":"contract one"},"title":"contract"}`, http.StatusOK)
		id := first.str("task_id")
		done := c.until(t, "/v1/tasks/"+id, "completed", "failed", "error")
		if done.str("status") != "completed" {
			t.Fatalf("task = %v", done.body)
		}
		c.do(t, http.MethodGet, "/v1/tasks/"+id+"/thread", "", http.StatusOK)
		next := c.do(t, http.MethodPost, xAsync, `{"input":{"text":"contract two"},"id":"`+first.str("id")+`"}`, http.StatusOK)
		c.until(t, "/v1/tasks/"+next.str("task_id"), "completed")
		thread := c.do(t, http.MethodGet, "/v1/tasks/"+first.str("id")+"/thread", "", http.StatusOK)
		if msgs, _ := thread.body["messages"].([]any); len(msgs) != 4 {
			t.Errorf("thread = %v, want 4 messages", thread.body)
		}
	})

	t.Run("xpander: a failing agent", func(t *testing.T) {
		a := c.do(t, http.MethodPost, xAsync, `{"input":{"text":"no","fail":"permanent"}}`, http.StatusOK)
		failed := c.until(t, "/v1/tasks/"+a.str("task_id"), "completed", "failed", "error")
		if failed.str("status") != "failed" {
			t.Errorf("task = %v", failed.body)
		}
	})

	t.Run("xpander: sync invoke", func(t *testing.T) {
		done := c.do(t, http.MethodPost, xSync+"?wait=20", `{"input":{"text":"contract sync"}}`, http.StatusOK)
		if done.str("status") != "completed" || done.str("result") != "contract sync" {
			t.Errorf("sync = %v", done.body)
		}
		pending := c.do(t, http.MethodPost, xSync+"?wait=0", `{"input":{"text":"slow sync","delay_ms":500}}`, http.StatusAccepted)
		if loc := pending.header.Get("Location"); loc != "/v1/tasks/"+pending.str("task_id") {
			t.Errorf("Location = %q", loc)
		}
		c.until(t, pending.header.Get("Location"), "completed")
	})

	t.Run("servicenet: invoke and receipt", func(t *testing.T) {
		a := c.do(t, http.MethodPost, snAsync, `{"message":"Create a payment link for 15 AUD","auth_token":"secret-token","region":"AU"}`, http.StatusOK)
		r := c.until(t, "/v1/receipts/"+a.str("receipt_id"), "succeeded", "failed")
		if statusOf(r.body) != "succeeded" {
			t.Errorf("receipt = %v", r.body)
		}
		// The same task through the other dialect.
		c.do(t, http.MethodGet, "/v1/tasks/"+a.str("receipt_id"), "", http.StatusOK)
		// The sync invoke, a ServiceNet body: the reference's sync answer.
		s := c.do(t, http.MethodPost, xSync, `{"message":"contract sync","context_id":"contract-sn"}`, http.StatusOK)
		if s.str("status") != "TASK_STATE_COMPLETED" {
			t.Errorf("sync answer = %v", s.body)
		}
		c.do(t, http.MethodPost, xSync+"?wait=0", `{"input":{"text":"slow","delay_ms":300},"message":"slow"}`, http.StatusAccepted)
		// Receipts listed, verified, and the keys that sign them.
		c.do(t, http.MethodGet, "/v1/receipts?limit=3&invoke_mode=sync", "", http.StatusOK)
		c.do(t, http.MethodGet, "/v1/receipts?invoke_mode=both", "", http.StatusBadRequest)
		c.do(t, http.MethodPost, "/v1/receipts/"+a.str("receipt_id")+"/verify", `{"verifier_id":"contract","verdict":"verified"}`, http.StatusOK)
		c.do(t, http.MethodPost, "/v1/receipts/"+a.str("receipt_id")+"/verify", `{"verifier_id":"contract"}`, http.StatusBadRequest)
		c.do(t, http.MethodGet, "/v1/receipt-issuer", "", http.StatusOK)
	})

	t.Run("stops", func(t *testing.T) {
		x := c.do(t, http.MethodPost, xAsync, `{"input":{"text":"stop me","delay_ms":3000}}`, http.StatusOK)
		stopped := c.do(t, http.MethodPost, "/v1/tasks/"+x.str("task_id")+"/stop", "", http.StatusOK)
		if stopped.str("status") != "stopped" {
			t.Errorf("stopped task = %v", stopped.body)
		}
		c.do(t, http.MethodPost, "/v1/tasks/"+x.str("task_id")+"/stop", "", http.StatusOK) // again: unchanged
		sn := c.do(t, http.MethodPost, snAsync, `{"input":{"text":"stop me","delay_ms":3000}}`, http.StatusOK)
		receipt := c.do(t, http.MethodPost, "/v1/receipts/"+sn.str("receipt_id")+"/stop", "", http.StatusOK)
		if statusOf(receipt.body) != "failed" {
			t.Errorf("stopped receipt = %v", receipt.body)
		}
	})

	t.Run("lists", func(t *testing.T) {
		page := c.do(t, http.MethodGet, "/v1/tasks?limit=2", "", http.StatusOK)
		if cursor, _ := page.body["next_cursor"].(string); cursor != "" {
			c.do(t, http.MethodGet, "/v1/tasks?limit=2&cursor="+url.QueryEscape(cursor), "", http.StatusOK)
		}
		c.do(t, http.MethodGet, "/v1/tasks?status=completed,failed&agent_id=echo&created_after=2020-01-01T00:00:00Z", "", http.StatusOK)
		c.do(t, http.MethodGet, "/v1/agents/echo/tasks?limit=5&status=completed", "", http.StatusOK)
		c.do(t, http.MethodGet, "/v1/tasks?cursor=not-a-cursor", "", http.StatusBadRequest)
		c.do(t, http.MethodGet, "/v1/tasks?limit=0", "", http.StatusUnprocessableEntity)
		c.do(t, http.MethodGet, "/v1/agents/-x/tasks", "", http.StatusNotFound)
	})

	t.Run("webhooks: deliveries, replay, tenant settings", func(t *testing.T) {
		rcv := newReceiver(t, -1) // events_test.go: fails every attempt
		a := c.do(t, http.MethodPost, xAsync, `{"input":{"text":"contract hook"},"webhook_url":"`+rcv.URL+`"}`, http.StatusOK)
		id := a.str("task_id")
		var failed contractAnswer
		eventually(t, "the delivery to fail", func() bool {
			failed = c.do(t, http.MethodGet, "/v1/tasks/"+id+"/deliveries", "", http.StatusOK)
			items, _ := failed.body["items"].([]any)
			return len(items) == 1 && items[0].(map[string]any)["state"] == "failed"
		})
		dlv := failed.body["items"].([]any)[0].(map[string]any)["delivery_id"].(string)
		rcv.heal()
		c.do(t, http.MethodPost, "/v1/tasks/"+id+"/deliveries/"+dlv+"/replay", "", http.StatusAccepted)
		c.do(t, http.MethodPost, "/v1/tasks/"+id+"/deliveries/dlv_unknown/replay", "", http.StatusNotFound)
		c.do(t, http.MethodGet, "/v1/tasks/"+uuid.NewString()+"/deliveries", "", http.StatusNotFound)
		c.do(t, http.MethodPost, xAsync, `{"input":{"text":"x"},"webhook_url":"http://169.254.169.254/"}`, http.StatusUnprocessableEntity)
		c.do(t, http.MethodPost, snAsync, `{"message":"x","webhook_url":"http://10.0.0.1/hook"}`, http.StatusUnprocessableEntity)

		// Settings belong to the caller's tenant: a tenant of its own, so its secret signs alone.
		created := c.do(t, http.MethodPost, "/v1/api-keys", `{"tenant":"contract-hooks","name":"contract"}`, http.StatusCreated, "x-api-key", testAdminKey)
		key := []string{"x-api-key", created.str("key")}
		c.do(t, http.MethodGet, "/v1/webhooks", "", http.StatusOK, key...)
		c.do(t, http.MethodPut, "/v1/webhooks", `{"urls":["`+rcv.URL+`/tenant"]}`, http.StatusOK, key...)
		c.do(t, http.MethodPut, "/v1/webhooks", `{"urls":["http://169.254.169.254/"]}`, http.StatusUnprocessableEntity, key...)
		c.do(t, http.MethodPut, "/v1/webhooks", `{"url":"x"}`, http.StatusUnprocessableEntity, key...)
		c.do(t, http.MethodPost, "/v1/webhooks/rotate-secret", `{"grace_seconds":3600}`, http.StatusOK, key...)
		c.do(t, http.MethodPost, "/v1/webhooks/rotate-secret", "", http.StatusOK, key...)
		c.do(t, http.MethodPost, "/v1/webhooks/rotate-secret", `{"grace_seconds":-1}`, http.StatusUnprocessableEntity, key...)
		c.do(t, http.MethodGet, "/v1/webhooks", "", http.StatusOK, key...)
		c.do(t, http.MethodPut, "/v1/webhooks", `{"urls":[]}`, http.StatusOK, key...)
	})

	t.Run("idempotency and busy threads", func(t *testing.T) {
		key := "contract-" + uuid.NewString()
		first := c.do(t, http.MethodPost, xAsync, `{"input":{"text":"once"}}`, http.StatusOK, "Idempotency-Key", key)
		again := c.do(t, http.MethodPost, xAsync, `{"input":{"text":"once"}}`, http.StatusOK, "Idempotency-Key", key)
		if again.str("task_id") != first.str("task_id") {
			t.Errorf("replay answered task %s, want %s", again.str("task_id"), first.str("task_id"))
		}
		if a := c.do(t, http.MethodPost, xAsync, `{"input":{"text":"twice"}}`, http.StatusConflict, "Idempotency-Key", key); a.code() != "idempotency_key_reused" {
			t.Errorf("code = %s", a.code())
		}
		slow := c.do(t, http.MethodPost, xAsync, `{"input":{"text":"busy","delay_ms":2000}}`, http.StatusOK)
		if a := c.do(t, http.MethodPost, xAsync, `{"input":{"text":"cut in"},"id":"`+slow.str("id")+`","multitask_strategy":"reject"}`, http.StatusConflict); a.code() != "thread_busy" {
			t.Errorf("code = %s", a.code())
		}
		ctx := "contract-" + uuid.NewString()
		c.do(t, http.MethodPost, snAsync, `{"input":{"text":"busy","delay_ms":2000},"context_id":"`+ctx+`"}`, http.StatusOK)
		if a := c.do(t, http.MethodPost, snAsync, `{"message":"cut in","context_id":"`+ctx+`","multitask_strategy":"reject"}`, http.StatusConflict); a.code() != "thread_busy" {
			t.Errorf("code = %s", a.code())
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, e := range []struct {
			method, path, body string
			status             int
			code               string
			headers            []string
		}{
			{"GET", "/v1/tasks/" + uuid.NewString(), "", 401, "missing_api_key", []string{"x-api-key", ""}},
			{"GET", "/v1/receipts/" + uuid.NewString(), "", 401, "invalid_api_key", []string{"x-api-key", "nope"}},
			{"GET", "/v1/tasks/" + uuid.NewString(), "", 404, "task_not_found", nil},
			{"GET", "/v1/tasks/" + uuid.NewString() + "/thread", "", 404, "task_not_found", nil},
			{"GET", "/v1/receipts/" + uuid.NewString(), "", 404, "receipt_not_found", nil},
			{"GET", "/v1/receipts/" + uuid.NewString() + "?wait=99", "", 400, "validation_failed", nil},
			{"POST", "/v1/tasks/" + uuid.NewString() + "/stop", "", 404, "task_not_found", nil},
			{"POST", "/v1/receipts/" + uuid.NewString() + "/stop", "", 404, "receipt_not_found", nil},
			{"POST", "/v1/agents/nope/invoke/async", `{"input":{"text":"x"}}`, 404, "agent_not_found", nil},
			{"POST", "/v1/agents/nope/invoke-async", `{"message":"x"}`, 404, "agent_not_found", nil},
			{"POST", xAsync + "?version=9", `{"input":{"text":"x"}}`, 404, "agent_version_not_found", nil},
			{"POST", xAsync, `{"input":`, 400, "malformed_json", nil},
			{"POST", xAsync, `{"input":{}}`, 422, "validation_failed", nil},
			{"POST", xSync + "?wait=99", `{"input":{"text":"x"}}`, 422, "validation_failed", nil},
			{"POST", snAsync, `{"message":5}`, 400, "validation_failed", nil},
			{"POST", snAsync, `{"message":"` + strings.Repeat("a", 1<<20) + `"}`, 413, "body_too_large", nil},
			{"DELETE", "/v1/tasks/" + uuid.NewString(), "", 404, "task_not_found", nil},
			{"PUT", "/v1/tasks/" + uuid.NewString(), "", 405, "method_not_allowed", nil},
			{"GET", snAsync, "", 405, "method_not_allowed", nil},
			{"GET", "/v2/nothing", "", 404, "route_not_found", nil},
			{"GET", "/v1/receipts/" + uuid.NewString() + "/extra", "", 404, "route_not_found", nil},
		} {
			t.Run(e.method+" "+e.path[:min(len(e.path), 60)], func(t *testing.T) {
				if a := c.do(t, e.method, e.path, e.body, e.status, e.headers...); a.code() != e.code {
					t.Errorf("code = %s, want %s", a.code(), e.code)
				}
			})
		}
	})

	t.Run("xpander task operations", func(t *testing.T) {
		parent := c.do(t, http.MethodPost, xAsync, `{"input":{"text":"parent"}}`, http.StatusOK)
		sub := c.do(t, http.MethodPost, xAsync, `{"input":{"text":"child"},"parent_execution_id":"`+parent.str("task_id")+`","triggering_agent_id":"planner"}`, http.StatusOK)
		c.until(t, "/v1/tasks/"+sub.str("task_id"), "completed")
		c.until(t, "/v1/tasks/"+parent.str("task_id"), "completed")
		c.do(t, http.MethodGet, "/v1/tasks?page=1&per_page=5&parent_task_id="+parent.str("task_id")+"&internal_status=succeeded&from_date=2026-01-01T00:00:00Z", "", http.StatusOK)
		c.do(t, http.MethodGet, "/v1/agents/echo/tasks?per_page=2&triggering_agent_id=planner", "", http.StatusOK)
		c.do(t, http.MethodGet, "/v1/tasks?page=21&per_page=50", "", http.StatusUnprocessableEntity)
		c.do(t, http.MethodGet, "/v1/tasks/"+parent.str("task_id")+"/thread/full", "", http.StatusOK)
		c.do(t, http.MethodGet, "/v1/tasks/"+parent.str("task_id")+"/llm_usage", "", http.StatusOK)
		c.do(t, http.MethodPost, "/v1/hitl/"+parent.str("task_id")+"/approve", `{"approved_by":"ana"}`, http.StatusConflict)
		c.do(t, http.MethodPost, "/v1/hitl/"+parent.str("task_id")+"/reject", `{}`, http.StatusUnprocessableEntity)
		c.do(t, http.MethodDelete, "/v1/tasks/"+parent.str("task_id"), "", http.StatusNoContent)
		c.do(t, http.MethodGet, "/v1/tasks/"+sub.str("task_id"), "", http.StatusNotFound)

		id := publishA2A(t, a2atest.New(t, 1))
		for _, verb := range []string{"approve", "reject"} {
			asked := c.do(t, http.MethodPost, "/v1/agents/"+id+"/invoke/async", `{"input":{"text":"ask me"}}`, http.StatusOK)
			c.until(t, "/v1/tasks/"+asked.str("task_id"), "paused")
			who := map[string]string{"approve": `{"approved_by":"ana","message":"AUD"}`, "reject": `{"rejected_by":"bo","reason":"no"}`}[verb]
			c.do(t, http.MethodPost, "/v1/hitl/"+asked.str("task_id")+"/"+verb, who, http.StatusOK)
		}
	})

	t.Run("agents", func(t *testing.T) {
		c.do(t, http.MethodGet, "/v1/agents", "", http.StatusOK)
		c.do(t, http.MethodGet, "/v1/agents/echo", "", http.StatusOK)
		id := "contract-" + uuid.NewString()[:8]
		def := `{"name":"Contract","protocol":"http","endpoint":"` + sys.EchoURL + `","timeout":"10s","cost_units":1}`
		c.do(t, http.MethodPut, "/v1/agents/"+id, def, http.StatusForbidden) // a tenant's key
		draft := c.do(t, http.MethodPut, "/v1/agents/"+id, def, http.StatusOK, "x-api-key", testAdminKey)
		if draft.body["has_draft"] != true {
			t.Errorf("draft = %v", draft.body)
		}
		c.do(t, http.MethodPost, "/v1/agents/"+id+"/publish", "", http.StatusOK, "x-api-key", testAdminKey)
		c.do(t, http.MethodPost, "/v1/agents/"+id+"/publish", "", http.StatusConflict, "x-api-key", testAdminKey) // no draft left
		if done := c.do(t, http.MethodPost, "/v1/agents/"+id+"/invoke?wait=20", `{"input":{"text":"published"}}`, http.StatusOK); done.str("status") != "completed" {
			t.Errorf("invoke of the published agent = %v", done.body)
		}
		c.do(t, http.MethodPut, "/v1/agents/"+id, `{"protocol":"smtp"}`, http.StatusUnprocessableEntity, "x-api-key", testAdminKey)
		gone := c.do(t, http.MethodDelete, "/v1/agents/"+id, "", http.StatusOK, "x-api-key", testAdminKey)
		if gone.body["deleted"] != true {
			t.Errorf("unpublished = %v", gone.body)
		}
		c.do(t, http.MethodPost, "/v1/agents/"+id+"/invoke-async", `{"message":"x"}`, http.StatusNotFound)
		c.do(t, http.MethodDelete, "/v1/agents/nope-"+id, "", http.StatusNotFound, "x-api-key", testAdminKey)
	})

	t.Run("auth contexts", func(t *testing.T) {
		admin := []string{"x-api-key", testAdminKey}
		created := c.do(t, http.MethodPost, "/v1/auth-contexts", `{"tenant":"default","name":"contract","kind":"header","header":"X-Agent-Key","secret":"ctx-s3cr3t"}`, http.StatusCreated, admin...)
		id := created.str("id")
		c.do(t, http.MethodPost, "/v1/auth-contexts", `{"tenant":"default","name":"contract","kind":"bearer","secret":"x"}`, http.StatusForbidden) // a tenant's key
		c.do(t, http.MethodGet, "/v1/auth-contexts/"+id+"?tenant=default", "", http.StatusOK, admin...)
		a := c.do(t, http.MethodPost, snAsync, `{"message":"with a credential","auth_context_id":"`+id+`"}`, http.StatusOK)
		c.until(t, "/v1/receipts/"+a.str("receipt_id"), "succeeded", "failed")
		if e := c.do(t, http.MethodPost, snAsync, `{"message":"x","auth_context_id":"`+uuid.NewString()+`"}`, http.StatusNotFound); e.code() != "auth_context_not_found" {
			t.Errorf("code = %s", e.code())
		}
		c.do(t, http.MethodGet, "/v1/auth-contexts/"+id, "", http.StatusUnprocessableEntity, admin...) // no tenant
		c.do(t, http.MethodDelete, "/v1/auth-contexts/"+id+"?tenant=default", "", http.StatusOK, admin...)
		c.do(t, http.MethodGet, "/v1/auth-contexts/"+id+"?tenant=default", "", http.StatusNotFound, admin...)
	})

	t.Run("api keys", func(t *testing.T) {
		admin := []string{"x-api-key", testAdminKey}
		created := c.do(t, http.MethodPost, "/v1/api-keys", `{"tenant":"contract-keys","name":"contract"}`, http.StatusCreated, admin...)
		c.do(t, http.MethodPost, "/v1/api-keys", `{"tenant":"contract-keys"}`, http.StatusUnprocessableEntity, admin...)
		c.do(t, http.MethodGet, "/v1/api-keys?tenant=contract-keys", "", http.StatusOK, admin...)
		c.do(t, http.MethodGet, "/v1/api-keys", "", http.StatusUnprocessableEntity, admin...)
		c.do(t, http.MethodDelete, "/v1/api-keys/"+created.str("id"), "", http.StatusOK, admin...)
		c.do(t, http.MethodDelete, "/v1/api-keys/ffffffffffffffff", "", http.StatusNotFound, admin...)
		c.do(t, http.MethodGet, "/v1/api-keys?tenant=contract-keys", "", http.StatusForbidden) // a tenant's key
	})

	t.Run("streaming", func(t *testing.T) {
		streamed := c.do(t, http.MethodPost, "/v1/agents/echo/invoke/stream", `{"input":{"text":"contract stream"}}`, http.StatusOK)
		if !strings.Contains(streamed.raw, "event: task_finished") {
			t.Errorf("invoke/stream = %q", streamed.raw)
		}
		id := strings.TrimSuffix(strings.TrimPrefix(streamed.header.Get("Location"), "/v1/tasks/"), "/events?names=xpander")
		if got := c.do(t, http.MethodGet, "/v1/tasks/"+id+"/events", "", http.StatusOK, "Last-Event-ID", "1"); !strings.Contains(got.raw, "event: finished") {
			t.Errorf("stream = %q", got.raw)
		}
		page := c.do(t, http.MethodGet, "/v1/tasks/"+id+"/events?limit=2", "", http.StatusOK, "Accept", "application/json")
		if page.body["next_after"] != float64(2) {
			t.Errorf("page = %v", page.body)
		}
		c.do(t, http.MethodGet, "/v1/receipts/"+id+"/events", "", http.StatusOK, "Accept", "application/json")
		c.do(t, http.MethodGet, "/v1/tasks/"+uuid.NewString()+"/events", "", http.StatusNotFound)
		token := "Bearer " + progress.NewKeys(sys.progressKey).Token("default", id)
		if e := c.do(t, http.MethodPost, "/v1/tasks/"+id+"/progress", `{"type":"chunk","data":{"text":"late"}}`, http.StatusConflict, "x-api-key", "", "Authorization", token); e.code() != "task_ended" {
			t.Errorf("code = %s", e.code())
		}
		c.do(t, http.MethodPost, "/v1/tasks/"+id+"/push", `{"task":{"id":"r"}}`, http.StatusUnauthorized, "x-api-key", "")
	})

	t.Run("tenant limits", func(t *testing.T) {
		admin := []string{"x-api-key", testAdminKey}
		c.do(t, http.MethodPut, "/v1/tenants/contract-limits/limits", `{"rate":50,"max_in_flight":10}`, http.StatusOK, admin...)
		if got := c.do(t, http.MethodGet, "/v1/tenants/contract-limits/limits", "", http.StatusOK, admin...); got.body["own"] != true {
			t.Errorf("limits = %v", got.body)
		}
		c.do(t, http.MethodPut, "/v1/tenants/contract-limits/limits", `{"rate":-1,"max_in_flight":10}`, http.StatusUnprocessableEntity, admin...)
		c.do(t, http.MethodDelete, "/v1/tenants/contract-limits/limits", "", http.StatusOK, admin...)
		c.do(t, http.MethodGet, "/v1/tenants/contract-limits/limits", "", http.StatusForbidden) // a tenant's key
	})

	t.Run("healthz", func(t *testing.T) {
		c.do(t, http.MethodGet, "/healthz", "", http.StatusOK, "x-api-key", "")
	})

	ops, err := api.Operations()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range ops {
		if !c.seen[o.Method+" "+o.Path] {
			t.Errorf("no answer of %s %s was validated", o.Method, o.Path)
		}
	}
	t.Logf("%d answers validated against api/openapi.yaml, on all %d documented routes", c.validated, len(ops))
}
