// Command worker is the Lambda function fed by the work queue and its dead-letter queue: it runs
// tasks and records their outcomes.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/telemetry"
	"github.com/agentq/agentq/shared/worker"
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
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load aws config: %w", err)
	}
	p := worker.New(worker.Config{
		Store:         store.New(dynamodb.NewFromConfig(awsCfg), cfg.Table),
		Dispatcher:    dispatch.New(dispatch.HTTPClient()),
		Queue:         queue.NewClient(sqs.NewFromConfig(awsCfg), cfg.QueueURL),
		DeadLetterARN: cfg.DLQARN,
		Logger:        telemetry.NewLogger(os.Stderr, cfg.LogLevel),
		Metrics:       telemetry.NewMetrics(os.Stdout),
	})
	lambda.StartWithOptions(p.Handle, lambda.WithContext(ctx))
	return nil
}
