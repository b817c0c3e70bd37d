package main

import (
	"testing"

	"github.com/agentq/agentq/functions/internal/configtest"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/notify"
	"github.com/agentq/agentq/shared/webhook/signing"
)

func TestNewHandlerConfig(t *testing.T) {
	secret, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	configtest.Run(t, configtest.Case[*notify.Notifier]{
		New: newHandler,
		// What the stack gives the notify function (infra/construct/events), with local values.
		Valid: map[string]string{
			config.EnvTable:           "agentq-tasks",
			config.EnvEventBus:        "agentq-events",
			config.EnvWebhookQueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/agentq-webhooks",
			config.EnvResultsBucket:   "agentq-payloads",
		},
		Variants: []map[string]string{
			{config.EnvWebhookSecret: secret},
			// The bus by ARN, tenants' secrets sealed with a local key.
			{config.EnvEventBus: "arn:aws:events:us-east-1:123456789012:event-bus/agentq-events", config.EnvSealKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		},
		Required: []string{config.EnvTable, config.EnvEventBus, config.EnvWebhookQueueURL},
	})
}
