// Command invoke is the Lambda function behind the routes that create or change work: it
// validates an invocation, checks policy, records the task and enqueues it; it also stops tasks
// and serves the registry's and auth contexts' write routes.
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
	"github.com/agentq/agentq/shared/outputschema"
)

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
	// The agents' default schemas are compiled here, not in config: only the functions that
	// accept or do work link the JSON Schema library.
	if err := cfg.Agents.CheckSchemas(outputschema.Checker{}); err != nil {
		return err
	}
	p, err := backend.New(ctx, cfg)
	if err != nil {
		return err
	}
	log := p.Logger
	hc := httpapi.Config{
		Schemas: outputschema.Checker{},
		// The store reads and stops tasks too: a sync invoke waits on its task, a stop reads the
		// task it cancels. The read routes themselves belong to the poll function.
		Reader: p.Tasks, Resolver: p.Tasks, Stopper: p.Tasks, Deleter: p.Tasks,
		Routes: httpapi.WriteRoutes, Keys: p.Keys, Logger: log, Limiter: p.Limiter,
		Limits: p.Keys, TenantDefaults: cfg.TenantLimits,
		Agents: p.Agents, AdminKeys: cfg.AdminKeys, APIKeys: p.Keys, Webhooks: p.Webhooks,
	}
	if cfg.WebhookQueueURL != "" { // webhooks are delivered: replay deliveries
		hc.Deliveries = p.Deliveries
	}
	hc.AuthContexts = backend.AuthContexts[httpapi.AuthContexts](p)
	hc.Submitter, hc.Canceler, hc.Resumer = p.Accept, p.Accept, p.Accept
	if p.Receipts != nil { // an interface holding a nil pointer would not read as absent
		hc.Receipts, hc.ReceiptStore = p.Receipts, p.Tasks
	}
	lambda.StartWithOptions(apigw.New(httpapi.New(hc)).Handle, lambda.WithContext(ctx))
	return nil
}
