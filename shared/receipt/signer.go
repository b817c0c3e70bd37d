package receipt

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// Signer makes Ed25519 signatures with one key.
type Signer interface {
	// KeyID names the key where it is kept (a KMS key ARN, or a local key's id).
	KeyID() string
	// Public is the key's public half.
	Public(ctx context.Context) (ed25519.PublicKey, error)
	// Sign signs msg with pure Ed25519 (RFC 8032, no pre-hash).
	Sign(ctx context.Context, msg []byte) ([]byte, error)
}

var (
	_ Signer = (*LocalSigner)(nil)
	_ Signer = (*KMSSigner)(nil)
)

// LocalSigner signs with a private key held in memory: the local runner's key, kept in its data
// directory.
type LocalSigner struct {
	id  string
	key ed25519.PrivateKey
}

// NewLocalSigner returns a signer for key, named id.
func NewLocalSigner(id string, key ed25519.PrivateKey) *LocalSigner {
	return &LocalSigner{id: id, key: key}
}

// KeyID names the key.
func (s *LocalSigner) KeyID() string { return s.id }

// Public is the key's public half.
func (s *LocalSigner) Public(context.Context) (ed25519.PublicKey, error) {
	return s.key.Public().(ed25519.PublicKey), nil
}

// Sign signs msg.
func (s *LocalSigner) Sign(_ context.Context, msg []byte) ([]byte, error) {
	return ed25519.Sign(s.key, msg), nil
}

// KMSAPI is the part of the KMS client a KMSSigner uses.
type KMSAPI interface {
	Sign(ctx context.Context, in *kms.SignInput, opts ...func(*kms.Options)) (*kms.SignOutput, error)
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

var _ KMSAPI = (*kms.Client)(nil)

// KMSSigner signs with a KMS key of spec ECC_NIST_EDWARDS25519, which never leaves KMS. KMS signs
// a raw message of at most MaxKMSMessage bytes with ED25519_SHA_512: plain Ed25519. The key's
// public half is read on first use and kept: a function instance starts without calling KMS.
type KMSSigner struct {
	api   KMSAPI
	keyID string

	mu  sync.Mutex
	pub ed25519.PublicKey
}

// MaxKMSMessage is the largest message KMS signs raw.
const MaxKMSMessage = 4096

// NewKMSSigner returns the signer of the KMS key keyID (an ARN, id or alias).
func NewKMSSigner(api KMSAPI, keyID string) *KMSSigner {
	return &KMSSigner{api: api, keyID: keyID}
}

// KeyID names the key as it was configured.
func (s *KMSSigner) KeyID() string { return s.keyID }

// Public reads the key's public half from KMS once (one GetPublicKey call), and checks that it is
// an Ed25519 signing key. A failed read is tried again at the next call.
func (s *KMSSigner) Public(ctx context.Context) (ed25519.PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub != nil {
		return s.pub, nil
	}
	out, err := s.api.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(s.keyID)})
	if err != nil {
		return nil, fmt.Errorf("read receipt key %s: %w", s.keyID, err)
	}
	if out.KeySpec != kmstypes.KeySpecEccNistEdwards25519 || out.KeyUsage != kmstypes.KeyUsageTypeSignVerify {
		return nil, fmt.Errorf("receipt key %s is %s for %s, not an Ed25519 signing key: %w", s.keyID, out.KeySpec, out.KeyUsage, ErrNotEd25519)
	}
	pk, err := x509.ParsePKIXPublicKey(out.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("parse receipt key %s: %w", s.keyID, err)
	}
	pub, ok := pk.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("receipt key %s holds a %T: %w", s.keyID, pk, ErrNotEd25519)
	}
	s.pub = pub
	return pub, nil
}

// ErrNotEd25519 means a configured KMS key is not an Ed25519 signing key.
var ErrNotEd25519 = errors.New("not an Ed25519 signing key")

// Sign has KMS sign msg.
func (s *KMSSigner) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	if len(msg) > MaxKMSMessage {
		return nil, fmt.Errorf("sign with %s: a %d-byte message is over KMS's %d", s.keyID, len(msg), MaxKMSMessage)
	}
	out, err := s.api.Sign(ctx, &kms.SignInput{
		KeyId: aws.String(s.keyID), Message: msg, MessageType: kmstypes.MessageTypeRaw,
		SigningAlgorithm: kmstypes.SigningAlgorithmSpecEd25519Sha512,
	})
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w", s.keyID, err)
	}
	if len(out.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("sign with %s: KMS answered a %d-byte signature", s.keyID, len(out.Signature))
	}
	return out.Signature, nil
}
