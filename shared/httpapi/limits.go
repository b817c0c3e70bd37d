package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentq/agentq/shared/tenantlimit"
)

// RateLimiter spends a tenant's request budget; a refusal is a *tenantlimit.Error.
type RateLimiter interface {
	Allow(ctx context.Context, tenant string, cost int) error
}

var _ RateLimiter = (*tenantlimit.Limiter)(nil)

// settler is a RateLimiter that reserves a tenant's budget concurrently with the request it lets
// through (tenantlimit.Limiter does): Settle waits for that reservation, so that it lands before
// the request is answered (a Lambda instance is frozen between requests).
type settler interface {
	Settle(ctx context.Context, tenant string)
}

var _ settler = (*tenantlimit.Limiter)(nil)

// settle waits, once the request is served, for the reservation its rate check started.
func (a *api) settle(r *http.Request, tenant string) {
	if s, ok := a.Limiter.(settler); ok {
		s.Settle(r.Context(), tenant)
	}
}

// waitPerRequest is how many seconds of wait cost one more request: a request that may wait w
// seconds costs 1 + w/waitPerRequest, so a tenant at its rate R holds at most about
// R*waitPerRequest waits open at once, whatever it asks.
const waitPerRequest = 5

// replayCost is what a webhook replay spends of the rate: it makes a signed POST to a URL the
// tenant chose, on top of the request itself.
const replayCost = 5

// allow spends the request's cost of the tenant's rate. A request that may wait (a long poll, a
// sync invoke) costs more the longer it may wait (waitPerRequest), so the waits a tenant holds
// open are bounded by its rate. A limiter that cannot count lets the request through: the store it counts
// in is the one the request needs, whose failure the request reports itself.
func (a *api) allow(r *http.Request, tenant string) error {
	if a.Limiter == nil {
		return nil
	}
	wait := 0
	if v := r.URL.Query().Get("wait"); v != "" {
		if w, err := strconv.Atoi(v); err == nil {
			wait = min(max(w, 0), int(MaxWait/time.Second))
		}
	} else if strings.HasSuffix(r.URL.Path, "/invoke") {
		wait = int(a.SyncWait / time.Second)
	}
	cost := 1 + wait/waitPerRequest
	if strings.HasSuffix(r.URL.Path, "/replay") {
		cost = replayCost
	}
	err := a.Limiter.Allow(r.Context(), tenant, cost)
	var le *tenantlimit.Error
	if err != nil && !errors.As(err, &le) {
		a.Logger.Warn("count the request against the tenant's rate", "tenant", tenant, "err", err)
		return nil
	}
	return err
}
