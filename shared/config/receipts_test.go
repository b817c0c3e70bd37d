package config

import (
	"slices"
	"strings"
	"testing"
)

func TestReceiptKeys(t *testing.T) {
	tests := []struct {
		name, current, previous string
		wantCurrent             string
		wantPrevious            []string
		wantErr                 string
	}{
		{name: "unset"},
		{name: "current only", current: " arn:aws:kms:eu-west-1:1:key/a ", wantCurrent: "arn:aws:kms:eu-west-1:1:key/a"},
		{name: "rotated", current: "k3", previous: "k2, ,k1", wantCurrent: "k3", wantPrevious: []string{"k2", "k1"}},
		{name: "previous without current", previous: "k1", wantErr: EnvReceiptPreviousKeyIDs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{EnvReceiptKeyID: tt.current, EnvReceiptPreviousKeyIDs: tt.previous}
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
			if c.ReceiptKeyID != tt.wantCurrent || !slices.Equal(c.ReceiptPreviousKeyIDs, tt.wantPrevious) {
				t.Errorf("keys = %q %q", c.ReceiptKeyID, c.ReceiptPreviousKeyIDs)
			}
		})
	}
}
