// Command deliver is the Lambda function fed by the webhook queue: it makes each webhook delivery
// attempt (Standard Webhooks, signed with the tenant's secrets), records it in the task's
// delivery log, and schedules the next attempt or, after the last, the dead-letter queue (see
// package webhook).
package main

import (
	"context"
	"log/slog"
	"os"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/lambdaevents"
	"github.com/agentq/agentq/shared/webhook"
)

func main() {
	if err := run(context.Background(), os.Getenv); err != nil {
		slog.Error("deliver function failed to start", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	d, err := newHandler(ctx, getenv)
	if err != nil {
		return err
	}
	awslambda.StartWithOptions(lambdaevents.SQS(d.Handle), awslambda.WithContext(ctx))
	return nil
}

// newHandler builds the deliveries from the environment; their Handle takes the webhook queue's
// batches.
func newHandler(ctx context.Context, getenv func(string) string) (*webhook.Service, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.Require(config.EnvTable, config.EnvWebhookQueueURL, config.EnvWebhookDLQURL); err != nil {
		return nil, err
	}
	p, err := backend.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if cfg.SealKey == nil && cfg.KMSKeyID == "" && cfg.WebhookSecret == "" {
		p.Logger.Warn("no seal key and no operator webhook secret: deliveries fail for want of a signing secret",
			"set", config.EnvWebhookSecret)
	}
	return p.Deliveries, nil
}
