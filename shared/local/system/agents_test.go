package system

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// request makes a request with the given key and returns status and decoded body.
func request(t testing.TB, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, sys.APIURL+path, strings.NewReader(body))
	req.Header.Set("x-api-key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: not JSON: %s", method, path, raw)
	}
	return resp.StatusCode, out
}

func errCode(body map[string]any) any {
	if e, ok := body["error"].(map[string]any); ok {
		return e["code"]
	}
	return body["code"]
}

func TestAgentRegistryLifecycle(t *testing.T) {
	def := func(extra string) string {
		return fmt.Sprintf(`{"protocol":"http","endpoint":%q,"timeout":"30s"%s}`, sys.EchoURL, extra)
	}
	if code, body := request(t, http.MethodPut, "/v1/agents/billing", testKey, def("")); code != http.StatusForbidden || errCode(body) != "admin_required" {
		t.Fatalf("PUT with a tenant key = %d %v", code, body)
	}
	if code, body := request(t, http.MethodPut, "/v1/agents/billing", testAdminKey, `{"protocol":"smtp"}`); code != http.StatusUnprocessableEntity {
		t.Fatalf("PUT invalid = %d %v", code, body)
	}
	code, body := request(t, http.MethodPut, "/v1/agents/billing", testAdminKey, def(`,"name":"Billing","publish":true`))
	if code != http.StatusOK || body["current_version"] != float64(1) || body["source"] != "registry" {
		t.Fatalf("PUT publish = %d %v", code, body)
	}
	_, first := post(t, "/v1/agents/billing/invoke/async", `{"input":{"text":"v1"}}`)
	if done := waitFor(t, "/v1/tasks/"+first["task_id"].(string), "completed"); done["agent_version"] != "1" {
		t.Fatalf("task ran version %v", done["agent_version"])
	}

	// A new draft changes nothing until it is published.
	if code, body := request(t, http.MethodPut, "/v1/agents/billing", testAdminKey, def(`,"requires_approval":true`)); code != http.StatusOK || body["has_draft"] != true {
		t.Fatalf("PUT draft = %d %v", code, body)
	}
	if code, _ := post(t, "/v1/agents/billing/invoke-async", `{"message":"still v1"}`); code != http.StatusOK {
		t.Fatalf("invoke before publish = %d", code)
	}
	// A draft is the admin's to try out, not a tenant's to run under its unpublished policy.
	if code, body := post(t, "/v1/agents/billing/invoke-async?version=draft", `{"message":"draft"}`); code != http.StatusNotFound || errCode(body) != "agent_version_not_found" {
		t.Fatalf("invoke the draft = %d %v, want 404 agent_version_not_found", code, body)
	}
	if code, body := request(t, http.MethodPost, "/v1/agents/billing/publish", testAdminKey, ""); code != http.StatusOK || body["current_version"] != float64(2) {
		t.Fatalf("publish = %d %v", code, body)
	}
	if code, body := request(t, http.MethodPost, "/v1/agents/billing/publish", testAdminKey, ""); code != http.StatusConflict || errCode(body) != "no_draft" {
		t.Fatalf("publish again = %d %v", code, body)
	}
	if code, body := post(t, "/v1/agents/billing/invoke-async", `{"message":"v2"}`); code != http.StatusForbidden || errCode(body) != "approval_required" {
		t.Fatalf("v2 without approval = %d %v", code, body)
	}
	// Version 1 asked for no approval: naming it must not slip past version 2's policy.
	if code, body := post(t, "/v1/agents/billing/invoke-async?version=1", `{"message":"pinned"}`); code != http.StatusNotFound || errCode(body) != "agent_version_not_found" {
		t.Fatalf("pinned to the older version 1 = %d %v, want 404 agent_version_not_found", code, body)
	}
	if code, body := post(t, "/v1/agents/billing/invoke-async?version=2", `{"message":"pinned","confirm_risky":true}`); code != http.StatusOK {
		t.Fatalf("pinned to the current version 2 = %d %v", code, body)
	}
	if code, body := post(t, "/v1/agents/billing/invoke-async", `{"message":"v2","confirm_risky":true}`); code != http.StatusOK {
		t.Fatalf("v2 with approval = %d %v", code, body)
	}

	code, list := request(t, http.MethodGet, "/v1/agents", testKey, "")
	ids := map[string]string{}
	for _, it := range list["items"].([]any) {
		m := it.(map[string]any)
		ids[m["id"].(string)] = m["version"].(string)
		if _, shown := m["endpoint"]; shown {
			t.Errorf("a tenant's listing shows the endpoint: %v", m)
		}
	}
	if code != http.StatusOK || ids["billing"] != "2" || ids["echo"] != "1" {
		t.Fatalf("GET /v1/agents = %d %v", code, ids)
	}

	if code, body := request(t, http.MethodDelete, "/v1/agents/billing", testAdminKey, ""); code != http.StatusOK || body["deleted"] != true {
		t.Fatalf("DELETE = %d %v", code, body)
	}
	if code, body := post(t, "/v1/agents/billing/invoke/async", `{"input":{"text":"gone"}}`); code != http.StatusNotFound || errCode(body) != "agent_not_found" {
		t.Fatalf("invoke after unpublish = %d %v", code, body)
	}
	if code, _, _ := call(t, http.MethodGet, "/v1/tasks/"+first["task_id"].(string), ""); code != http.StatusOK {
		t.Fatalf("an unpublished agent's task is no longer readable: %d", code)
	}
}

// TestPolicyRefusalsEnqueueNothing publishes agents with each policy and checks that a refused
// call answers 403 with its code and leaves no task behind.
func TestPolicyRefusalsEnqueueNothing(t *testing.T) {
	publish := func(id, policy string) {
		t.Helper()
		body := fmt.Sprintf(`{"protocol":"http","endpoint":%q,%s,"publish":true}`, sys.EchoURL, policy)
		if code, got := request(t, http.MethodPut, "/v1/agents/"+id, testAdminKey, body); code != http.StatusOK {
			t.Fatalf("publish %s = %d %v", id, code, got)
		}
	}
	publish("risky", `"requires_approval":true`)
	publish("pricey", `"cost_units":10`)
	publish("aussie", `"allowed_regions":["AU"]`)
	publish("private", `"tenants":["someone-else"]`)
	tests := []struct{ agent, body, code string }{
		{"risky", `{"message":"x"}`, "approval_required"},
		{"pricey", `{"message":"x","max_cost_units":5}`, "cost_limit_exceeded"},
		{"aussie", `{"message":"x","region":"US"}`, "region_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			code, body := post(t, "/v1/agents/"+tt.agent+"/invoke-async", tt.body)
			if code != http.StatusForbidden || errCode(body) != tt.code {
				t.Fatalf("= %d %v, want 403 %s", code, body, tt.code)
			}
			_, _, list := call(t, http.MethodGet, "/v1/agents/"+tt.agent+"/tasks", "")
			if items, _ := list["items"].([]any); len(items) != 0 {
				t.Fatalf("a refused call left tasks: %v", items)
			}
		})
	}
	// An agent kept for another tenant is invisible to this one, and answers an invoke as it
	// answers a read: 404 agent_not_found both.
	if code, body := request(t, http.MethodGet, "/v1/agents/private", testKey, ""); code != http.StatusNotFound {
		t.Errorf("GET another tenant's agent = %d %v", code, body)
	}
	if code, body := post(t, "/v1/agents/private/invoke-async", `{"message":"x"}`); code != http.StatusNotFound || errCode(body) != "agent_not_found" {
		t.Errorf("invoke another tenant's agent = %d %v, want 404 agent_not_found", code, body)
	}
	_, list := request(t, http.MethodGet, "/v1/agents", testKey, "")
	for _, it := range list["items"].([]any) {
		a := it.(map[string]any)
		if a["id"] == "private" || a["tenants"] != nil {
			t.Errorf("tenant listing shows %v", a)
		}
	}
	// And the same agents run when the policy is met.
	if code, body := post(t, "/v1/agents/pricey/invoke-async", `{"message":"x","max_cost_units":10}`); code != http.StatusOK {
		t.Fatalf("within the cost cap = %d %v", code, body)
	}
}
