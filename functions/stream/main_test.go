package main

import (
	"net/http"
	"testing"

	"github.com/agentq/agentq/functions/internal/configtest"
	"github.com/agentq/agentq/shared/config"
)

func TestNewHandlerConfig(t *testing.T) {
	configtest.Run(t, configtest.Case[http.Handler]{
		New: newHandler,
		Valid: map[string]string{
			config.EnvTable:    "agentq-tasks",
			config.EnvQueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/agentq-work",
		},
		Variants: []map[string]string{
			{config.EnvProgressKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", config.EnvStreamURL: "https://abc.lambda-url.us-east-1.on.aws"},
		},
		Required: []string{config.EnvTable, config.EnvQueueURL},
	})
}
