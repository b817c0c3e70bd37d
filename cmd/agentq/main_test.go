package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	err := run(context.Background(), []string{"nope"}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "agentq worker") {
		t.Fatalf("err = %v", err)
	}
}

func TestWorkerNeedsState(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "local.json")
	err := run(context.Background(), []string{"worker", "-state", missing}, func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "read state") {
		t.Fatalf("err = %v", err)
	}
}

func TestSoakFlags(t *testing.T) {
	if err := run(context.Background(), []string{"soak", "-n", "0"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Fatal("soak -n 0 was accepted")
	}
}
