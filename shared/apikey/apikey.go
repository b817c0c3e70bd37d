// Package apikey authenticates callers by API key. Keys are known only by their SHA-256 hashes, so
// neither configuration nor storage ever holds a key in the clear. A key belongs to a tenant, and
// the package owns what a tenant may be called.
package apikey

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/agentq/agentq/shared/name"
)

// MaxTenantBytes bounds a tenant name.
const MaxTenantBytes = 64

// ErrInvalidTenant means a name cannot name a tenant (see ValidateTenant).
var ErrInvalidTenant = errors.New("invalid tenant name")

// TenantRule says in words what ValidateTenant accepts, for error messages.
const TenantRule = "1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"

// validTenant reports whether s is TenantRule.
func validTenant(s string) bool { return name.Valid(s, MaxTenantBytes) }

// ValidateTenant returns nil if name can name a tenant: TenantRule. A tenant is joined with ids in
// storage keys ("THREAD#<tenant>#<thread>"), so it never holds the '#' separator (nor anything
// else that could make two tenants' keys meet), and it is bounded so the keys stay within
// DynamoDB's limits.
func ValidateTenant(name string) error {
	if !validTenant(name) {
		return fmt.Errorf("%w: a tenant name is %s", ErrInvalidTenant, TenantRule)
	}
	return nil
}

// Hash returns the hex SHA-256 of a key, the form in which keys are configured and stored.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

type entry struct {
	hash   [sha256.Size]byte
	tenant string
}

// Keys maps API key hashes to the tenants that own them.
type Keys struct {
	entries []entry
}

// Parse reads a comma-separated list of tenant:sha256hex pairs.
func Parse(spec string) (*Keys, error) {
	k := &Keys{}
	for _, pair := range strings.Split(spec, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		tenant, hexHash, ok := strings.Cut(pair, ":")
		if !ok || tenant == "" {
			return nil, fmt.Errorf("parse api keys: %q is not tenant:sha256hex", redact(pair))
		}
		if err := k.Add(tenant, hexHash); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Add registers the key whose hex SHA-256 is hexHash as belonging to tenant.
func (k *Keys) Add(tenant, hexHash string) error {
	if err := ValidateTenant(tenant); err != nil {
		return fmt.Errorf("add api key for tenant %q: %w", tenant, err)
	}
	b, err := hex.DecodeString(hexHash)
	if err != nil || len(b) != sha256.Size {
		return fmt.Errorf("add api key for tenant %s: want 64 hex digits of SHA-256", tenant)
	}
	var e entry
	copy(e.hash[:], b)
	e.tenant = tenant
	k.entries = append(k.entries, e)
	return nil
}

// Len is the number of keys known.
func (k *Keys) Len() int { return len(k.entries) }

// Tenant returns the tenant owning key. Every known hash is compared in constant time, so the
// answer's timing says nothing about how close a guess came.
func (k *Keys) Tenant(key string) (string, bool) {
	if key == "" {
		return "", false
	}
	sum := sha256.Sum256([]byte(key))
	tenant, found := "", 0
	for _, e := range k.entries {
		if subtle.ConstantTimeCompare(sum[:], e.hash[:]) == 1 {
			tenant, found = e.tenant, 1
		}
	}
	return tenant, found == 1
}

// redact keeps a misconfigured value's shape in error messages without revealing it.
func redact(s string) string {
	if len(s) <= 4 {
		return "****"
	}
	return s[:4] + "****"
}
