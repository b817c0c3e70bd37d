package receipt

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
)

// KeysFile is the name of the local runner's receipt keys file in its data directory.
const KeysFile = "receipt-keys.json"

// keyring is the local keys file: every key the local runner has signed receipts with, the
// current (newest) last. The file is the runner's alone (mode 0600), like the rest of its data
// directory.
type keyring struct {
	Keys []localKey `json:"keys"`
}

type localKey struct {
	ID        string    `json:"id"`
	Seed      string    `json:"seed"` // base64 of the 32-byte Ed25519 seed
	CreatedAt time.Time `json:"created_at"`
}

// LoadLocal opens the keys file at path, creating it with a new key on first use, and returns
// the issuer of its keys: the newest signs, the older ones are recognised.
func LoadLocal(path string) (*Issuer, error) {
	ring, err := readKeyring(path)
	if errors.Is(err, fs.ErrNotExist) {
		if ring, err = addKey(path, keyring{}); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return ring.issuer()
}

// RotateLocal adds a new current key to the keys file at path (creating it when missing); the
// keys before it stay listed, so the receipts they signed stay verifiable.
func RotateLocal(path string) (*Issuer, error) {
	ring, err := readKeyring(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if ring, err = addKey(path, ring); err != nil {
		return nil, err
	}
	return ring.issuer()
}

// NewEphemeral returns an issuer with a key of its own that nothing keeps (tests, and a local
// system started without a data directory).
func NewEphemeral() *Issuer {
	_, priv, _ := ed25519.GenerateKey(rand.Reader) // crypto/rand never fails
	return NewIssuer(NewLocalSigner("local:"+uuid.NewString(), priv))
}

func readKeyring(path string) (keyring, error) {
	var ring keyring
	b, err := os.ReadFile(path)
	if err != nil {
		return ring, fmt.Errorf("read receipt keys: %w", err)
	}
	if err := json.Unmarshal(b, &ring); err != nil || len(ring.Keys) == 0 {
		return ring, fmt.Errorf("read receipt keys %s: not a keys file", path)
	}
	return ring, nil
}

func addKey(path string, ring keyring) (keyring, error) {
	seed := make([]byte, ed25519.SeedSize)
	_, _ = rand.Read(seed) // crypto/rand never fails
	ring.Keys = append(ring.Keys, localKey{ID: "local:" + uuid.NewString(), Seed: base64.StdEncoding.EncodeToString(seed), CreatedAt: time.Now().UTC()})
	b, err := json.MarshalIndent(ring, "", "  ")
	if err != nil {
		return ring, fmt.Errorf("write receipt keys: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return ring, fmt.Errorf("write receipt keys: %w", err)
	}
	// Write aside and rename, so that a crash never leaves a half-written keys file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return ring, fmt.Errorf("write receipt keys: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return ring, fmt.Errorf("write receipt keys: %w", err)
	}
	return ring, nil
}

func (r keyring) issuer() (*Issuer, error) {
	signers := make([]Signer, 0, len(r.Keys))
	for i := len(r.Keys) - 1; i >= 0; i-- { // newest first
		seed, err := base64.StdEncoding.DecodeString(r.Keys[i].Seed)
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("read receipt keys: key %s is not a 32-byte base64 seed", r.Keys[i].ID)
		}
		signers = append(signers, NewLocalSigner(r.Keys[i].ID, ed25519.NewKeyFromSeed(seed)))
	}
	return NewIssuer(signers[0], signers[1:]...), nil
}

// NewKMS returns the issuer of KMS keys: current signs, previous (newest first) are the keys
// retired by rotation, whose receipts stay recognised. It calls KMS only when first used.
func NewKMS(api KMSAPI, current string, previous []string) *Issuer {
	prev := make([]Signer, 0, len(previous))
	for _, id := range previous {
		prev = append(prev, NewKMSSigner(api, id))
	}
	return NewIssuer(NewKMSSigner(api, current), prev...)
}
