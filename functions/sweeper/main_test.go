package main

import (
	"context"
	"testing"

	"github.com/agentq/agentq/functions/internal/configtest"
)

func TestNewHandlerConfig(t *testing.T) {
	configtest.Offline(t)
	env := map[string]string{
		"AGENTQ_TABLE": "agentq-tasks", "AGENTQ_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/agentq-work",
		"AWS_REGION": "us-east-1",
	}
	getenv := func(k string) string { return env[k] }
	if _, err := newHandler(context.Background(), getenv); err != nil {
		t.Fatalf("valid configuration refused: %v", err)
	}
	for _, bad := range []string{"soon", "10s"} {
		env[EnvStaleAfter] = bad
		if _, err := newHandler(context.Background(), getenv); err == nil {
			t.Errorf("%s=%q accepted", EnvStaleAfter, bad)
		}
	}
	delete(env, EnvStaleAfter)
	delete(env, "AGENTQ_QUEUE_URL")
	if _, err := newHandler(context.Background(), getenv); err == nil {
		t.Error("missing queue URL accepted")
	}
}
