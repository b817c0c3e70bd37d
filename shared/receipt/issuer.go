package receipt

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Issuer signs receipts with its current key and recognises the receipts its previous keys
// signed: rotating the key leaves every receipt already issued verifiable.
type Issuer struct {
	current  Signer
	previous []Signer
	now      func() time.Time
}

// NewIssuer returns an issuer signing with current; previous are the keys it signed with before,
// newest first, listed so that their receipts are still recognised.
func NewIssuer(current Signer, previous ...Signer) *Issuer {
	return &Issuer{current: current, previous: previous, now: time.Now}
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

// Keys lists the issuer's keys, the current one first.
func (i *Issuer) Keys(ctx context.Context) ([]Key, error) {
	out := make([]Key, 0, 1+len(i.previous))
	for n, s := range append([]Signer{i.current}, i.previous...) {
		pub, err := s.Public(ctx)
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

// seal is a signature as it is kept with its task: what it covers (the digest of the receipt's
// content without the three signature fields), the key that made it and the signature fields.
type seal struct {
	Digest     string `json:"digest"`
	KeyID      string `json:"key_id"`
	DID        string `json:"did"`
	SignedAtMs uint64 `json:"signed_at_ms"`
	Signature  string `json:"signature"`
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

// Issue fills in r's signature fields. kept is the signature last kept for this receipt ("" for
// none): when it covers exactly what r now says and one of the issuer's keys made it, it is used
// as it is and Issue returns "". Otherwise Issue signs r with the current key and returns the new
// signature to keep, so that a receipt is signed once per change of what it says, not per read.
func (i *Issuer) Issue(ctx context.Context, r *Receipt, kept string) (string, error) {
	digest, err := contentDigest(*r)
	if err != nil {
		return "", err
	}
	var s seal
	if kept != "" && json.Unmarshal([]byte(kept), &s) == nil && s.Digest == digest {
		known, err := i.knows(ctx, s.DID)
		if err != nil {
			return "", err
		}
		if known {
			ms := s.SignedAtMs
			r.IssuerDID, r.SignedAtMs, r.Signature = s.DID, &ms, s.Signature
			return "", nil
		}
	}
	did, err := i.DID(ctx)
	if err != nil {
		return "", err
	}
	ms := uint64(max(i.now().UnixMilli(), 0))
	r.IssuerDID, r.SignedAtMs, r.Signature = did, &ms, ""
	payload, err := Canonical(*r)
	if err != nil {
		return "", err
	}
	sig, err := i.current.Sign(ctx, payload)
	if err != nil {
		return "", fmt.Errorf("sign receipt %s: %w", r.ReceiptID, err)
	}
	r.Signature = base64.StdEncoding.EncodeToString(sig)
	b, err := json.Marshal(seal{Digest: digest, KeyID: i.current.KeyID(), DID: r.IssuerDID, SignedAtMs: ms, Signature: r.Signature})
	if err != nil {
		return "", fmt.Errorf("keep receipt %s signature: %w", r.ReceiptID, err)
	}
	return string(b), nil
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
