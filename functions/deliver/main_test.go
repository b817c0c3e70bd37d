package main

import (
	"testing"

	"github.com/agentq/agentq/functions/internal/configtest"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/webhook"
	"github.com/agentq/agentq/shared/webhook/signing"
)

func TestNewHandlerConfig(t *testing.T) {
	secret, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	configtest.Run(t, configtest.Case[*webhook.Service]{
		New: newHandler,
		// What the stack gives the deliver function (infra/construct/events), with local values.
		Valid: map[string]string{
			config.EnvTable:           "agentq-tasks",
			config.EnvWebhookQueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/agentq-webhooks",
			config.EnvWebhookDLQURL:   "https://sqs.us-east-1.amazonaws.com/123456789012/agentq-webhooks-dlq",
		},
		Variants: []map[string]string{
			{config.EnvWebhookSecret: secret},
			// Tenants' secrets sealed with a local key (the stack uses KMS).
			{config.EnvSealKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
			{config.EnvKMSKeyID: "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		},
		Required: []string{config.EnvTable, config.EnvWebhookQueueURL, config.EnvWebhookDLQURL},
	})
}
