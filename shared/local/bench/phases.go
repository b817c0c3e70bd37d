package bench

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/agentq/agentq/shared/tenantlimit"
)

// variant is one shape of accept whose round trips are counted.
type variant struct {
	name string
	sub  submission
}

// acceptRoundTrips times Samples accepts of each variant without and with Latency added to every
// AWS request: the added accept latency over Latency is the number of sequential round trips. A
// thread variant continues a conversation of two turns (so its thread record exists), a new one
// for every timed accept, so that no conversation piles up turns that wait on each other.
func (b *Bench) acceptRoundTrips() error {
	var variants []variant
	for _, sn := range []bool{false, true} {
		d := "xpander"
		if sn {
			d = "servicenet"
		}
		variants = append(variants,
			variant{d, submission{servicenet: sn}},
			variant{d + "_idempotency", submission{servicenet: sn, idempotencyKey: "-"}},
			variant{d + "_thread", submission{servicenet: sn, thread: "-"}},
			variant{d + "_thread_idempotency", submission{servicenet: sn, thread: "-", idempotencyKey: "-"}})
	}
	var ids []accepted
	var parts []string
	worst := 0.0
	for _, v := range variants {
		// Alternately without and with the latency, so that a change in the machine's load falls
		// on both; the fastest of each is the one least disturbed by it.
		var fastest [2]time.Duration
		for range b.cfg.Samples {
			for i, delay := range []time.Duration{0, b.cfg.Latency} {
				s := v.sub
				if s.thread != "" {
					thread, started, err := b.startThread(s.servicenet)
					if err != nil {
						return err
					}
					s.thread, ids = thread, append(ids, started...)
				}
				if s.idempotencyKey != "" {
					s.idempotencyKey = newKey()
				}
				b.meter.SetDelay(delay)
				a, err := b.api.submit(b.ctx, s)
				b.meter.SetDelay(0)
				if err != nil {
					return fmt.Errorf("accept %s: %w", v.name, err)
				}
				ids = append(ids, a)
				if fastest[i] == 0 || a.took < fastest[i] {
					fastest[i] = a.took
				}
			}
		}
		r := float64(fastest[1]-fastest[0]) / float64(b.cfg.Latency)
		worst = max(worst, r)
		parts = append(parts, fmt.Sprintf("%s=%.1f", v.name, r))
	}
	fmt.Fprintf(b.w, "accept: round_trips=%.1f injected_ms=%d samples=%d limits=%s %s\n", worst, b.cfg.Latency.Milliseconds(), b.cfg.Samples, b.limitsOn(), strings.Join(parts, " "))
	return b.awaitAll(ids)
}

// startThread starts a conversation of two turns and answers its id and the turns' tasks.
func (b *Bench) startThread(servicenet bool) (string, []accepted, error) {
	s := submission{servicenet: servicenet}
	if servicenet {
		s.thread = "bench-" + newKey() // a context_id names its conversation from its first turn
	}
	first, err := b.api.submit(b.ctx, s)
	if err != nil {
		return "", nil, fmt.Errorf("start a conversation: %w", err)
	}
	if !servicenet {
		s.thread = first.thread
	}
	second, err := b.api.submit(b.ctx, s)
	if err != nil {
		return "", nil, fmt.Errorf("continue a conversation: %w", err)
	}
	return s.thread, []accepted{first, second}, nil
}

// awaitAll waits until every task in ids has ended.
func (b *Bench) awaitAll(ids []accepted) error {
	for _, a := range ids {
		for {
			done, _, err := b.api.status(b.ctx, a.id, false, 5*time.Second)
			if err != nil {
				return err
			}
			if done {
				break
			}
		}
	}
	return nil
}

// endToEnd submits Tasks tasks of an Agent-long agent from Clients clients, half in each dialect;
// each client then long-polls its task until it ends. It prints the latencies and throughput, and
// prices what the run used.
func (b *Bench) endToEnd() error {
	b.meter.Reset()
	b.inv.Reset()
	refusedBefore := b.api.refused.Load()
	n := b.cfg.Tasks
	acceptTook, completeTook := make([]time.Duration, n), make([]time.Duration, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range b.cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				acceptTook[i], completeTook[i], errs[i] = b.oneTask(i%2 == 1, 0)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("end to end: %w", err)
		}
	}
	time.Sleep(2 * time.Second) // the notifier's stream batches
	used := b.used()
	fmt.Fprintf(b.w, "e2e: tasks=%d agent_ms=%d throughput=%.1f/s accept_p50_ms=%.1f accept_p99_ms=%.1f complete_p50_ms=%.0f complete_p99_ms=%.0f elapsed_s=%.1f\n",
		n, b.cfg.Agent.Milliseconds(), float64(n)/elapsed.Seconds(), ms(percentile(acceptTook, 50)), ms(percentile(acceptTook, 99)),
		ms(percentile(completeTook, 50)), ms(percentile(completeTook, 99)), elapsed.Seconds())
	fmt.Fprintf(b.w, "limits: rate=%d max_in_flight=%d tenants=%d refused_e2e=%d refused=%d\n", b.cfg.Limits.Rate, b.cfg.Limits.MaxInFlight,
		len(b.api.clients), b.api.refused.Load()-refusedBefore, b.api.refused.Load())
	b.printCost(used, n)
	return b.polls()
}

// oneTask submits a task and reads it until it ends: long polls of up to 20 s, the first when
// the accept's Retry-After said and each next no sooner than the last answer's Retry-After, as
// the client's Wait does; or, with every > 0, plain reads that often. It answers how long the
// accept and the whole task took.
func (b *Bench) oneTask(servicenet bool, every time.Duration) (time.Duration, time.Duration, error) {
	start := time.Now()
	a, err := b.api.submit(b.ctx, submission{servicenet: servicenet, agent: b.cfg.Agent})
	if err != nil {
		return 0, 0, err
	}
	wait, next := 20*time.Second, a.readAt
	if every > 0 {
		wait = 0
	}
	for {
		if every > 0 {
			next = time.Now().Add(every)
		}
		if err := b.pause(time.Until(next)); err != nil {
			return 0, 0, err
		}
		read := time.Now()
		done, retry, err := b.api.status(b.ctx, a.id, servicenet, wait)
		if err != nil {
			return 0, 0, err
		}
		if done {
			return a.took, time.Since(start), nil
		}
		next = read.Add(retry)
	}
}

// pause waits d, or until the run ends.
func (b *Bench) pause(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-b.ctx.Done():
		return b.ctx.Err()
	}
}

// used answers what was used since the meters were reset.
func (b *Bench) used() Used {
	count, billed := b.inv.Snapshot()
	return Used{AWS: b.meter.Usage(), Count: count, BilledMs: billed}
}

// printCost prints what n tasks cost, per million, beside the floor and Step Functions, and where
// the money goes.
func (b *Bench) printCost(u Used, n int) {
	perM := 1e6 / float64(n)
	bill := Price(u, Prices).Scale(perM)
	floor := Floor(b.cfg.Agent, Prices).Scale(1e6)
	fmt.Fprintf(b.w, "cost: usd_per_million_tasks=%.2f dynamodb=%.2f lambda=%.2f sqs=%.2f apigw=%.2f eventbridge=%.2f s3=%.2f kms=%.2f floor_usd=%.2f\n",
		bill.Total(), bill.DynamoDB, bill.Lambda, bill.SQS, bill.APIGateway, bill.EventBridge, bill.S3, bill.KMS, floor.Total())
	// Completion events go out for the tasks that ask (none of the bench's): what all would cost.
	fmt.Fprintf(b.w, "cost: completion_events eventbridge=%.2f every_outcome_would_add=%.2f\n", bill.EventBridge, EveryOutcomeEvent(Prices))
	if sf, err := StepFunctions(StepFunctionsDefinition, Prices); err == nil {
		tr, _ := Transitions(StepFunctionsDefinition)
		fmt.Fprintf(b.w, "compare: step_functions_usd_per_million=%.2f transitions_per_task=%d agentq_usd_per_million=%.2f\n",
			sf.Scale(1e6).Total(), tr, bill.Total())
	}
	// Where it goes: per task, by function, the requests and capacity units.
	for _, fn := range sortedKeys(u.AWS) {
		a := u.AWS[fn]
		var ops []string
		for _, op := range sortedKeys(a.Calls) {
			ops = append(ops, fmt.Sprintf("%s=%.2f", op, float64(a.Calls[op])/float64(n)))
		}
		var wru, rru []string
		for _, t := range sortedKeys(a.WRU) {
			wru = append(wru, fmt.Sprintf("%s=%.2f", t, a.WRU[t]/float64(n)))
		}
		for _, t := range sortedKeys(a.RRU) {
			rru = append(rru, fmt.Sprintf("%s=%.2f", t, a.RRU[t]/float64(n)))
		}
		name := fn
		if name == "" {
			name = "other"
		}
		fmt.Fprintf(b.w, "  per_task fn=%s invocations=%.2f billed_ms=%.1f calls: %s wru: %s rru: %s\n", name,
			float64(u.Count[fn])/float64(n), u.BilledMs[fn]/float64(n), strings.Join(ops, " "), strings.Join(wru, " "), strings.Join(rru, " "))
	}
}

// polls prices what reading a task until it ends costs: long polls against a plain read every 2 s.
func (b *Bench) polls() error {
	n := max(b.cfg.Tasks/4, 10)
	var parts []string
	for _, mode := range []struct {
		name  string
		every time.Duration
	}{{"long_poll", 0}, {"poll_2s", 2 * time.Second}} {
		b.meter.Reset()
		b.inv.Reset()
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, errs[i] = b.oneTask(i%2 == 1, mode.every)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return fmt.Errorf("polls: %w", err)
			}
		}
		u := b.used().Only("poll")
		bill := Price(u, Prices).Scale(1e6 / float64(n))
		parts = append(parts, fmt.Sprintf("%s_usd_per_million=%.2f %s_reads_per_task=%.2f", mode.name, bill.Total(), mode.name, float64(u.Count["poll"])/float64(n)))
	}
	fmt.Fprintf(b.w, "cost: polls tasks=%d %s\n", n, strings.Join(parts, " "))
	return nil
}

// batch queues BatchTasks tasks with no worker running, then lets a worker with enough pollers
// drain them in batches of ten, and prints the worker's billed milliseconds per task: its
// handler's duration per batch, rounded up, times its memory in GB, over the tasks.
func (b *Bench) batch() error {
	n := b.cfg.BatchTasks
	// A receive cut short when the worker stopped may still take a message on the emulator's side
	// for up to its wait (1 s); that message would then wait out its visibility timeout.
	time.Sleep(1500 * time.Millisecond)
	var ids []accepted
	for i := range n {
		a, err := b.api.submit(b.ctx, submission{servicenet: i%2 == 1, agent: b.cfg.Agent})
		if err != nil {
			return fmt.Errorf("batch: %w", err)
		}
		ids = append(ids, a)
	}
	b.inv.Reset()
	b.workerOn(n / 10)
	if err := b.awaitAll(ids); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	b.workerOff()
	count, billed := b.inv.Snapshot()
	gb := MemoryMB["worker"] / 1024
	b.batchMsPerTask = billed["worker"] / float64(n)
	fmt.Fprintf(b.w, "worker: billed_ms_per_task=%.1f batch=%.1f agent_ms=%d memory_mb=%.0f invocations=%d\n",
		billed["worker"]*gb/float64(n), float64(n)/float64(max(count["worker"], 1)), b.cfg.Agent.Milliseconds(), MemoryMB["worker"], count["worker"])
	return nil
}

// longRunning queues LongTasks tasks of the long-running A2A agent at each of its LongAgent
// times, lets one worker poller drain them (batches of ten, as in batch) and prints the worker's
// billed milliseconds per task (times its memory in GB): the worker sends the call, gives the
// agent its short A2A wait, then checks back on delayed messages, so what it is billed should not
// grow with the agent's time.
func (b *Bench) longRunning() error {
	gb := MemoryMB["worker"] / 1024
	for _, work := range b.cfg.LongAgent {
		var ids []accepted
		for i := range b.cfg.LongTasks {
			a, err := b.api.submit(b.ctx, submission{servicenet: i%2 == 1, agentID: LongAgentID, text: work.String()})
			if err != nil {
				return fmt.Errorf("long-running: %w", err)
			}
			ids = append(ids, a)
		}
		b.inv.Reset()
		b.workerOn(1)
		start := time.Now()
		err := b.awaitAll(ids)
		took := time.Since(start)
		b.workerOff()
		if err != nil {
			return fmt.Errorf("long-running: %w", err)
		}
		count, billed := b.inv.Snapshot()
		n := float64(b.cfg.LongTasks)
		fmt.Fprintf(b.w, "worker: long_running agent_ms=%d billed_ms_per_task=%.1f invocations_per_task=%.1f tasks=%d memory_mb=%.0f elapsed_s=%.1f\n",
			work.Milliseconds(), billed["worker"]*gb/n, float64(count["worker"])/n, b.cfg.LongTasks, MemoryMB["worker"], took.Seconds())
	}
	return nil
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func newKey() string {
	k := make([]byte, 8)
	_, _ = rand.Read(k)
	return hex.EncodeToString(k)
}

// limitsOn says whether the run applies tenant limits: "on" or "off".
func (b *Bench) limitsOn() string {
	if b.cfg.Limits == (tenantlimit.Limits{}) {
		return "off"
	}
	return "on"
}
