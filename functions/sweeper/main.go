// Command sweeper is the Lambda function an EventBridge schedule runs every 5 minutes: it finds
// tasks whose work message was lost and sends it again, or fails them with reason lost when the
// message carried secrets the task record does not keep (see package sweeper).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/sweeper"
)

// EnvStaleAfter optionally overrides how long a task in flight may go unwritten before its
// message counts as lost (a Go duration; default sweeper.DefaultStaleAfter).
const EnvStaleAfter = "AGENTQ_SWEEP_STALE_AFTER"

func main() {
	if err := run(context.Background(), os.Getenv); err != nil {
		slog.Error("sweeper function failed to start", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string) error {
	h, err := newHandler(ctx, getenv)
	if err != nil {
		return err
	}
	lambda.StartWithOptions(h, lambda.WithContext(ctx))
	return nil
}

// newHandler builds the sweeper from the environment and returns the handler of the schedule's
// events. The event says only that it is time; its content does not matter.
func newHandler(ctx context.Context, getenv func(string) string) (func(context.Context, events.EventBridgeEvent) (sweeper.Report, error), error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.Require(config.EnvTable, config.EnvQueueURL); err != nil {
		return nil, err
	}
	var stale time.Duration
	if v := getenv(EnvStaleAfter); v != "" {
		if stale, err = time.ParseDuration(v); err != nil || stale < time.Minute {
			return nil, fmt.Errorf("%s=%q: want a duration of at least 1m", EnvStaleAfter, v)
		}
	}
	p, err := backend.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := p.Sweeper(stale)
	return func(ctx context.Context, _ events.EventBridgeEvent) (sweeper.Report, error) { return s.Sweep(ctx) }, nil
}
