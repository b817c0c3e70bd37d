// Command agentq runs agentq on this machine.
//
//	agentq run     start the emulators, the API on 127.0.0.1:8042, the worker and the echo agent
//	agentq worker  run a worker on the system `agentq run` started (its state file): a separate
//	               process that may be killed and started again while the rest stays up
//	agentq soak    a bounded load test on 127.0.0.1 that kills and restarts a worker process
//	agentq bench   cold starts of the functions, then the whole pipeline on 127.0.0.1 measured
//	               and priced: latency, throughput, accept round trips, worker billing, cost
//	agentq keys    create, list and revoke tenants' API keys on a running system (admin key from
//	               AGENTQ_ADMIN_KEY, API from -api or AGENTQ_API_URL)
//	agentq smoke   check a running system, deployed or local, end to end through its API (both
//	               dialects, a webhook, an event-triggered invocation): `make smoke-aws`
//	agentq events  print a task's events; -follow streams them until the task finishes, resuming
//	               after every dropped connection (key from AGENTQ_API_KEY)
//
// The API commands (invoke, get, list, stop, thread, events, receipts, agents, keys) go through
// the Go client (package client) to AGENTQ_API_URL with AGENTQ_API_KEY or AGENTQ_ADMIN_KEY;
// `agentq help` lists every command and `agentq completion bash|zsh` completes them.
//
// `agentq run` writes the endpoints, names and queue URLs to a state file (-state, default
// .agentq/local.json) and removes it when it stops; -no-worker leaves the work to `agentq worker`.
//
// Environment: AGENTQ_API_KEY (the key callers use; one is generated and printed when unset),
// AGENTQ_ADMIN_KEY (the key that publishes agents; likewise),
// AGENTQ_ADDR (listen address), AGENTQ_AGENTS_FILE (more agents, a JSON array),
// AGENTQ_DATA_DIR (keep DynamoDB data across runs), AWS_ENDPOINT_URL_DYNAMODB and
// AWS_ENDPOINT_URL_SQS (use running services instead of starting the emulators),
// AWS_ENDPOINT_URL_LAMBDA (where Lambda agents are invoked), AGENTQ_SEAL_KEY (base64 of the 32-byte
// key that seals auth contexts; generated per run when unset), AGENTQ_WEBHOOK_SECRET (the whsec_
// secret that signs webhook deliveries for tenants with none of their own; generated and printed
// when unset), AGENTQ_ALLOW_LOOPBACK_URLS (1: webhook URLs may point at this machine; `make run`
// sets it).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/local/system"
	"github.com/agentq/agentq/shared/telemetry"
	"github.com/agentq/agentq/shared/webhook/signing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(report(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr), os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if c, ok := lookup(args[0]); ok && c.run != nil {
			return c.run(ctx, &apiEnv{getenv: getenv, stdout: stdout, stderr: stderr, tty: isTerminal(stderr), now: time.Now}, args[1:])
		}
		switch args[0] {
		case "help", "-h", "-help", "--help":
			return runHelp(args[1:], stdout)
		case "completion":
			return runCompletion(args[1:], stdout)
		case "worker":
			return runWorker(ctx, args[1:], getenv, stderr)
		case "soak":
			return runSoak(ctx, args[1:], stdout, stderr)
		case "bench":
			return runBench(ctx, args[1:], stdout, stderr)
		case "keys":
			return runKeys(ctx, args[1:], getenv, stdout, stderr)
		case "dev":
			return runDev(ctx, args[1:], getenv, stdout, stderr)
		case "receipt-keys":
			return runReceiptKeys(args[1:], getenv, stdout)
		case "smoke":
			return runSmoke(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	if len(args) == 0 || args[0] != "run" {
		return &usageError{usage}
	}
	return runLocal(ctx, args[1:], getenv, stdout, stderr)
}

// secrets are the keys a local run accepts and signs with, and whether each was generated.
type secrets struct {
	apiKey, adminKey, webhookSecret                string
	apiGenerated, adminGenerated, webhookGenerated bool
	sealKey                                        []byte
}

// localSecrets reads the run's keys from the environment and generates those it does not set.
func localSecrets(getenv func(string) string) (secrets, error) {
	var sc secrets
	sc.apiKey, sc.apiGenerated = keyFrom(getenv("AGENTQ_API_KEY"), "aq_")
	sc.adminKey, sc.adminGenerated = keyFrom(getenv("AGENTQ_ADMIN_KEY"), "aqadm_")
	if v := getenv(config.EnvSealKey); v != "" {
		k, err := config.ParseSealKey(v)
		if err != nil {
			return sc, fmt.Errorf("%s: %w", config.EnvSealKey, err)
		}
		sc.sealKey = k
	} else {
		// Chosen here rather than by Start: a worker process needs the same key.
		sc.sealKey = make([]byte, authctx.KeySize)
		_, _ = rand.Read(sc.sealKey)
	}
	sc.webhookSecret = getenv(config.EnvWebhookSecret)
	if sc.webhookSecret == "" {
		s, err := signing.NewSecret()
		if err != nil {
			return sc, err
		}
		sc.webhookSecret, sc.webhookGenerated = s, true
	}
	return sc, nil
}

// runLocal is `agentq run`: the whole system on 127.0.0.1 until ctx ends.
func runLocal(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", or(getenv("AGENTQ_ADDR"), "127.0.0.1:8042"), "API listen address")
	data := fs.String("data", getenv("AGENTQ_DATA_DIR"), "keep DynamoDB data in this directory (default: in memory)")
	level := fs.String("log-level", or(getenv("AGENTQ_LOG_LEVEL"), "info"), "log level: debug, info, warn, error")
	state := fs.String("state", defaultState, "write the endpoints, table and queues here for `agentq worker`")
	noWorker := fs.Bool("no-worker", false, "start no worker: run `agentq worker` for the work")
	sweepEvery := fs.Duration("sweep-every", 5*time.Minute, "run the sweeper of lost work messages this often (0: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var agents []agent.Agent
	if f := getenv("AGENTQ_AGENTS_FILE"); f != "" {
		var err error
		if agents, err = system.ReadAgents(f); err != nil {
			return err
		}
	}
	sc, err := localSecrets(getenv)
	if err != nil {
		return err
	}
	limits, err := config.TenantLimits(getenv)
	if err != nil {
		return err
	}
	completion, err := config.CompletionEvents(getenv)
	if err != nil {
		return err
	}
	sys, err := system.Start(ctx, system.Options{
		SealKey: sc.sealKey, WebhookSecret: sc.webhookSecret, AllowLoopbackWebhooks: getenv(config.EnvAllowLoopbackURLs) == "1",
		Addr: *addr, APIKey: sc.apiKey, AdminKey: sc.adminKey, Agents: agents, DataDir: *data,
		DynamoDBEndpoint: getenv("AWS_ENDPOINT_URL_DYNAMODB"), SQSEndpoint: getenv("AWS_ENDPOINT_URL_SQS"),
		LambdaEndpoint: getenv("AWS_ENDPOINT_URL_LAMBDA"), NoWorker: *noWorker, SweepEvery: *sweepEvery,
		ReceiptKeysFile: receiptKeysFile(getenv), TenantLimits: limits, CompletionEvents: completion,
		Logger: telemetry.NewLogger(stderr, *level),
	})
	if err != nil {
		return err
	}
	defer sys.Close()
	if *state != "" {
		wo := sys.WorkerOptions(sc.sealKey)
		wo.LambdaEndpoint = getenv("AWS_ENDPOINT_URL_LAMBDA")
		if err := system.WriteState(*state, wo); err != nil {
			return err
		}
		defer os.Remove(*state)
	}

	printRunning(stdout, sys, sc)
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nagentq: stopping")
	return sys.Close()
}

// printRunning tells where the running system's parts are and which keys it accepts.
func printRunning(stdout io.Writer, sys *system.System, sc secrets) {
	fmt.Fprintf(stdout, "agentq is running\n  API        %s\n  DynamoDB   %s  (table %s)\n  SQS        %s  (queue %s)\n  echo agent %s\n"+
		"  event bus  %s  (completion events are logged; `agentq dev send-event FILE` triggers)\n  ingest     %s\n",
		sys.APIURL, sys.DynamoDBEndpoint, sys.Table, sys.SQSEndpoint, sys.Queues.URL, sys.EchoURL, sys.Bus.URL, sys.Events.Ingest.URL)
	if did, err := sys.Receipts.DID(context.Background()); err == nil {
		fmt.Fprintf(stdout, "  receipts   signed by %s\n", did)
	}
	if sc.webhookGenerated {
		fmt.Fprintf(stdout, "  webhooks   signed with %s  (generated; set AGENTQ_WEBHOOK_SECRET to choose one)\n", sc.webhookSecret)
	} else {
		fmt.Fprintf(stdout, "  webhooks   signed with the secret in AGENTQ_WEBHOOK_SECRET\n")
	}
	if sc.apiGenerated {
		fmt.Fprintf(stdout, "  API key    %s  (generated; set AGENTQ_API_KEY to choose one)\n", sc.apiKey)
		fmt.Fprintf(stdout, "\n  export AGENTQ_API_KEY=%s\n", sc.apiKey)
	} else {
		fmt.Fprintf(stdout, "  API key    from AGENTQ_API_KEY\n")
	}
	if sc.adminGenerated {
		fmt.Fprintf(stdout, "  admin key  %s  (generated; set AGENTQ_ADMIN_KEY to choose one)\n", sc.adminKey)
		fmt.Fprintf(stdout, "\n  export AGENTQ_ADMIN_KEY=%s\n", sc.adminKey)
	} else {
		fmt.Fprintf(stdout, "  admin key  from AGENTQ_ADMIN_KEY\n")
	}
	fmt.Fprintf(stdout, "\nTry:\n  curl -s -X POST %s/v1/agents/echo/invoke/async -H \"x-api-key: $AGENTQ_API_KEY\" -H 'content-type: application/json' -d '{\"input\":{\"text\":\"hello\"}}'\n\nCtrl-C stops everything.\n", sys.APIURL)
}

const (
	usage        = "usage: agentq run | worker | soak | bench | keys | receipt-keys | dev | smoke | invoke | get | list | stop | thread | events | receipts | agents | completion  (`agentq help COMMAND` says more; `agentq worker` needs the state file `agentq run` writes)"
	defaultState = ".agentq/local.json"
)

// runWorker runs a worker on the system whose state file `agentq run` wrote, until ctx ends.
func runWorker(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", or(getenv("AGENTQ_STATE"), defaultState), "the state file `agentq run` wrote")
	level := fs.String("log-level", or(getenv("AGENTQ_LOG_LEVEL"), "info"), "log level: debug, info, warn, error")
	pollers := fs.Int("pollers", 4, "pollers on the work queue")
	if err := fs.Parse(args); err != nil {
		return err
	}
	wo, err := system.ReadState(*state)
	if err != nil {
		return err
	}
	wo.Logger, wo.Pollers = telemetry.NewLogger(stderr, *level), *pollers
	wo.Logger.Info("worker started", "queue", wo.Queues.URL, "table", wo.Table)
	return system.RunWorker(ctx, wo)
}

// keyFrom returns v, or a new random key with the prefix when v is empty.
func keyFrom(v, prefix string) (key string, generated bool) {
	if v != "" {
		return v, false
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b), true
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
