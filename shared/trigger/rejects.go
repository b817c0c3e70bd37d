package trigger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/agentq/agentq/shared/dialect"
)

// Rejection is a refused event as the trigger's dead-letter queue keeps it (the message body is
// its JSON). It carries the reason and the event, with its credentials redacted.
type Rejection struct {
	// Reason is the HTTP API's machine-readable code for the same request (validation_failed,
	// agent_not_found, approval_required, ...), or ReasonUnrecognizedEvent.
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// Problems lists what is wrong with the invocation, for validation_failed.
	Problems []dialect.Problem `json:"problems,omitempty"`
	// Source is SourceEventBridge, SourceSchedule, SourceSQS or SourceUnknown.
	Source string `json:"source"`
	// EventID is the event's id, or the SQS message id.
	EventID string `json:"event_id"`
	// AgentID and Tenant are the invocation's, when they could be read.
	AgentID string `json:"agent_id,omitempty"`
	Tenant  string `json:"tenant,omitempty"`
	// Event is the event (EventBridge, schedule, or unrecognized payload) or the SQS message body
	// as received, with every credential field's value replaced by Redacted.
	Event json.RawMessage `json:"event"`
	// EventOmitted says why Event is null: a payload that is not JSON (whose credentials could not
	// be found to redact) or one too large for the queue.
	EventOmitted string    `json:"event_omitted,omitempty"`
	RejectedAt   time.Time `json:"rejected_at"`
}

// Redacted replaces the value of every credential field in a dead-lettered event.
const Redacted = "[redacted]"

// secretFields are the request fields that are credentials, in either dialect. They are redacted
// wherever they appear in a dead-lettered event, matched without regard to case as encoding/json
// matches them.
var secretFields = dialect.SecretFields()

// MaxRejectionBytes bounds a dead-letter message: SQS's 256 KiB. An event that would make the
// message larger is left out (EventOmitted).
const MaxRejectionBytes = 256 << 10

// Encode returns the message body of r: its JSON, without the event if the whole would exceed
// MaxRejectionBytes.
func (r Rejection) Encode() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode rejection: %w", err)
	}
	if len(b) <= MaxRejectionBytes {
		return b, nil
	}
	r.EventOmitted = fmt.Sprintf("too large to keep: the message would be %d bytes", len(b))
	r.Event = nil
	b, err = json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode rejection: %w", err)
	}
	return b, nil
}

// redact returns raw with every credential field's value replaced by Redacted, at any depth, or
// nil and why when raw is not JSON.
func redact(raw []byte) (json.RawMessage, string) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, "empty"
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		sum := sha256.Sum256(raw)
		return nil, fmt.Sprintf("not JSON (%d bytes, sha256 %s): left out, since credentials in it could not be redacted", len(raw), hex.EncodeToString(sum[:]))
	}
	out, err := json.Marshal(redactValue(v))
	if err != nil {
		return nil, "could not be re-encoded"
	}
	return out, ""
}

func redactValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if isSecret(k) {
				v[k] = Redacted
				continue
			}
			v[k] = redactValue(x)
		}
	case []any:
		for i, x := range v {
			v[i] = redactValue(x)
		}
	}
	return v
}

func isSecret(name string) bool {
	for _, s := range secretFields {
		if strings.EqualFold(name, s) {
			return true
		}
	}
	return false
}

// SQSAPI is the part of the SQS client SQSRejects uses.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// SQSRejects sends rejections to an SQS queue (the trigger's dead-letter queue), one message each,
// with the reason and source also as message attributes for filtering.
type SQSRejects struct {
	api SQSAPI
	url string
}

var _ Rejects = (*SQSRejects)(nil)

// NewSQSRejects returns an SQSRejects sending to the queue at url.
func NewSQSRejects(api SQSAPI, url string) *SQSRejects {
	return &SQSRejects{api: api, url: url}
}

// Reject sends r.
func (q *SQSRejects) Reject(ctx context.Context, r Rejection) error {
	body, err := r.Encode()
	if err != nil {
		return err
	}
	_, err = q.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(q.url), MessageBody: aws.String(string(body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"reason": {DataType: aws.String("String"), StringValue: aws.String(r.Reason)},
			"source": {DataType: aws.String("String"), StringValue: aws.String(r.Source)},
		},
	})
	if err != nil {
		return fmt.Errorf("send rejection of %s event %s: %w", r.Source, r.EventID, err)
	}
	return nil
}
