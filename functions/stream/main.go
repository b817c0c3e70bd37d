// Command stream is the Lambda function behind the streaming routes (httpapi.StreamTable): a
// task's event stream (Server-Sent Events, or JSON pages), the receipts dialect's, xpander's
// invoke/stream, and the routes agents report progress on. It is served by a function URL in
// RESPONSE_STREAM mode through aws-lambda-go's lambdaurl, so an event stream reaches the client as
// it is written; API Gateway's HTTP API would buffer it. The function checks API keys itself
// (there is no authorizer in front of a function URL), and agents' reports are checked by their
// task's token.
package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdaurl"

	"github.com/agentq/agentq/shared/a2apush"
	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/httpapi"
)

func main() {
	ctx := context.Background()
	h, err := newHandler(ctx, os.Getenv)
	if err != nil {
		slog.Error("stream function failed to start", "err", err)
		os.Exit(1)
	}
	lambdaurl.Start(h, lambda.WithContext(ctx))
}

// newHandler builds the streaming routes' handler from the environment.
func newHandler(ctx context.Context, getenv func(string) string) (http.Handler, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.Require(config.EnvTable, config.EnvQueueURL); err != nil {
		return nil, err
	}
	p, err := backend.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	hc := httpapi.Config{
		Reader: p.Tasks, Events: p.Events, Submitter: p.Accept, Keys: p.Keys,
		Routes: httpapi.StreamRoutes, Logger: p.Logger,
	}
	if ps := p.ProgressService(a2apush.Decode); ps != nil { // a nil pointer in an interface is not absent
		hc.Progress = ps
	}
	return httpapi.New(hc), nil
}
