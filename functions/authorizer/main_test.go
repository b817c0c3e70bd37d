package main

import (
	"context"
	"strings"
	"testing"
)

// A bad configuration stops the function at start, before it serves anything.
func TestRunNeedsConfiguration(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"no table":       {},
		"bad admin keys": {"AGENTQ_TABLE": "tasks", "AGENTQ_ADMIN_KEYS": "admin:zz"},
	} {
		t.Run(name, func(t *testing.T) {
			err := run(context.Background(), func(k string) string { return env[k] })
			if err == nil || !strings.Contains(err.Error(), "AGENTQ_") {
				t.Fatalf("run = %v, want a configuration error", err)
			}
		})
	}
}
