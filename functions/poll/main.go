// Command poll is the Lambda function behind the routes that read: tasks and receipts (with long
// polls), threads, lists, agents and auth contexts' metadata.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/agentq/agentq/shared/apigw"
	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/httpapi"
)

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
	p, err := backend.New(ctx, cfg)
	if err != nil {
		return err
	}
	hc := httpapi.Config{
		Reader: p.Tasks, Resolver: p.Tasks, Lister: p.Tasks, Threads: p.Tasks, Families: p.Tasks,
		Routes: httpapi.ReadRoutes, Keys: p.Keys, Logger: p.Logger,
		Limiter: p.Limiter, Limits: p.Keys, TenantDefaults: cfg.TenantLimits,
		Agents: p.Agents, AdminKeys: cfg.AdminKeys, APIKeys: p.Keys, Deliveries: p.Deliveries, Webhooks: p.Webhooks,
	}
	hc.AuthContexts = backend.AuthContexts[httpapi.AuthContexts](p) // metadata only: poll never opens a secret
	// An interface holding a nil pointer would not read as absent.
	if p.Receipts != nil {
		hc.Receipts, hc.ReceiptStore = p.Receipts, p.Tasks
	}
	lambda.StartWithOptions(apigw.New(httpapi.New(hc)).Handle, lambda.WithContext(ctx))
	return nil
}
