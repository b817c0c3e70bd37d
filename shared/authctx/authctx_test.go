package authctx_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/agentq/agentq/shared/authctx"
)

const (
	tenant = "org-1"
	secret = "sk-live-SECRET-0123456789"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, authctx.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func localKey(t *testing.T) *authctx.LocalKey {
	t.Helper()
	k, err := authctx.NewLocalKey(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ---- fakes ----

// fakeKMS wraps data keys with AES-GCM under its own key, authenticating the encryption context as
// KMS does: Decrypt with another context (or another key id) fails with InvalidCiphertextException.
type fakeKMS struct {
	mu       sync.Mutex
	aead     cipher.AEAD
	keyID    string
	contexts []map[string]string
	decrypts int
	err      error // fails every call
}

func newFakeKMS(t *testing.T) *fakeKMS {
	block, _ := aes.NewCipher(newKey(t))
	aead, _ := cipher.NewGCM(block)
	return &fakeKMS{aead: aead, keyID: "alias/agentq-auth-contexts"}
}

func ecAAD(keyID string, ec map[string]string) []byte {
	keys := slices.Sorted(maps.Keys(ec))
	var b bytes.Buffer
	b.WriteString(keyID)
	for _, k := range keys {
		fmt.Fprintf(&b, "\x00%s=%s", k, ec[k])
	}
	return b.Bytes()
}

func (f *fakeKMS) Encrypt(_ context.Context, in *kms.EncryptInput, _ ...func(*kms.Options)) (*kms.EncryptOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	if aws.ToString(in.KeyId) != f.keyID {
		return nil, &kmstypes.NotFoundException{Message: aws.String("no such key")}
	}
	f.contexts = append(f.contexts, in.EncryptionContext)
	nonce := make([]byte, f.aead.NonceSize())
	_, _ = rand.Read(nonce)
	blob := append(nonce, f.aead.Seal(nil, nonce, in.Plaintext, ecAAD(f.keyID, in.EncryptionContext))...)
	return &kms.EncryptOutput{CiphertextBlob: blob, KeyId: in.KeyId}, nil
}

func (f *fakeKMS) Decrypt(_ context.Context, in *kms.DecryptInput, _ ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.decrypts++
	if f.err != nil {
		return nil, f.err
	}
	if aws.ToString(in.KeyId) != f.keyID {
		return nil, &kmstypes.IncorrectKeyException{Message: aws.String("wrong key")}
	}
	n := f.aead.NonceSize()
	if len(in.CiphertextBlob) < n {
		return nil, &kmstypes.InvalidCiphertextException{Message: aws.String("short")}
	}
	plain, err := f.aead.Open(nil, in.CiphertextBlob[:n], in.CiphertextBlob[n:], ecAAD(f.keyID, in.EncryptionContext))
	if err != nil {
		return nil, &kmstypes.InvalidCiphertextException{Message: aws.String("invalid ciphertext")}
	}
	return &kms.DecryptOutput{Plaintext: plain, KeyId: in.KeyId}, nil
}

// fakeTable is the part of a DynamoDB table the store uses, in memory.
type fakeTable struct {
	mu    sync.Mutex
	items map[string]map[string]types.AttributeValue
	err   error
}

func newFakeTable() *fakeTable {
	return &fakeTable{items: map[string]map[string]types.AttributeValue{}}
}

func tableKey(k map[string]types.AttributeValue) string {
	return k["pk"].(*types.AttributeValueMemberS).Value + "|" + k["sk"].(*types.AttributeValueMemberS).Value
}

func (f *fakeTable) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	k := tableKey(in.Item)
	if _, ok := f.items[k]; ok && aws.ToString(in.ConditionExpression) == "attribute_not_exists(#pk)" {
		return nil, &types.ConditionalCheckFailedException{}
	}
	f.items[k] = maps.Clone(in.Item)
	return &dynamodb.PutItemOutput{}, nil
}

func (f *fakeTable) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	it, ok := f.items[tableKey(in.Key)]
	if !ok {
		return &dynamodb.GetItemOutput{}, nil
	}
	out := maps.Clone(it)
	if in.ProjectionExpression != nil {
		out = map[string]types.AttributeValue{}
		for _, name := range strings.Split(*in.ProjectionExpression, ", ") {
			attr := in.ExpressionAttributeNames[name]
			if v, ok := it[attr]; ok {
				out[attr] = v
			}
		}
	}
	return &dynamodb.GetItemOutput{Item: out}, nil
}

func (f *fakeTable) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	k := tableKey(in.Key)
	if _, ok := f.items[k]; !ok {
		return nil, &types.ConditionalCheckFailedException{}
	}
	delete(f.items, k)
	return &dynamodb.DeleteItemOutput{}, nil
}

// dump renders every item, binary attributes as raw bytes, for searching.
func (f *fakeTable) dump() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b bytes.Buffer
	for _, it := range f.items {
		for _, v := range it {
			switch v := v.(type) {
			case *types.AttributeValueMemberS:
				b.WriteString(v.Value)
			case *types.AttributeValueMemberB:
				b.Write(v.Value)
			}
			b.WriteByte(0)
		}
	}
	return b.Bytes()
}

// ---- sealers ----

func TestLocalKeyRoundTrip(t *testing.T) {
	k := localKey(t)
	ctx := context.Background()
	aad := authctx.Binding(tenant, "id-1")
	a, err := k.Seal(ctx, []byte(secret), aad)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.Seal(ctx, []byte(secret), aad)
	if bytes.Equal(a, b) {
		t.Error("two seals of one secret are equal: the nonce is not random")
	}
	if bytes.Contains(a, []byte(secret)) {
		t.Error("the sealed secret holds the plaintext")
	}
	got, err := k.Open(ctx, a, aad)
	if err != nil || string(got) != secret {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := authctx.NewLocalKey(make([]byte, 16)); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}

// sealerCases run against both sealers: what must not open.
func sealerCases(t *testing.T, s authctx.Sealer) {
	ctx := context.Background()
	aad := authctx.Binding(tenant, "id-1")
	sealed, err := s.Seal(ctx, []byte(secret), aad)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Open(ctx, sealed, aad); err != nil || string(got) != secret {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// Every byte matters: the format, the wrapped key, the nonce, the ciphertext, the tag.
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 0x01
		if got, err := s.Open(ctx, tampered, aad); err == nil {
			t.Fatalf("a sealed secret with byte %d flipped opened: %q", i, got)
		}
	}
	for name, other := range map[string][]byte{
		"another id":     authctx.Binding(tenant, "id-2"),
		"another tenant": authctx.Binding("org-2", "id-1"),
		"no aad":         nil,
	} {
		if got, err := s.Open(ctx, sealed, other); !errors.Is(err, authctx.ErrUnsealable) {
			t.Errorf("opened with %s: %q, %v; want ErrUnsealable", name, got, err)
		}
	}
	for _, short := range [][]byte{nil, sealed[:1], sealed[:len(sealed)/2]} {
		if _, err := s.Open(ctx, short, aad); err == nil {
			t.Errorf("a truncated secret of %d bytes opened", len(short))
		}
	}
}

func TestLocalKeyRefuses(t *testing.T) {
	k := localKey(t)
	sealerCases(t, k)
	sealed, _ := k.Seal(context.Background(), []byte(secret), nil)
	if _, err := localKey(t).Open(context.Background(), sealed, nil); !errors.Is(err, authctx.ErrUnsealable) {
		t.Errorf("opened under another key: %v", err)
	}
}

func TestKMSRoundTrip(t *testing.T) {
	f := newFakeKMS(t)
	k := authctx.NewKMS(f, f.keyID)
	sealerCases(t, k)
	if got := f.contexts[0]; got["tenant"] != tenant || got["id"] != "id-1" || len(got) != 2 {
		t.Errorf("encryption context = %v, want {tenant, id}", got)
	}
	ctx := context.Background()
	other, _ := k.Seal(ctx, []byte(secret), []byte("not a binding"))
	if got := f.contexts[len(f.contexts)-1]; len(got["aad"]) != 64 {
		t.Errorf("encryption context of other aad = %v, want its hash", got)
	}
	if _, err := k.Open(ctx, other, []byte("not a binding")); err != nil {
		t.Errorf("open with other aad: %v", err)
	}
	// A local key's secret is not a KMS one, and the other way round.
	local, _ := localKey(t).Seal(ctx, []byte(secret), nil)
	if _, err := k.Open(ctx, local, nil); !errors.Is(err, authctx.ErrUnsealable) {
		t.Errorf("KMS opened a local key's secret: %v", err)
	}
	if _, err := localKey(t).Open(ctx, other, []byte("not a binding")); !errors.Is(err, authctx.ErrUnsealable) {
		t.Errorf("a local key opened a KMS secret: %v", err)
	}
	// Another KMS key: KMS refuses, and that is final.
	if _, err := authctx.NewKMS(f, "alias/other").Open(ctx, other, []byte("not a binding")); !errors.Is(err, authctx.ErrUnsealable) {
		t.Errorf("open under another key id: %v", err)
	}
}

func TestKMSUnavailable(t *testing.T) {
	f := newFakeKMS(t)
	k := authctx.NewKMS(f, f.keyID)
	sealed, err := k.Seal(context.Background(), []byte(secret), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.err = errors.New("kms: throttled")
	if _, err := k.Seal(context.Background(), []byte(secret), nil); err == nil {
		t.Error("sealed with KMS down")
	}
	// Unreachable is not unsealable: the worker retries the one, not the other.
	if _, err := k.Open(context.Background(), sealed, nil); err == nil || errors.Is(err, authctx.ErrUnsealable) {
		t.Errorf("Open with KMS down = %v, want a retryable error", err)
	}
}

// ---- the store ----

func newStore(t *testing.T) (*authctx.Store, *fakeTable) {
	tbl := newFakeTable()
	return authctx.New(tbl, "agentq-tasks", localKey(t)), tbl
}

func TestStoreLifecycle(t *testing.T) {
	for name, sealer := range map[string]func(t *testing.T) authctx.Sealer{
		"local key": func(t *testing.T) authctx.Sealer { return localKey(t) },
		"kms":       func(t *testing.T) authctx.Sealer { f := newFakeKMS(t); return authctx.NewKMS(f, f.keyID) },
	} {
		t.Run(name, func(t *testing.T) {
			tbl := newFakeTable()
			s := authctx.New(tbl, "agentq-tasks", sealer(t))
			ctx := context.Background()
			c, err := s.Create(ctx, tenant, authctx.Input{Name: "stripe", Kind: authctx.Header, Header: "x-api-key", Secret: secret})
			if err != nil {
				t.Fatal(err)
			}
			if c.ID == "" || c.Tenant != tenant || c.Name != "stripe" || c.Kind != authctx.Header || c.Header != "X-Api-Key" || c.CreatedAt.IsZero() {
				t.Errorf("created = %+v", c)
			}
			if b, _ := json.Marshal(c); strings.Contains(string(b), secret) {
				t.Errorf("the created context holds the secret: %s", b)
			}
			if bytes.Contains(tbl.dump(), []byte(secret)) {
				t.Error("the table holds the secret in the clear")
			}
			pk := "AUTHCTX#" + tenant + "#" + c.ID
			if _, ok := tbl.items[pk+"|AUTHCTX"]; !ok {
				t.Errorf("no item %s / AUTHCTX in %v", pk, slices.Collect(maps.Keys(tbl.items)))
			}

			got, err := s.Get(ctx, tenant, strings.ToUpper(c.ID))
			if err != nil || got != c {
				t.Errorf("Get = %+v, %v; want %+v", got, err, c)
			}
			if err := s.Exists(ctx, tenant, c.ID); err != nil {
				t.Errorf("Exists = %v", err)
			}
			cred, err := s.Resolve(ctx, tenant, c.ID)
			if err != nil || cred.Kind != authctx.Header || cred.Header != "X-Api-Key" || cred.Secret != secret {
				t.Errorf("Resolve = %v, %v", cred, err)
			}

			// Another tenant's id is not found, whichever way it is asked for.
			for op, f := range map[string]func() error{
				"Get":     func() error { _, err := s.Get(ctx, "org-2", c.ID); return err },
				"Exists":  func() error { return s.Exists(ctx, "org-2", c.ID) },
				"Resolve": func() error { _, err := s.Resolve(ctx, "org-2", c.ID); return err },
				"Delete":  func() error { return s.Delete(ctx, "org-2", c.ID) },
			} {
				if err := f(); !errors.Is(err, authctx.ErrNotFound) {
					t.Errorf("%s of another tenant's = %v, want ErrNotFound", op, err)
				}
			}

			if err := s.Delete(ctx, tenant, c.ID); err != nil {
				t.Fatal(err)
			}
			if err := s.Exists(ctx, tenant, c.ID); !errors.Is(err, authctx.ErrNotFound) {
				t.Errorf("Exists after Delete = %v", err)
			}
			if _, err := s.Resolve(ctx, tenant, c.ID); !errors.Is(err, authctx.ErrNotFound) {
				t.Errorf("Resolve after Delete = %v", err)
			}
			if err := s.Delete(ctx, tenant, c.ID); !errors.Is(err, authctx.ErrNotFound) {
				t.Errorf("Delete twice = %v", err)
			}
		})
	}
}

func TestStoreUnknownIDs(t *testing.T) {
	s, tbl := newStore(t)
	ctx := context.Background()
	for _, id := range []string{"f1e2d3c4-0000-4000-8000-000000000002", "not-a-uuid", "", strings.Repeat("x", 1000)} {
		if _, err := s.Get(ctx, tenant, id); !errors.Is(err, authctx.ErrNotFound) {
			t.Errorf("Get(%q) = %v", id, err)
		}
		if err := s.Exists(ctx, tenant, id); !errors.Is(err, authctx.ErrNotFound) {
			t.Errorf("Exists(%q) = %v", id, err)
		}
		if _, err := s.Resolve(ctx, tenant, id); !errors.Is(err, authctx.ErrNotFound) {
			t.Errorf("Resolve(%q) = %v", id, err)
		}
		if err := s.Delete(ctx, tenant, id); !errors.Is(err, authctx.ErrNotFound) {
			t.Errorf("Delete(%q) = %v", id, err)
		}
	}
	tbl.err = errors.New("dynamodb: throttled")
	if err := s.Exists(ctx, tenant, "f1e2d3c4-0000-4000-8000-000000000002"); err == nil || errors.Is(err, authctx.ErrNotFound) {
		t.Errorf("Exists with the table down = %v, want an error other than ErrNotFound", err)
	}
}

// TestSecretBoundToItsRecord copies one context's sealed secret into another's record: it must not
// open there, even with the copied record claiming the original's id.
func TestSecretBoundToItsRecord(t *testing.T) {
	s, tbl := newStore(t)
	ctx := context.Background()
	a, _ := s.Create(ctx, tenant, authctx.Input{Name: "a", Kind: authctx.Bearer, Secret: secret})
	b, _ := s.Create(ctx, tenant, authctx.Input{Name: "b", Kind: authctx.Bearer, Secret: "other-secret"})
	itemA, itemB := tbl.items["AUTHCTX#"+tenant+"#"+a.ID+"|AUTHCTX"], tbl.items["AUTHCTX#"+tenant+"#"+b.ID+"|AUTHCTX"]
	itemB["sealed"] = itemA["sealed"]
	if cred, err := s.Resolve(ctx, tenant, b.ID); !errors.Is(err, authctx.ErrUnsealable) {
		t.Errorf("a secret moved to another id opened: %v, %v", cred, err)
	}
	itemB["auth_context_id"] = itemA["auth_context_id"]
	if cred, err := s.Resolve(ctx, tenant, b.ID); !errors.Is(err, authctx.ErrUnsealable) {
		t.Errorf("a secret moved to another id that claims the original's opened: %v, %v", cred, err)
	}
	// And to another tenant's record of the same id.
	moved := maps.Clone(itemA)
	moved["pk"] = &types.AttributeValueMemberS{Value: "AUTHCTX#org-2#" + a.ID}
	tbl.items["AUTHCTX#org-2#"+a.ID+"|AUTHCTX"] = moved
	if cred, err := s.Resolve(ctx, "org-2", a.ID); !errors.Is(err, authctx.ErrUnsealable) {
		t.Errorf("a secret moved to another tenant opened: %v, %v", cred, err)
	}
	if cred, err := s.Resolve(ctx, tenant, a.ID); err != nil || cred.Secret != secret {
		t.Errorf("the original no longer opens: %v, %v", cred, err)
	}
}

func TestCreateValidates(t *testing.T) {
	long := strings.Repeat("a", authctx.MaxSecretBytes+1)
	tests := []struct {
		name   string
		tenant string
		in     authctx.Input
		want   string
	}{
		{"no tenant", "", authctx.Input{Name: "n", Kind: authctx.Bearer, Secret: secret}, "tenant must be"},
		{"tenant with the key separator", "a#b", authctx.Input{Name: "n", Kind: authctx.Bearer, Secret: secret}, "tenant must be"},
		{"tenant with a newline", "a\nb", authctx.Input{Name: "n", Kind: authctx.Bearer, Secret: secret}, "tenant must be"},
		{"no name", tenant, authctx.Input{Kind: authctx.Bearer, Secret: secret}, "name is required"},
		{"unknown kind", tenant, authctx.Input{Name: "n", Kind: "basic", Secret: secret}, "kind must be"},
		{"no kind", tenant, authctx.Input{Name: "n", Secret: secret}, "kind must be"},
		{"bearer with a header", tenant, authctx.Input{Name: "n", Kind: authctx.Bearer, Header: "X-Key", Secret: secret}, "header is only"},
		{"header without a name", tenant, authctx.Input{Name: "n", Kind: authctx.Header, Secret: secret}, "header is required"},
		{"header name with a space", tenant, authctx.Input{Name: "n", Kind: authctx.Header, Header: "X Key", Secret: secret}, "HTTP header name"},
		{"header name with a colon", tenant, authctx.Input{Name: "n", Kind: authctx.Header, Header: "X-Key:", Secret: secret}, "HTTP header name"},
		{"reserved header", tenant, authctx.Input{Name: "n", Kind: authctx.Header, Header: "content-length", Secret: secret}, "set by the transport"},
		{"no secret", tenant, authctx.Input{Name: "n", Kind: authctx.Bearer}, "secret is required"},
		{"secret too long", tenant, authctx.Input{Name: "n", Kind: authctx.Bearer, Secret: long}, "secret is longer"},
		{"secret with a newline", tenant, authctx.Input{Name: "n", Kind: authctx.Bearer, Secret: secret + "\r\nX-Evil: 1"}, "valid header value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, tbl := newStore(t)
			_, err := s.Create(context.Background(), tt.tenant, tt.in)
			if !errors.Is(err, authctx.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Create = %v, want ErrInvalid saying %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error quotes the secret: %v", err)
			}
			if len(tbl.items) != 0 {
				t.Error("an invalid context was stored")
			}
		})
	}
}

func TestCredentialNeverPrints(t *testing.T) {
	c := authctx.Credential{Kind: authctx.Header, Header: "X-Api-Key", Secret: secret}
	in := authctx.Input{Name: "n", Kind: authctx.Bearer, Secret: secret}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("resolved", "credential", c, "input", in)
	j, _ := json.Marshal(map[string]any{"c": c})
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c), "%s": fmt.Sprintf("%s", c),
		"input %v": fmt.Sprintf("%v", in), "input %#v": fmt.Sprintf("%#v", in), "log": logs.String(), "json": string(j),
	} {
		if strings.Contains(s, secret) {
			t.Errorf("%s shows the secret: %s", name, s)
		}
	}
}

func TestCredentialApply(t *testing.T) {
	h := http.Header{}
	authctx.Credential{Kind: authctx.Bearer, Secret: "tok"}.Apply(h)
	authctx.Credential{Kind: authctx.Header, Header: "X-Api-Key", Secret: "key"}.Apply(h)
	if h.Get("Authorization") != "Bearer tok" || h.Get("X-Api-Key") != "key" {
		t.Errorf("headers = %v", h)
	}
}

// TestStoredItemShape checks the item a context is stored as, through the SDK's own decoding.
func TestStoredItemShape(t *testing.T) {
	s, tbl := newStore(t)
	c, err := s.Create(context.Background(), tenant, authctx.Input{Name: "n", Kind: authctx.Bearer, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	var it map[string]any
	if err := attributevalue.UnmarshalMap(tbl.items["AUTHCTX#"+tenant+"#"+c.ID+"|AUTHCTX"], &it); err != nil {
		t.Fatal(err)
	}
	want := []string{"auth_context_id", "created_at", "kind", "name", "pk", "sealed", "sk", "tenant"}
	if got := slices.Sorted(maps.Keys(it)); !slices.Equal(got, want) {
		t.Errorf("attributes = %v, want %v", got, want)
	}
	if _, ok := it["sealed"].([]byte); !ok {
		t.Errorf("sealed is %T, want binary", it["sealed"])
	}
}
