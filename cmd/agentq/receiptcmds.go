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

// runReceiptGet is `agentq receipts get ID [--wait]`.
var runReceiptGet = idCommand[client.Receipt]{name: "receipts get", usage: "receipts", label: "receipt",
	call: (*client.Client).Receipt, wait: waitReceipt, print: printReceipt, printWaited: printReceipt, ended: receiptEnded}.run

func waitReceipt(ctx context.Context, c *client.Client, id string, status func(string)) (*client.Receipt, error) {
	return c.WaitReceipt(ctx, id, func(r *client.Receipt) { status(string(r.Status)) })
}

// receiptEnded is the error of a waited receipt that did not succeed.
func receiptEnded(r *client.Receipt) error {
	if r.Status != "succeeded" {
		return &taskEndedError{id: r.ReceiptId.String(), status: string(r.Status)}
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
