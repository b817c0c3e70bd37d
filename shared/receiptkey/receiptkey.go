// Package receiptkey keeps the Ed25519 keys ServiceNet receipts are signed with as sealed key
// items of the task table (package sealedkey): a 32-byte seed per generation, sealed with the
// deployment's sealer (on AWS the KMS envelope sealer) and bound to its record. The current
// generation is created by whichever function signs first; each function instance opens it once,
// on first use, and signs in memory: one KMS Decrypt per instance instead of a KMS Sign per
// signature. Rotation is a new generation: the earlier ones stay listed (opened, never created),
// so the receipts they signed stay recognised.
package receiptkey

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"

	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/receipt"
	"github.com/agentq/agentq/shared/sealedkey"
)

// Partition is the partition of every generation's item; the sort key is "v" and the generation.
const Partition = "CONFIG#receipt-key"

// MaxGeneration bounds the generation, and so how many retired keys an issuer lists.
const MaxGeneration = 100

// BindingID is the binding (on KMS the encryption context's id) of generation gen's key:
// "receipt-key/v1" for the first. An IAM grant narrowed to these ids lets a function seal and
// open the receipt keys and no other secret.
func BindingID(gen int) string { return fmt.Sprintf("receipt-key/v%d", gen) }

func record(gen int) sealedkey.Record {
	return sealedkey.Record{
		Partition: Partition, SortKey: fmt.Sprintf("v%d", gen), BindingID: BindingID(gen),
		Name: "receipt key", Size: ed25519.SeedSize,
	}
}

// Options tune an issuer.
type Options struct {
	// Opened, when set, is called each time a sealed key is opened (a KMS Decrypt on AWS).
	Opened func(ctx context.Context)
}

// New returns the issuer of the receipt keys in table: generation gen (1 or more) signs, and is
// created on first use; generations 1 to gen-1 are the retired keys, listed while their items
// exist. It makes no call until first used.
func New(db sealedkey.DynamoDB, table string, sealer authctx.Sealer, gen int, o Options) (*receipt.Issuer, error) {
	if gen < 1 || gen > MaxGeneration {
		return nil, fmt.Errorf("receipt key generation %d: not between 1 and %d", gen, MaxGeneration)
	}
	signer := func(g int) *Signer {
		s := sealedkey.New(db, table, sealer, record(g))
		if o.Opened != nil {
			s = s.OnOpen(o.Opened)
		}
		if g < gen {
			s = s.Existing()
		}
		return &Signer{id: "table:" + BindingID(g), keys: s}
	}
	prev := make([]receipt.Signer, 0, gen-1)
	for g := gen - 1; g >= 1; g-- { // newest first
		prev = append(prev, signer(g))
	}
	return receipt.NewIssuer(signer(gen), prev...), nil
}

// Signer signs with one generation's key, opened from the table on first use and kept.
type Signer struct {
	id   string
	keys *sealedkey.Store

	mu   sync.Mutex
	priv ed25519.PrivateKey
}

var _ receipt.Signer = (*Signer)(nil)

// KeyID names the key by its record: "table:receipt-key/v1".
func (s *Signer) KeyID() string { return s.id }

// private answers the key, opening it on first use. A retired generation whose item is gone is
// receipt.ErrNoKey.
func (s *Signer) private(ctx context.Context) (ed25519.PrivateKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.priv != nil {
		return s.priv, nil
	}
	seed, err := s.keys.Key(ctx)
	if errors.Is(err, sealedkey.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", receipt.ErrNoKey, err)
	}
	if err != nil {
		return nil, err
	}
	s.priv = ed25519.NewKeyFromSeed(seed)
	return s.priv, nil
}

// Public is the key's public half.
func (s *Signer) Public(ctx context.Context) (ed25519.PublicKey, error) {
	priv, err := s.private(ctx)
	if err != nil {
		return nil, err
	}
	return priv.Public().(ed25519.PublicKey), nil
}

// Sign signs msg with pure Ed25519.
func (s *Signer) Sign(ctx context.Context, msg []byte) ([]byte, error) {
	priv, err := s.private(ctx)
	if err != nil {
		return nil, err
	}
	return ed25519.Sign(priv, msg), nil
}
