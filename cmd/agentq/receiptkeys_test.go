package main

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

func TestReceiptKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "receipt-keys.json")
	env := func(k string) string { return map[string]string{"AGENTQ_RECEIPT_KEYS_FILE": path}[k] }
	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"receipt-keys"}, args...), env, &out, io.Discard)
		return out.String(), err
	}
	first, err := cmd("list")
	if err != nil || !strings.HasPrefix(first, "current  did:key:z6Mk") || strings.Count(first, "\n") != 1 {
		t.Fatalf("list = %q, %v", first, err)
	}
	again, _ := cmd("list")
	if again != first {
		t.Fatalf("the key changed between two lists: %q, %q", first, again)
	}
	rotated, err := cmd("rotate")
	oldDID := strings.TrimSpace(strings.TrimPrefix(first, "current"))
	if err != nil || !strings.Contains(rotated, "previous "+oldDID) || strings.Contains(rotated, "current  "+oldDID) {
		t.Fatalf("rotate = %q, %v", rotated, err)
	}
	for _, bad := range [][]string{{}, {"delete"}, {"list", "x"}} {
		if _, err := cmd(bad...); err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("receipt-keys %v = %v, want usage", bad, err)
		}
	}
}
