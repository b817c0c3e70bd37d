// Command authorizer is the HTTP API's Lambda REQUEST authorizer: it checks the caller's API key
// (configured, or stored by an admin) and answers the tenant, which the gateway caches and hands to
// the invoke and poll functions.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/agentq/agentq/shared/apigw"
	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/config"
)

func main() {
	if err := run(context.Background(), os.Getenv); err != nil {
		slog.Error("authorizer function failed to start", "err", err)
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
	h := &apigw.Authorizer{Keys: p.Keys, AdminKeys: cfg.AdminKeys}
	lambda.StartWithOptions(h.Handle, lambda.WithContext(ctx))
	return nil
}
