// Command notify is the Lambda function fed by the task table's stream: for every task that
// ends or pauses, and every progress event of a task that opted in to them, it puts an event on
// the EventBridge bus and schedules the task's webhook deliveries (see package notify).
package main

import (
	"context"
	"log/slog"
	"os"

	awslambda "github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/backend/notifier"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/lambdaevents"
	"github.com/agentq/agentq/shared/notify"
)

func main() {
	if err := run(context.Background(), os.Getenv); err != nil {
		slog.Error("notify function failed to start", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	n, err := newHandler(ctx, getenv)
	if err != nil {
		return err
	}
	awslambda.StartWithOptions(lambdaevents.DynamoDB(n.Handle), awslambda.WithContext(ctx))
	return nil
}

// newHandler builds the notifier from the environment: the task store that decodes the stream's
// images, the event bus and the webhook deliveries.
func newHandler(ctx context.Context, getenv func(string) string) (*notify.Notifier, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.Require(config.EnvTable, config.EnvEventBus, config.EnvWebhookQueueURL); err != nil {
		return nil, err
	}
	p, err := backend.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return notifier.New(p, eventbridge.NewFromConfig(p.AWS), cfg.EventBus), nil
}
