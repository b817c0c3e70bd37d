package receiptkey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/receipt"
	"github.com/agentq/agentq/shared/receiptkey"
	"github.com/agentq/agentq/shared/table"
)

var suite emulators.Suite

func TestMain(m *testing.M) { os.Exit(suite.Main(m, nil)) }

// countingSealer counts the opens and seals of a local-key sealer, as KMS calls would be counted.
type countingSealer struct {
	authctx.Sealer
	seals, opens atomic.Int32
}

func (c *countingSealer) Seal(ctx context.Context, p, aad []byte) ([]byte, error) {
	c.seals.Add(1)
	return c.Sealer.Seal(ctx, p, aad)
}

func (c *countingSealer) Open(ctx context.Context, s, aad []byte) ([]byte, error) {
	c.opens.Add(1)
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

func newIssuer(t *testing.T, db *dynamodb.Client, tbl string, sealer authctx.Sealer, gen int, o receiptkey.Options) *receipt.Issuer {
	t.Helper()
	iss, err := receiptkey.New(db, tbl, sealer, gen, o)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func sample(id string) receipt.Receipt {
	return receipt.Receipt{
		ReceiptID: id, AgentID: "echo", ProviderID: "agentq", CallerAgentID: "caller",
		InvokeMode: receipt.ModeAsync, Status: receipt.StatusSucceeded, Verification: receipt.NotRequired,
		RequestDigest: strings.Repeat("a", 64), ResultDigest: strings.Repeat("b", 64),
		StartedAt: receipt.Time{Time: time.Date(2026, 3, 22, 0, 0, 0, 0, time.UTC)},
	}
}

func issue(t *testing.T, iss *receipt.Issuer, id string) receipt.Receipt {
	t.Helper()
	r := sample(id)
	if err := iss.Issue(context.Background(), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSignsOnceOpened: an instance that signs several receipts opens the sealed key once (one
// KMS Decrypt on AWS) and makes no KMS call per signature; the receipts verify from their
// did:key alone.
func TestSignsOnceOpened(t *testing.T) {
	db, tbl := suite.Table(t, "rkey")
	sealer := newSealer(t)
	var opened atomic.Int32
	iss := newIssuer(t, db, tbl, sealer, 1, receiptkey.Options{Opened: func(context.Context) { opened.Add(1) }})
	if sealer.seals.Load() != 0 || sealer.opens.Load() != 0 {
		t.Fatal("the issuer called the sealer before its first use")
	}
	for _, id := range []string{"r1", "r2", "r3"} {
		if err := receipt.Verify(issue(t, iss, id)); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	if o, s := sealer.opens.Load(), sealer.seals.Load(); o != 1 || s != 1 || opened.Load() != 1 {
		t.Fatalf("3 signatures made %d opens (%d told), %d seals; want 1, 1", o, opened.Load(), s)
	}
	// Another instance opens the stored key: the same DID, one open, no seal.
	other := newSealer(t)
	if got, want := mustDID(t, newIssuer(t, db, tbl, other, 1, receiptkey.Options{})), mustDID(t, iss); got != want {
		t.Fatalf("second instance's DID %s, want %s", got, want)
	}
	if other.opens.Load() != 1 || other.seals.Load() != 0 {
		t.Fatalf("second instance: %d opens, %d seals", other.opens.Load(), other.seals.Load())
	}
}

// TestCreatedOnceUnderConcurrency: instances that all find no key agree on one.
func TestCreatedOnceUnderConcurrency(t *testing.T) {
	db, tbl := suite.Table(t, "rkey")
	sealer := newSealer(t)
	const instances = 8
	dids := make([]string, instances)
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i := range instances {
		iss := newIssuer(t, db, tbl, sealer, 1, receiptkey.Options{})
		wg.Go(func() { dids[i], errs[i] = iss.DID(context.Background()) })
	}
	wg.Wait()
	for i := range instances {
		if errs[i] != nil || dids[i] != dids[0] {
			t.Fatalf("instance %d: %s %v, want %s", i, dids[i], errs[i], dids[0])
		}
	}
}

// TestWrongBindingDoesNotOpen: a sealed key moved to another generation's record does not open
// there (it is bound to its own), so it cannot be passed off as another key.
func TestWrongBindingDoesNotOpen(t *testing.T) {
	db, tbl := suite.Table(t, "rkey")
	sealer := newSealer(t)
	mustDID(t, newIssuer(t, db, tbl, sealer, 1, receiptkey.Options{}))
	ctx := context.Background()
	key := func(gen string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{table.AttrPK: table.S(receiptkey.Partition), table.AttrSK: table.S(gen)}
	}
	got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(tbl), Key: key("v1"), ConsistentRead: aws.Bool(true)})
	if err != nil || len(got.Item) == 0 {
		t.Fatalf("read v1: %v", err)
	}
	got.Item[table.AttrSK] = table.S("v2")
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl), Item: got.Item}); err != nil {
		t.Fatal(err)
	}
	if _, err := newIssuer(t, db, tbl, sealer, 2, receiptkey.Options{}).DID(ctx); !errors.Is(err, authctx.ErrUnsealable) {
		t.Fatalf("err %v, want ErrUnsealable", err)
	}
}

// TestRotationKeepsOldReceiptsVerifiable: raising the generation signs with a new key, lists the
// old one, and still recognises what the old one signed.
func TestRotationKeepsOldReceiptsVerifiable(t *testing.T) {
	db, tbl := suite.Table(t, "rkey")
	sealer := newSealer(t)
	old := newIssuer(t, db, tbl, sealer, 1, receiptkey.Options{})
	signed := issue(t, old, "r1")
	rotated := newIssuer(t, db, tbl, sealer, 2, receiptkey.Options{})
	if mustDID(t, rotated) == signed.IssuerDID {
		t.Fatal("the new generation signs with the old key")
	}
	keys, err := rotated.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Status != "current" || keys[1].DID != signed.IssuerDID || keys[1].Status != "previous" {
		t.Fatalf("keys %+v", keys)
	}
	if err := rotated.Issued(context.Background(), signed); err != nil {
		t.Fatalf("the old receipt is not recognised: %v", err)
	}
	if err := receipt.Verify(issue(t, rotated, "r2")); err != nil {
		t.Fatal(err)
	}
}

// TestRetiredKeyIsNeverCreated: a generation below the current one that has no item is not
// created (nothing ever signed with it) and is not listed.
func TestRetiredKeyIsNeverCreated(t *testing.T) {
	db, tbl := suite.Table(t, "rkey")
	sealer := newSealer(t)
	iss := newIssuer(t, db, tbl, sealer, 3, receiptkey.Options{})
	keys, err := iss.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].Status != "current" || sealer.seals.Load() != 1 {
		t.Fatalf("keys %+v after %d seals; want the current one only", keys, sealer.seals.Load())
	}
}

func TestGenerationBounds(t *testing.T) {
	for _, gen := range []int{0, -1, receiptkey.MaxGeneration + 1} {
		if _, err := receiptkey.New(nil, "t", newSealer(t), gen, receiptkey.Options{}); err == nil {
			t.Errorf("generation %d accepted", gen)
		}
	}
}

// TestIndependentVerification: Node's own Ed25519, canonicalizer and base58 verify a receipt the
// sealed key signed, given only its did:key.
func TestIndependentVerification(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	db, tbl := suite.Table(t, "rkey")
	r := issue(t, newIssuer(t, db, tbl, newSealer(t), 1, receiptkey.Options{}), "r1")
	run := func(rec receipt.Receipt) string {
		in, _ := json.Marshal(map[string]any{"receipt": rec, "did": rec.IssuerDID})
		cmd := exec.Command(node, "../receipt/testdata/verify.mjs")
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("node: %v: %s", err, out)
		}
		return string(out)
	}
	if got := run(r); got != "ok" {
		t.Fatalf("node says %q of a receipt the sealed key signed", got)
	}
	r.Status = receipt.StatusFailed
	if got := run(r); got != "bad" {
		t.Fatalf("node says %q of a tampered receipt", got)
	}
}

func mustDID(t *testing.T, i *receipt.Issuer) string {
	t.Helper()
	did, err := i.DID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return did
}
