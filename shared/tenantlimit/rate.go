package tenantlimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
)

// blockSeconds is how many seconds one rate item counts: an item per tenant and block of ten
// seconds, with a counter per second of it (s0 to s9), so one write can reserve in every
// second left of the block.
const blockSeconds = 10

// leaseShare is the part of a second's budget a reservation for the current second takes: a
// tenth, so ten busy instances can share a tenant's budget and the writes are a tenth of the
// requests.
const leaseShare = 10

// aheadShare bounds what reservations ahead (for the block's later seconds) may take of a
// second's budget: half of it, counted by every instance together. The other half is left to
// reservations made within the second, so budget reserved ahead and then not spent can refuse
// a tenant's requests below its rate by at most half of it, and only for the rest of a block.
const aheadShare = 2

// lease is the part of a tenant's current block this instance reserved and has not spent, and
// what it spent, which sizes its next reservation ahead.
type lease struct {
	// block is the block's first second (Unix); left is what is left per second of it.
	block int64
	left  [blockSeconds]int
	// renewing, while a reservation for the block is in flight, is closed when it lands.
	renewing chan struct{}
	// refused, once a reservation for second refusedAt was refused, is the cost of the request
	// that asked for it: requests that cost as much or more are refused for the rest of it.
	refusedAt int64
	refused   int
	// aheadRefused is set once a reservation ahead was refused: for the rest of the block this
	// instance reserves for the current second only.
	aheadRefused bool
	// spent is what was let through in second spentAt; peak is the most let through in one
	// second of the block, prevPeak that of the block before (zero unless it was the one just
	// before).
	spentAt     int64
	spent, peak int
	prevPeak    int
}

// leaseFor returns the tenant's lease of the block second falls in, a new one (that remembers
// the demand of the block just before) when the block changed. Called with l.mu held.
func (l *Limiter) leaseFor(tenant string, second int64) *lease {
	block := second - ((second%blockSeconds)+blockSeconds)%blockSeconds
	le := l.leases[tenant]
	if le != nil && le.block == block {
		return le
	}
	next := &lease{block: block}
	if le != nil && le.block == block-blockSeconds {
		next.prevPeak = le.peak
	}
	l.leases[tenant] = next
	return next
}

// note counts cost let through in second.
func (le *lease) note(second int64, cost int) {
	if le.spentAt != second {
		le.spentAt, le.spent = second, 0
	}
	le.spent += cost
	le.peak = max(le.peak, le.spent)
}

// ahead is what this instance keeps reserved in each later second of the block: its demand, the
// most it let through in one second of this block or the one before (at least 1), at most the
// part of the budget reservations ahead may take (which bounds them all together).
func (le *lease) ahead(limit int) int {
	return min(max(1, le.peak, le.prevPeak), limit/aheadShare)
}

// reservation is what one write adds to a tenant's block: take in second at (the current one),
// and up to its lease's ahead in each later second.
type reservation struct {
	block int64
	at    int
	adds  [blockSeconds]int
}

// plan is the reservation of take in the current second, offset at, and, unless a reservation
// ahead was refused this block, of what tops up each later second to ahead.
func (le *lease) plan(at, take, limit int) reservation {
	r := reservation{block: le.block, at: at}
	r.adds[at] = take
	if le.aheadRefused {
		return r
	}
	k := le.ahead(limit)
	for j := at + 1; j < blockSeconds; j++ {
		r.adds[j] = max(0, k-le.left[j])
	}
	return r
}

// now is r without what it reserves ahead: the current second's part alone.
func (r reservation) now() reservation {
	only := reservation{block: r.block, at: r.at}
	only.adds[r.at] = r.adds[r.at]
	return only
}

// reservesAhead says whether r reserves in a later second than the current one.
func (r reservation) reservesAhead() bool {
	for j := r.at + 1; j < blockSeconds; j++ {
		if r.adds[j] > 0 {
			return true
		}
	}
	return false
}

// Allow spends cost of the tenant's request budget for the current second (at least 1, at most
// the whole budget). It returns an *Error with code CodeRateLimited when the budget is spent, or
// an error when it could not reserve (ctx ended, or the write failed) for a request it did not
// let through on credit. A reservation on credit that fails has let its request through, as the
// API lets a request through when the limiter cannot count: the store it counts in is the one
// the request needs.
//
// The budget is reserved ahead: a reservation takes a lease of the current second and, in the
// same write, tops up each later second of the block to the instance's recent demand (see
// lease.ahead), so a light tenant costs a write per instance and block, not per second. When
// the current second's lease runs out, the next reservation is made concurrently with the
// request: the request is let through on credit at once and spends from the reservation when
// it lands; requests meanwhile wait for it, so one request at a time is on credit. A refused
// reservation refuses the second's following requests that cost as much (a cheaper one waits
// for a reservation of its own): an instance lets through at most one request per second beyond
// the budget. Settle waits for a reservation in flight, so that it lands within the request
// that started it.
func (l *Limiter) Allow(ctx context.Context, tenant string, cost int) error {
	limit := l.Limits(ctx, tenant).Rate
	if limit <= 0 {
		return nil
	}
	cost = min(max(cost, 1), limit)
	take := min(limit, max(cost, limit/leaseShare))
	for {
		now := l.now()
		second := now.Unix()
		l.mu.Lock()
		le := l.leaseFor(tenant, second)
		at := int(second - le.block)
		switch {
		case le.left[at] >= cost:
			le.left[at] -= cost
			le.note(second, cost)
			l.mu.Unlock()
			return nil
		case le.refused > 0 && le.refusedAt == second && cost >= le.refused:
			l.mu.Unlock()
			return &Error{Code: CodeRateLimited, Limit: limit, RetryAfter: time.Unix(second+1, 0).Sub(now)}
		case le.renewing != nil:
			wait := le.renewing
			l.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return fmt.Errorf("count requests of tenant %s: %w", tenant, ctx.Err())
			}
			continue
		}
		done := make(chan struct{})
		le.renewing = done
		onCredit := !(le.refused > 0 && le.refusedAt == second)
		if onCredit {
			le.note(second, cost)
		}
		r := le.plan(at, take, limit)
		l.mu.Unlock()
		if !onCredit {
			// A dearer request was refused this second: this one waits for its own reservation.
			if err := l.renew(ctx, tenant, le, r, cost, 0, limit, done); err != nil {
				return err
			}
			continue
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), renewFor)
		go func() {
			defer cancel()
			_ = l.renew(rctx, tenant, le, r, cost, cost, limit, done) // a failure lets the request through
		}()
		return nil
	}
}

// renewFor bounds a reservation made on a request's credit, which outlives the request's context.
const renewFor = 10 * time.Second

// renew makes reservation r of lease le's block for a request of that cost, credit of which it
// spent already, and closes done. A refused reservation ahead is tried again for the current
// second alone (and reservations ahead stop for the block), then, when the lease share no longer
// fits, for the cost alone. A refusal of that refuses the rest of the second to requests of that
// cost or more; a reservation that fails leaves the lease as it was, for the next request to try
// again.
func (l *Limiter) renew(ctx context.Context, tenant string, le *lease, r reservation, cost, credit, limit int, done chan struct{}) error {
	ok, err := l.reserve(ctx, tenant, r, limit)
	aheadRefused := err == nil && !ok && r.reservesAhead()
	if aheadRefused {
		r = r.now()
		ok, err = l.reserve(ctx, tenant, r, limit)
	}
	if err == nil && !ok && r.adds[r.at] > cost {
		r.adds[r.at] = cost
		ok, err = l.reserve(ctx, tenant, r, limit)
	}
	l.mu.Lock()
	le.aheadRefused = le.aheadRefused || aheadRefused
	switch {
	case err != nil:
	case ok:
		for j, a := range r.adds {
			le.left[j] += a
		}
		le.left[r.at] -= credit
	default:
		le.refusedAt, le.refused = r.block+int64(r.at), cost
	}
	le.renewing = nil
	l.mu.Unlock()
	close(done)
	return err
}

// Settle waits for a reservation of the tenant's request budget that a request let through on
// credit started (see Allow), at most until ctx ends. A caller that is frozen between requests (a
// Lambda instance) settles before it answers, so that the reservation lands within the request.
func (l *Limiter) Settle(ctx context.Context, tenant string) {
	l.mu.Lock()
	var wait chan struct{}
	if le := l.leases[tenant]; le != nil {
		wait = le.renewing
	}
	l.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
		}
	}
}

// reserve adds reservation r to the tenant's block item if every second it adds to stays within
// its bound: the limit for the current second, the part reservations ahead may take
// (aheadShare) for the later ones. One conditional UpdateItem, whatever the seconds.
func (l *Limiter) reserve(ctx context.Context, tenant string, r reservation, limit int) (bool, error) {
	names := map[string]string{"#exp": table.AttrExpiresAt}
	values := map[string]types.AttributeValue{":exp": table.N(r.block + blockSeconds + 60)}
	var adds, conds []string
	for j, a := range r.adds {
		if a <= 0 {
			continue
		}
		bound := limit / aheadShare
		if j == r.at {
			bound = limit
		}
		s := strconv.Itoa(j)
		names["#s"+s] = "s" + s
		values[":a"+s], values[":r"+s] = table.N(int64(a)), table.N(int64(bound-a))
		adds = append(adds, "#s"+s+" :a"+s)
		conds = append(conds, "(attribute_not_exists(#s"+s+") OR #s"+s+" <= :r"+s+")")
	}
	_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(l.table),
		Key: map[string]types.AttributeValue{
			table.AttrPK: table.S(table.TenantKey("TENANTRATE", tenant, strconv.FormatInt(r.block, 10))), table.AttrSK: table.S("RATE"),
		},
		UpdateExpression:          aws.String("ADD " + strings.Join(adds, ", ") + " SET #exp = :exp"),
		ConditionExpression:       aws.String(strings.Join(conds, " AND ")),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("count requests of tenant %s: %w", tenant, err)
	}
	return true, nil
}
