package authctx

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// Sealer encrypts secrets for storage and decrypts them back. aad is authenticated but not
// encrypted: Open fails unless it is given the aad Seal was given, so a sealed secret is bound to
// the record it was sealed for.
type Sealer interface {
	Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, sealed, aad []byte) ([]byte, error)
}

// ErrUnsealable means a sealed secret could not be opened: it was tampered with, moved to another
// record, or sealed under another key or by another kind of sealer.
var ErrUnsealable = errors.New("sealed secret cannot be opened")

// Formats of a sealed secret: its first byte says which sealer made it, so a deployment that
// switches sealers fails clearly on the records of the other one.
const (
	formatLocal byte = 1 // 1 | nonce | AES-GCM ciphertext and tag
	formatKMS   byte = 2 // 2 | uint16 length of the wrapped key | wrapped data key | nonce | ciphertext and tag
)

// KeySize is the size of a LocalKey and of a KMS data key: AES-256.
const KeySize = 32

// binding is the prefix of the aad a Store binds a secret with (see Binding).
const binding = "agentq/authctx/v1\x00"

// Binding is the additional authenticated data that binds a sealed secret to the record of
// (tenant, id): the same secret sealed for another tenant or id does not open.
func Binding(tenant, id string) []byte {
	return []byte(binding + tenant + "\x00" + id)
}

// parseBinding returns the tenant and id of a Binding.
func parseBinding(aad []byte) (tenant, id string, ok bool) {
	rest, found := bytes.CutPrefix(aad, []byte(binding))
	if !found {
		return "", "", false
	}
	t, i, found := bytes.Cut(rest, []byte{0})
	if !found || bytes.IndexByte(i, 0) >= 0 {
		return "", "", false
	}
	return string(t), string(i), true
}

// LocalKey seals with AES-256-GCM under a key held in memory: for `make run` and tests. Each seal
// takes a fresh random nonce.
type LocalKey struct {
	aead cipher.AEAD
}

var _ Sealer = (*LocalKey)(nil)

// NewLocalKey returns a sealer over a 32-byte key.
func NewLocalKey(key []byte) (*LocalKey, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, fmt.Errorf("local seal key: %w", err)
	}
	return &LocalKey{aead: aead}, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("want %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plaintext, authenticating aad.
func (k *LocalKey) Seal(_ context.Context, plaintext, aad []byte) ([]byte, error) {
	return gcmSeal(k.aead, []byte{formatLocal}, plaintext, aad)
}

// Open decrypts what Seal sealed with the same aad.
func (k *LocalKey) Open(_ context.Context, sealed, aad []byte) ([]byte, error) {
	if len(sealed) == 0 || sealed[0] != formatLocal {
		return nil, fmt.Errorf("%w: not sealed by a local key", ErrUnsealable)
	}
	return gcmOpen(k.aead, sealed[1:], aad)
}

// gcmSeal appends a random nonce and the ciphertext to prefix.
func gcmSeal(aead cipher.AEAD, prefix, plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out := append(append(prefix, nonce...), aead.Seal(nil, nonce, plaintext, aad)...)
	return out, nil
}

func gcmOpen(aead cipher.AEAD, b, aad []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(b) < n+aead.Overhead() {
		return nil, fmt.Errorf("%w: too short", ErrUnsealable)
	}
	plain, err := aead.Open(nil, b[:n], b[n:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsealable, err)
	}
	return plain, nil
}

// KMSAPI is the part of the AWS KMS client a KMS sealer uses.
type KMSAPI interface {
	Encrypt(ctx context.Context, in *kms.EncryptInput, opts ...func(*kms.Options)) (*kms.EncryptOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

var _ KMSAPI = (*kms.Client)(nil)

// KMS seals by envelope encryption: each secret gets a fresh random data key, which seals it with
// AES-256-GCM (aad authenticated) and is itself encrypted by the KMS key. Only the wrapped data key
// goes to KMS, so a secret of any size costs one Encrypt to seal and one Decrypt to open, and the
// plaintext never leaves the process. The wrapped key carries the KMS encryption context
// {tenant, id} (from a Binding; any other aad as its SHA-256), so KMS refuses to unwrap it for
// another record and CloudTrail records which record each Decrypt was for.
type KMS struct {
	api   KMSAPI
	keyID string
}

var _ Sealer = (*KMS)(nil)

// NewKMS returns a sealer over the KMS key keyID (an id, ARN or alias).
func NewKMS(api KMSAPI, keyID string) *KMS { return &KMS{api: api, keyID: keyID} }

// encryptionContext is the KMS encryption context for aad.
func encryptionContext(aad []byte) map[string]string {
	if tenant, id, ok := parseBinding(aad); ok {
		return map[string]string{"tenant": tenant, "id": id}
	}
	sum := sha256.Sum256(aad)
	return map[string]string{"aad": hex.EncodeToString(sum[:])}
}

// Seal encrypts plaintext under a fresh data key and wraps the data key with KMS.
func (k *KMS) Seal(ctx context.Context, plaintext, aad []byte) ([]byte, error) {
	dataKey := make([]byte, KeySize)
	defer clear(dataKey)
	if _, err := rand.Read(dataKey); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out, err := k.api.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(k.keyID), Plaintext: dataKey, EncryptionContext: encryptionContext(aad)})
	if err != nil {
		return nil, fmt.Errorf("seal: wrap data key: %w", err)
	}
	wrapped := out.CiphertextBlob
	if len(wrapped) == 0 || len(wrapped) > 0xffff {
		return nil, fmt.Errorf("seal: KMS answered a wrapped key of %d bytes", len(wrapped))
	}
	aead, err := newGCM(dataKey)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	prefix := make([]byte, 3, 3+len(wrapped)+aead.NonceSize()+len(plaintext)+aead.Overhead())
	prefix[0] = formatKMS
	binary.BigEndian.PutUint16(prefix[1:], uint16(len(wrapped)))
	return gcmSeal(aead, append(prefix, wrapped...), plaintext, aad)
}

// Open unwraps the data key with KMS (which checks the encryption context) and decrypts.
func (k *KMS) Open(ctx context.Context, sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 3 || sealed[0] != formatKMS {
		return nil, fmt.Errorf("%w: not sealed by KMS", ErrUnsealable)
	}
	n := int(binary.BigEndian.Uint16(sealed[1:3]))
	if len(sealed) < 3+n {
		return nil, fmt.Errorf("%w: too short", ErrUnsealable)
	}
	out, err := k.api.Decrypt(ctx, &kms.DecryptInput{
		KeyId: aws.String(k.keyID), CiphertextBlob: sealed[3 : 3+n], EncryptionContext: encryptionContext(aad),
	})
	var invalid *kmstypes.InvalidCiphertextException
	var wrongKey *kmstypes.IncorrectKeyException
	if errors.As(err, &invalid) || errors.As(err, &wrongKey) {
		// KMS refuses the wrapped key for this record (another encryption context) or this key.
		return nil, fmt.Errorf("%w: unwrap data key: %v", ErrUnsealable, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open: unwrap data key: %w", err)
	}
	defer clear(out.Plaintext)
	aead, err := newGCM(out.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("%w: data key: %v", ErrUnsealable, err)
	}
	return gcmOpen(aead, sealed[3+n:], aad)
}

// NewSealer returns the sealer a configuration names: a LocalKey over localKey, or a KMS sealer
// over the key kmsKeyID, whose client newKMS builds (and is called only then). Neither names none:
// nil, nil, and auth contexts are off. Both is an error.
func NewSealer(localKey []byte, kmsKeyID string, newKMS func() KMSAPI) (Sealer, error) {
	switch {
	case len(localKey) > 0 && kmsKeyID != "":
		return nil, errors.New("auth contexts: a local seal key and a KMS key are both configured")
	case len(localKey) > 0:
		return NewLocalKey(localKey)
	case kmsKeyID != "":
		return NewKMS(newKMS(), kmsKeyID), nil
	}
	return nil, nil
}
