// Command poll is the Lambda function behind the routes that read work: it serves tasks back in
// either dialect.
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

	"github.com/agentq/agentq/shared/apigw"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/blob"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/registry"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/telemetry"
)

// agentCacheTTL is how long an agent lookup is cached in a function instance.
const agentCacheTTL = 15 * time.Second

func main() {
	if err := run(context.Background(), os.Getenv); err != nil {
		slog.Error("poll function failed to start", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if err := cfg.Require(config.EnvTable); err != nil {
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
	// Auth contexts, when configured: poll reads their metadata only, never a secret, so it never
	// calls KMS (the client is built, unused).
	var adminContexts httpapi.AuthContexts
	sealer, err := authctx.NewSealer(cfg.SealKey, cfg.KMSKeyID, func() authctx.KMSAPI { return kms.NewFromConfig(awsCfg) })
	if err != nil {
		return err
	}
	if sealer != nil {
		adminContexts = authctx.New(ddb, cfg.Table, sealer)
	}
	h := httpapi.New(httpapi.Config{
		Reader: tasks, Resolver: tasks, Lister: tasks, Threads: tasks,
		Routes: httpapi.ReadRoutes, Keys: cfg.Keys, Logger: log,
		Agents: agents, AdminKeys: cfg.AdminKeys, AuthContexts: adminContexts,
	})
	lambda.StartWithOptions(apigw.New(h).Handle, lambda.WithContext(ctx))
	return nil
}
