package system

import (
	"net/http"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/apikey"
)

// TestAPIKeys creates a tenant's key with the admin key, invokes with it, revokes it, and checks
// the key itself is stored nowhere: only its hash is in DynamoDB.
func TestAPIKeys(t *testing.T) {
	const tenant = "keys-test-tenant"
	body := `{"tenant":"` + tenant + `","name":"CI pipeline"}`
	if code, got := request(t, http.MethodPost, "/v1/api-keys", testKey, body); code != http.StatusForbidden || errCode(got) != "admin_required" {
		t.Fatalf("create with a tenant's key = %d %v", code, got)
	}
	code, created := request(t, http.MethodPost, "/v1/api-keys", testAdminKey, body)
	key, _ := created["key"].(string)
	id, _ := created["id"].(string)
	if code != http.StatusCreated || !strings.HasPrefix(key, "aq_") || created["tenant"] != tenant || created["revoked"] != false {
		t.Fatalf("create = %d %v", code, created)
	}
	if id != apikey.Hash(key)[:16] {
		t.Fatalf("id %q is not the hash's prefix", id)
	}

	// The new key invokes as its tenant, and reads what it made.
	code, task := request(t, http.MethodPost, "/v1/agents/echo/invoke/async", key, `{"input":{"text":"hello from a new key"}}`)
	if code != http.StatusOK || task["organization_id"] != tenant {
		t.Fatalf("invoke with the new key = %d %v", code, task)
	}
	taskID, _ := task["id"].(string)
	if code, got := request(t, http.MethodGet, "/v1/tasks/"+taskID, key, ""); code != http.StatusOK {
		t.Fatalf("read with the new key = %d %v", code, got)
	}
	if code, got := request(t, http.MethodGet, "/v1/tasks/"+taskID, testKey, ""); code != http.StatusNotFound {
		t.Fatalf("another tenant's read = %d %v", code, got)
	}
	// A tenant's key is not an admin's.
	if code, got := request(t, http.MethodGet, "/v1/api-keys?tenant="+tenant, key, ""); code != http.StatusForbidden {
		t.Fatalf("list with the new key = %d %v", code, got)
	}

	code, list := request(t, http.MethodGet, "/v1/api-keys?tenant="+tenant, testAdminKey, "")
	items, _ := list["items"].([]any)
	if code != http.StatusOK || len(items) != 1 {
		t.Fatalf("list = %d %v", code, list)
	}
	if item := items[0].(map[string]any); item["id"] != id || item["name"] != "CI pipeline" || item["key"] != nil {
		t.Fatalf("listed = %v", item)
	}

	dump := scanTable(t)
	if strings.Contains(dump, key) {
		t.Fatal("the key is in DynamoDB in the clear")
	}
	if !strings.Contains(dump, "APIKEY#"+apikey.Hash(key)) {
		t.Fatal("the key's hash is not in DynamoDB")
	}

	code, revoked := request(t, http.MethodDelete, "/v1/api-keys/"+id, testAdminKey, "")
	if code != http.StatusOK || revoked["revoked"] != true || revoked["revoked_at"] == nil {
		t.Fatalf("revoke = %d %v", code, revoked)
	}
	if code, got := request(t, http.MethodPost, "/v1/agents/echo/invoke/async", key, `{"input":{"text":"again"}}`); code != http.StatusUnauthorized || errCode(got) != "invalid_api_key" {
		t.Fatalf("invoke with the revoked key = %d %v", code, got)
	}
	if code, got := request(t, http.MethodDelete, "/v1/api-keys/"+id, testAdminKey, ""); code != http.StatusOK || got["revoked"] != true {
		t.Fatalf("revoke again = %d %v", code, got)
	}
	if code, got := request(t, http.MethodDelete, "/v1/api-keys/ffffffffffffffff", testAdminKey, ""); code != http.StatusNotFound || errCode(got) != "api_key_not_found" {
		t.Fatalf("revoke unknown = %d %v", code, got)
	}
	// The configured key is untouched.
	if code, got := request(t, http.MethodGet, "/v1/agents", testKey, ""); code != http.StatusOK {
		t.Fatalf("configured key = %d %v", code, got)
	}
	if strings.Contains(logs.String(), key) {
		t.Fatal("the key is in the logs")
	}
}
