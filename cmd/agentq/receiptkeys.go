package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/agentq/agentq/shared/receipt"
)

// receiptKeysFile is where the local runner keeps its receipt signing keys: AGENTQ_RECEIPT_KEYS_FILE,
// or beside its state in .agentq/.
func receiptKeysFile(getenv func(string) string) string {
	return or(getenv("AGENTQ_RECEIPT_KEYS_FILE"), filepath.Join(".agentq", receipt.KeysFile))
}

// runReceiptKeys lists the local receipt signing keys, or rotates them: a new key signs from the
// next start of `agentq run`, and the old ones stay listed so their receipts stay verifiable.
func runReceiptKeys(args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) != 1 || (args[0] != "list" && args[0] != "rotate") {
		return errors.New("usage: agentq receipt-keys list|rotate")
	}
	path := receiptKeysFile(getenv)
	load := receipt.LoadLocal
	if args[0] == "rotate" {
		load = receipt.RotateLocal
	}
	iss, err := load(path)
	if err != nil {
		return err
	}
	keys, err := iss.Keys(context.Background())
	if err != nil {
		return err
	}
	for _, k := range keys {
		fmt.Fprintf(stdout, "%-8s %s\n", k.Status, k.DID)
	}
	return nil
}
