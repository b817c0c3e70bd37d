package tenantlimit

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/local/emulators"
)

// The tests share one DynamoDB Local; each gets a table of its own.
var suite emulators.Suite

func TestMain(m *testing.M) { os.Exit(suite.Main(m, nil)) }

// clock is a settable time.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func wantCode(t *testing.T, err error, code string) *Error {
	t.Helper()
	var le *Error
	if !errors.As(err, &le) || le.Code != code {
		t.Fatalf("err = %v, want an *Error %s", err, code)
	}
	return le
}

func TestRateIsPerTenantPerSecond(t *testing.T) {
	dynamo, table := suite.Table(t, "limits")
	c := &clock{time.Unix(1_800_000_000, 250_000_000)}
	l := New(dynamo, table, Limits{Rate: 10}, nil).WithClock(c.now)
	ctx := context.Background()
	for i := range 10 {
		if err := l.Allow(ctx, "flood", 1); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	le := wantCode(t, l.Allow(ctx, "flood", 1), CodeRateLimited)
	if le.RetryAfter <= 0 || le.RetryAfter > time.Second {
		t.Errorf("RetryAfter = %v, want the rest of the second", le.RetryAfter)
	}
	// Another tenant's budget is its own.
	if err := l.Allow(ctx, "quiet", 1); err != nil {
		t.Fatalf("another tenant: %v", err)
	}
	// The next second brings a new budget.
	c.t = c.t.Add(time.Second)
	if err := l.Allow(ctx, "flood", 1); err != nil {
		t.Fatalf("next second: %v", err)
	}
}

// TestInstancesShareOneBudget: two limiters (two Lambda instances) over one table together let
// through no more than the tenant's rate, though each reserves leases of it.
func TestInstancesShareOneBudget(t *testing.T) {
	dynamo, table := suite.Table(t, "limits")
	c := &clock{time.Unix(1_800_000_100, 0)}
	const rate = 40
	a := New(dynamo, table, Limits{Rate: rate}, nil).WithClock(c.now)
	b := New(dynamo, table, Limits{Rate: rate}, nil).WithClock(c.now)
	allowed := 0
	for range 3 * rate {
		for _, l := range []*Limiter{a, b} {
			if err := l.Allow(context.Background(), "t", 1); err == nil {
				allowed++
			} else {
				wantCode(t, err, CodeRateLimited)
			}
		}
	}
	if allowed != rate {
		t.Errorf("%d requests allowed in one second, want exactly %d", allowed, rate)
	}
}

// TestLongPollCostsItsWait: a poll that may wait costs a request per second of its wait, so the
// polls a tenant holds open are bounded by its rate.
func TestLongPollCostsItsWait(t *testing.T) {
	dynamo, table := suite.Table(t, "limits")
	c := &clock{time.Unix(1_800_000_200, 0)}
	l := New(dynamo, table, Limits{Rate: 10}, nil).WithClock(c.now)
	if err := l.Allow(context.Background(), "t", 25); err != nil {
		t.Fatal(err)
	}
	wantCode(t, l.Allow(context.Background(), "t", 1), CodeRateLimited)
}

func TestInFlight(t *testing.T) {
	dynamo, table := suite.Table(t, "limits")
	l := New(dynamo, table, Limits{MaxInFlight: 3}, nil)
	ctx := context.Background()
	// Releasing what was never admitted does not make room.
	if err := l.Release(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Admit(ctx, "t"); err != nil {
			t.Fatalf("task %d: %v", i+1, err)
		}
	}
	le := wantCode(t, l.Admit(ctx, "t"), CodeQuotaExceeded)
	if le.RetryAfter <= 0 || le.Limit != 3 {
		t.Errorf("refusal = %+v", le)
	}
	if err := l.Admit(ctx, "other"); err != nil {
		t.Fatalf("another tenant: %v", err)
	}
	if err := l.Release(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := l.Admit(ctx, "t"); err != nil {
		t.Fatalf("after a task ended: %v", err)
	}
}

type overrides map[string]Limits

func (o overrides) TenantLimits(_ context.Context, tenant string) (Limits, bool, error) {
	l, ok := o[tenant]
	return l, ok, nil
}

func TestOverrides(t *testing.T) {
	dynamo, table := suite.Table(t, "limits")
	c := &clock{time.Unix(1_800_000_300, 0)}
	l := New(dynamo, table, Limits{Rate: 1, MaxInFlight: 1}, overrides{"big": {Rate: 5, MaxInFlight: 0}}).WithClock(c.now)
	ctx := context.Background()
	if got := l.Limits(ctx, "big"); got != (Limits{Rate: 5}) {
		t.Errorf("Limits(big) = %+v", got)
	}
	for range 5 {
		if err := l.Allow(ctx, "big", 1); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 { // unbounded in flight
		if err := l.Admit(ctx, "big"); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Allow(ctx, "small", 1); err != nil {
		t.Fatal(err)
	}
	wantCode(t, l.Allow(ctx, "small", 1), CodeRateLimited)
}

// TestUnboundedWritesNothing: with no limits the table is never touched.
func TestUnboundedWritesNothing(t *testing.T) {
	l := New(nil, "none", Limits{}, nil)
	if err := l.Allow(context.Background(), "t", 1); err != nil {
		t.Fatal(err)
	}
	if err := l.Admit(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
}
