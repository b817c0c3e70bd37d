// Package tenantlimit bounds what one tenant can take of a deployment every tenant shares: a
// request rate, and a number of tasks in flight (queued, running or paused). The counts live in
// the task table, not in memory, so the bounds hold the same under `make run` and across the many
// Lambda instances of a deployed stack.
//
// The rate is a fixed window per tenant per second, counted in one item per tenant and block of
// ten seconds (a counter per second), added to with a conditional UpdateItem and deleted by the
// table's TTL. An instance reserves a share of a second's budget at once (a lease of up to a
// tenth of it) and spends it from memory, so a busy tenant costs a write per lease, not per
// request; the same write reserves the instance's recent demand in each of the block's later
// seconds, so a light tenant costs a write per instance and block, not per second. The in-flight count is one item per tenant,
// added to when a task is accepted (concurrently with the task's own write, see Admit and Count)
// and taken from when it ends.
package tenantlimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// Limits are one tenant's bounds. Zero or less means unbounded.
type Limits struct {
	// Rate is the requests per second the tenant may make. The caller of Allow says what a
	// request costs: the HTTP API charges a request that may wait (a long poll) more the longer
	// it may wait, so the polls a tenant holds open are bounded by the rate as well.
	Rate int `json:"rate"`
	// MaxInFlight is how many of the tenant's tasks may be queued, running or paused at once.
	MaxInFlight int `json:"max_in_flight"`
}

// Defaults are the limits of a tenant with no overrides when the environment sets none.
var Defaults = Limits{Rate: 20, MaxInFlight: 200}

// Codes of a refusal (Error.Code), the API's reason codes.
const (
	CodeRateLimited   = "rate_limited"
	CodeQuotaExceeded = "tenant_quota_exceeded"
)

// Error is a refusal: the tenant is over one of its limits.
type Error struct {
	Code  string
	Limit int
	// RetryAfter is when trying again may succeed.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Code == CodeRateLimited {
		return fmt.Sprintf("%s: more than %d requests per second", e.Code, e.Limit)
	}
	return fmt.Sprintf("%s: %d tasks in flight already", e.Code, e.Limit)
}

// DynamoDB is the part of the DynamoDB API the limiter uses.
type DynamoDB interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Overrides answers a tenant's own limits where they differ from the defaults (keystore.Store
// keeps them with the tenant's keys); ok is false for a tenant with none.
type Overrides interface {
	TenantLimits(ctx context.Context, tenant string) (l Limits, ok bool, err error)
}

// Limiter enforces tenants' limits over the task table.
type Limiter struct {
	db        DynamoDB
	table     string
	defaults  Limits
	overrides Overrides
	now       func() time.Time

	mu     sync.Mutex
	leases map[string]*lease
	known  map[string]cachedLimits
	// atCap are the tenants whose in-flight count this instance last saw at their cap.
	atCap map[string]bool
	// releasing are the tenants whose releases are being written.
	releasing map[string]*releasing
}

type cachedLimits struct {
	l       Limits
	expires time.Time
}

// overridesTTL is how long a tenant's overrides are used before they are read again.
const overridesTTL = time.Minute

// New returns a limiter over table with the given defaults; overrides may be nil.
func New(db DynamoDB, table string, defaults Limits, overrides Overrides) *Limiter {
	return &Limiter{db: db, table: table, defaults: defaults, overrides: overrides, now: time.Now,
		leases: map[string]*lease{}, known: map[string]cachedLimits{}, atCap: map[string]bool{}, releasing: map[string]*releasing{}}
}

// WithClock replaces the clock (tests).
func (l *Limiter) WithClock(now func() time.Time) *Limiter {
	l.now = now
	return l
}

// Limits returns the tenant's limits: its overrides, else the defaults. An override that cannot be
// read leaves the defaults in force.
func (l *Limiter) Limits(ctx context.Context, tenant string) Limits {
	if l.overrides == nil {
		return l.defaults
	}
	now := l.now()
	l.mu.Lock()
	c, ok := l.known[tenant]
	l.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.l
	}
	lim := l.defaults
	if o, ok, err := l.overrides.TenantLimits(ctx, tenant); err == nil && ok {
		lim = o
	}
	l.mu.Lock()
	l.known[tenant] = cachedLimits{l: lim, expires: now.Add(overridesTTL)}
	l.mu.Unlock()
	return lim
}

// Admit lets a task of the tenant through, or refuses it with an *Error with code
// CodeQuotaExceeded. A tenant this instance has not seen at its cap is let through at once,
// uncounted (counted is false): the caller then counts the task with Count, concurrently with its
// write and send, so an accept stays one round trip. A tenant seen at its cap is checked and
// counted in one conditional write (a round trip before the task's, paid only near the cap):
// refused while it is at the cap, counted (counted is true) when there is room. Every task
// counted, by Admit or Count, must be matched by one Release, when it ends or if it is not
// recorded after all.
func (l *Limiter) Admit(ctx context.Context, tenant string) (counted bool, err error) {
	ceiling := l.Limits(ctx, tenant).MaxInFlight
	if ceiling <= 0 {
		return false, nil
	}
	l.mu.Lock()
	atCap := l.atCap[tenant]
	l.mu.Unlock()
	if !atCap {
		return false, nil
	}
	n, ok, err := l.addInFlight(ctx, tenant, 1, "attribute_not_exists(#n) OR #n < :bound", ceiling)
	switch {
	case err != nil:
		return false, fmt.Errorf("count tasks in flight of tenant %s: %w", tenant, err)
	case !ok:
		// A task ends within seconds to minutes; a short wait is a fair first guess.
		return false, &Error{Code: CodeQuotaExceeded, Limit: ceiling, RetryAfter: 5 * time.Second}
	}
	l.noteCount(tenant, n, ceiling)
	return true, nil
}

// Count counts a task Admit let through uncounted: one unconditional ADD, so every such task is
// counted exactly once whatever the count. A count that reaches the cap is remembered: the
// tenant's next tasks on this instance go through Admit's conditional write until one finds room
// again. The cap is thus passed only by tasks counted here while the count crosses it, fewer than
// the tenant's accepts in flight at once (on Lambda, an invoke instance serves one at a time).
func (l *Limiter) Count(ctx context.Context, tenant string) error {
	ceiling := l.Limits(ctx, tenant).MaxInFlight
	if ceiling <= 0 {
		return nil
	}
	n, _, err := l.addInFlight(ctx, tenant, 1, "", 0)
	if err != nil {
		return fmt.Errorf("count a task in flight of tenant %s: %w", tenant, err)
	}
	l.noteCount(tenant, n, ceiling)
	return nil
}

// noteCount remembers whether the tenant's count n, just written, is at its cap.
func (l *Limiter) noteCount(tenant string, n int64, ceiling int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n >= int64(ceiling) {
		l.atCap[tenant] = true
	} else {
		delete(l.atCap, tenant)
	}
}

// Counts says whether the tenant's tasks in flight are counted: it has a cap.
func (l *Limiter) Counts(ctx context.Context, tenant string) bool {
	return l.Limits(ctx, tenant).MaxInFlight > 0
}

// Release uncounts one of the tenant's counted tasks in flight, and returns once it is written.
// The write is unconditional: a task's count may land after the task has ended (Count runs beside
// the task's write and send, and a fast task can end first), so its release may come first and
// the count read below zero until the count lands. Releases of one tenant are written one batch
// at a time: those that come while a write is in flight wait for it and are then written
// together, as one ADD of minus their number (a worker ends ten tasks at once, often of one
// tenant).
func (l *Limiter) Release(ctx context.Context, tenant string) error {
	l.mu.Lock()
	r := l.releasing[tenant]
	if r == nil {
		r = &releasing{}
		l.releasing[tenant] = r
	}
	if r.next == nil {
		r.next = &releaseBatch{done: make(chan struct{})}
	}
	b := r.next
	b.n++
	if !r.writing {
		r.writing, r.next = true, nil
		l.mu.Unlock()
		l.writeReleases(ctx, tenant, r, b)
	} else {
		l.mu.Unlock()
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return fmt.Errorf("uncount a task in flight of tenant %s: %w", tenant, ctx.Err())
	}
}

// releasing is a tenant's releases: whether a batch is being written, and the next batch.
type releasing struct {
	writing bool
	next    *releaseBatch
}

// releaseBatch is releases written together; done is closed once they are, err set before.
type releaseBatch struct {
	n    int
	done chan struct{}
	err  error
}

// writeReleases writes batch b of the tenant's releases, then hands the batch that gathered
// meanwhile, if any, to a writer of its own (its releases wait for it, so it ends with them).
func (l *Limiter) writeReleases(ctx context.Context, tenant string, r *releasing, b *releaseBatch) {
	b.err = l.releaseN(ctx, tenant, b.n)
	close(b.done)
	l.mu.Lock()
	next := r.next
	r.next = nil
	if next == nil {
		r.writing = false
		delete(l.releasing, tenant)
	}
	l.mu.Unlock()
	if next != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), renewFor)
		go func() {
			defer cancel()
			l.writeReleases(wctx, tenant, r, next)
		}()
	}
}

// releaseN uncounts n of the tenant's counted tasks in flight in one write.
func (l *Limiter) releaseN(ctx context.Context, tenant string, n int) error {
	_, _, err := l.addInFlight(ctx, tenant, -n, "", 0)
	return wrapRelease(err, n, tenant)
}

// releaseUncounted gives back the place of a task accept did not mark counted, if the count has
// one: a task of a tenant whose cap was set while it was in flight, or accepted before the mark
// existed. Never below zero, since such a task may never have been counted.
func (l *Limiter) releaseUncounted(ctx context.Context, tenant string) error {
	_, _, err := l.addInFlight(ctx, tenant, -1, "#n > :bound", 0)
	return wrapRelease(err, 1, tenant)
}

func wrapRelease(err error, n int, tenant string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("uncount %d tasks in flight of tenant %s: %w", n, tenant, err)
}

// addInFlight adds delta to the tenant's count of tasks in flight if condition holds of it (#n,
// with :bound; no condition when empty), and reports whether it did and the count it left.
func (l *Limiter) addInFlight(ctx context.Context, tenant string, delta int, condition string, bound int) (int64, bool, error) {
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       map[string]types.AttributeValue{table.AttrPK: table.S(table.TenantPartition("TENANT", tenant)), table.AttrSK: table.S("INFLIGHT")},
		UpdateExpression:          aws.String("ADD #n :delta"),
		ExpressionAttributeNames:  map[string]string{"#n": "n"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":delta": table.N(int64(delta))},
		ReturnValues:              types.ReturnValueUpdatedNew,
	}
	if condition != "" {
		in.ConditionExpression = aws.String(condition)
		in.ExpressionAttributeValues[":bound"] = table.N(int64(bound))
	}
	out, err := l.db.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		return 0, false, nil
	case err != nil:
		return 0, false, err
	}
	var n int64
	if v, ok := out.Attributes["n"].(*types.AttributeValueMemberN); ok {
		n, _ = strconv.ParseInt(v.Value, 10, 64)
	}
	return n, true, nil
}

// Ended returns the hook a task store calls when a task ends (store.Store.OnEnd): it gives the
// task's place in flight back to its tenant: a task accept counted (task.Task.InFlightCounted)
// unconditionally, another only from a positive count, and none at all for a tenant without a
// cap that accept did not count (no write). A place that could not be given back is logged; it
// stays counted.
func (l *Limiter) Ended(log *slog.Logger) func(ctx context.Context, t *task.Task) {
	return func(ctx context.Context, t *task.Task) {
		ctx = context.WithoutCancel(ctx)
		var err error
		switch {
		case t.InFlightCounted:
			err = l.Release(ctx, t.Tenant)
		case l.Counts(ctx, t.Tenant):
			err = l.releaseUncounted(ctx, t.Tenant)
		}
		if err != nil {
			log.Error("give back a task's place in flight", "task_id", t.ID, "tenant", t.Tenant, "err", err)
		}
	}
}
