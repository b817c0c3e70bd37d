// Package backend builds, once per function instance, the AWS-backed parts the Lambda functions
// share, from the one configuration: the task store (with large-payload storage when a bucket is
// configured), the agent registry, the work queue, the auth contexts (when a key to seal them
// is configured), the webhook settings and deliveries, and the accept core over them. The
// functions' mains then only pick what they serve.
package backend

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/blob"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/keystore"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/registry"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/telemetry"
	"github.com/agentq/agentq/shared/tenantlimit"
	"github.com/agentq/agentq/shared/webhook"
)

// AgentCacheTTL is how long a function instance caches an agent lookup: a publish reaches every
// instance within it.
const AgentCacheTTL = 15 * time.Second

// KeyCacheTTL is how long a function instance caches an API key lookup: a revoked key stops
// working on every instance within it.
const KeyCacheTTL = 30 * time.Second

// Parts are the AWS-backed parts of the system.
type Parts struct {
	AWS aws.Config
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
	Webhooks *webhook.Tenants
	// Accept is the accept core the invoke and trigger functions submit through; nil when
	// AGENTQ_QUEUE_URL is not set. It takes webhook_url only where deliveries are made
	// (AGENTQ_WEBHOOK_QUEUE_URL).
	Accept *accept.Service
	// Limiter bounds each tenant's request rate and tasks in flight (AGENTQ_TENANT_RATE,
	// AGENTQ_TENANT_MAX_IN_FLIGHT, or the tenant's own limits kept with its keys). Tasks reports
	// every task's end to it, and Accept counts every task it records.
	Limiter *tenantlimit.Limiter
	// Deliveries lists webhook deliveries and, when AGENTQ_WEBHOOK_QUEUE_URL is set, schedules,
	// makes and replays them; it dead-letters to AGENTQ_WEBHOOK_DLQ_URL when set.
	Deliveries *webhook.Service
}

// New loads the AWS configuration (endpoints from the standard AWS_ENDPOINT_URL* variables) and
// builds the parts cfg configures. It makes no network call: clients connect on first use.
func New(ctx context.Context, cfg *config.Config) (*Parts, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	ddb := dynamodb.NewFromConfig(awsCfg)
	p := &Parts{
		AWS:      awsCfg,
		DynamoDB: ddb,
		Logger:   telemetry.NewLogger(os.Stderr, cfg.LogLevel),
		Metrics:  telemetry.NewMetrics(os.Stdout),
		Tasks:    store.New(ddb, cfg.Table),
		Agents:   registry.New(ddb, cfg.Table, AgentCacheTTL).WithFallback(cfg.Agents),
		Keys:     keystore.New(ddb, cfg.Table, KeyCacheTTL).WithConfigured(cfg.Keys),
	}
	if cfg.ResultsBucket != "" {
		p.Tasks = p.Tasks.WithBlobs(blob.New(s3.NewFromConfig(awsCfg), cfg.ResultsBucket))
	}
	p.Limiter = tenantlimit.New(ddb, cfg.Table, cfg.TenantLimits, p.Keys)
	p.Tasks = p.Tasks.OnEnd(p.Limiter.Ended(p.Logger))
	if cfg.QueueURL != "" {
		p.Queue = queue.NewClient(sqs.NewFromConfig(awsCfg), cfg.QueueURL)
	}
	sealer, err := authctx.NewSealer(cfg.SealKey, cfg.KMSKeyID, func() authctx.KMSAPI { return kms.NewFromConfig(awsCfg) })
	if err != nil {
		return nil, err
	}
	if sealer != nil {
		p.Contexts = authctx.New(ddb, cfg.Table, sealer)
	}
	if cfg.WebhookSecret != "" {
		if _, err := webhook.ParseSecret(cfg.WebhookSecret); err != nil {
			return nil, fmt.Errorf("%s: %w", config.EnvWebhookSecret, err)
		}
	}
	p.Webhooks = webhook.NewTenants(ddb, cfg.Table, sealer, cfg.WebhookSecret).WithLoopback(cfg.AllowLoopbackURLs)
	wc := webhook.Config{DB: ddb, Table: cfg.Table, Tenants: p.Webhooks, AllowLoopback: cfg.AllowLoopbackURLs, Logger: p.Logger, Metrics: p.Metrics}
	if cfg.WebhookQueueURL != "" {
		wc.Queue = webhook.NewSQSSender(sqs.NewFromConfig(awsCfg), cfg.WebhookQueueURL)
	}
	if cfg.WebhookDLQURL != "" {
		wc.DeadLetters = webhook.NewSQSSender(sqs.NewFromConfig(awsCfg), cfg.WebhookDLQURL)
	}
	p.Deliveries = webhook.New(wc)
	if p.Queue != nil {
		ac := accept.Config{
			Store: p.Tasks, Requests: p.Tasks, Queue: p.Queue, Registry: p.Agents, TTL: cfg.TaskTTL,
			Logger: p.Logger, Metrics: p.Metrics, InFlight: p.Limiter,
		}
		if cfg.WebhookQueueURL != "" {
			ac.Webhooks = p.Webhooks
		}
		if p.Contexts != nil { // an interface holding a nil pointer would not read as absent
			ac.AuthContexts = p.Contexts
		}
		p.Accept = accept.New(ac)
	}
	return p, nil
}
