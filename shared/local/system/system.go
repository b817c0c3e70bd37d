// Package system runs the whole system on one machine, with no cloud and no Docker: the AWS
// emulators, the table and queues built from the same definitions the CDK stack uses, the bucket
// for large payloads, the HTTP API, the worker fed by a local event source mapping, the echo
// demo agent, and events in and out: a local EventBridge bus (package eventbus) whose invoke
// events, like the ingest queue's messages, reach the trigger handler; the notifier fed by the
// table's stream; and the webhook deliverer fed by its queue. The handlers are exactly those the
// Lambda functions run.
package system

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"

	"github.com/agentq/agentq/shared/a2apush"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/backend/work"
	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/deadline"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/keystore"
	"github.com/agentq/agentq/shared/local/demoagent"
	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/local/esm"
	"github.com/agentq/agentq/shared/local/eventbus"
	"github.com/agentq/agentq/shared/netguard"
	"github.com/agentq/agentq/shared/outputschema"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/receipt"
	"github.com/agentq/agentq/shared/sweeper"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/tenantlimit"
	"github.com/agentq/agentq/shared/trigger"
	"github.com/agentq/agentq/shared/webhook"
	"github.com/agentq/agentq/shared/webhook/settings"
)

// Options configures a local system. The zero value of every field but APIKey is usable.
type Options struct {
	// Addr is where the API listens; default 127.0.0.1:8042. Use 127.0.0.1:0 for a free port.
	Addr string
	// APIKey is the key callers present; it belongs to Tenant.
	APIKey string
	// AdminKey may publish agents; empty disables the admin routes.
	AdminKey string
	// Tenant owns APIKey; default "default".
	Tenant string
	// Agents are published besides echo.
	Agents []agent.Agent
	// EchoExpected is the echo agent's expected_duration (the bench gives the delay its tasks ask
	// for); zero declares none.
	EchoExpected time.Duration
	// DynamoDBEndpoint and SQSEndpoint, when both set, are used instead of starting emulators.
	DynamoDBEndpoint, SQSEndpoint string
	// DataDir keeps DynamoDB's data across runs; empty keeps it in memory.
	DataDir string
	// Table and Queue name the task table and work queue; defaults agentq-tasks and agentq-work.
	Table, Queue string
	// Bucket names the bucket for payloads too large for the table, on the S3 that fauxqs serves
	// at the SQS endpoint; default agentq-results.
	Bucket string
	// Visibility is the work queue's visibility timeout; default 2 minutes.
	Visibility time.Duration
	// CheckBackoff overrides the delay between checks on agents still working on a task.
	CheckBackoff func(n int) time.Duration
	// LambdaEndpoint, when set, is where Lambda agents are invoked (a Lambda emulator); without
	// it Lambda agents fail with a clear error.
	LambdaEndpoint string
	// Backoff overrides the worker's redelivery backoff.
	Backoff func(n int) time.Duration
	// TaskTTL is how long task records are kept; default 30 days.
	TaskTTL time.Duration
	// SealKey seals auth contexts' secrets: 32 bytes; empty generates a key for this run (auth
	// contexts stored under another key, in a DataDir, then no longer open).
	SealKey []byte
	// ProgressKey derives the tasks' progress tokens: 32 bytes or more; empty generates one for
	// this run. StreamFor bounds one event stream connection (default httpapi.DefaultStreamFor).
	ProgressKey []byte
	StreamFor   time.Duration
	// NoWorker starts everything but the worker's event source mappings: the work is then done
	// by RunWorker elsewhere, for example an `agentq worker` process that can be killed.
	NoWorker bool
	// SweepEvery, when set, runs the sweeper (tasks whose work message was lost) on this period,
	// as the stack's schedule does every 5 minutes; off by default. System.Sweep runs it at will.
	SweepEvery time.Duration
	// SweepStaleAfter is how long a task in flight may go unwritten before the sweeper counts its
	// message as lost; default sweeper.DefaultStaleAfter.
	SweepStaleAfter time.Duration
	// KeyCacheTTL caches API key lookups as the functions do (backend.KeyCacheTTL); default 0, no
	// cache, so a revoked key is refused at once.
	KeyCacheTTL time.Duration
	// WebhookURLsTTL reuses tenants' default webhook URLs as the functions do
	// (backend.WebhookURLsTTL); default 0, read for every notification.
	WebhookURLsTTL time.Duration
	// WebhookSecret is the operator's default webhook signing secret (whsec_...), used for
	// tenants that have none of their own; empty leaves only tenants' own secrets.
	WebhookSecret string
	// AllowLoopbackWebhooks lets webhook URLs point at this machine (AGENTQ_ALLOW_LOOPBACK_URLS=1).
	AllowLoopbackWebhooks bool
	// WebhookSchedule overrides the waits between webhook delivery attempts (tests).
	WebhookSchedule []time.Duration
	// APIOptions are added to every AWS client the system makes but the stream reader's (a meter of
	// requests, injected latency): see package bench.
	APIOptions []func(*middleware.Stack) error
	// OnInvocation, when set, is told of every handler invocation the way Lambda would bill it:
	// the function that would run it (invoke, poll, worker, notify) and how long the handler ran.
	OnInvocation func(function string, took time.Duration)
	// AgentCacheTTL caches agent lookups as the functions do (backend.AgentCacheTTL); default 0, no
	// cache, so a local publish shows at once.
	AgentCacheTTL time.Duration
	// TenantLimits are every tenant's request rate and tasks in flight, counted in the table as
	// the deployed functions count them; the zero value bounds nothing (`agentq run` passes
	// AGENTQ_TENANT_RATE and AGENTQ_TENANT_MAX_IN_FLIGHT).
	TenantLimits tenantlimit.Limits
	// CompletionEvents is config.CompletionEventsAll to put every task's outcome on the bus;
	// otherwise (config.CompletionEventsRequested, or empty) only those of the tasks that asked.
	CompletionEvents string
	// NotifyVia, when set, maps the local bus's URL to the one the notifier publishes to: a
	// fault-injection proxy in front of the bus (package faults), in tests.
	NotifyVia func(busURL string) string
	// Budget is the deadlines and retry bounds of the API, the accept core, the worker and every
	// AWS client; default deadline.Default(). Tests shorten it.
	Budget deadline.Budget
	// ReceiptKeysFile keeps the receipt signing keys (created with a first key when missing;
	// `agentq receipt-keys rotate` adds one); empty signs with a key of this run's own.
	ReceiptKeysFile string
	// ReceiptSigned, when set, is told of every receipt signature made, with the request's
	// context: with the KMS-key signer each is a KMS Sign request, which the bench counts.
	ReceiptSigned func(ctx context.Context)
	// SealedReceiptKey signs receipts as a deployment on AWS does by default: with the sealed
	// key kept in the table (package receiptkey), sealed by SealKey, instead of ReceiptKeysFile.
	SealedReceiptKey bool
	// ReceiptKeyOpened, when set, is told each time the sealed receipt key is opened: a KMS
	// Decrypt on AWS, which the bench counts.
	ReceiptKeyOpened func(ctx context.Context)
	Logger           *slog.Logger
}

// System is a running local agentq.
type System struct {
	// APIURL is the base URL of the HTTP API.
	APIURL string
	// progressKey derives the tasks' progress tokens (Options.ProgressKey, or one for this run).
	progressKey []byte
	// EchoURL is the demo agent's endpoint.
	EchoURL string
	Table   string
	Queues  queue.Queues
	// Bucket holds the payloads too large for the table.
	Bucket string
	// DynamoDB, SQS and S3 are clients of the emulators (or of the given endpoints; S3 is served
	// at the SQS endpoint).
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	S3       *s3.Client
	// DynamoDBEndpoint and SQSEndpoint are where those clients connect.
	DynamoDBEndpoint, SQSEndpoint string
	// AuthContexts keeps the auth contexts, sealed under Options.SealKey.
	AuthContexts *authctx.Store
	// APIKeys keeps the keys an admin created, over Options.APIKey.
	APIKeys *keystore.Store
	// Bus is the local EventBridge bus: completion events land on it, and invoke events put on
	// it reach the trigger handler.
	Bus *eventbus.Bus
	// Events names the queues of events in and out: webhook deliveries, the ingest queue and
	// the trigger's dead-letter queue.
	Events EventQueues
	// Receipts signs the ServiceNet receipts.
	Receipts *receipt.Issuer
	// Webhooks keeps tenants' webhook settings; Deliveries makes and logs the deliveries.
	Webhooks   *settings.Tenants
	Deliveries *webhook.Service
	// Trigger handles event-driven invocations, as the trigger function does.
	Trigger *trigger.Handler

	sweeper   *sweeper.Sweeper
	emulators *emulators.Emulators
	servers   []*http.Server
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// EventQueues are the queues of events in and out.
type EventQueues struct {
	// Webhooks feeds the deliverer; its DLQURL is where deliveries that failed every attempt go.
	Webhooks queue.Queues `json:"webhooks"`
	// Ingest takes invocations from systems that speak SQS; its DLQ catches poison messages.
	Ingest queue.Queues `json:"ingest"`
	// TriggerDLQURL receives the events the trigger rejected, with the reason.
	TriggerDLQURL string `json:"trigger_dlq_url"`
}

// Clients returns DynamoDB and SQS clients for the given endpoints, with static local credentials
// and the production budget's per-attempt timeout and retries (maxAttempts, when not zero,
// overrides the number of attempts).
func Clients(dynamoEndpoint, sqsEndpoint string, maxAttempts int) (*dynamodb.Client, *sqs.Client) {
	return clients(withAttempts(deadline.Default(), maxAttempts), dynamoEndpoint, sqsEndpoint)
}

func withAttempts(b deadline.Budget, n int) deadline.Budget {
	if n > 0 {
		b.Attempts = n
	}
	return b
}

// localAWS is the SDK configuration of every local client: static credentials, and the budget's
// per-attempt timeout and retries, as in AWS.
func localAWS(b deadline.Budget, apiOptions ...func(*middleware.Stack) error) aws.Config {
	return b.AWS(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""), APIOptions: apiOptions})
}

func clients(b deadline.Budget, dynamoEndpoint, sqsEndpoint string, apiOptions ...func(*middleware.Stack) error) (*dynamodb.Client, *sqs.Client) {
	cfg := localAWS(b, apiOptions...)
	ddb := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(dynamoEndpoint) })
	sq := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(sqsEndpoint) })
	return ddb, sq
}

// S3Client returns an S3 client for the given endpoint, with static local credentials and
// path-style addressing (the emulator serves every bucket at one host).
func S3Client(endpoint string, maxAttempts int) *s3.Client {
	return s3Client(withAttempts(deadline.Default(), maxAttempts), endpoint)
}

func s3Client(b deadline.Budget, endpoint string, apiOptions ...func(*middleware.Stack) error) *s3.Client {
	return s3.NewFromConfig(localAWS(b, apiOptions...), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
}

// createBucket creates the bucket, or finds it there already.
func createBucket(ctx context.Context, api *s3.Client, name string) error {
	_, err := api.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	var owned *s3types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	return nil
}

// Start brings the system up and returns once the API answers.
func Start(ctx context.Context, o Options) (s *System, err error) {
	if o.APIKey == "" {
		return nil, errors.New("start local system: an API key is required")
	}
	o.defaults()
	s = &System{Table: o.Table}
	started := s // a failing return sets s to nil; what was started must still stop
	defer func() {
		if err != nil {
			started.Close()
		}
	}()

	if err := s.startStorage(ctx, o); err != nil {
		return nil, err
	}
	configured, keys, admins, err := s.startAgentsAndKeys(o)
	if err != nil {
		return nil, err
	}
	if err := s.startEventQueues(ctx, o); err != nil {
		return nil, fmt.Errorf("start local system: %w", err)
	}
	if s.progressKey = o.ProgressKey; len(s.progressKey) == 0 {
		s.progressKey = make([]byte, 32)
		_, _ = rand.Read(s.progressKey) // crypto/rand never fails on Linux
	}
	p, err := backend.Build(&config.Config{
		Table: o.Table, QueueURL: s.Queues.URL, DLQARN: s.Queues.DLQARN, ResultsBucket: o.Bucket, SealKey: o.SealKey,
		Agents: configured, Keys: keys, TaskTTL: o.TaskTTL, AllowLoopbackURLs: o.AllowLoopbackWebhooks, WebhookSecret: o.WebhookSecret,
		WebhookQueueURL: s.Events.Webhooks.URL, WebhookDLQURL: s.Events.Webhooks.DLQURL, TenantLimits: o.TenantLimits,
		CompletionEvents: o.CompletionEvents,
		// The API takes agents' progress with tokens of this key; its worker hands them out.
		ProgressKey: s.progressKey,
	}, backend.Clients{DynamoDB: s.DynamoDB, SQS: s.SQS, S3: s.S3}, backend.Options{
		AgentCacheTTL: o.AgentCacheTTL, KeyCacheTTL: o.KeyCacheTTL, Logger: o.Logger, WebhookSchedule: o.WebhookSchedule,
		WebhookURLsTTL: o.WebhookURLsTTL, Budget: o.Budget,
		ReceiptKeyOpened: o.ReceiptKeyOpened,
	})
	if err != nil {
		return nil, fmt.Errorf("start local system: %w", err)
	}
	s.APIKeys, s.AuthContexts, s.Webhooks, s.Deliveries = p.Keys, p.Contexts, p.Webhooks, p.Deliveries
	s.Trigger = trigger.New(trigger.Config{
		Submitter: p.Accept, Schemas: outputschema.Checker{}, Rejects: trigger.NewSQSRejects(s.SQS, s.Events.TriggerDLQURL), DefaultTenant: o.Tenant, Logger: o.Logger,
	})
	s.Receipts = receipt.NewEphemeral()
	switch {
	case o.SealedReceiptKey:
		s.Receipts = p.Receipts
	case o.ReceiptKeysFile != "":
		if s.Receipts, err = receipt.LoadLocal(o.ReceiptKeysFile); err != nil {
			return nil, fmt.Errorf("start local system: %w", err)
		}
	}
	if o.ReceiptSigned != nil {
		s.Receipts = s.Receipts.OnSign(o.ReceiptSigned)
	}
	api := httpapi.New(s.apiConfig(o, p, admins))
	s.sweeper = p.Sweeper(o.SweepStaleAfter)
	apiLn, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("start api on %s: %w", o.Addr, err)
	}
	s.APIURL = "http://" + apiLn.Addr().String()
	s.serve(apiLn, timedAPI(api, o.OnInvocation))

	if err := s.runLoops(ctx, o, p); err != nil {
		return nil, err
	}
	return s, nil
}

// apiConfig is the HTTP API over the system's parts: every route of both dialects, the admin
// routes and the stream routes, as the invoke, poll and stream functions serve them on AWS.
func (s *System) apiConfig(o Options, p *backend.Parts, admins *apikey.Keys) httpapi.Config {
	c := httpapi.Config{
		Schemas:      outputschema.Checker{},
		Receipts:     s.Receipts,
		ReceiptStore: p.Tasks,
		Submitter:    p.Accept,
		Canceler:     p.Accept,
		Resumer:      p.Accept,
		Reader:       p.Tasks,
		Resolver:     p.Tasks,
		Stopper:      p.Tasks,
		Lister:       p.Tasks,
		Threads:      p.Tasks,
		Families:     p.Tasks,
		Deleter:      p.Tasks,
		Keys:         s.APIKeys,
		APIKeys:      s.APIKeys,
		Agents:       p.Agents,
		AdminKeys:    admins,
		Logger:       o.Logger,
		Webhooks:     s.Webhooks,
		Deliveries:   s.Deliveries,
		Limiter:      p.Limiter,
		Limits:       s.APIKeys,
		// A tenant without limits of its own has these.
		TenantDefaults: o.TenantLimits,
		// Admin routes: with no AdminKey no key is an admin's, and they answer 401 or 403.
		AuthContexts: backend.AuthContexts[httpapi.AuthContexts](p),
		Budget:       o.Budget,
		// The stream routes are served here too, as the stream function serves them on AWS.
		Events:    p.Events,
		StreamFor: o.StreamFor,
	}
	if ps := p.ProgressService(a2apush.Decode); ps != nil { // a nil pointer in an interface is not absent
		c.Progress = ps
	}
	return c
}

// runLoops starts what runs until Close: the event source mappings and the event bus, the
// sweeper, and the worker unless o.NoWorker.
func (s *System) runLoops(ctx context.Context, o Options, p *backend.Parts) error {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	if err := s.runEvents(ctx, runCtx, o, p); err != nil {
		return fmt.Errorf("start local system: %w", err)
	}
	if o.SweepEvery > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.sweepEvery(runCtx, o.SweepEvery, o.Logger)
		}()
	}
	if o.NoWorker {
		return nil
	}
	wo := s.WorkerOptions(o.SealKey)
	wo.LambdaEndpoint, wo.CheckBackoff, wo.Backoff, wo.Logger, wo.Budget = o.LambdaEndpoint, o.CheckBackoff, o.Backoff, o.Logger, o.Budget
	wo.OnInvocation = o.OnInvocation
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = runWorker(runCtx, wo, s.DynamoDB, s.SQS, s.S3)
	}()
	return nil
}

// startStorage starts the emulators unless o names running ones, and creates the table, the queues
// and the results bucket.
func (s *System) startStorage(ctx context.Context, o Options) error {
	s.DynamoDBEndpoint, s.SQSEndpoint = o.DynamoDBEndpoint, o.SQSEndpoint
	if s.DynamoDBEndpoint == "" || s.SQSEndpoint == "" {
		var err error
		s.emulators, err = emulators.Start(ctx, emulators.Options{DataDir: o.DataDir})
		if err != nil {
			return fmt.Errorf("start local system: %w", err)
		}
		s.DynamoDBEndpoint, s.SQSEndpoint = s.emulators.DynamoDBEndpoint, s.emulators.SQSEndpoint
	}
	s.DynamoDB, s.SQS = clients(o.Budget, s.DynamoDBEndpoint, s.SQSEndpoint, o.APIOptions...)
	if err := table.CreateTable(ctx, s.DynamoDB, o.Table); err != nil {
		return fmt.Errorf("start local system: %w", err)
	}
	var err error
	if s.Queues, err = queue.Create(ctx, s.SQS, o.Queue, o.Visibility); err != nil {
		return fmt.Errorf("start local system: %w", err)
	}
	s.S3, s.Bucket = s3Client(o.Budget, s.SQSEndpoint, o.APIOptions...), o.Bucket
	if err := createBucket(ctx, s.S3, o.Bucket); err != nil {
		return fmt.Errorf("start local system: %w", err)
	}
	return nil
}

// startAgentsAndKeys starts the echo agent and answers the configured agents (echo and o.Agents,
// beneath what is published through the API), the tenant's key and the admin keys.
func (s *System) startAgentsAndKeys(o Options) (*agent.Static, *apikey.Keys, *apikey.Keys, error) {
	echoLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("start echo agent: %w", err)
	}
	s.EchoURL = "http://" + echoLn.Addr().String() + "/"
	s.serve(echoLn, demoagent.Handler())

	echo := agent.Agent{
		ID: "echo", Name: "Echo", Description: "Answers with the text it was given; see the README for delay_ms and fail.",
		Protocol: agent.HTTP, Endpoint: s.EchoURL, Timeout: agent.Duration(4 * time.Minute), Auth: agent.AuthForward,
		ExpectedDuration: agent.Duration(o.EchoExpected),
	}
	configured, err := agent.NewStatic(append([]agent.Agent{echo}, o.Agents...))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("start local system: %w", err)
	}
	keys := &apikey.Keys{}
	if err := keys.Add(o.Tenant, apikey.Hash(o.APIKey)); err != nil {
		return nil, nil, nil, fmt.Errorf("start local system: %w", err)
	}
	admins := &apikey.Keys{}
	if o.AdminKey != "" {
		if err := admins.Add("admin", apikey.Hash(o.AdminKey)); err != nil {
			return nil, nil, nil, fmt.Errorf("start local system: %w", err)
		}
	}
	return configured, keys, admins, nil
}

// Emulators are the emulators Start started, for tests and the soak to freeze or kill (package
// faults); nil when the system was given endpoints instead.
func (s *System) Emulators() *emulators.Emulators { return s.emulators }

// Sweep runs the sweeper once: tasks whose work message was lost are sent again, or failed with
// reason lost when their message carried secrets (see package sweeper).
func (s *System) Sweep(ctx context.Context) (sweeper.Report, error) { return s.sweeper.Sweep(ctx) }

// sweepEvery runs the sweeper on a timer until ctx ends, as the stack's schedule does.
func (s *System) sweepEvery(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil && log != nil {
				log.Error("sweep", "err", err)
			}
		}
	}
}

// WorkerOptions says where a worker finds the system's table, queues and bucket, and how it runs.
// It is also what `agentq run` writes to its state file for `agentq worker` (see WriteState).
type WorkerOptions struct {
	DynamoDBEndpoint string       `json:"dynamodb_endpoint"`
	SQSEndpoint      string       `json:"sqs_endpoint"`
	Table            string       `json:"table"`
	Queues           queue.Queues `json:"queues"`
	Bucket           string       `json:"bucket"`
	// SealKey opens the auth contexts the API sealed: the same key as Options.SealKey.
	SealKey []byte `json:"seal_key"`
	// ProgressKey derives the tasks' progress tokens, and StreamURL is where agents report
	// progress: the system's own API.
	ProgressKey []byte `json:"progress_key"`
	StreamURL   string `json:"stream_url"`
	// LambdaEndpoint, when set, is where Lambda agents are invoked.
	LambdaEndpoint string `json:"lambda_endpoint,omitempty"`
	// BusURL is the local event bus: `agentq dev send-event` posts there.
	BusURL string `json:"bus_url,omitempty"`
	// Pollers is how many pollers read the work queue; default 4.
	Pollers      int                       `json:"-"`
	CheckBackoff func(n int) time.Duration `json:"-"`
	Backoff      func(n int) time.Duration `json:"-"`
	// Budget bounds the worker's AWS calls and its outcome writes; default deadline.Default().
	Budget deadline.Budget `json:"-"`
	Logger *slog.Logger    `json:"-"`
	// OnInvocation is told of every worker batch and how long it took (Options.OnInvocation).
	OnInvocation func(function string, took time.Duration) `json:"-"`
	// APIOptions are added to the worker's AWS clients (Options.APIOptions).
	APIOptions []func(*middleware.Stack) error `json:"-"`
}

// WorkerOptions returns the options of a worker for this system, opening auth contexts with
// sealKey (the Options.SealKey it was started with).
func (s *System) WorkerOptions(sealKey []byte) WorkerOptions {
	return WorkerOptions{
		DynamoDBEndpoint: s.DynamoDBEndpoint, SQSEndpoint: s.SQSEndpoint,
		Table: s.Table, Queues: s.Queues, Bucket: s.Bucket, SealKey: sealKey, BusURL: s.busURL(),
		ProgressKey: s.progressKey, StreamURL: s.APIURL,
	}
}

func (s *System) busURL() string {
	if s.Bus == nil {
		return ""
	}
	return s.Bus.URL
}

// RunWorker runs the worker of a local system, as Start does unless NoWorker: event source
// mappings on the work queue and its dead-letter queue feed the same handler the worker Lambda
// runs. It returns when ctx ends. Messages it is working on when the process dies stay in
// flight, and SQS delivers them again after the visibility timeout.
func RunWorker(ctx context.Context, o WorkerOptions) error {
	if o.DynamoDBEndpoint == "" || o.SQSEndpoint == "" || o.Table == "" || o.Queues.URL == "" || o.Queues.DLQURL == "" {
		return errors.New("run worker: endpoints, table and queues are required")
	}
	o.Budget = o.Budget.OrDefault()
	ddb, sq := clients(o.Budget, o.DynamoDBEndpoint, o.SQSEndpoint, o.APIOptions...)
	return runWorker(ctx, o, ddb, sq, s3Client(o.Budget, o.SQSEndpoint, o.APIOptions...))
}

func runWorker(ctx context.Context, o WorkerOptions, ddb *dynamodb.Client, sq *sqs.Client, s3c *s3.Client) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Pollers <= 0 {
		o.Pollers = 4
	}
	if o.Bucket == "" {
		o.Bucket = "agentq-results"
	}
	c := backend.Clients{DynamoDB: ddb, SQS: sq, S3: s3c}
	var invoker dispatch.LambdaInvoker
	if o.LambdaEndpoint != "" {
		cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""), BaseEndpoint: aws.String(o.LambdaEndpoint)}
		invoker = work.LambdaClient(cfg)
	}
	p, err := backend.Build(&config.Config{
		Table: o.Table, QueueURL: o.Queues.URL, DLQARN: o.Queues.DLQARN, ResultsBucket: o.Bucket, SealKey: o.SealKey,
		ProgressKey: o.ProgressKey, StreamURL: o.StreamURL,
	}, c, backend.Options{Logger: o.Logger, AgentGuard: localGuard, A2AWait: 2 * time.Second, Backoff: o.Backoff, CheckBackoff: o.CheckBackoff,
		Budget: o.Budget})
	if err != nil {
		return fmt.Errorf("run worker: %w", err)
	}
	handle := timedBatch("worker", work.Worker(p, invoker).Handle, o.OnInvocation)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, m := range []*esm.Mapping{
		{API: sq, QueueURL: o.Queues.URL, QueueARN: o.Queues.ARN, Region: "us-east-1", Handler: handle, Pollers: o.Pollers, Logger: o.Logger},
		{API: sq, QueueURL: o.Queues.DLQURL, QueueARN: o.Queues.DLQARN, Region: "us-east-1", Handler: handle, Pollers: 1, Logger: o.Logger},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.Run(ctx)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return errors.Join(errs...)
}

// WriteState writes a worker's options to path (mode 0600: it holds the seal key), for
// `agentq worker` to read with ReadState.
func WriteState(path string, o WorkerOptions) error {
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// ReadState reads the worker options WriteState wrote.
func ReadState(path string) (WorkerOptions, error) {
	var o WorkerOptions
	b, err := os.ReadFile(path)
	if err != nil {
		return o, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return o, fmt.Errorf("read state from %s: %w", path, err)
	}
	return o, nil
}

// localGuard lets the local worker reach agents on this machine (echo, tests' agents) and on
// private networks; the metadata service stays out of reach.
var localGuard = netguard.Policy{AllowLoopback: true, AllowPrivate: true}

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8042"
	}
	if o.Tenant == "" {
		o.Tenant = "default"
	}
	if o.Table == "" {
		o.Table = "agentq-tasks"
	}
	if o.Queue == "" {
		o.Queue = "agentq-work"
	}
	if o.Bucket == "" {
		o.Bucket = "agentq-results"
	}
	if o.Visibility == 0 {
		o.Visibility = 2 * time.Minute
	}
	if o.TaskTTL == 0 {
		o.TaskTTL = 30 * 24 * time.Hour
	}
	if len(o.SealKey) == 0 {
		o.SealKey = make([]byte, authctx.KeySize)
		_, _ = rand.Read(o.SealKey) // never fails (crypto/rand)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Budget = o.Budget.OrDefault()
}

func (s *System) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(ln)
	}()
}

// Close stops everything Start started: pollers, servers and emulators. It may be called more
// than once.
func (s *System) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *System) close() error {
	if s.cancel != nil {
		s.cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, srv.Close())
		}
	}
	if s.Bus != nil {
		errs = append(errs, s.Bus.Close())
	}
	s.wg.Wait()
	if s.emulators != nil {
		errs = append(errs, s.emulators.Close())
	}
	return errors.Join(errs...)
}

// ReadAgents reads a JSON array of agents from a file.
func ReadAgents(path string) ([]agent.Agent, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read agents: %w", err)
	}
	var agents []agent.Agent
	if err := json.Unmarshal(b, &agents); err != nil {
		return nil, fmt.Errorf("read agents from %s: %w", path, err)
	}
	return agents, nil
}

// timedAPI tells onInvocation how long each API request took, as the function behind its route
// would be billed: reads are the poll function's, the rest the invoke function's.
func timedAPI(h http.Handler, onInvocation func(string, time.Duration)) http.Handler {
	if onInvocation == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fn := "invoke"
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			fn = "poll"
		}
		start := time.Now()
		h.ServeHTTP(w, r.WithContext(withFunction(r.Context(), fn)))
		onInvocation(fn, time.Since(start))
	})
}

// timedBatch tells onInvocation how long each batch took in h, as function fn would be billed.
func timedBatch(fn string, h esm.Handler, onInvocation func(string, time.Duration)) esm.Handler {
	if onInvocation == nil {
		return h
	}
	return func(ctx context.Context, recs []batch.Record) []string {
		start := time.Now()
		defer func() { onInvocation(fn, time.Since(start)) }()
		return h(withFunction(ctx, fn), recs)
	}
}

type functionKey struct{}

func withFunction(ctx context.Context, fn string) context.Context {
	return context.WithValue(ctx, functionKey{}, fn)
}

// Function names the Lambda function whose handler ctx runs in (invoke, poll, worker, notify),
// when Options.OnInvocation is set; "" otherwise.
func Function(ctx context.Context) string {
	fn, _ := ctx.Value(functionKey{}).(string)
	return fn
}
