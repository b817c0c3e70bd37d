package sealedkey_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"

	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/sealedkey"
)

var suite emulators.Suite

func TestMain(m *testing.M) { os.Exit(suite.Main(m, nil)) }

var rec = sealedkey.Record{Partition: "CONFIG#test-key", SortKey: "KEY", BindingID: "test-key/v1", Name: "test key", Size: 24}

func sealer(t *testing.T) authctx.Sealer {
	t.Helper()
	k, err := authctx.NewLocalKey(bytes.Repeat([]byte{3}, authctx.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestExistingNeverCreates: a read-only store answers ErrNotFound for a missing key and creates
// none; once the key exists it opens it, and each store tells OnOpen of its one opening.
func TestExistingNeverCreates(t *testing.T) {
	db, table := suite.Table(t, "skey")
	ctx := context.Background()
	var opened atomic.Int32
	onOpen := func(context.Context) { opened.Add(1) }
	ro := sealedkey.New(db, table, sealer(t), rec).OnOpen(onOpen).Existing()
	if _, err := ro.Key(ctx); !errors.Is(err, sealedkey.ErrNotFound) {
		t.Fatalf("err %v, want ErrNotFound", err)
	}
	if _, err := ro.Key(ctx); !errors.Is(err, sealedkey.ErrNotFound) {
		t.Fatalf("the read-only store created the key: %v", err)
	}
	created, err := sealedkey.New(db, table, sealer(t), rec).Key(ctx)
	if err != nil || len(created) != rec.Size {
		t.Fatalf("create: %d bytes, %v", len(created), err)
	}
	for range 3 {
		got, err := ro.Key(ctx)
		if err != nil || !bytes.Equal(got, created) {
			t.Fatalf("read-only store answers %x %v, want %x", got, err, created)
		}
	}
	if opened.Load() != 1 {
		t.Fatalf("opened %d times, want once", opened.Load())
	}
}
