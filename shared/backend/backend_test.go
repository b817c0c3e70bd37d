package backend

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/awsenv"
	"github.com/agentq/agentq/shared/config"
)

func TestNew(t *testing.T) {
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	tests := []struct {
		name                    string
		env                     map[string]string
		wantQueue, wantContexts bool
		// wantProgress: agents' reports are checked (the stream function needs no URL for it).
		wantProgress bool
		wantErr      bool
	}{
		{name: "table only", env: map[string]string{config.EnvTable: "t"}},
		{name: "everything", env: map[string]string{config.EnvTable: "t", config.EnvQueueURL: "http://127.0.0.1:1/q",
			config.EnvResultsBucket: "b", config.EnvSealKey: key}, wantQueue: true, wantContexts: true, wantProgress: true},
		// As the stack deploys the worker: the progress key is kept in the table, opened on first
		// use, so building the parts makes no KMS call (there are no credentials to make one).
		{name: "KMS-sealed with a stream URL", env: map[string]string{config.EnvTable: "t", config.EnvQueueURL: "http://127.0.0.1:1/q",
			config.EnvKMSKeyID: "alias/x", config.EnvStreamURL: "https://s.example"}, wantQueue: true, wantContexts: true, wantProgress: true},
		{name: "two sealing keys", env: map[string]string{config.EnvTable: "t", config.EnvSealKey: key, config.EnvKMSKeyID: "alias/x"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", "us-east-1")
			t.Setenv("AWS_ACCESS_KEY_ID", "test")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
			cfg, err := config.Load(func(k string) string { return tt.env[k] })
			if err != nil {
				if tt.wantErr {
					return
				}
				t.Fatal(err)
			}
			p, err := New(context.Background(), cfg)
			if tt.wantErr {
				if err == nil {
					t.Fatal("New succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Tasks == nil || p.Agents == nil || (p.Queue != nil) != tt.wantQueue || (p.Contexts != nil) != tt.wantContexts {
				t.Errorf("parts = %+v", p)
			}
			// What the consumers get: a sweeper and the accept core only with a queue, and auth
			// contexts as a truly nil interface when there are none.
			if (p.Sweeper(0) != nil) != tt.wantQueue || (p.Accept != nil) != tt.wantQueue {
				t.Errorf("sweeper %v, accept %v; want them: %v", p.Sweeper(0), p.Accept, tt.wantQueue)
			}
			if (p.ProgressService(nil) != nil) != tt.wantProgress || (p.ProgressKeys != nil) != tt.wantProgress {
				t.Errorf("progress keys %v, want them: %v", p.ProgressKeys, tt.wantProgress)
			}
			if ac := AuthContexts[accept.AuthContexts](p); (ac != nil) != tt.wantContexts {
				t.Errorf("auth contexts = %#v, want present: %v", ac, tt.wantContexts)
			}
			if p.Config() != cfg || p.Options().KeyCacheTTL != KeyCacheTTL {
				t.Errorf("config %p options %+v: not what New built from", p.Config(), p.Options())
			}
		})
	}
}

// TestNewWithoutCredentials: outside Lambda, with no credentials in the environment, New says so
// instead of building clients that fail on first use.
func TestNewWithoutCredentials(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	cfg, err := config.Load(func(k string) string { return map[string]string{config.EnvTable: "t"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(context.Background(), cfg); !errors.Is(err, awsenv.ErrNoCredentials) {
		t.Fatalf("New = %v, want ErrNoCredentials", err)
	}
}

// TestBuildBucketWithoutS3: a results bucket needs an S3 client.
func TestBuildBucketWithoutS3(t *testing.T) {
	if _, err := Build(&config.Config{Table: "t", ResultsBucket: "b"}, Clients{}, Options{}); err == nil {
		t.Fatal("Build succeeded without an S3 client for the bucket")
	}
}

// TestReceiptSigner: a KMS receipt key signs when one is named; else, wherever secrets are
// sealed, the table's sealed key of the configured generation; else nothing signs. Building the
// parts calls nothing (no credentials are needed).
func TestReceiptSigner(t *testing.T) {
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	tests := []struct {
		name      string
		env       map[string]string
		wantKeyID string // empty: no issuer
	}{
		{name: "nothing sealed", env: map[string]string{config.EnvTable: "t"}},
		{name: "KMS-sealed", env: map[string]string{config.EnvTable: "t", config.EnvKMSKeyID: "alias/x"}, wantKeyID: "table:receipt-key/v1"},
		{name: "locally sealed, rotated", env: map[string]string{config.EnvTable: "t", config.EnvSealKey: key, config.EnvReceiptKeyGeneration: "3"}, wantKeyID: "table:receipt-key/v3"},
		{name: "KMS receipt key", env: map[string]string{config.EnvTable: "t", config.EnvKMSKeyID: "alias/x", config.EnvReceiptKeyID: "alias/receipts"}, wantKeyID: "alias/receipts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_REGION", "us-east-1")
			t.Setenv("AWS_ACCESS_KEY_ID", "test")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
			cfg, err := config.Load(func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			p, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if p.Receipts != nil {
				got = p.Receipts.KeyID()
			}
			if got != tt.wantKeyID {
				t.Errorf("receipts signed by %q, want %q", got, tt.wantKeyID)
			}
		})
	}
}
