// Package bench measures the whole pipeline on one machine, on 127.0.0.1: the local system (the
// emulators, the API, the worker, the notifier: the handlers the Lambda functions run) under a
// bounded load of invocations of the echo agent, with every AWS request counted by SDK
// middleware (Meter), every handler invocation timed as Lambda would bill it, and the whole priced
// with one table of list prices (Prices). It prints the figures of DESIGN.md's "Cost per task":
//
//	e2e: tasks=N agent_ms=1000 throughput=X/s accept_p50_ms=… accept_p99_ms=… complete_p50_ms=…
//	limits: rate=20 max_in_flight=200 tenants=40 refused_e2e=0 refused=0
//	accept: round_trips=R …
//	worker: billed_ms_per_task=X batch=10 …
//	worker: long_running agent_ms=10000 billed_ms_per_task=X …
//	memory: fn=… configured_mb=… peak_mb=…
//	cost: usd_per_million_tasks=X dynamodb=… lambda=… sqs=… apigw=… eventbridge=… s3=… floor_usd=…
//	cost: completion_events eventbridge=… every_outcome_would_add=…
//	compare: step_functions_usd_per_million=…
//
// No figure is asserted anywhere: speed is for benchmarks.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/aws/smithy-go/middleware"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/local/system"
	"github.com/agentq/agentq/shared/tenantlimit"
	"github.com/agentq/agentq/shared/worksource"
)

// Config bounds a run.
type Config struct {
	// Tasks is how many tasks the end-to-end run submits, from Clients concurrent clients.
	Tasks, Clients int
	// Agent is how long the echo agent takes on each task.
	Agent time.Duration
	// Latency is what is added to every AWS request to count the accept path's round trips.
	Latency time.Duration
	// Samples is how many accepts each variant times, with and without Latency.
	Samples int
	// BatchTasks is how many tasks the batch run queues before a worker drains them.
	BatchTasks int
	// LongAgent are the running times of the long-running A2A agent the worker checks on
	// instead of waiting; LongTasks tasks run at each.
	LongAgent []time.Duration
	LongTasks int
	// ReceiptKMS signs receipts as the KMS-key option does (a KMS Sign per signature) instead of
	// with the sealed key, the default (a KMS Decrypt per function instance).
	ReceiptKMS bool
	// Functions are the built function binaries by name (invoke, poll, worker), run under a
	// fake Lambda Runtime API to measure each one's peak memory; empty skips that run.
	Functions map[string]string
	// Limits are every tenant's limits, as a deployment applies them (tenantlimit.Defaults); the
	// zero value runs without. Tenants is how many tenants the requests are spread over (default
	// Clients, one per client of the end-to-end run, so that none is refused).
	Limits  tenantlimit.Limits
	Tenants int
	// Timeout bounds the whole run.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Defaults are a run that ends within a few minutes on two cores.
var Defaults = Config{Tasks: 200, Clients: 40, Agent: time.Second, Latency: 25 * time.Millisecond, Samples: 7,
	BatchTasks: 100, LongAgent: []time.Duration{5 * time.Second, 10 * time.Second}, LongTasks: 10, Timeout: 6 * time.Minute,
	Limits: tenantlimit.Defaults}

// Bench is a running local system with its meters.
type Bench struct {
	cfg   Config
	sys   *system.System
	meter *Meter
	inv   *Invocations
	api   *tenants
	w     io.Writer
	ctx   context.Context

	// batchMsPerTask is the batch run's worker handler time per task, unscaled by memory.
	batchMsPerTask float64

	stopWorker context.CancelFunc
	workerDone chan struct{}
}

// Run starts a local system on 127.0.0.1, runs every measurement and writes the figures to w.
func Run(ctx context.Context, c Config, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Bench{cfg: c, meter: NewMeter(), inv: NewInvocations(), w: w, ctx: ctx}
	long, err := startLongAgent(10 * time.Second)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer long.Close()
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	apiKey := "aq_bench_" + hex.EncodeToString(key)
	sys, err := system.Start(ctx, system.Options{
		Addr: "127.0.0.1:0", APIKey: apiKey, NoWorker: true, Logger: c.Logger, Visibility: 30 * time.Second,
		// As the functions cache key and agent lookups: a read of each per request is not what runs.
		KeyCacheTTL: backend.KeyCacheTTL, AgentCacheTTL: backend.AgentCacheTTL, WebhookURLsTTL: backend.WebhookURLsTTL,
		APIOptions: []func(*middleware.Stack) error{b.meter.APIOption}, OnInvocation: b.inv.Add,
		// Receipts are signed as on AWS: by default with the sealed key, opened once (a KMS
		// Decrypt) per instance; with the KMS-key option each signature is a KMS Sign, counted
		// as one though the local key makes it.
		SealedReceiptKey: !c.ReceiptKMS,
		ReceiptKeyOpened: func(ctx context.Context) { b.meter.Note(ctx, "KMS.Decrypt") },
		ReceiptSigned:    b.kmsSign(),
		Agents:           []agent.Agent{long.Agent()},
		// A deployment's tenant limits, so that what is measured is what is deployed.
		TenantLimits: c.Limits,
		// Published as an agent that knows its length would be: callers come back after it.
		EchoExpected: c.Agent,
	})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer sys.Close()
	b.sys = sys
	create := func(ctx context.Context, tenant string) (string, error) {
		key, _, err := sys.APIKeys.Create(ctx, tenant, "bench")
		return key, err
	}
	if b.api, err = newTenants(ctx, sys.APIURL, newClient(sys.APIURL, apiKey), max(c.Tenants, c.Clients, 1), create); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	b.api.warm(ctx)
	defer b.workerOff()

	b.workerOn(worksource.MaxConcurrency) // as many batches at once as the stack's event source runs
	if err := b.acceptRoundTrips(); err != nil {
		return err
	}
	if err := b.endToEnd(); err != nil {
		return err
	}
	b.workerOff()
	if err := b.batch(); err != nil {
		return err
	}
	if err := b.longRunning(); err != nil {
		return err
	}
	return b.memory()
}

// kmsSign answers what counts a receipt signature: a KMS Sign with the KMS-key option, nothing
// (a signature in memory) with the sealed key.
func (b *Bench) kmsSign() func(ctx context.Context) {
	if !b.cfg.ReceiptKMS {
		return nil
	}
	return func(ctx context.Context) { b.meter.Note(ctx, "KMS.Sign") }
}

// workerOn runs a worker with that many pollers of the work queue, as the functions' event source
// mapping does, until workerOff.
func (b *Bench) workerOn(pollers int) {
	ctx, cancel := context.WithCancel(b.ctx)
	b.stopWorker, b.workerDone = cancel, make(chan struct{})
	o := b.sys.WorkerOptions(nil)
	o.Pollers, o.Logger, o.OnInvocation = pollers, b.cfg.Logger, b.inv.Add
	o.APIOptions = []func(*middleware.Stack) error{b.meter.APIOption}
	go func() {
		defer close(b.workerDone)
		_ = system.RunWorker(ctx, o)
	}()
}

func (b *Bench) workerOff() {
	if b.stopWorker != nil {
		b.stopWorker()
		<-b.workerDone
		b.stopWorker = nil
	}
}
