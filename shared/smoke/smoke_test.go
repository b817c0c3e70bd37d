package smoke_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/local/system"
	"github.com/agentq/agentq/shared/smoke"
)

const (
	testKey           = "aq_smoke_test_key"
	testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// sys is the local system the checks run against: the same API, trigger and webhook deliveries a
// deployed stack has, and a bus that speaks EventBridge's protocol.
var sys *system.System

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if err := emulators.CheckInstalled(emulators.Options{}); err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("skipping the smoke checks against the local system:", err)
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	sys, err = system.Start(ctx, system.Options{
		Addr: "127.0.0.1:0", APIKey: testKey, AdminKey: "aq_smoke_test_admin",
		WebhookSecret: testWebhookSecret, AllowLoopbackWebhooks: true,
		WebhookSchedule: []time.Duration{20 * time.Millisecond},
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start local system:", err)
		return 1
	}
	defer sys.Close()
	return m.Run()
}

// freeAddr is a loopback address nothing listens on yet.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// localEvents puts events on the local bus through the real EventBridge client, as on AWS.
func localEvents() *smoke.EventBridge {
	api := eventbridge.New(eventbridge.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(sys.Bus.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	return &smoke.EventBridge{API: api, Bus: sys.Bus.Name}
}

func config(t *testing.T) smoke.Config {
	t.Helper()
	return smoke.Config{
		APIURL: sys.APIURL + "/", APIKey: testKey, Timeout: 60 * time.Second,
		Interval: 100 * time.Millisecond, Log: testWriter{t},
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func statuses(results []smoke.Result) map[string]smoke.Status {
	out := map[string]smoke.Status{}
	for _, r := range results {
		out[r.Check] = r.Status
	}
	return out
}

// TestEveryCheckPassesOnTheLocalSystem: what `make smoke-aws` runs against a deployed ApiUrl
// passes against the local system: both dialects (ServiceNet's key as a Bearer token), a webhook
// delivered to a receiver on this machine and logged as succeeded, and an Invoke Agent event put
// with the EventBridge client that made a task which completed.
func TestEveryCheckPassesOnTheLocalSystem(t *testing.T) {
	cfg := config(t)
	listen := freeAddr(t)
	cfg.WebhookURL, cfg.WebhookListen = "http://"+listen+"/agentq-smoke", listen
	cfg.Events = localEvents()
	results, err := smoke.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v\n%+v", err, results)
	}
	if len(results) != 4 {
		t.Fatalf("results = %+v, want four checks", results)
	}
	for _, r := range results {
		if r.Status != smoke.Pass {
			t.Errorf("%s: %s %s", r.Check, r.Status, r.Detail)
		}
	}
}

// TestUnconfiguredChecksAreSkippedAndSaySo: without a receiver URL or an event bus those checks
// are skipped with the reason, and the run still passes on what it could check.
func TestUnconfiguredChecksAreSkippedAndSaySo(t *testing.T) {
	cfg := config(t)
	cfg.EventsSkipReason = "no EVENT_BUS: set it"
	results, err := smoke.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := statuses(results)
	if got["xpander invoke and poll"] != smoke.Pass || got["servicenet invoke and poll (Bearer)"] != smoke.Pass {
		t.Errorf("dialect checks = %v, want both passed", got)
	}
	for _, r := range results {
		switch r.Check {
		case "webhook delivery":
			if r.Status != smoke.Skip || !strings.Contains(r.Detail, "WEBHOOK_URL") {
				t.Errorf("webhook check = %s %q, want skipped naming WEBHOOK_URL", r.Status, r.Detail)
			}
		case "event-triggered invocation":
			if r.Status != smoke.Skip || r.Detail != cfg.EventsSkipReason {
				t.Errorf("event check = %s %q, want skipped with the reason given", r.Status, r.Detail)
			}
		}
	}
}

// TestFailuresAreReported: a key the API refuses fails the dialect checks with the API's answer,
// a refused event fails the event check, and the run returns ErrFailed.
func TestFailuresAreReported(t *testing.T) {
	cfg := config(t)
	cfg.APIKey = "aq_not_a_key"
	cfg.Events = &smoke.EventBridge{API: localEvents().API, Bus: "no-such-bus"}
	results, err := smoke.Run(context.Background(), cfg)
	if !errors.Is(err, smoke.ErrFailed) {
		t.Fatalf("Run = %v, want ErrFailed", err)
	}
	for _, r := range results {
		if r.Check == "webhook delivery" {
			continue
		}
		if r.Status != smoke.Fail {
			t.Errorf("%s: %s %s, want a failure", r.Check, r.Status, r.Detail)
		}
	}
	if got := results[0].Detail; !strings.Contains(got, "401") {
		t.Errorf("xpander failure = %q, want the API's 401", got)
	}
}

func TestRequiresURLAndKey(t *testing.T) {
	for _, cfg := range []smoke.Config{{APIKey: "k"}, {APIURL: "http://127.0.0.1:1/"}, {APIURL: "not a url", APIKey: "k"}} {
		if _, err := smoke.Run(context.Background(), cfg); err == nil || errors.Is(err, smoke.ErrFailed) {
			t.Errorf("Run(%+v) = %v, want a usage error", cfg, err)
		}
	}
}
