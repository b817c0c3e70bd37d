package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/agentq/agentq/client"
)

// runReceipts is `agentq receipts get ID [--wait]`: ServiceNet receipts.
func runReceipts(ctx context.Context, e *apiEnv, args []string) error {
	if len(args) == 0 {
		return usagef("usage: %s", commandUsage("receipts"))
	}
	switch args[0] {
	case "get":
		return runReceiptGet(ctx, e, args[1:])
	}
	return usagef("receipts %s: unknown; usage: %s", args[0], commandUsage("receipts"))
}

func runReceiptGet(ctx context.Context, e *apiEnv, args []string) error {
	fs := newFlags("receipts get", e.stderr)
	wait := fs.Bool("wait", false, "wait until the receipt is no longer running")
	output := outputFlag(fs)
	id, c, err := oneID(e, fs, args, "receipts")
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	var r *client.Receipt
	if *wait {
		p := newProgress(e.stderr, e.tty, e.now, "receipt "+id)
		pctx, stop := context.WithCancel(ctx)
		go p.Run(pctx)
		r, err = c.WaitReceipt(ctx, id, func(r *client.Receipt) { p.Status(string(r.Status)) })
		stop()
		p.Done()
	} else {
		tctx, cancel := withTimeout(ctx)
		r, err = c.Receipt(tctx, id)
		cancel()
	}
	if err != nil {
		return err
	}
	if err := emit(e, *output, r, func(w io.Writer) { printReceipt(w, r) }); err != nil {
		return err
	}
	if *wait && r.Status != "succeeded" {
		return &taskEndedError{id: id, status: string(r.Status)}
	}
	return nil
}

func printReceipt(w io.Writer, r *client.Receipt) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "receipt\t%s\n", r.ReceiptId)
	fmt.Fprintf(tw, "agent\t%s\n", r.AgentId)
	fmt.Fprintf(tw, "status\t%s\n", r.Status)
	fmt.Fprintf(tw, "message\t%s\n", r.Message)
	if r.Output != nil {
		fmt.Fprintf(tw, "output\t%s\n", *r.Output)
	}
	if r.Error != nil {
		fmt.Fprintf(tw, "error\t%s\n", errorText(string(r.Error.Code), r.Error.Message))
	}
	tw.Flush()
}
