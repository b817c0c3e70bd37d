package receipt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// RFC 8785's own examples (section 3.2.2 and appendix B) for the canonicalization receipts and
// digests rest on.
func TestCanonicalizationVectors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"section 3.2.2", `{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001], "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}`,
			`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`},
		{"sorting by UTF-16 code units", `{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}`,
			"{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u0080\":\"Control\",\"\u00f6\":\"Latin Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning Face\",\"\ufb33\":\"Hebrew Letter Dalet With Dagesh\"}"},
		{"appendix B numbers", `[0, -0, 1e-7, 1e21, 9007199254740992, 295147905179352830000]`, `[0,0,1e-7,1e+21,9007199254740992,295147905179352830000]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := Digest(json.RawMessage(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := Digest(json.RawMessage(c.want)); d != want {
				t.Errorf("digest of %s differs from that of its canonical form %s", c.in, c.want)
			}
			if want := sha256Hex(c.want); d != want {
				t.Errorf("Digest = %s, want the SHA-256 of the canonical bytes %s", d, want)
			}
		})
	}
}

func TestRequestDigest(t *testing.T) {
	// The covered fields, null where absent, sorted: what a third party hashes.
	const canonical = `{"context_id":null,"input":{"a":1,"b":[true]},"message":"hi","return_immediately":null,"settlement":null,"skill_id":null,"task_id":null}`
	cases := []struct{ name, body string }{
		{"only covered fields", `{"message":"hi","input":{"b":[true],"a":1}}`},
		{"credentials and agentq fields left out", `{"input":{"a":1,"b":[true]},"auth_token":"s3cret","message":"hi","webhook_url":"https://x.test","region":"AU"}`},
		{"explicit nulls", `{"message":"hi","input":{"a":1,"b":[true]},"task_id":null}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := RequestDigest(json.RawMessage(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if want := sha256Hex(canonical); d != want {
				t.Errorf("RequestDigest = %s, want %s", d, want)
			}
		})
	}
	if _, err := RequestDigest(json.RawMessage(`[1]`)); err == nil {
		t.Error("a body that is not an object was digested")
	}
}

func TestTimeFormat(t *testing.T) {
	base := time.Date(2026, 3, 22, 1, 2, 3, 0, time.FixedZone("x", 3600))
	cases := []struct {
		ns   int
		want string
	}{
		{0, "2026-03-22T00:02:03Z"},
		{120_000_000, "2026-03-22T00:02:03.120Z"},
		{123_400_000, "2026-03-22T00:02:03.123400Z"},
		{123_456_789, "2026-03-22T00:02:03.123456789Z"},
		{100, "2026-03-22T00:02:03.000000100Z"},
	}
	for _, c := range cases {
		b, err := json.Marshal(Time{base.Add(time.Duration(c.ns))})
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != `"`+c.want+`"` {
			t.Errorf("%d ns: %s, want %q", c.ns, b, c.want)
		}
		var back Time
		if err := json.Unmarshal(b, &back); err != nil || !back.Equal(base.Add(time.Duration(c.ns))) {
			t.Errorf("%s does not read back: %v %v", b, back, err)
		}
	}
}

func TestDIDKey(t *testing.T) {
	// The reference's own test key: 32 bytes of 24.
	pub := ed25519.PublicKey(bytes.Repeat([]byte{24}, 32))
	did := DIDKey(pub)
	if !strings.HasPrefix(did, "did:key:z6Mk") {
		t.Fatalf("DIDKey = %s, want a did:key:z6Mk…", did)
	}
	back, err := ParseDIDKey(did)
	if err != nil || !back.Equal(pub) {
		t.Fatalf("ParseDIDKey(%s) = %x, %v", did, back, err)
	}
	for _, bad := range []string{"", "did:key:", "did:web:example.com", "did:key:z0OIl", "did:key:z" + "2ubMkhH6PB", did[:len(did)-2]} {
		if _, err := ParseDIDKey(bad); !errors.Is(err, ErrBadDID) {
			t.Errorf("ParseDIDKey(%q) = %v, want ErrBadDID", bad, err)
		}
	}
}

func sample() Receipt {
	cost := uint32(3)
	return Receipt{
		ReceiptID: "0b4c5a0e-4f7b-4c1e-9d7e-2f1a3b4c5d6e", AgentID: "echo", ProviderID: "agentq", CallerAgentID: "caller-ä",
		InvokeMode: ModeAsync, Status: StatusSucceeded, Verification: NotRequired,
		RequestDigest: strings.Repeat("a", 64), ResultDigest: strings.Repeat("b", 64),
		StartedAt: Time{time.Date(2026, 3, 22, 0, 0, 0, 120_000_000, time.UTC)}, CompletedAt: &Time{time.Date(2026, 3, 22, 0, 0, 1, 0, time.UTC)},
		CostUnits: &cost,
	}
}

func fixedClock() time.Time { return time.UnixMilli(1_750_000_000_000) }

func TestIssueAndVerify(t *testing.T) {
	iss := NewEphemeral().WithClock(fixedClock)
	r := sample()
	if err := iss.Issue(context.Background(), &r); err != nil {
		t.Fatal(err)
	}
	if did := mustDID(t, iss); r.IssuerDID != did || r.SignedAtMs == nil || *r.SignedAtMs != 1_750_000_000_000 {
		t.Fatalf("issued %+v", r)
	}
	if err := Verify(r); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := iss.Issued(context.Background(), r); err != nil {
		t.Fatalf("Issued: %v", err)
	}
	// Every field is covered, the issuer and the signing time too.
	tampers := map[string]func(*Receipt){
		"status":       func(r *Receipt) { r.Status = StatusFailed },
		"verification": func(r *Receipt) { r.Verification = Verified },
		"signed at":    func(r *Receipt) { ms := *r.SignedAtMs + 1; r.SignedAtMs = &ms },
		"cost":         func(r *Receipt) { r.CostUnits = nil },
		"issuer":       func(r *Receipt) { r.IssuerDID = mustDID(t, NewEphemeral()) },
		"signature":    func(r *Receipt) { r.Signature = base64.StdEncoding.EncodeToString(make([]byte, 64)) },
	}
	for name, tamper := range tampers {
		c := r
		tamper(&c)
		if err := Verify(c); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s changed: Verify = %v, want ErrBadSignature", name, err)
		}
	}
	unsigned := sample()
	if err := Verify(unsigned); !errors.Is(err, ErrUnsigned) {
		t.Errorf("unsigned: Verify = %v", err)
	}
	if err := NewEphemeral().Issued(context.Background(), r); !errors.Is(err, ErrUnknownIssuer) {
		t.Errorf("another issuer recognised the receipt: %v", err)
	}
}

// A receipt read again while it says the same thing is answered with the signature made for it,
// without signing again (on AWS, without another KMS Sign request); a change signs anew.
func TestIssueReusesSignatureUntilContentChanges(t *testing.T) {
	ctx := context.Background()
	signs := 0
	iss := NewEphemeral().WithClock(fixedClock).OnSign(func(context.Context) { signs++ })
	r := sample()
	if err := iss.Issue(ctx, &r); err != nil {
		t.Fatal(err)
	}
	later := iss.WithClock(func() time.Time { return fixedClock().Add(time.Hour) })
	again := sample()
	again.Signature = "stale" // whatever the view held is replaced
	if err := later.Issue(ctx, &again); err != nil || signs != 1 {
		t.Fatalf("same content: %v after %d signatures, want 1", err, signs)
	}
	if again.Signature != r.Signature || *again.SignedAtMs != *r.SignedAtMs {
		t.Errorf("signature not reused: %+v", again)
	}
	changed := sample()
	changed.Verification = Verified
	if err := later.Issue(ctx, &changed); err != nil || signs != 2 || *changed.SignedAtMs == *r.SignedAtMs {
		t.Fatalf("changed receipt not re-signed: %v after %d signatures, %+v", err, signs, changed)
	}
	if err := Verify(changed); err != nil {
		t.Error(err)
	}
	other := sample()
	other.ReceiptID = "another"
	if err := iss.Issue(ctx, &other); err != nil || signs != 3 || Verify(other) != nil {
		t.Errorf("another receipt with the same content: %v after %d signatures", err, signs)
	}
}

// The cache is bounded: when full, the oldest signature is forgotten (and made again if read).
func TestSealCacheForgetsTheOldest(t *testing.T) {
	c := newSealCache(2)
	c.put("a", seal{signature: "1"})
	c.put("b", seal{signature: "2"})
	c.put("a", seal{signature: "1"}) // again: no new entry
	c.put("c", seal{signature: "3"})
	if _, ok := c.get("a"); ok {
		t.Error("the oldest entry was kept past the bound")
	}
	for _, k := range []string{"b", "c"} {
		if _, ok := c.get(k); !ok {
			t.Errorf("%s was forgotten", k)
		}
	}
	if len(c.byKey) != 2 || len(c.order) != 2 {
		t.Errorf("%d entries, %d in order; want 2", len(c.byKey), len(c.order))
	}
}

func TestRotationKeepsOldReceiptsVerifiable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), ".agentq", KeysFile)
	first, err := LoadLocal(path)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("keys file: %v %v", info, err)
	}
	again, err := LoadLocal(path)
	if err != nil || mustDID(t, again) != mustDID(t, first) {
		t.Fatalf("the key was not kept: %v %v", again, err)
	}
	old := sample()
	if err := first.Issue(ctx, &old); err != nil {
		t.Fatal(err)
	}
	rotated, err := RotateLocal(path)
	if err != nil {
		t.Fatal(err)
	}
	if mustDID(t, rotated) == mustDID(t, first) {
		t.Fatal("rotation kept the key")
	}
	keys, err := rotated.Keys(ctx)
	if err != nil || len(keys) != 2 || keys[0].Status != "current" || keys[0].DID != mustDID(t, rotated) || keys[1].Status != "previous" || keys[1].DID != mustDID(t, first) {
		t.Fatalf("keys after rotation: %+v", keys)
	}
	if err := rotated.Issued(ctx, old); err != nil {
		t.Errorf("a receipt of the previous key: %v", err)
	}
	fresh := sample()
	if err := rotated.Issue(ctx, &fresh); err != nil || fresh.IssuerDID != mustDID(t, rotated) || rotated.Issued(ctx, fresh) != nil {
		t.Errorf("a receipt was not signed with the new key: %v %s", err, fresh.IssuerDID)
	}
	if _, err := LoadLocal(filepath.Join(t.TempDir(), "x")); err != nil {
		t.Error(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte(`{"keys":[{"id":"k","seed":"c2hvcnQ="}]}`), 0o600)
	if _, err := LoadLocal(bad); err == nil {
		t.Error("a short seed was accepted")
	}
}

// fakeKMS signs like KMS does with an ECC_NIST_EDWARDS25519 key, and checks the call.
type fakeKMS struct {
	t       *testing.T
	priv    ed25519.PrivateKey
	spec    kmstypes.KeySpec
	reads   int
	signs   int
	readErr error
}

func (f *fakeKMS) GetPublicKey(_ context.Context, in *kms.GetPublicKeyInput, _ ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error) {
	f.reads++
	if f.readErr != nil {
		return nil, f.readErr
	}
	der, err := x509.MarshalPKIXPublicKey(f.priv.Public())
	if err != nil {
		return nil, err
	}
	return &kms.GetPublicKeyOutput{KeyId: aws.String("arn:aws:kms:us-east-1:111122223333:key/" + *in.KeyId), PublicKey: der, KeySpec: f.spec, KeyUsage: kmstypes.KeyUsageTypeSignVerify}, nil
}

func (f *fakeKMS) Sign(_ context.Context, in *kms.SignInput, _ ...func(*kms.Options)) (*kms.SignOutput, error) {
	if in.MessageType != kmstypes.MessageTypeRaw || in.SigningAlgorithm != kmstypes.SigningAlgorithmSpecEd25519Sha512 {
		f.t.Errorf("Sign called with %s %s", in.MessageType, in.SigningAlgorithm)
	}
	f.signs++
	return &kms.SignOutput{Signature: ed25519.Sign(f.priv, in.Message)}, nil
}

func TestKMSIssuer(t *testing.T) {
	ctx := context.Background()
	_, cur, _ := ed25519.GenerateKey(nil)
	_, old, _ := ed25519.GenerateKey(nil)
	api := &fakeKMS{t: t, priv: cur, spec: kmstypes.KeySpecEccNistEdwards25519, readErr: errors.New("kms down")}
	iss := NewKMS(api, "current", nil)
	r := sample()
	if err := iss.Issue(ctx, &r); err == nil {
		t.Fatal("signed without the key's public half")
	}
	api.readErr = nil
	if did := mustDID(t, iss); did != DIDKey(cur.Public().(ed25519.PublicKey)) {
		t.Fatalf("DID %s is not the KMS key's", did)
	}
	if err := iss.Issue(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if err := Verify(r); err != nil {
		t.Fatal(err)
	}
	again := sample()
	if err := iss.Issue(ctx, &again); err != nil || again.Signature != r.Signature || api.signs != 1 {
		t.Errorf("an unchanged receipt: %v after %d KMS Sign requests, want 1", err, api.signs)
	}
	for range 3 {
		_, _ = iss.Keys(ctx)
	}
	if api.reads != 2 { // the failed read and the first good one
		t.Errorf("%d GetPublicKey calls, want the public half read once", api.reads)
	}
	rotated := NewKMS(&fakeKMS{t: t, priv: old, spec: kmstypes.KeySpecEccNistEdwards25519}, "new", nil)
	if err := rotated.Issued(ctx, r); !errors.Is(err, ErrUnknownIssuer) {
		t.Errorf("another key's issuer recognised the receipt: %v", err)
	}
	if _, err := NewKMS(&fakeKMS{t: t, priv: cur, spec: kmstypes.KeySpecEccNistP256}, "p256", nil).DID(ctx); !errors.Is(err, ErrNotEd25519) {
		t.Errorf("a key that is not Ed25519: %v", err)
	}
	if _, err := NewKMSSigner(api, "current").Sign(ctx, make([]byte, MaxKMSMessage+1)); err == nil {
		t.Error("a message over KMS's limit was sent")
	}
}

// An implementation that shares nothing with this package (Node's crypto, its own canonical JSON
// and base58) verifies an issued receipt given only the did:key.
func TestIndependentVerification(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	iss := NewEphemeral()
	r := sample()
	if err := iss.Issue(context.Background(), &r); err != nil {
		t.Fatal(err)
	}
	run := func(rec Receipt) string {
		in, _ := json.Marshal(map[string]any{"receipt": rec, "did": mustDID(t, iss)})
		cmd := exec.Command(node, "testdata/verify.mjs")
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("node: %v: %s", err, out)
		}
		return string(out)
	}
	if got := run(r); got != "ok" {
		t.Fatalf("node says %q of a receipt we signed", got)
	}
	r.Status = StatusFailed
	if got := run(r); got != "bad" {
		t.Fatalf("node says %q of a tampered receipt", got)
	}
}
