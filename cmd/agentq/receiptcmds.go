package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/agentq/agentq/client"
	"github.com/agentq/agentq/shared/receipt"
)

// runReceipts is `agentq receipts get|list|verify`: ServiceNet receipts.
func runReceipts(ctx context.Context, e *apiEnv, args []string) error {
	if len(args) == 0 {
		return usagef("usage: %s", commandUsage("receipts"))
	}
	switch args[0] {
	case "get":
		return runReceiptGet(ctx, e, args[1:])
	case "list":
		return runReceiptList(ctx, e, args[1:])
	case "verify":
		return runReceiptVerify(ctx, e, args[1:])
	}
	return usagef("receipts %s: unknown; usage: %s", args[0], commandUsage("receipts"))
}

// runReceiptGet is `agentq receipts get ID [--wait]`.
var runReceiptGet = idCommand[client.Receipt]{name: "receipts get", usage: "receipts", label: "receipt",
	call: (*client.Client).Receipt, wait: waitReceipt, print: printReceipt, printWaited: printReceipt, ended: receiptEnded}.run

func waitReceipt(ctx context.Context, c *client.Client, id string, status func(string)) (*client.Receipt, error) {
	return c.WaitReceipt(ctx, id, func(r *client.Receipt) { status(string(r.Receipt.Status)) })
}

// receiptEnded is the error of a waited receipt that did not succeed; one that waits for input
// (its task paused) is no error, as a paused task is none.
func receiptEnded(r *client.Receipt) error {
	if r.Receipt.Status != "succeeded" && (r.Receipt.Status != "running" || r.HitlRequest == nil) {
		return &taskEndedError{id: r.Receipt.ReceiptId.String(), status: string(r.Receipt.Status)}
	}
	return nil
}

func printReceipt(w io.Writer, r *client.Receipt) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "receipt\t%s\n", r.Receipt.ReceiptId)
	fmt.Fprintf(tw, "agent\t%s\n", r.Receipt.AgentId)
	fmt.Fprintf(tw, "status\t%s\n", r.Receipt.Status)
	fmt.Fprintf(tw, "verification\t%s\n", r.Receipt.Verification)
	if r.Output != nil {
		out, _ := json.Marshal(r.Output)
		fmt.Fprintf(tw, "output\t%s\n", out)
	}
	if r.Error != nil {
		fmt.Fprintf(tw, "error\t%s\n", errorText(string(r.Error.Code), r.Error.Message))
	}
	tw.Flush()
}

// runReceiptList is `agentq receipts list [--agent A] [--verification V] [--limit N]`.
func runReceiptList(ctx context.Context, e *apiEnv, args []string) error {
	fs := newFlags("receipts list", e.stderr)
	agentID := fs.String("agent", "", "only this agent's receipts")
	verification := fs.String("verification", "", "only receipts with this verdict: not_required, pending, verified, failed")
	mode := fs.String("mode", "", "only sync or async invocations")
	limit := fs.Int("limit", 20, "at most this many receipts")
	output := outputFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *limit < 1 {
		return usagef("usage: %s", commandUsage("receipts"))
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	c, err := e.client(false)
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	q := client.ReceiptQuery{AgentID: *agentID, Verification: *verification, InvokeMode: *mode, Limit: min(*limit, 100)}
	receipts, err := collect(c.Receipts(ctx, q), *limit)
	if err != nil {
		return err
	}
	return emit(e, *output, receipts, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RECEIPT\tAGENT\tSTATUS\tVERIFICATION\tSTARTED")
		for _, r := range receipts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Receipt.ReceiptId, r.Receipt.AgentId, r.Receipt.Status, r.Receipt.Verification,
				r.Receipt.StartedAt.UTC().Format("2006-01-02T15:04:05Z"))
		}
		tw.Flush()
	})
}

// runReceiptVerify is `agentq receipts verify ID`: the receipt's signature checked here, with the
// key its issuer DID names, and that DID among the service's published keys. A receipt that
// fails exits 1.
func runReceiptVerify(ctx context.Context, e *apiEnv, args []string) error {
	fs := newFlags("receipts verify", e.stderr)
	output := outputFlag(fs)
	id, c, err := oneID(e, fs, args, "receipts")
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	r, verr := c.VerifyReceipt(ctx, id)
	var apiErr *client.Error
	var unreachable *client.UnreachableError
	if errors.As(verr, &apiErr) || errors.As(verr, &unreachable) || r == nil {
		return verr
	}
	verdict := struct {
		Valid   bool            `json:"valid"`
		Error   string          `json:"error,omitempty"`
		Receipt receipt.Receipt `json:"receipt"`
	}{Valid: verr == nil, Receipt: *r}
	if verr != nil {
		verdict.Error = verr.Error()
	}
	if err := emit(e, *output, verdict, func(w io.Writer) {
		if verr != nil {
			fmt.Fprintf(w, "INVALID  receipt %s: %v\n", id, verr)
			return
		}
		fmt.Fprintf(w, "valid  receipt %s (%s), signed by %s, a key of this service\n", id, r.Status, r.IssuerDID)
	}); err != nil {
		return err
	}
	if verr != nil {
		return fmt.Errorf("receipt %s does not verify", id)
	}
	return nil
}
