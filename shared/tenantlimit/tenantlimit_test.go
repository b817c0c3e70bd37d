package tenantlimit

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"

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

// allow spends cost as a request does: Allow, then, once the request is served, Settle.
func allow(l *Limiter, tenant string, cost int) error {
	err := l.Allow(context.Background(), tenant, cost)
	l.Settle(context.Background(), tenant)
	return err
}

// TestRateIsPerTenantPerSecond: a tenant's requests in one second are its rate, and the one let
// through on credit whose reservation is refused (one per instance per window); the next are
// refused until the next second.
func TestRateIsPerTenantPerSecond(t *testing.T) {
	dynamo, table := suite.Table(t, "limits")
	c := &clock{time.Unix(1_800_000_000, 250_000_000)}
	l := New(dynamo, table, Limits{Rate: 10}, nil).WithClock(c.now)
	for i := range 10 + 1 {
		if err := allow(l, "flood", 1); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	le := wantCode(t, allow(l, "flood", 1), CodeRateLimited)
	if le.RetryAfter <= 0 || le.RetryAfter > time.Second {
		t.Errorf("RetryAfter = %v, want the rest of the second", le.RetryAfter)
	}
	// Another tenant's budget is its own.
	if err := allow(l, "quiet", 1); err != nil {
		t.Fatalf("another tenant: %v", err)
	}
	// The next second brings a new budget.
	c.t = c.t.Add(time.Second)
	if err := allow(l, "flood", 1); err != nil {
		t.Fatalf("next second: %v", err)
	}
}

// TestInstancesShareOneBudget: two limiters (two Lambda instances) over one table together let
// through the tenant's rate in one second, though each reserves leases of it, and one request
// each on credit beyond it.
func TestInstancesShareOneBudget(t *testing.T) {
	dynamo, table := suite.Table(t, "limits")
	c := &clock{time.Unix(1_800_000_100, 0)}
	const rate = 40
	a := New(dynamo, table, Limits{Rate: rate}, nil).WithClock(c.now)
	b := New(dynamo, table, Limits{Rate: rate}, nil).WithClock(c.now)
	allowed := 0
	for range 3 * rate {
		for _, l := range []*Limiter{a, b} {
			if err := allow(l, "t", 1); err == nil {
				allowed++
			} else {
				wantCode(t, err, CodeRateLimited)
			}
		}
	}
	if allowed != rate+2 {
		t.Errorf("%d requests allowed in one second, want exactly %d: the rate and one on credit per instance", allowed, rate+2)
	}
}

// TestLongPollCostsItsWait: a poll that may wait costs a request per second of its wait, so the
// polls a tenant holds open are bounded by its rate.
func TestLongPollCostsItsWait(t *testing.T) {
	dynamo, table := suite.Table(t, "limits")
	c := &clock{time.Unix(1_800_000_200, 0)}
	l := New(dynamo, table, Limits{Rate: 10}, nil).WithClock(c.now)
	if err := allow(l, "t", 25); err != nil {
		t.Fatal(err)
	}
	// The budget is spent: one request on credit, then refusals.
	if err := allow(l, "t", 1); err != nil {
		t.Fatal(err)
	}
	wantCode(t, allow(l, "t", 1), CodeRateLimited)
}

// TestCheaperRequestsFitWhatIsLeft: a refused long poll does not refuse the cheaper requests that
// fit what is left of the second's budget; they reserve it (not on credit) until it is spent.
func TestCheaperRequestsFitWhatIsLeft(t *testing.T) {
	dynamo, table := suite.Table(t, "limits")
	c := &clock{time.Unix(1_800_000_500, 0)}
	l := New(dynamo, table, Limits{Rate: 10}, nil).WithClock(c.now)
	if err := allow(l, "t", 8); err != nil {
		t.Fatal(err)
	}
	if err := allow(l, "t", 5); err != nil { // on credit; its reservation is refused
		t.Fatal(err)
	}
	wantCode(t, allow(l, "t", 5), CodeRateLimited)
	for i := range 10 - 8 {
		if err := allow(l, "t", 1); err != nil {
			t.Fatalf("cheap request %d of the 2 left: %v", i+1, err)
		}
	}
	wantCode(t, allow(l, "t", 1), CodeRateLimited)
}

// blockingDB is a DynamoDB whose UpdateItem waits until release is closed, then answers ok.
type blockingDB struct {
	started chan struct{}
	release chan struct{}
}

func (d *blockingDB) UpdateItem(ctx context.Context, _ *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	d.started <- struct{}{}
	<-d.release
	return &dynamodb.UpdateItemOutput{}, nil
}

// TestRenewalRunsWithTheRequest: a request whose lease ran out is let through while its lease's
// reservation is still in flight (it is not serialised behind the write); a request meanwhile
// waits for it rather than reserving again, and Settle returns once it landed.
func TestRenewalRunsWithTheRequest(t *testing.T) {
	db := &blockingDB{started: make(chan struct{}, 4), release: make(chan struct{})}
	c := &clock{time.Unix(1_800_000_400, 0)}
	l := New(db, "none", Limits{Rate: 20}, nil).WithClock(c.now)
	first := make(chan error, 1)
	go func() { first <- l.Allow(context.Background(), "t", 1) }()
	<-db.started
	select {
	case err := <-first:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		close(db.release)
		t.Fatal("the request waited for its lease's reservation")
	}
	second := make(chan error, 1)
	go func() { second <- l.Allow(context.Background(), "t", 1) }()
	select {
	case err := <-second:
		t.Fatalf("a second request went on credit too (%v): it should wait for the reservation", err)
	case <-db.started:
		t.Fatal("a second reservation started while the first was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(db.release)
	if err := <-second; err != nil { // spent from the lease of 2 the first reserved
		t.Fatal(err)
	}
	l.Settle(context.Background(), "t")
	if len(db.started) != 0 {
		t.Errorf("%d more reservations, want none: the lease had room for the second request", len(db.started))
	}
}

// admit admits and counts one task as accept does: Admit, then Count when Admit did not count.
func admit(ctx context.Context, l *Limiter, tenant string) error {
	counted, err := l.Admit(ctx, tenant)
	if err == nil && !counted {
		err = l.Count(ctx, tenant)
	}
	return err
}

// inFlight reads the tenant's count of tasks in flight from the table.
func inFlight(t *testing.T, db *dynamodb.Client, tbl, tenant string) int {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(tbl), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{table.AttrPK: table.S(table.TenantPartition("TENANT", tenant)), table.AttrSK: table.S("INFLIGHT")}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if v, ok := out.Item["n"].(*types.AttributeValueMemberN); ok {
		n, _ = strconv.Atoi(v.Value)
	}
	return n
}

func TestInFlight(t *testing.T) {
	dynamo, table := suite.Table(t, "limits")
	l := New(dynamo, table, Limits{MaxInFlight: 3}, nil)
	ctx := context.Background()
	// The end of a task that was never counted does not make room.
	l.Ended(slog.New(slog.DiscardHandler))(ctx, &task.Task{ID: "never-counted", Tenant: "t"})
	for i := range 3 {
		if err := admit(ctx, l, "t"); err != nil {
			t.Fatalf("task %d: %v", i+1, err)
		}
	}
	_, err := l.Admit(ctx, "t")
	le := wantCode(t, err, CodeQuotaExceeded)
	if le.RetryAfter <= 0 || le.Limit != 3 {
		t.Errorf("refusal = %+v", le)
	}
	if err := admit(ctx, l, "other"); err != nil {
		t.Fatalf("another tenant: %v", err)
	}
	if err := l.Release(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	// At the cap, a task is checked and counted in one write: it takes the room a task's end
	// made, and the next is refused.
	if counted, err := l.Admit(ctx, "t"); err != nil || !counted {
		t.Fatalf("after a task ended: counted %v, %v; want counted by the check", counted, err)
	}
	_, err = l.Admit(ctx, "t")
	wantCode(t, err, CodeQuotaExceeded)
	if n := inFlight(t, dynamo, table, "t"); n != 3 {
		t.Errorf("count = %d, want 3", n)
	}
	// Once a check finds room to spare, tasks are admitted uncounted again (counted with the write).
	for range 2 {
		if err := l.Release(ctx, "t"); err != nil {
			t.Fatal(err)
		}
	}
	if counted, err := l.Admit(ctx, "t"); err != nil || !counted {
		t.Fatalf("below the cap, first check: counted %v, %v", counted, err)
	}
	if counted, err := l.Admit(ctx, "t"); err != nil || counted {
		t.Fatalf("with room to spare: counted %v, %v; want admitted uncounted", counted, err)
	}
}

// TestInFlightOvershootBound: tasks admitted uncounted and counted concurrently pass the cap by
// fewer than the accepts in flight at once, and the tenant is refused once its count is seen.
func TestInFlightOvershootBound(t *testing.T) {
	dynamo, table := suite.Table(t, "limits")
	const ceiling, concurrent, attempts = 5, 4, 40
	l := New(dynamo, table, Limits{MaxInFlight: ceiling}, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range concurrent {
		wg.Go(func() {
			for range attempts / concurrent {
				err := admit(ctx, l, "flood")
				var le *Error
				switch {
				case err == nil:
					mu.Lock()
					admitted++
					mu.Unlock()
				case !errors.As(err, &le):
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	n := inFlight(t, dynamo, table, "flood")
	if n != admitted {
		t.Errorf("count %d, but %d admitted: every admitted task is counted once", n, admitted)
	}
	if n < ceiling || n > ceiling+concurrent-1 {
		t.Errorf("count %d, want from %d to %d (the cap plus fewer than the accepts in flight)", n, ceiling, ceiling+concurrent-1)
	}
	_, err := l.Admit(ctx, "flood")
	wantCode(t, err, CodeQuotaExceeded)
}

// TestInFlightCountIsExact: N tasks admitted concurrently and N ends leave the count at zero.
func TestInFlightCountIsExact(t *testing.T) {
	dynamo, table := suite.Table(t, "limits")
	const tasks = 30
	l := New(dynamo, table, Limits{MaxInFlight: 1000}, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range tasks {
		wg.Go(func() {
			if err := admit(ctx, l, "t"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := inFlight(t, dynamo, table, "t"); n != tasks {
		t.Fatalf("count after %d accepts = %d", tasks, n)
	}
	for range tasks {
		wg.Go(func() {
			if err := l.Release(ctx, "t"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := inFlight(t, dynamo, table, "t"); n != 0 {
		t.Errorf("count after %d accepts and ends = %d, want 0", tasks, n)
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
		if err := allow(l, "big", 1); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 { // unbounded in flight
		if err := admit(ctx, l, "big"); err != nil {
			t.Fatal(err)
		}
	}
	for range 1 + 1 { // its rate, and one on credit
		if err := allow(l, "small", 1); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, allow(l, "small", 1), CodeRateLimited)
}

// TestUnboundedWritesNothing: with no limits the table is never touched.
func TestUnboundedWritesNothing(t *testing.T) {
	l := New(nil, "none", Limits{}, nil)
	if err := l.Allow(context.Background(), "t", 1); err != nil {
		t.Fatal(err)
	}
	if err := admit(context.Background(), l, "t"); err != nil {
		t.Fatal(err)
	}
}

// releasesDB is a DynamoDB that records each UpdateItem's delta, holds the first until release is
// closed, and refuses (as a failed condition) the deltas in refuse.
type releasesDB struct {
	mu      sync.Mutex
	deltas  []string
	first   chan struct{}
	release chan struct{}
	refuse  map[string]bool
	// conditions, when set, collects each UpdateItem's condition ("" for none).
	conditions *[]string
}

func (d *releasesDB) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	delta := in.ExpressionAttributeValues[":delta"].(*types.AttributeValueMemberN).Value
	d.mu.Lock()
	d.deltas = append(d.deltas, delta)
	if d.conditions != nil {
		*d.conditions = append(*d.conditions, aws.ToString(in.ConditionExpression))
	}
	first := len(d.deltas) == 1
	d.mu.Unlock()
	if first {
		close(d.first)
		<-d.release
	}
	if d.refuse[delta] {
		return nil, &types.ConditionalCheckFailedException{}
	}
	return &dynamodb.UpdateItemOutput{}, nil
}

func (d *releasesDB) calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.deltas)
}

// releaseWhileHeld releases one task of tenant "t", then more more while its write is held, and
// answers the deltas written once all returned.
func releaseWhileHeld(t *testing.T, db *releasesDB, more int) []string {
	t.Helper()
	l := New(db, "none", Limits{MaxInFlight: 100}, nil)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := l.Release(context.Background(), "t"); err != nil {
			t.Error(err)
		}
	})
	<-db.first
	for range more {
		wg.Go(func() {
			if err := l.Release(context.Background(), "t"); err != nil {
				t.Error(err)
			}
		})
	}
	// The later releases are waiting for the held write: none of them is written yet.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if time.Now().After(deadline) {
			close(db.release)
			t.Fatalf("the later releases did not gather behind the held write: written %v", db.calls())
		}
		l.mu.Lock()
		n := 0
		if r := l.releasing["t"]; r != nil && r.next != nil {
			n = r.next.n
		}
		l.mu.Unlock()
		if n == more {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(db.release)
	wg.Wait()
	return db.calls()
}

// TestReleasesOfOneTenantBatched: releases that come while one is being written are written
// together, as one ADD of minus their number.
func TestReleasesOfOneTenantBatched(t *testing.T) {
	db := &releasesDB{first: make(chan struct{}), release: make(chan struct{})}
	if got, want := releaseWhileHeld(t, db, 9), []string{"-1", "-9"}; !slices.Equal(got, want) {
		t.Errorf("deltas written = %v, want %v", got, want)
	}
}

// TestReleasesAreUnconditional: a batch of releases is one ADD whatever the count reads (the
// writes carry no condition), so a release that comes before its task's count is not lost.
func TestReleasesAreUnconditional(t *testing.T) {
	db := &releasesDB{first: make(chan struct{}), release: make(chan struct{}), conditions: new([]string)}
	if got, want := releaseWhileHeld(t, db, 3), []string{"-1", "-3"}; !slices.Equal(got, want) {
		t.Errorf("deltas written = %v, want %v", got, want)
	}
	for _, c := range *db.conditions {
		if c != "" {
			t.Errorf("a release was conditional: %q", c)
		}
	}
}

// TestReleaseBeforeItsCount: a fast task that ends before its count lands (the count runs beside
// the task's write and send) leaves the count exact once it lands; an end of a task accept did
// not count, of a tenant with a cap, takes only a place the count has; and without a cap an
// uncounted task's end writes nothing.
func TestReleaseBeforeItsCount(t *testing.T) {
	dynamo, table := suite.Table(t, "limits")
	l := New(dynamo, table, Limits{MaxInFlight: 2}, nil)
	ctx := context.Background()
	ended := l.Ended(slog.New(slog.DiscardHandler))
	ended(ctx, &task.Task{ID: "fast", Tenant: "t", InFlightCounted: true})
	if n := inFlight(t, dynamo, table, "t"); n != -1 {
		t.Fatalf("count after the release = %d, want -1 until the count lands", n)
	}
	if err := l.Count(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if n := inFlight(t, dynamo, table, "t"); n != 0 {
		t.Fatalf("count once the late count landed = %d, want 0", n)
	}
	ended(ctx, &task.Task{ID: "legacy", Tenant: "t"})
	if n := inFlight(t, dynamo, table, "t"); n != 0 {
		t.Errorf("count after an uncounted task's end = %d, want 0", n)
	}
	free := New(noWritesDB{t}, "none", Limits{}, nil)
	free.Ended(slog.New(slog.DiscardHandler))(ctx, &task.Task{ID: "x", Tenant: "t"})
}

// noWritesDB fails the test on any write.
type noWritesDB struct{ t *testing.T }

func (d noWritesDB) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	d.t.Error("a write for a task of a tenant without a cap")
	return &dynamodb.UpdateItemOutput{}, nil
}

// countingDB counts a DynamoDB's UpdateItem calls (the limiter's writes).
type countingDB struct {
	DynamoDB
	mu     sync.Mutex
	writes int
}

func (d *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	d.mu.Lock()
	d.writes++
	d.mu.Unlock()
	return d.DynamoDB.UpdateItem(ctx, in, opts...)
}

func (d *countingDB) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writes
}

// TestLightTenantWritesOncePerBlock: a light tenant's requests, spread over seconds, cost one
// reservation write per instance and block of ten seconds, not one per second: the first
// reservation reserves the instance's demand in each later second of the block.
func TestLightTenantWritesOncePerBlock(t *testing.T) {
	dynamo, tbl := suite.Table(t, "limits")
	start := time.Unix(1_800_001_000, 100_000_000) // the first second of a block
	for _, tc := range []struct {
		name string
		// costs are the requests, one per entry, at the offsets in seconds of at.
		costs, at []int
		want      int
	}{
		{"one a second", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 1},
		{"one every other second, two blocks", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, []int{0, 2, 4, 6, 8, 10, 12, 14, 16, 18}, 2},
		{"long polls (cost 5) each second", []int{5, 5, 5, 5, 5}, []int{0, 1, 2, 3, 4}, 1},
		// The first reservation (second 3) knows of a demand of 1; the poll's tops the later
		// seconds up to 6, the second's demand.
		{"an invoke and a long poll every other second, from mid-block", []int{1, 5, 1, 5, 1, 5}, []int{3, 3, 5, 5, 7, 7}, 2},
		{"an invoke, a long poll a second later", []int{1, 5, 1, 5, 1, 5}, []int{0, 1, 2, 3, 4, 5}, 2},
		// The block before's demand sizes the first reservation of the next.
		{"a busy second, then light in the next block", []int{8, 1, 8}, []int{0, 10, 11}, 2},
		// ...but not that of an older block: an idle tenant's demand is forgotten.
		{"a busy second, then light two blocks later", []int{8, 1, 8}, []int{0, 20, 21}, 3},
		{"a second at its lease, then light", []int{2, 2, 1, 1}, []int{0, 0, 1, 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := &countingDB{DynamoDB: dynamo}
			c := &clock{}
			l := New(db, tbl, Limits{Rate: 20}, nil).WithClock(c.now)
			tenant := "light-" + strconv.Itoa(int(start.Unix()))
			start = start.Add(100 * time.Second) // each case a block of its own
			for i, cost := range tc.costs {
				c.t = time.Unix(start.Unix()+int64(tc.at[i]), 500_000_000)
				if err := allow(l, tenant, cost); err != nil {
					t.Fatalf("request %d: %v", i+1, err)
				}
			}
			if got := db.count(); got != tc.want {
				t.Errorf("%d reservation writes for %d requests, want %d", got, len(tc.costs), tc.want)
			}
		})
	}
}

// rateCount reads what the table counts of the tenant's budget in second (Unix).
func rateCount(t *testing.T, db *dynamodb.Client, tbl, tenant string, second int64) int {
	t.Helper()
	block := second - second%blockSeconds
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(tbl), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{table.AttrPK: table.S(table.TenantKey("TENANTRATE", tenant, strconv.FormatInt(block, 10))), table.AttrSK: table.S("RATE")}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if v, ok := out.Item["s"+strconv.FormatInt(second-block, 10)].(*types.AttributeValueMemberN); ok {
		n, _ = strconv.Atoi(v.Value)
	}
	return n
}

// TestReservedAheadKeepsTheRate: two instances that reserved ahead earlier in the block together
// still let through exactly the rate in a later second, and one request each on credit; the
// next is refused with a Retry-After within the second, and the table never counts more than
// the rate for that second.
func TestReservedAheadKeepsTheRate(t *testing.T) {
	dynamo, tbl := suite.Table(t, "limits")
	const rate = 20
	c := &clock{time.Unix(1_800_002_000, 0)}
	a := New(dynamo, tbl, Limits{Rate: rate}, nil).WithClock(c.now)
	b := New(dynamo, tbl, Limits{Rate: rate}, nil).WithClock(c.now)
	for _, l := range []*Limiter{a, b} {
		if err := allow(l, "t", 5); err != nil { // each reserves 5 ahead in seconds 1 to 9
			t.Fatal(err)
		}
	}
	c.t = c.t.Add(3*time.Second + 400*time.Millisecond)
	if n := rateCount(t, dynamo, tbl, "t", c.t.Unix()); n != 10 {
		t.Fatalf("reserved ahead for second 3: %d, want 5 per instance", n)
	}
	allowed := 0
	for range 2 * rate {
		for _, l := range []*Limiter{a, b} {
			err := allow(l, "t", 1)
			if err == nil {
				allowed++
				continue
			}
			le := wantCode(t, err, CodeRateLimited)
			if le.RetryAfter <= 0 || le.RetryAfter > 600*time.Millisecond {
				t.Fatalf("RetryAfter = %v, want the 600 ms left of the second", le.RetryAfter)
			}
		}
	}
	if allowed != rate+2 {
		t.Errorf("%d requests allowed in one second, want %d: the rate and one on credit per instance", allowed, rate+2)
	}
	if n := rateCount(t, dynamo, tbl, "t", c.t.Unix()); n > rate {
		t.Errorf("the table counts %d for the second, over the rate %d", n, rate)
	}
}

// TestReservedAheadTakesAtMostHalf: however many instances reserve ahead, together they take at
// most half of a later second's budget; an instance refused ahead reserves for the current
// second alone (and no longer ahead in the block), and a new instance still gets the other half
// in a later second.
func TestReservedAheadTakesAtMostHalf(t *testing.T) {
	dynamo, tbl := suite.Table(t, "limits")
	const rate = 20
	c := &clock{time.Unix(1_800_003_000, 0)}
	db := &countingDB{DynamoDB: dynamo}
	var ls []*Limiter
	for i := range 4 {
		l := New(db, tbl, Limits{Rate: rate}, nil).WithClock(c.now)
		ls = append(ls, l)
		if err := allow(l, "t", 5); err != nil {
			t.Fatalf("instance %d: %v", i+1, err)
		}
	}
	// Two reserved 5 ahead each; the third and fourth were refused ahead and tried again for
	// second 0 alone.
	if got, want := db.count(), 2+2*2; got != want {
		t.Errorf("%d writes, want %d", got, want)
	}
	if n := rateCount(t, dynamo, tbl, "t", c.t.Unix()+1); n != rate/aheadShare {
		t.Errorf("reserved ahead for second 1: %d, want %d", n, rate/aheadShare)
	}
	// The third instance reserves for the current second alone now: no failed write ahead first.
	c.t = c.t.Add(time.Second)
	before := db.count()
	if err := allow(ls[2], "t", 5); err != nil {
		t.Fatal(err)
	}
	if got := db.count() - before; got != 1 {
		t.Errorf("%d writes for a request of an instance refused ahead, want 1", got)
	}
	fresh := New(dynamo, tbl, Limits{Rate: rate}, nil).WithClock(c.now)
	allowed := 0
	for range rate {
		if allow(fresh, "t", 1) == nil {
			allowed++
		}
	}
	// Second 1: 10 reserved ahead, 5 by the third instance, so 5 left and one on credit.
	if allowed != 5+1 {
		t.Errorf("a new instance got %d of second 1, want %d", allowed, 5+1)
	}
}
