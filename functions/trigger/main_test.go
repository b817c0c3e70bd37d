package main

import (
	"testing"

	"github.com/agentq/agentq/functions/internal/configtest"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/trigger"
	"github.com/agentq/agentq/shared/webhook/signing"
)

func TestNewHandlerConfig(t *testing.T) {
	secret, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	configtest.Run(t, configtest.Case[*trigger.Handler]{
		New: newHandler,
		// What the stack gives the trigger function (infra/construct/events), with local values.
		Valid: map[string]string{
			config.EnvTable:         "agentq-tasks",
			config.EnvQueueURL:      "https://sqs.us-east-1.amazonaws.com/123456789012/agentq-work",
			config.EnvTriggerDLQURL: "https://sqs.us-east-1.amazonaws.com/123456789012/agentq-trigger-dlq",
			config.EnvAgents:        `[{"id":"echo","name":"Echo","protocol":"http","endpoint":"https://agents.example.com/echo","timeout":"20s","auth":"none"}]`,
			config.EnvDefaultTenant: "acme",
		},
		Variants: []map[string]string{
			{config.EnvWebhookSecret: secret},
			// Webhooks delivered: the trigger takes webhook_url.
			{config.EnvWebhookQueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/agentq-webhooks", config.EnvWebhookSecret: secret},
			// Auth contexts, sealed with a local key.
			{config.EnvSealKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		},
		Required: []string{config.EnvTable, config.EnvQueueURL, config.EnvTriggerDLQURL},
	})
}
