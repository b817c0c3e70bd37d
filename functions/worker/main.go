// Command worker is the Lambda function fed by the work queue and its dead-letter queue: it runs
// tasks, checks on agents that work on them asynchronously, and records outcomes.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/netguard"
	"github.com/agentq/agentq/shared/worker"
)

// a2aWait is how long a call waits for an A2A agent to finish before checking back later: most
// answers come within it, and the rest are not waited on.
const a2aWait = 2 * time.Second

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
	p, err := backend.New(ctx, cfg)
	if err != nil {
		return err
	}
	// Lambda agents are invoked once per delivery: SQS redelivery, not the SDK, retries them.
	fn := lambda.NewFromConfig(p.AWS, func(o *lambda.Options) { o.RetryMaxAttempts = 1 })
	wc := worker.Config{
		Store: p.Tasks, Requests: p.Tasks, Queue: p.Queue,
		// Agents in the same VPC are fine; this machine and the metadata service are not.
		Dispatcher:    dispatch.New(dispatch.HTTPClient(netguard.Policy{AllowPrivate: true, AllowLoopback: cfg.AllowLoopbackURLs}), dispatch.WithLambda(fn), dispatch.WithA2AWait(a2aWait)),
		DeadLetterARN: cfg.DLQARN,
		Logger:        p.Logger,
		Metrics:       p.Metrics,
		Events:        p.Events,
	}
	if p.Contexts != nil {
		wc.AuthContexts = p.Contexts
	}
	if p.ProgressKeys != nil {
		wc.Progress = p.ProgressKeys.Targets(cfg.StreamURL)
	}
	awslambda.StartWithOptions(worker.New(wc).Handle, awslambda.WithContext(ctx))
	return nil
}
