package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Auth contexts' sealing: exactly one of these enables them.
const (
	// EnvSealKey holds a local key that seals auth contexts' secrets: base64 of 32 bytes. For
	// `make run` and development; in AWS, use EnvKMSKeyID.
	EnvSealKey = "AGENTQ_SEAL_KEY"
	// EnvKMSKeyID names the KMS key (id, ARN or alias) that seals auth contexts' secrets.
	EnvKMSKeyID = "AGENTQ_KMS_KEY_ID"
)

// SealKeySize is the size of a local seal key: AES-256.
const SealKeySize = 32

// SealKey is a local seal key. It prints as <redacted>, so a Config is safe to print.
type SealKey []byte

// String hides the key.
func (SealKey) String() string { return "<redacted>" }

// GoString hides the key from %#v.
func (SealKey) GoString() string { return "<redacted>" }

// ParseSealKey reads a local seal key: standard base64 (padded or not) of 32 bytes. Its errors
// never quote the value.
func ParseSealKey(v string) (SealKey, error) {
	v = strings.TrimSpace(v)
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(v)
	}
	if err != nil {
		return nil, errors.New("not base64")
	}
	if len(b) != SealKeySize {
		return nil, fmt.Errorf("want base64 of %d bytes, got %d bytes (make one with: openssl rand -base64 32)", SealKeySize, len(b))
	}
	return b, nil
}

// AuthContexts reports whether auth contexts are enabled: a seal key or a KMS key is configured.
func (c *Config) AuthContexts() bool { return len(c.SealKey) > 0 || c.KMSKeyID != "" }

// loadSealing reads EnvSealKey and EnvKMSKeyID, at most one of which may be set.
func (c *Config) loadSealing(getenv func(string) string) error {
	local, keyID := getenv(EnvSealKey), strings.TrimSpace(getenv(EnvKMSKeyID))
	if local != "" && keyID != "" {
		return fmt.Errorf("%s and %s: set one of them, not both", EnvSealKey, EnvKMSKeyID)
	}
	c.KMSKeyID = keyID
	if local != "" {
		k, err := ParseSealKey(local)
		if err != nil {
			return fmt.Errorf("%s: %w", EnvSealKey, err)
		}
		c.SealKey = k
	}
	return nil
}
