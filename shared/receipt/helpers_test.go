package receipt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func mustDID(t *testing.T, i *Issuer) string {
	t.Helper()
	did, err := i.DID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return did
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
