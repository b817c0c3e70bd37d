// Command trigger is the Lambda function that turns events into tasks: EventBridge events
// (detail-type "Invoke Agent"), EventBridge Scheduler invocations and batches from the ingest
// SQS queue. Each goes through the accept core as an HTTP request would; what the HTTP API would
// refuse goes to the trigger's dead-letter queue with the reason (see shared/trigger).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/outputschema"
	"github.com/agentq/agentq/shared/trigger"
)

func main() {
	if err := run(context.Background(), os.Getenv); err != nil {
		slog.Error("trigger function failed to start", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	h, err := newHandler(ctx, getenv)
	if err != nil {
		return err
	}
	lambda.StartWithOptions(h.Handle, lambda.WithContext(ctx))
	return nil
}

// newHandler builds the handler from the environment: the accept core (the invoke function's)
// and the dead-letter queue.
func newHandler(ctx context.Context, getenv func(string) string) (*trigger.Handler, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.Require(config.EnvTable, config.EnvQueueURL, config.EnvTriggerDLQURL); err != nil {
		return nil, err
	}
	// The agents' default schemas are compiled here, not in config: only the functions that
	// accept or do work link the JSON Schema library.
	if err := cfg.Agents.CheckSchemas(outputschema.Checker{}); err != nil {
		return nil, err
	}
	p, err := backend.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return trigger.New(trigger.Config{
		Submitter: p.Accept, Schemas: outputschema.Checker{}, Rejects: trigger.NewSQSRejects(sqs.NewFromConfig(p.AWS), cfg.TriggerDLQURL),
		DefaultTenant: cfg.DefaultTenant, Logger: p.Logger, Metrics: p.Metrics,
	}), nil
}
