package config

import (
	"slices"
	"strings"
	"testing"
)

func TestReceiptKeys(t *testing.T) {
	tests := []struct {
		name, current, previous, gen string
		wantCurrent                  string
		wantPrevious                 []string
		wantGen                      int
		wantErr                      string
	}{
		{name: "unset", wantGen: 1},
		{name: "current only", current: " arn:aws:kms:eu-west-1:1:key/a ", wantCurrent: "arn:aws:kms:eu-west-1:1:key/a", wantGen: 1},
		{name: "rotated", current: "k3", previous: "k2, ,k1", wantCurrent: "k3", wantPrevious: []string{"k2", "k1"}, wantGen: 1},
		{name: "previous without current", previous: "k1", wantErr: EnvReceiptPreviousKeyIDs},
		{name: "sealed generation", gen: " 3 ", wantGen: 3},
		{name: "generation zero", gen: "0", wantErr: EnvReceiptKeyGeneration},
		{name: "generation too high", gen: "101", wantErr: EnvReceiptKeyGeneration},
		{name: "generation not a number", gen: "v2", wantErr: EnvReceiptKeyGeneration},
		{name: "generation with a KMS key", current: "k1", gen: "2", wantErr: EnvReceiptKeyGeneration},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{EnvReceiptKeyID: tt.current, EnvReceiptPreviousKeyIDs: tt.previous, EnvReceiptKeyGeneration: tt.gen}
			c, err := Load(func(k string) string { return env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.ReceiptKeyID != tt.wantCurrent || !slices.Equal(c.ReceiptPreviousKeyIDs, tt.wantPrevious) || c.ReceiptKeyGeneration != tt.wantGen {
				t.Errorf("keys = %q %q generation %d", c.ReceiptKeyID, c.ReceiptPreviousKeyIDs, c.ReceiptKeyGeneration)
			}
		})
	}
}
