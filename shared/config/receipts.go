package config

import (
	"fmt"
	"strings"
)

// Receipt signing keys (KMS keys of spec ECC_NIST_EDWARDS25519).
const (
	// EnvReceiptKeyID names the KMS key ServiceNet receipts are signed with; unset, receipts are
	// answered unsigned.
	EnvReceiptKeyID = "AGENTQ_RECEIPT_KEY_ID"
	// EnvReceiptPreviousKeyIDs lists, comma-separated and newest first, the keys receipts were
	// signed with before a rotation: their receipts stay recognised and their keys published.
	EnvReceiptPreviousKeyIDs = "AGENTQ_RECEIPT_PREVIOUS_KEY_IDS"
)

// loadReceiptKeys reads EnvReceiptKeyID and EnvReceiptPreviousKeyIDs.
func (c *Config) loadReceiptKeys(getenv func(string) string) error {
	c.ReceiptKeyID = strings.TrimSpace(getenv(EnvReceiptKeyID))
	for id := range strings.SplitSeq(getenv(EnvReceiptPreviousKeyIDs), ",") {
		if id = strings.TrimSpace(id); id != "" {
			c.ReceiptPreviousKeyIDs = append(c.ReceiptPreviousKeyIDs, id)
		}
	}
	if c.ReceiptKeyID == "" && len(c.ReceiptPreviousKeyIDs) > 0 {
		return fmt.Errorf("%s: previous receipt keys need a current one in %s", EnvReceiptPreviousKeyIDs, EnvReceiptKeyID)
	}
	return nil
}
