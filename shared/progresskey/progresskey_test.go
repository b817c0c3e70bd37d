package progresskey_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/progresskey"
)

var suite emulators.Suite

func TestMain(m *testing.M) { os.Exit(suite.Main(m, nil)) }

// countingSealer counts the opens and seals of a local-key sealer, as KMS calls would be counted.
type countingSealer struct {
	authctx.Sealer
	seals, opens atomic.Int32
	failOpen     atomic.Bool
}

var _ authctx.Sealer = (*countingSealer)(nil)

func (c *countingSealer) Seal(ctx context.Context, p, aad []byte) ([]byte, error) {
	c.seals.Add(1)
	return c.Sealer.Seal(ctx, p, aad)
}

func (c *countingSealer) Open(ctx context.Context, s, aad []byte) ([]byte, error) {
	c.opens.Add(1)
	if c.failOpen.Load() {
		return nil, errors.New("kms unavailable")
	}
	return c.Sealer.Open(ctx, s, aad)
}

func newSealer(t *testing.T) *countingSealer {
	t.Helper()
	k, err := authctx.NewLocalKey(bytes.Repeat([]byte{7}, authctx.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return &countingSealer{Sealer: k}
}

// TestCreatedOnceUnderConcurrency: many instances that all find no key agree on one, and each
// opens it once however often it is asked.
func TestCreatedOnceUnderConcurrency(t *testing.T) {
	db, table := suite.Table(t, "pkey")
	sealer := newSealer(t)
	const instances = 8
	stores := make([]*progresskey.Store, instances)
	keys := make([][]byte, instances)
	errs := make([]error, instances)
	for i := range stores {
		stores[i] = progresskey.New(db, table, sealer)
	}
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { keys[i], errs[i] = stores[i].Key(context.Background()) })
	}
	wg.Wait()
	for i := range keys {
		if errs[i] != nil {
			t.Fatalf("instance %d: %v", i, errs[i])
		}
		if len(keys[i]) != progresskey.Size || !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("instance %d has another key than instance 0", i)
		}
	}
	opens := sealer.opens.Load()
	if opens != instances {
		t.Fatalf("%d opens for %d instances, want one each", opens, instances)
	}
	for _, s := range stores {
		if _, err := s.Key(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if sealer.opens.Load() != opens {
		t.Fatal("an instance opened the key again rather than keep it")
	}
}

// TestTokensAgreeAcrossInstances: a token handed out by one instance (the worker) verifies on a
// second one (the stream function) that opens the stored key, and the stored key is sealed.
func TestTokensAgreeAcrossInstances(t *testing.T) {
	db, table := suite.Table(t, "pkey")
	sealer := newSealer(t)
	worker := progress.NewKeysFrom(progresskey.New(db, table, sealer).Key)
	tok, err := worker.Token(context.Background(), "acme", "t1")
	if err != nil {
		t.Fatal(err)
	}
	if sealer.seals.Load() != 1 {
		t.Fatalf("%d seals, want the one of the new key", sealer.seals.Load())
	}
	stream := progress.NewKeysFrom(progresskey.New(db, table, sealer).Key)
	again, err := stream.Token(context.Background(), "acme", "t1")
	if err != nil {
		t.Fatal(err)
	}
	if again != tok {
		t.Fatal("the second instance derives another token")
	}
	if sealer.seals.Load() != 1 {
		t.Fatal("the second instance made a key of its own")
	}
	// Another table (another deployment) has another key, so its tokens open nothing here.
	db2, table2 := suite.Table(t, "pkey-other")
	other, err := progress.NewKeysFrom(progresskey.New(db2, table2, sealer).Key).Token(context.Background(), "acme", "t1")
	if err != nil {
		t.Fatal(err)
	}
	if other == tok {
		t.Fatal("two tables share a key")
	}
}

// TestFailureIsNotRemembered: a key that cannot be opened now is opened on a later call.
func TestFailureIsNotRemembered(t *testing.T) {
	db, table := suite.Table(t, "pkey")
	sealer := newSealer(t)
	if _, err := progresskey.New(db, table, sealer).Key(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := progresskey.New(db, table, sealer)
	sealer.failOpen.Store(true)
	if _, err := s.Key(context.Background()); err == nil {
		t.Fatal("no error when the key cannot be opened")
	}
	sealer.failOpen.Store(false)
	if _, err := s.Key(context.Background()); err != nil {
		t.Fatalf("the failure was remembered: %v", err)
	}
}

// TestSealedUnderAnotherKey: a stored key sealed under another seal key is an error, never a
// fresh key that would silently split the deployment's tokens.
func TestSealedUnderAnotherKey(t *testing.T) {
	db, table := suite.Table(t, "pkey")
	if _, err := progresskey.New(db, table, newSealer(t)).Key(context.Background()); err != nil {
		t.Fatal(err)
	}
	k, err := authctx.NewLocalKey(bytes.Repeat([]byte{9}, authctx.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := progresskey.New(db, table, k).Key(context.Background()); !errors.Is(err, authctx.ErrUnsealable) {
		t.Fatalf("err %v, want ErrUnsealable", err)
	}
}
