// Command worker is the Lambda function fed by the work queue and its dead-letter queue: it runs
// tasks and records their outcomes.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/agentq/agentq/shared/blob"
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

// a2aWait is how long a call waits for an A2A agent to finish before checking back later: most
// answers come within it, and the rest are not waited on.
const a2aWait = 2 * time.Second

// dispatcher calls agents over HTTP, A2A and Lambda. Lambda agents are invoked once per delivery:
// SQS redelivery, not the SDK, retries them.
func dispatcher(awsCfg aws.Config) *dispatch.Client {
	fn := lambda.NewFromConfig(awsCfg, func(o *lambda.Options) { o.RetryMaxAttempts = 1 })
	return dispatch.New(dispatch.HTTPClient(), dispatch.WithLambda(fn), dispatch.WithA2AWait(a2aWait))
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
	tasks := store.New(dynamodb.NewFromConfig(awsCfg), cfg.Table)
	if cfg.ResultsBucket != "" {
		tasks = tasks.WithBlobs(blob.New(s3.NewFromConfig(awsCfg), cfg.ResultsBucket))
	}
	p := worker.New(worker.Config{
		Store:         tasks,
		Requests:      tasks,
		Dispatcher:    dispatcher(awsCfg),
		Queue:         queue.NewClient(sqs.NewFromConfig(awsCfg), cfg.QueueURL),
		DeadLetterARN: cfg.DLQARN,
		Logger:        telemetry.NewLogger(os.Stderr, cfg.LogLevel),
		Metrics:       telemetry.NewMetrics(os.Stdout),
	})
	awslambda.StartWithOptions(p.Handle, awslambda.WithContext(ctx))
	return nil
}
