// Command invoke is the Lambda function behind the routes that create work: it validates an
// invocation, checks policy, records the task and enqueues it.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/apigw"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/blob"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/registry"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/telemetry"
)

// agentCacheTTL is how long an agent lookup is cached in a function instance.
const agentCacheTTL = 15 * time.Second

func main() {
	if err := run(context.Background(), os.Getenv); err != nil {
		slog.Error("invoke function failed to start", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if err := cfg.Require(config.EnvTable, config.EnvQueueURL); err != nil {
		return err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load aws config: %w", err)
	}
	log := telemetry.NewLogger(os.Stderr, cfg.LogLevel)
	ddb := dynamodb.NewFromConfig(awsCfg)
	tasks := store.New(ddb, cfg.Table)
	// Published agents live in the table, configured ones (AGENTQ_AGENTS) beneath them; lookups
	// are cached briefly, so a publish reaches every instance within agentCacheTTL.
	agents := registry.New(ddb, cfg.Table, agentCacheTTL).WithFallback(cfg.Agents)
	if cfg.ResultsBucket != "" {
		tasks = tasks.WithBlobs(blob.New(s3.NewFromConfig(awsCfg), cfg.ResultsBucket))
	}
	// Auth contexts, when a seal key or KMS key is configured: invoke creates (KMS Encrypt) and
	// deletes them, and checks that the one an invocation names exists.
	var acceptContexts accept.AuthContexts
	var adminContexts httpapi.AuthContexts
	sealer, err := authctx.NewSealer(cfg.SealKey, cfg.KMSKeyID, func() authctx.KMSAPI { return kms.NewFromConfig(awsCfg) })
	if err != nil {
		return err
	}
	if sealer != nil {
		contexts := authctx.New(ddb, cfg.Table, sealer)
		acceptContexts, adminContexts = contexts, contexts
	}
	svc := accept.New(accept.Config{
		Store:    tasks,
		Requests: tasks,
		Queue:    queue.NewClient(sqs.NewFromConfig(awsCfg), cfg.QueueURL),
		Registry: agents,
		TTL:      cfg.TaskTTL,
		Logger:   log,
		Metrics:  telemetry.NewMetrics(os.Stdout),
		// A nil interface where auth contexts are off: every auth_context_id is then unknown.
		AuthContexts: acceptContexts,
	})
	// The store reads and stops tasks too: a sync invoke waits on its task, a stop reads the task
	// it cancels. The read routes themselves belong to the poll function.
	h := httpapi.New(httpapi.Config{
		Submitter: svc, Canceler: svc, Reader: tasks, Resolver: tasks, Stopper: tasks,
		Routes: httpapi.WriteRoutes, Keys: cfg.Keys, Logger: log,
		Agents: agents, AdminKeys: cfg.AdminKeys, AuthContexts: adminContexts,
	})
	lambda.StartWithOptions(apigw.New(h).Handle, lambda.WithContext(ctx))
	return nil
}
