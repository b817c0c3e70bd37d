// Package receipt issues and checks ServiceNet execution receipts: the receipt object a ServiceNet
// client reads, its Ed25519 signature over the object's RFC 8785 (JCS) canonical JSON, the issuer's
// did:key, and the request and result digests. Anyone holding only the issuer's did:key can check
// a receipt with any Ed25519 and JCS implementation; the package keeps no state of its own.
package receipt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/gowebpki/jcs"
)

// The receipt vocabularies, as the reference node spells them.
const (
	// Invoke modes.
	ModeSync  = "sync"
	ModeAsync = "async"
	// Statuses.
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusRejected  = "rejected"
	// Verification verdicts.
	NotRequired = "not_required"
	Pending     = "pending"
	Verified    = "verified"
	Failed      = "failed"
)

// Verdicts lists the verification verdicts, in the reference's order.
var Verdicts = []string{NotRequired, Pending, Verified, Failed}

// ValidVerdict reports whether v is a verification verdict.
func ValidVerdict(v string) bool {
	for _, x := range Verdicts {
		if x == v {
			return true
		}
	}
	return false
}

// Receipt is the signed receipt object, field for field and in the reference's order. Optional
// fields are omitted when empty, never null. Its JSON is what is canonicalized and signed.
type Receipt struct {
	ReceiptID      string  `json:"receipt_id"`
	AgentID        string  `json:"agent_id"`
	ProviderID     string  `json:"provider_id"`
	CallerAgentID  string  `json:"caller_agent_id,omitempty"`
	CallerPublicID string  `json:"caller_public_id,omitempty"`
	InvokeMode     string  `json:"invoke_mode"`
	Status         string  `json:"status"`
	Verification   string  `json:"verification"`
	RequestDigest  string  `json:"request_digest"`
	ResultDigest   string  `json:"result_digest,omitempty"`
	IssuerDID      string  `json:"receipt_issuer_did,omitempty"`
	SignedAtMs     *uint64 `json:"receipt_signed_at_ms,omitempty"`
	Signature      string  `json:"receipt_signature,omitempty"`
	StartedAt      Time    `json:"started_at"`
	CompletedAt    *Time   `json:"completed_at,omitempty"`
	CostUnits      *uint32 `json:"cost_units,omitempty"`
}

// Time is an instant as the reference writes one: RFC 3339 in UTC with a "Z", and a fraction of
// 0, 3, 6 or 9 digits, the fewest that hold it exactly.
type Time struct{ time.Time }

// MarshalJSON writes t in the reference's form.
func (t Time) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(t.String())), nil
}

// UnmarshalJSON reads any RFC 3339 instant.
func (t *Time) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("receipt time: %w", err)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("receipt time: %w", err)
	}
	t.Time = v
	return nil
}

// String formats t in the reference's form.
func (t Time) String() string {
	u := t.UTC()
	layout := "2006-01-02T15:04:05"
	switch ns := u.Nanosecond(); {
	case ns == 0:
	case ns%1_000_000 == 0:
		layout += ".000"
	case ns%1_000 == 0:
		layout += ".000000"
	default:
		layout += ".000000000"
	}
	return u.Format(layout + "Z")
}

// Canonical returns the bytes a receipt's signature covers: the RFC 8785 canonical JSON of the
// receipt without receipt_signature (receipt_issuer_did and receipt_signed_at_ms included).
func Canonical(r Receipt) ([]byte, error) {
	r.Signature = ""
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode receipt %s: %w", r.ReceiptID, err)
	}
	c, err := jcs.Transform(b)
	if err != nil {
		return nil, fmt.Errorf("canonicalize receipt %s: %w", r.ReceiptID, err)
	}
	return c, nil
}

// Digest is the lower-case hex SHA-256 of the RFC 8785 canonical form of a JSON value.
func Digest(v json.RawMessage) (string, error) {
	c, err := jcs.Transform(v)
	if err != nil {
		return "", fmt.Errorf("canonicalize for digest: %w", err)
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

// RequestFields are the request fields request_digest covers, as the reference hashes them.
var RequestFields = []string{"task_id", "context_id", "message", "input", "skill_id", "return_immediately", "settlement"}

// RequestDigest is request_digest of a request body: the Digest of the object holding exactly
// RequestFields, each taken from the body as accepted, null where the body has none. Credentials,
// policy fields and agentq's own fields are not covered.
func RequestDigest(body json.RawMessage) (string, error) {
	var in map[string]json.RawMessage
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			return "", fmt.Errorf("request digest: %w", err)
		}
	}
	out := make(map[string]json.RawMessage, len(RequestFields))
	for _, f := range RequestFields {
		v, ok := in[f]
		if !ok || len(bytes.TrimSpace(v)) == 0 {
			v = json.RawMessage("null")
		}
		out[f] = v
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("request digest: %w", err)
	}
	return Digest(b)
}
