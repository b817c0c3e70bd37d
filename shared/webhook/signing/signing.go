// Package signing is a Standard Webhooks library: it makes signing secrets (whsec_…), signs a
// delivery's headers with one or more keys, and verifies a received delivery as a receiver does.
// It knows nothing of tenants, settings or deliveries (package webhook).
package signing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret, as in Standard Webhooks and Svix.
const SecretPrefix = "whsec_"

// Sizes of a signing key: what NewSecret makes, and the least ParseSecret accepts.
const (
	SecretBytes    = 32
	MinSecretBytes = 16
)

// Header names of a delivery (Standard Webhooks).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// UserAgent identifies the deliverer to receivers.
const UserAgent = "agentq-webhooks/1"

// DefaultTolerance is how far a delivery's timestamp may be from the receiver's clock when Verify
// is given no tolerance: five minutes, the Standard Webhooks default.
const DefaultTolerance = 5 * time.Minute

// Errors of this package.
var (
	// ErrInvalidSecret means a secret is not one: not base64, or too short.
	ErrInvalidSecret = errors.New("invalid webhook secret")
	// ErrVerification is wrapped by every refusal of Verify.
	ErrVerification = errors.New("webhook verification failed")
)

// signatureVersion is the scheme of every signature: HMAC-SHA256, base64.
const signatureVersion = "v1"

// NewSecret returns a new signing secret: SecretPrefix and the standard base64 of SecretBytes
// random bytes.
func NewSecret() (string, error) {
	key := make([]byte, SecretBytes)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("new webhook secret: %w", err)
	}
	return FormatSecret(key), nil
}

// FormatSecret is the secret of key: SecretPrefix and the standard base64 of the key.
func FormatSecret(key []byte) string { return SecretPrefix + base64.StdEncoding.EncodeToString(key) }

// ParseSecret returns the key of a signing secret, with or without SecretPrefix (standard base64,
// padded or not). It refuses keys shorter than MinSecretBytes. Its errors never quote the secret.
func ParseSecret(s string) ([]byte, error) {
	b64 := strings.TrimPrefix(strings.TrimSpace(s), SecretPrefix)
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: webhook secret is not base64", ErrInvalidSecret)
	}
	if len(key) < MinSecretBytes {
		return nil, fmt.Errorf("%w: webhook secret is %d bytes, at least %d are needed", ErrInvalidSecret, len(key), MinSecretBytes)
	}
	return key, nil
}

// Sign returns the Standard Webhooks signature of a message: "v1," and the base64 of
// HMAC-SHA256(key, msgID + "." + unix seconds + "." + body).
func Sign(key []byte, msgID string, ts time.Time, body []byte) string {
	return signatureVersion + "," + base64.StdEncoding.EncodeToString(mac(key, msgID, ts.Unix(), body))
}

func mac(key []byte, msgID string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write([]byte(strconv.FormatInt(unix, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// SetHeaders sets the Standard Webhooks headers of a delivery: one signature per key, in the
// order given, separated by spaces.
func SetHeaders(h http.Header, keys [][]byte, msgID string, ts time.Time, body []byte) {
	sigs := make([]string, len(keys))
	for i, k := range keys {
		sigs[i] = Sign(k, msgID, ts, body)
	}
	h.Set(HeaderID, msgID)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
}

// Verify checks a received delivery, as a receiver does: the webhook-timestamp must be within
// tolerance of now (DefaultTolerance when tolerance is 0), and one of the v1 signatures listed in
// webhook-signature must be the body's signature under secret (compared in constant time). body
// must be the raw request body, before any JSON decoding. Refusals wrap ErrVerification.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := ParseSecret(secret)
	if err != nil {
		return err
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return fmt.Errorf("%w: missing %s, %s or %s header", ErrVerification, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	unix, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not a number of seconds", ErrVerification, HeaderTimestamp)
	}
	ts := time.Unix(unix, 0)
	if ts.Before(now.Add(-tolerance)) {
		return fmt.Errorf("%w: timestamp too old", ErrVerification)
	}
	if ts.After(now.Add(tolerance)) {
		return fmt.Errorf("%w: timestamp too new", ErrVerification)
	}
	want := mac(key, id, unix, body)
	for sig := range strings.FieldsSeq(sigs) {
		version, value, ok := strings.Cut(sig, ",")
		if !ok || version != signatureVersion {
			continue // another scheme, or a future version: not ours to judge
		}
		got, err := base64.StdEncoding.DecodeString(value)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no matching signature", ErrVerification)
}
