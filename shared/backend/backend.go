// Package backend is the one place that wires the system's parts: from a configuration and a set
// of AWS clients it builds the task store (with large-payload storage when a bucket is
// configured), the agent registry, the keys, the work queue, the auth contexts (when a key to
// seal them is configured), the webhook settings and the deliverer, the accept core, and on
// demand the agent dispatcher, the worker, the sweeper and the notifier. The Lambda functions
// build it once per instance (New) and only pick what they serve; the local system builds it
// (Build) over the emulators' clients.
package backend

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/awsenv"
	"github.com/agentq/agentq/shared/blob"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/deadline"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/keystore"
	"github.com/agentq/agentq/shared/netguard"
	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/progresskey"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/receipt"
	"github.com/agentq/agentq/shared/receiptkey"
	"github.com/agentq/agentq/shared/registry"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/sweeper"
	"github.com/agentq/agentq/shared/tasklog"
	"github.com/agentq/agentq/shared/telemetry"
	"github.com/agentq/agentq/shared/tenantlimit"
	"github.com/agentq/agentq/shared/webhook"
	"github.com/agentq/agentq/shared/webhook/settings"
	"github.com/agentq/agentq/shared/webhook/signing"
)

// AgentCacheTTL is how long a function instance caches an agent lookup: a publish reaches every
// instance within it.
const AgentCacheTTL = 15 * time.Second

// KeyCacheTTL is how long a function instance caches an API key lookup: a revoked key stops
// working on every instance within it.
const KeyCacheTTL = 30 * time.Second

// WebhookURLsTTL is how long a function instance reuses a tenant's default webhook URLs when it
// schedules deliveries: a URL added or removed reaches deliveries within it, and a notifier reads
// a busy tenant's settings twice a minute rather than once per outcome.
const WebhookURLsTTL = 30 * time.Second

// Parts are the AWS-backed parts of the system.
type Parts struct {
	// AWS is the AWS configuration New loaded, with the budget's per-attempt timeout and retry
	// bounds (deadline.Budget.AWS): what every AWS service client a function makes uses. Zero for
	// parts Build made over other clients.
	AWS aws.Config
	// Unbounded is the AWS configuration without those bounds: for invoking Lambda agents, which
	// their own timeout bounds. Zero for parts Build made over other clients.
	Unbounded aws.Config
	// DynamoDB is the client every table-backed part shares.
	DynamoDB *dynamodb.Client
	// Logger and Metrics are the function's JSON log (stderr, at AGENTQ_LOG_LEVEL) and EMF
	// metrics (stdout).
	Logger  *slog.Logger
	Metrics *telemetry.Metrics
	Tasks   *store.Store
	// Agents resolves published agents, with the configured ones (AGENTQ_AGENTS) beneath.
	Agents *registry.Registry
	// Keys authenticates callers: the configured keys (AGENTQ_API_KEYS), then the keys an admin
	// created, which it also creates, lists and revokes.
	Keys *keystore.Store
	// Queue sends work; nil when AGENTQ_QUEUE_URL is not set.
	Queue *queue.Client
	// Contexts keeps auth contexts; nil when neither AGENTQ_SEAL_KEY nor AGENTQ_KMS_KEY_ID is set.
	Contexts *authctx.Store
	// Webhooks keeps tenants' default webhook URLs and signing secrets, sealed like auth
	// contexts' (without a seal key only the operator's AGENTQ_WEBHOOK_SECRET signs).
	Webhooks *settings.Tenants
	// Accept is the accept core the invoke and trigger functions submit through; nil when
	// AGENTQ_QUEUE_URL is not set. It takes webhook_url only where deliveries are made
	// (AGENTQ_WEBHOOK_QUEUE_URL).
	Accept *accept.Service
	// Limiter bounds each tenant's request rate and tasks in flight (AGENTQ_TENANT_RATE,
	// AGENTQ_TENANT_MAX_IN_FLIGHT, or the tenant's own limits kept with its keys). Tasks reports
	// every task's end to it, and Accept counts every task it records.
	Limiter *tenantlimit.Limiter
	// Receipts signs ServiceNet receipts: with the KMS key AGENTQ_RECEIPT_KEY_ID when it is set,
	// else with the table's sealed key of generation AGENTQ_RECEIPT_KEY_GENERATION (receiptkey)
	// when secrets are sealed; nil when neither.
	Receipts *receipt.Issuer
	// Deliveries lists webhook deliveries and, when AGENTQ_WEBHOOK_QUEUE_URL is set, schedules,
	// makes and replays them; it dead-letters to AGENTQ_WEBHOOK_DLQ_URL when set.
	Deliveries *webhook.Service
	// Events is every task's event log; Tasks records each of its writes in it.
	Events *tasklog.Log
	// ProgressKeys derives per-task progress tokens: under AGENTQ_PROGRESS_KEY, or else under the
	// key kept sealed in the table (progresskey) when secrets are sealed; nil when neither is.
	ProgressKeys *progress.Keys

	cfg  *config.Config
	opts Options
}

// Clients are the AWS service clients the parts talk to: AWS's in a function, the emulators'
// locally. DynamoDB and SQS are required; the others may be nil where nothing uses them.
type Clients struct {
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	// S3 keeps large payloads (with cfg.ResultsBucket).
	S3 *s3.Client
	// KMS seals auth contexts' and webhooks' secrets (with cfg.KMSKeyID).
	KMS func() authctx.KMSAPI
	// ReceiptKMS signs receipts (with cfg.ReceiptKeyID).
	ReceiptKMS func() receipt.KMSAPI
}

// Options tune what differs between a function instance and the local system.
type Options struct {
	// AgentCacheTTL and KeyCacheTTL bound how long an agent or key lookup is cached (0: not at all).
	AgentCacheTTL, KeyCacheTTL time.Duration
	Logger                     *slog.Logger
	// Metrics receives EMF metrics; nil drops them.
	Metrics *telemetry.Metrics
	// AgentGuard says which addresses agent calls may reach.
	AgentGuard netguard.Policy
	// A2AWait is how long an A2A call waits for the agent to finish before checking back later.
	A2AWait time.Duration
	// Backoff and CheckBackoff override the worker's delays (nil: the defaults).
	Backoff, CheckBackoff func(n int) time.Duration
	// WebhookSchedule overrides the deliverer's retry schedule (nil: the default).
	WebhookSchedule []time.Duration
	// WebhookURLsTTL is how long a tenant's default webhook URLs are reused (0: read for every
	// notification).
	WebhookURLsTTL time.Duration
	// ReceiptKeyOpened, when set, is called each time the table's sealed receipt key is opened
	// (a KMS Decrypt on AWS; the bench counts them).
	ReceiptKeyOpened func(ctx context.Context)
	// Budget bounds the accept core's and the worker's work (deadline.Budget); zero is
	// deadline.Default().
	Budget deadline.Budget
}

// a2aWait is how long a call waits for an A2A agent to finish before checking back later: most
// answers come within it, and the rest are not waited on.
const a2aWait = 2 * time.Second

// New loads the AWS configuration (endpoints from the standard AWS_ENDPOINT_URL* variables) and
// builds the parts cfg configures over AWS's clients. It makes no network call: clients connect
// on first use.
func New(_ context.Context, cfg *config.Config) (*Parts, error) {
	loaded, err := awsenv.Load(os.Getenv)
	if err != nil {
		return nil, err
	}
	// Every AWS service call is bounded per attempt and in retries; Lambda agents are bounded by
	// the agent's own timeout instead, which a per-attempt timeout of seconds would cut short.
	awsCfg := deadline.Default().AWS(loaded)
	c := Clients{
		DynamoDB: dynamodb.NewFromConfig(awsCfg),
		SQS:      sqs.NewFromConfig(awsCfg),
		KMS:      func() authctx.KMSAPI { return kms.NewFromConfig(awsCfg) },
		// Receipts are signed by the KMS key AGENTQ_RECEIPT_KEY_ID names.
		ReceiptKMS: func() receipt.KMSAPI { return kms.NewFromConfig(awsCfg) },
	}
	if cfg.ResultsBucket != "" {
		c.S3 = s3.NewFromConfig(awsCfg)
	}
	p, err := Build(cfg, c, Options{
		AgentCacheTTL: AgentCacheTTL, KeyCacheTTL: KeyCacheTTL, WebhookURLsTTL: WebhookURLsTTL,
		Logger: telemetry.NewLogger(os.Stderr, cfg.LogLevel), Metrics: telemetry.NewMetrics(os.Stdout),
		// Agents in the same VPC are fine; this machine and the metadata service are not.
		AgentGuard: netguard.Policy{AllowPrivate: true, AllowLoopback: cfg.AllowLoopbackURLs},
		A2AWait:    a2aWait,
	})
	if err != nil {
		return nil, err
	}
	// The Lambda client that invokes Lambda agents (backend/work) is built from the configuration
	// without the per-attempt bounds: the agent's own timeout bounds it.
	p.AWS, p.Unbounded = awsCfg, loaded
	return p, nil
}

// Build builds the parts cfg configures over clients c.
func Build(cfg *config.Config, c Clients, o Options) (*Parts, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Budget = o.Budget.OrDefault()
	ddb := c.DynamoDB
	p := &Parts{
		DynamoDB: ddb,
		Logger:   o.Logger,
		Metrics:  o.Metrics,
		Tasks:    store.New(ddb, cfg.Table),
		Agents:   registry.New(ddb, cfg.Table, o.AgentCacheTTL).WithFallback(cfg.Agents),
		Keys:     keystore.New(ddb, cfg.Table, o.KeyCacheTTL).WithConfigured(cfg.Keys),
		cfg:      cfg,
		opts:     o,
	}
	if cfg.ResultsBucket != "" {
		if c.S3 == nil {
			return nil, fmt.Errorf("%s is set but no S3 client was given", config.EnvResultsBucket)
		}
		p.Tasks = p.Tasks.WithBlobs(blob.New(c.S3, cfg.ResultsBucket))
	}
	p.Events = tasklog.New(ddb, cfg.Table)
	p.Tasks = p.Tasks.WithEvents(tasklog.NewRecorder(p.Events, p.Logger))
	p.Limiter = tenantlimit.New(ddb, cfg.Table, cfg.TenantLimits, p.Keys)
	p.Tasks = p.Tasks.OnEnd(p.Limiter.Ended(p.Logger))
	if cfg.QueueURL != "" {
		p.Queue = queue.NewClient(c.SQS, cfg.QueueURL)
	}
	sealer, err := authctx.NewSealer(cfg.SealKey, cfg.KMSKeyID, c.KMS)
	if err != nil {
		return nil, err
	}
	if sealer != nil {
		p.Contexts = authctx.New(ddb, cfg.Table, sealer)
	}
	if p.Receipts, err = buildReceipts(cfg, c, sealer, o.ReceiptKeyOpened); err != nil {
		return nil, err
	}
	switch {
	case len(cfg.ProgressKey) > 0:
		p.ProgressKeys = progress.NewKeys(cfg.ProgressKey)
	case sealer != nil:
		// The key is kept sealed in the table and opened on first use, so starting costs nothing.
		p.ProgressKeys = progress.NewKeysFrom(progresskey.New(ddb, cfg.Table, sealer).Key)
	}
	if err := p.buildWebhooks(c, sealer); err != nil {
		return nil, err
	}
	if p.Queue != nil {
		ac := accept.Config{
			Store: p.Tasks, Requests: p.Tasks, Queue: p.Queue, Registry: p.Agents, TTL: cfg.TaskTTL, Budget: o.Budget,
			Logger: p.Logger, Metrics: p.Metrics, AuthContexts: AuthContexts[accept.AuthContexts](p), InFlight: p.Limiter,
		}
		if cfg.WebhookQueueURL != "" {
			ac.Webhooks = p.Webhooks
		}
		p.Accept = accept.New(ac)
	}
	return p, nil
}

// buildReceipts answers the receipts' issuer: the KMS keys cfg names, else the table's sealed key
// (opened on first use, so starting costs nothing), else none.
func buildReceipts(cfg *config.Config, c Clients, sealer authctx.Sealer, opened func(context.Context)) (*receipt.Issuer, error) {
	switch {
	case cfg.ReceiptKeyID != "":
		if c.ReceiptKMS == nil {
			return nil, fmt.Errorf("%s: no KMS client to sign receipts with", config.EnvReceiptKeyID)
		}
		return receipt.NewKMS(c.ReceiptKMS(), cfg.ReceiptKeyID, cfg.ReceiptPreviousKeyIDs), nil
	case sealer != nil:
		gen := max(cfg.ReceiptKeyGeneration, 1)
		iss, err := receiptkey.New(c.DynamoDB, cfg.Table, sealer, gen, receiptkey.Options{Opened: opened})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvReceiptKeyGeneration, err)
		}
		return iss, nil
	}
	return nil, nil
}

// buildWebhooks builds the webhook settings and the deliverer.
func (p *Parts) buildWebhooks(c Clients, sealer authctx.Sealer) error {
	cfg := p.cfg
	if cfg.WebhookSecret != "" {
		if _, err := signing.ParseSecret(cfg.WebhookSecret); err != nil {
			return fmt.Errorf("%s: %w", config.EnvWebhookSecret, err)
		}
	}
	p.Webhooks = settings.NewTenants(c.DynamoDB, cfg.Table, sealer, cfg.WebhookSecret).WithLoopback(cfg.AllowLoopbackURLs)
	wc := webhook.Config{DB: c.DynamoDB, Table: cfg.Table, Tenants: p.Webhooks, AllowLoopback: cfg.AllowLoopbackURLs,
		Schedule: p.opts.WebhookSchedule, URLsTTL: p.opts.WebhookURLsTTL, Logger: p.Logger, Metrics: p.Metrics}
	if cfg.WebhookQueueURL != "" {
		wc.Queue = webhook.NewSQSSender(c.SQS, cfg.WebhookQueueURL)
	}
	if cfg.WebhookDLQURL != "" {
		wc.DeadLetters = webhook.NewSQSSender(c.SQS, cfg.WebhookDLQURL)
	}
	p.Deliveries = webhook.New(wc)
	return nil
}

// The auth context store is what the consumers' interfaces ask for (AuthContexts asserts it).
var (
	_ accept.AuthContexts  = (*authctx.Store)(nil)
	_ httpapi.AuthContexts = (*authctx.Store)(nil)
)

// AuthContexts answers p's auth contexts as the interface I a consumer takes, or nil when there are
// none: an interface holding a nil pointer would not read as absent.
func AuthContexts[I any](p *Parts) I {
	var i I
	if p.Contexts != nil {
		i = any(p.Contexts).(I)
	}
	return i
}

// Config is the configuration the parts were built from.
func (p *Parts) Config() *config.Config { return p.cfg }

// Options are the options the parts were built with.
func (p *Parts) Options() Options { return p.opts }

// Sweeper returns the sweeper of lost work messages, which takes a task as lost after staleAfter
// without a write (0: its default); nil without a work queue.
func (p *Parts) Sweeper(staleAfter time.Duration) *sweeper.Sweeper {
	if p.Queue == nil {
		return nil
	}
	return sweeper.New(sweeper.Config{Store: p.Tasks, Queue: p.Queue, Registry: p.Agents, StaleAfter: staleAfter, Logger: p.Logger, Metrics: p.Metrics})
}

// ProgressService takes agents' reports, checked by their task's token and read by decode
// (a2apush.Decode reads A2A's pushes); nil when there are no progress keys. Only what serves the
// agents' routes (the stream function, the local runner) builds it, so the other functions do
// not link A2A's types, and with them encoding/gob, whose init runs at every cold start.
func (p *Parts) ProgressService(decode progress.PushDecoder) *progress.Service {
	if p.ProgressKeys == nil {
		return nil
	}
	return progress.New(p.Tasks, p.Events, p.ProgressKeys, decode)
}
