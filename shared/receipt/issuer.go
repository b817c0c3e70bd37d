package receipt

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Issuer signs receipts with its current key and recognises the receipts its previous keys
// signed: rotating the key leaves every receipt already issued verifiable. It keeps the
// signatures it made (a bounded cache, per process: per function instance on AWS), so a receipt
// read again while it says the same thing is not signed again.
type Issuer struct {
	current  Signer
	previous []Signer
	now      func() time.Time
	seals    *sealCache
	// signed, when set, hears of every signature made (the bench counts them as KMS requests).
	signed func(ctx context.Context)
}

// NewIssuer returns an issuer signing with current; previous are the keys it signed with before,
// newest first, listed so that their receipts are still recognised.
func NewIssuer(current Signer, previous ...Signer) *Issuer {
	return &Issuer{current: current, previous: previous, now: time.Now, seals: newSealCache(CacheSize)}
}

// OnSign returns an issuer like i (sharing its cache) that calls f after each signature it makes.
func (i *Issuer) OnSign(f func(ctx context.Context)) *Issuer {
	c := *i
	c.signed = f
	return &c
}

// WithClock makes the issuer date its signatures with now (tests).
func (i *Issuer) WithClock(now func() time.Time) *Issuer {
	c := *i
	c.now = now
	return &c
}

// Key is a public key an issuer signs or signed with, as GET /v1/receipt-issuer lists it.
type Key struct {
	// DID is the key's did:key: what receipt_issuer_did holds.
	DID string `json:"did"`
	// VerificationMethod is the key's did:key verification method ("<did>#<fingerprint>").
	VerificationMethod string `json:"verification_method"`
	// PublicKeyMultibase is the multibase (base58btc) of the multicodec-prefixed key.
	PublicKeyMultibase string `json:"public_key_multibase"`
	// Status is "current" for the key that signs now, "previous" for a retired one.
	Status string `json:"status"`
	// Algorithm is always Ed25519.
	Algorithm string `json:"algorithm"`
}

// ErrNoKey means a signer's key is not kept anywhere: a retired key that was deleted, which an
// issuer then no longer lists.
var ErrNoKey = errors.New("receipt key not found")

// Keys lists the issuer's keys, the current one first. A previous key that is gone (ErrNoKey)
// is left out.
func (i *Issuer) Keys(ctx context.Context) ([]Key, error) {
	out := make([]Key, 0, 1+len(i.previous))
	for n, s := range append([]Signer{i.current}, i.previous...) {
		pub, err := s.Public(ctx)
		if n > 0 && errors.Is(err, ErrNoKey) {
			continue
		}
		if err != nil {
			return nil, err
		}
		status := "previous"
		if n == 0 {
			status = "current"
		}
		did := DIDKey(pub)
		mb := strings.TrimPrefix(did, "did:key:")
		out = append(out, Key{DID: did, VerificationMethod: did + "#" + mb, PublicKeyMultibase: mb, Status: status, Algorithm: "Ed25519"})
	}
	return out, nil
}

// KeyID names the current key where it is kept (Signer.KeyID), without calling anything.
func (i *Issuer) KeyID() string { return i.current.KeyID() }

// DID is the current key's did:key.
func (i *Issuer) DID(ctx context.Context) (string, error) {
	pub, err := i.current.Public(ctx)
	if err != nil {
		return "", err
	}
	return DIDKey(pub), nil
}

// knows reports whether did names one of the issuer's keys.
func (i *Issuer) knows(ctx context.Context, did string) (bool, error) {
	keys, err := i.Keys(ctx)
	if err != nil {
		return false, err
	}
	for _, k := range keys {
		if k.DID == did {
			return true, nil
		}
	}
	return false, nil
}

// seal is a signature as the issuer keeps it: what it covers (the digest of the receipt's content
// without the three signature fields) and the signature fields.
type seal struct {
	did        string
	signedAtMs uint64
	signature  string
}

// contentDigest digests what a receipt says, leaving out who signed it and when.
func contentDigest(r Receipt) (string, error) {
	r.IssuerDID, r.SignedAtMs, r.Signature = "", nil, ""
	c, err := Canonical(r)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

// Issue fills in r's signature fields. A signature this issuer made for exactly what r now says
// is used as it is; otherwise Issue signs r with the current key (on AWS a KMS Sign request) and
// keeps the signature, so a receipt is signed about once per change of what it says, not per
// read. Nothing is written: a receipt is a view of its task, and signing it anew elsewhere (or
// after the cache forgot it) gives another signature of the same content, as valid.
func (i *Issuer) Issue(ctx context.Context, r *Receipt) error {
	digest, err := contentDigest(*r)
	if err != nil {
		return err
	}
	key := r.ReceiptID + "/" + digest
	if s, ok := i.seals.get(key); ok {
		ms := s.signedAtMs
		r.IssuerDID, r.SignedAtMs, r.Signature = s.did, &ms, s.signature
		return nil
	}
	did, err := i.DID(ctx)
	if err != nil {
		return err
	}
	ms := uint64(max(i.now().UnixMilli(), 0))
	r.IssuerDID, r.SignedAtMs, r.Signature = did, &ms, ""
	payload, err := Canonical(*r)
	if err != nil {
		return err
	}
	sig, err := i.current.Sign(ctx, payload)
	if err != nil {
		return fmt.Errorf("sign receipt %s: %w", r.ReceiptID, err)
	}
	if i.signed != nil {
		i.signed(ctx)
	}
	r.Signature = base64.StdEncoding.EncodeToString(sig)
	i.seals.put(key, seal{did: did, signedAtMs: ms, signature: r.Signature})
	return nil
}

// CacheSize is how many signatures an issuer keeps: about 300 bytes each, 3 MB in all.
const CacheSize = 10_000

// sealCache keeps signatures by receipt and content digest, forgetting the oldest when full.
type sealCache struct {
	mu    sync.Mutex
	max   int
	byKey map[string]seal
	order []string // the keys, oldest first
}

func newSealCache(n int) *sealCache {
	return &sealCache{max: n, byKey: make(map[string]seal)}
}

func (c *sealCache) get(key string) (seal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.byKey[key]
	return s, ok
}

func (c *sealCache) put(key string, s seal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; !ok {
		if len(c.order) == c.max {
			delete(c.byKey, c.order[0])
			c.order = c.order[1:]
		}
		c.order = append(c.order, key)
	}
	c.byKey[key] = s
}

// Issued reports whether one of the issuer's keys, current or previous, signed r, and the
// signature holds.
func (i *Issuer) Issued(ctx context.Context, r Receipt) error {
	known, err := i.knows(ctx, r.IssuerDID)
	if err != nil {
		return err
	}
	if !known {
		return fmt.Errorf("receipt %s: %w", r.ReceiptID, ErrUnknownIssuer)
	}
	return Verify(r)
}

// Errors of Verify and Issued.
var (
	ErrUnsigned      = errors.New("receipt is not signed")
	ErrBadSignature  = errors.New("receipt signature does not verify")
	ErrUnknownIssuer = errors.New("receipt issuer is not one of this service's keys")
)

// Verify checks r's signature against the key its receipt_issuer_did names, as any third party
// would: Ed25519 over Canonical(r), the signature standard base64.
func Verify(r Receipt) error {
	if r.Signature == "" || r.IssuerDID == "" || r.SignedAtMs == nil {
		return fmt.Errorf("receipt %s: %w", r.ReceiptID, ErrUnsigned)
	}
	pub, err := ParseDIDKey(r.IssuerDID)
	if err != nil {
		return fmt.Errorf("receipt %s: %w", r.ReceiptID, err)
	}
	sig, err := base64.StdEncoding.DecodeString(r.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("receipt %s: %w", r.ReceiptID, ErrBadSignature)
	}
	payload, err := Canonical(r)
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, payload, sig) {
		return fmt.Errorf("receipt %s: %w", r.ReceiptID, ErrBadSignature)
	}
	return nil
}
