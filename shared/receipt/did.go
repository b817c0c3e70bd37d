package receipt

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
)

// ed25519Multicodec is the multicodec prefix of an Ed25519 public key (0xed as an unsigned
// varint): a did:key names its key type with it.
var ed25519Multicodec = []byte{0xed, 0x01}

// didKeyPrefix starts every did:key in base58btc multibase form.
const didKeyPrefix = "did:key:z"

// ErrBadDID means a DID is not an Ed25519 did:key.
var ErrBadDID = errors.New("not an Ed25519 did:key")

// DIDKey returns the did:key of an Ed25519 public key: "did:key:z" and the base58btc of the
// multicodec prefix 0xed 0x01 followed by the 32 key bytes.
func DIDKey(pub ed25519.PublicKey) string {
	return didKeyPrefix + base58.Encode(append(bytes.Clone(ed25519Multicodec), pub...))
}

// ParseDIDKey returns the Ed25519 public key a did:key names.
func ParseDIDKey(did string) (ed25519.PublicKey, error) {
	enc, ok := strings.CutPrefix(did, didKeyPrefix)
	if !ok || enc == "" {
		return nil, fmt.Errorf("parse %q: %w", did, ErrBadDID)
	}
	raw, err := base58.Decode(enc)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", did, ErrBadDID)
	}
	key, ok := bytes.CutPrefix(raw, ed25519Multicodec)
	if !ok || len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("parse %q: %w", did, ErrBadDID)
	}
	return ed25519.PublicKey(key), nil
}
