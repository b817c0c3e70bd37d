package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Receipt signing keys: by default Ed25519 seeds sealed in the task table (package receiptkey),
// or KMS keys of spec ECC_NIST_EDWARDS25519.
const (
	// EnvReceiptKeyID names the KMS key ServiceNet receipts are signed with; unset, they are
	// signed with the sealed key of the table (where secrets are sealed), else answered unsigned.
	EnvReceiptKeyID = "AGENTQ_RECEIPT_KEY_ID"
	// EnvReceiptKeyGeneration is the generation of the sealed key that signs (1 when unset):
	// rotating it is raising it, and the earlier generations stay listed.
	EnvReceiptKeyGeneration = "AGENTQ_RECEIPT_KEY_GENERATION"
	// EnvReceiptPreviousKeyIDs lists, comma-separated and newest first, the keys receipts were
	// signed with before a rotation: their receipts stay recognised and their keys published.
	EnvReceiptPreviousKeyIDs = "AGENTQ_RECEIPT_PREVIOUS_KEY_IDS"
)

// loadReceiptKeys reads EnvReceiptKeyID, EnvReceiptPreviousKeyIDs and EnvReceiptKeyGeneration.
func (c *Config) loadReceiptKeys(getenv func(string) string) error {
	c.ReceiptKeyGeneration = 1
	if g := strings.TrimSpace(getenv(EnvReceiptKeyGeneration)); g != "" {
		n, err := strconv.Atoi(g)
		if err != nil || n < 1 || n > MaxReceiptKeyGeneration {
			return fmt.Errorf("%s: %q is not a generation between 1 and %d", EnvReceiptKeyGeneration, g, MaxReceiptKeyGeneration)
		}
		if strings.TrimSpace(getenv(EnvReceiptKeyID)) != "" {
			return fmt.Errorf("%s: a sealed key's generation, but %s chooses a KMS key", EnvReceiptKeyGeneration, EnvReceiptKeyID)
		}
		c.ReceiptKeyGeneration = n
	}
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

// MaxReceiptKeyGeneration bounds EnvReceiptKeyGeneration (receiptkey.MaxGeneration).
const MaxReceiptKeyGeneration = 100
