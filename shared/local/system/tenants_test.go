package system

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/tenantlimit"
)

// tenantKey makes a stored key for a tenant of its own, with the limits given.
func tenantKey(t testing.TB, tenant string, l tenantlimit.Limits) string {
	t.Helper()
	key, _, err := sys.APIKeys.Create(context.Background(), tenant, "limits test")
	if err != nil {
		t.Fatal(err)
	}
	if err := sys.APIKeys.SetTenantLimits(context.Background(), tenant, &l); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestTenantInFlightCap: a tenant's tasks in flight are capped, counted in the table, and given
// back by the worker as they end; another tenant is not held back meanwhile.
func TestTenantInFlightCap(t *testing.T) {
	key := tenantKey(t, "capped", tenantlimit.Limits{MaxInFlight: 2})
	slow := `{"input":{"text":"slow","delay_ms":1500}}`
	var ids []string
	for range 2 {
		code, body := request(t, http.MethodPost, "/v1/agents/echo/invoke/async", key, slow)
		if code != http.StatusOK {
			t.Fatalf("within the cap = %d %v", code, body)
		}
		ids = append(ids, body["id"].(string))
	}
	code, body := request(t, http.MethodPost, "/v1/agents/echo/invoke-async", key, `{"message":"one more"}`)
	if code != http.StatusTooManyRequests || errCode(body) != tenantlimit.CodeQuotaExceeded {
		t.Fatalf("over the cap = %d %v, want 429 %s", code, body, tenantlimit.CodeQuotaExceeded)
	}
	// The default tenant is not held back.
	if code, body := post(t, "/v1/agents/echo/invoke-async", `{"message":"quiet"}`); code != http.StatusOK {
		t.Fatalf("another tenant = %d %v", code, body)
	}
	for _, id := range ids {
		waitForKey(t, key, "/v1/tasks/"+id, "completed")
	}
	// Ended tasks gave their places back (the worker's store reports each end).
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := request(t, http.MethodPost, "/v1/agents/echo/invoke/async", key, `{"input":{"text":"again"}}`)
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the tasks ended = %d %v", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTenantRateLimited: a tenant over its request rate is answered 429 rate_limited with
// Retry-After, in both dialects; the default tenant is not.
func TestTenantRateLimited(t *testing.T) {
	key := tenantKey(t, "chatty", tenantlimit.Limits{Rate: 2})
	limited := 0
	for range 20 {
		req, _ := http.NewRequest(http.MethodGet, sys.APIURL+"/v1/tasks", nil)
		req.Header.Set("x-api-key", key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
	}
	// Twenty requests take well under the ten seconds two a second would need.
	if limited == 0 {
		t.Fatal("no request was limited")
	}
	code, body := request(t, http.MethodPost, "/v1/agents/echo/invoke-async", key, `{"message":"x"}`)
	if code == http.StatusTooManyRequests && errCode(body) != tenantlimit.CodeRateLimited {
		t.Errorf("ServiceNet 429 = %v", body)
	}
	if code, _, _ := call(t, http.MethodGet, "/v1/tasks", ""); code != http.StatusOK {
		t.Errorf("the default tenant = %d", code)
	}
}

// waitForKey polls path with key until the status is want.
func waitForKey(t *testing.T, key, path, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if code, body := request(t, http.MethodGet, path+"?wait=5", key, ""); code == http.StatusOK && body["status"] == want {
			return
		}
	}
	t.Fatalf("%s never became %s", path, want)
}
