// Command poll is the Lambda function behind the routes that read work: it serves tasks back in
// either dialect.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/agentq/agentq/shared/apigw"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/telemetry"
)

func main() {
	if err := run(context.Background(), os.Getenv); err != nil {
		slog.Error("poll function failed to start", "err", err)
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
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load aws config: %w", err)
	}
	log := telemetry.NewLogger(os.Stderr, cfg.LogLevel)
	h := httpapi.New(httpapi.Config{
		Reader: store.New(dynamodb.NewFromConfig(awsCfg), cfg.Table),
		Keys:   cfg.Keys,
		Logger: log,
	})
	lambda.StartWithOptions(apigw.New(h).Handle, lambda.WithContext(ctx))
	return nil
}
