package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/agentq/agentq/shared/local/bench"
	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/tenantlimit"
	"github.com/agentq/agentq/test/coldstart"
)

// runBench is `agentq bench`: the functions' cold starts against a bare aws-lambda-go binary
// (package coldstart), then the whole pipeline on 127.0.0.1 with every AWS request counted and
// priced (package bench). Run it from the module's root: the cold-start meter builds the
// functions.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := bench.Defaults
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.Tasks, "tasks", c.Tasks, "tasks the end-to-end run submits")
	fs.IntVar(&c.Clients, "clients", c.Clients, "concurrent clients of the end-to-end run")
	fs.DurationVar(&c.Agent, "agent", c.Agent, "how long the echo agent takes on each task")
	fs.DurationVar(&c.Latency, "latency", c.Latency, "latency added to every AWS request to count the accept path's round trips")
	fs.IntVar(&c.Samples, "samples", c.Samples, "accepts timed per variant, with and without the latency")
	fs.IntVar(&c.BatchTasks, "batch-tasks", c.BatchTasks, "tasks the batch run queues before the worker drains them")
	fs.BoolVar(&c.ReceiptKMS, "receipt-kms", false, "sign receipts as the KMS-key option does (a KMS Sign each) instead of with the sealed key (a KMS Decrypt per instance)")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "bound on the pipeline run")
	limits := fs.Bool("limits", true, "apply a deployment's default tenant limits (rate and tasks in flight per tenant), spreading the requests over one tenant per client")
	fs.IntVar(&c.Tenants, "tenants", c.Tenants, "tenants the requests are spread over (0: one per client)")
	runs := fs.Int("coldstart-runs", 20, "cold starts per function (0: skip the cold-start meter)")
	only := fs.Bool("coldstart-only", false, "run the cold-start meter only, not the pipeline")
	memory := fs.Bool("memory", true, "run the built invoke, poll and worker binaries under a fake Lambda Runtime API for their peak memory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*limits {
		c.Limits = tenantlimit.Limits{}
	}
	if *runs > 0 {
		if _, err := coldstart.Report(ctx, stdout, *runs); err != nil {
			return err
		}
	}
	if *only {
		return nil
	}
	if err := emulators.CheckInstalled(emulators.Options{}); err != nil {
		return fmt.Errorf("bench: %w (run make tools)", err)
	}
	c.Logger = slog.New(slog.DiscardHandler)
	if *memory {
		dir, err := os.MkdirTemp("", "agentq-bench-bin-")
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer os.RemoveAll(dir)
		c.Functions = map[string]string{}
		for _, fn := range []string{"invoke", "poll", "worker"} {
			if c.Functions[fn], err = coldstart.Build(ctx, dir, fn, "./functions/"+fn); err != nil {
				return fmt.Errorf("bench: %w", err)
			}
		}
	}
	return bench.Run(ctx, c, stdout)
}
