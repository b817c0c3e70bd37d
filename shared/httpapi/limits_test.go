package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tenantlimit"
)

// budget is a rate limiter with a fixed number of requests per tenant, recording each cost.
type budget struct {
	mu    sync.Mutex
	left  map[string]int
	costs []int
}

func (b *budget) Allow(_ context.Context, tenant string, cost int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.costs = append(b.costs, cost)
	if b.left[tenant] < cost {
		return &tenantlimit.Error{Code: tenantlimit.CodeRateLimited, Limit: 3, RetryAfter: 300 * time.Millisecond}
	}
	b.left[tenant] -= cost
	return nil
}

func TestTenantRateLimited(t *testing.T) {
	hs := newHarness(t)
	b := &budget{left: map[string]int{"org-1": 3, "org-2": 100}}
	h := httpapi.New(httpapi.Config{
		Submitter: hs.sub, Reader: hs.read, Keys: keys, Limiter: b,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now },
	})
	for range 3 {
		if r := do(t, h, http.MethodPost, "/v1/agents/echo/invoke-async", `{"message":"hi"}`, authed()...); r.status != http.StatusOK {
			t.Fatalf("within the rate = %d %s", r.status, r.raw)
		}
	}
	// Over it, in either dialect's error shape, with when to come back.
	r := do(t, h, http.MethodPost, "/v1/agents/echo/invoke-async", `{"message":"hi"}`, authed()...)
	wantError(t, r, task.ServiceNet, http.StatusTooManyRequests, tenantlimit.CodeRateLimited)
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q, want 1", r.header.Get("Retry-After"))
	}
	r = do(t, h, http.MethodPost, "/v1/agents/echo/invoke/async", `{"input":{"text":"hi"}}`, authed()...)
	wantError(t, r, task.Xpander, http.StatusTooManyRequests, tenantlimit.CodeRateLimited)
	// The other tenant is not slowed down.
	if r := do(t, h, http.MethodPost, "/v1/agents/echo/invoke-async", `{"message":"hi"}`, "X-Api-Key", otherKey); r.status != http.StatusOK {
		t.Fatalf("another tenant = %d %s", r.status, r.raw)
	}
	// A long poll costs more the longer it may wait.
	b.costs = nil
	do(t, h, http.MethodGet, "/v1/tasks/"+taskID+"?wait=25", "", "X-Api-Key", otherKey)
	do(t, h, http.MethodGet, "/v1/tasks/"+taskID, "", "X-Api-Key", otherKey)
	do(t, h, http.MethodPost, "/v1/agents/echo/invoke?wait=0", `{"input":{"text":"hi"}}`, "X-Api-Key", otherKey)
	if len(b.costs) != 3 || b.costs[0] != 6 || b.costs[1] != 1 || b.costs[2] != 1 {
		t.Errorf("costs = %v, want [6 1 1]", b.costs)
	}
}

func TestQuotaExceededAnswer(t *testing.T) {
	hs := newHarness(t)
	hs.sub.err = &tenantlimit.Error{Code: tenantlimit.CodeQuotaExceeded, Limit: 2, RetryAfter: 5 * time.Second}
	r := do(t, hs.h, http.MethodPost, "/v1/agents/echo/invoke/async", `{"input":{"text":"hi"}}`, authed()...)
	wantError(t, r, task.Xpander, http.StatusTooManyRequests, tenantlimit.CodeQuotaExceeded)
	if r.header.Get("Retry-After") != "5" {
		t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
	}
}

// settling is a rate limiter that lets everything through and records when it is called.
type settling struct {
	mu    sync.Mutex
	calls []string
}

func (s *settling) Allow(_ context.Context, tenant string, _ int) error {
	s.record("allow " + tenant)
	return nil
}

func (s *settling) Settle(_ context.Context, tenant string) { s.record("settle " + tenant) }

func (s *settling) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

// TestRateSettledAfterTheRequest: a limiter that reserves a tenant's budget concurrently with the
// request is waited for once the request is served, before the answer (a Lambda instance is
// frozen after it answers), and not before it.
func TestRateSettledAfterTheRequest(t *testing.T) {
	hs := newHarness(t)
	l := &settling{}
	hs.sub.submit = func(sub accept.Submission) (*task.Task, error) {
		l.record("submit")
		return &task.Task{ID: taskID, Tenant: sub.Tenant, AgentID: sub.AgentID, Dialect: sub.Invocation.Dialect,
			State: task.Queued, Version: 1, CreatedAt: now, UpdatedAt: now}, nil
	}
	h := httpapi.New(httpapi.Config{
		Submitter: hs.sub, Reader: hs.read, Keys: keys, Limiter: l,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now },
	})
	if r := do(t, h, http.MethodPost, "/v1/agents/echo/invoke-async", `{"message":"hi"}`, authed()...); r.status != http.StatusOK {
		t.Fatalf("submit = %d %s", r.status, r.raw)
	}
	if want := []string{"allow org-1", "submit", "settle org-1"}; !slices.Equal(l.calls, want) {
		t.Errorf("calls = %v, want %v", l.calls, want)
	}
}
