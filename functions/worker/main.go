// Command worker is the Lambda function fed by the work queue and its dead-letter queue: it runs
// tasks, checks on agents that work on them asynchronously, and records outcomes.
package main

import (
	"context"
	"log/slog"
	"os"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/backend/work"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/lambdaevents"
	"github.com/agentq/agentq/shared/outputschema"
)

func main() {
	if err := run(context.Background(), os.Getenv); err != nil {
		slog.Error("worker function failed to start", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if err := cfg.Require(config.EnvTable, config.EnvQueueURL, config.EnvDLQARN); err != nil {
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
	awslambda.StartWithOptions(lambdaevents.SQS(work.Worker(p, work.LambdaClient(p.Unbounded)).Handle), awslambda.WithContext(ctx))
	return nil
}
