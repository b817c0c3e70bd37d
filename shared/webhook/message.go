package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// MessageKind is the kind of every delivery message: a stable string, never a Go type name.
const MessageKind = "webhook"

// message asks the deliverer to make attempt Attempt of a delivery, not before NotBefore. It
// carries no payload or URL: the delivery's item holds them, and the message only points at it.
type message struct {
	Kind       string    `json:"kind"`
	DeliveryID string    `json:"delivery_id"`
	TaskID     string    `json:"task_id"`
	Attempt    int       `json:"attempt"`
	NotBefore  time.Time `json:"not_before"`
}

// maxMessageBytes bounds the body decodeMessage reads; ours are a few hundred bytes.
const maxMessageBytes = 4096

func encodeMessage(m message) (string, error) {
	m.Kind = MessageKind
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode message for delivery %s: %w", m.DeliveryID, err)
	}
	return string(b), nil
}

// decodeMessage reads a delivery message, refusing anything that is not one.
func decodeMessage(body string) (message, error) {
	if len(body) > maxMessageBytes {
		return message{}, fmt.Errorf("decode delivery message: %d bytes is too long", len(body))
	}
	var m message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return message{}, fmt.Errorf("decode delivery message: %w", err)
	}
	switch {
	case m.Kind != MessageKind:
		return message{}, fmt.Errorf("decode delivery message: kind %q is not %q", m.Kind, MessageKind)
	case m.DeliveryID == "" || m.TaskID == "":
		return message{}, errors.New("decode delivery message: delivery_id and task_id are required")
	case m.Attempt < 1 || m.Attempt > MaxAttempts:
		return message{}, fmt.Errorf("decode delivery message: attempt %d is out of range", m.Attempt)
	}
	return m, nil
}

// deadLetter is what the webhook dead-letter queue receives for a delivery that failed every
// attempt. The URL has no query: it may hold a credential.
type deadLetter struct {
	Kind       string `json:"kind"`
	DeliveryID string `json:"delivery_id"`
	TaskID     string `json:"task_id"`
	Tenant     string `json:"tenant"`
	URL        string `json:"url"`
	MessageID  string `json:"message_id"`
	EventType  string `json:"event_type"`
	Attempts   int    `json:"attempts"`
	LastError  string `json:"last_error"`
}

// SQS is the part of the SQS API a SQSSender uses.
type SQS interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var _ SQS = (*sqs.Client)(nil)

// MaxDelay is the longest delay SQS allows on a message; longer waits are chained.
const MaxDelay = 15 * time.Minute

// SQSSender sends to one SQS queue.
type SQSSender struct {
	api SQS
	url string
}

var _ Sender = (*SQSSender)(nil)

// NewSQSSender returns a Sender to the queue at url.
func NewSQSSender(api SQS, url string) *SQSSender { return &SQSSender{api: api, url: url} }

// Send enqueues body, delivered no sooner than delay from now, rounded down to whole seconds and
// capped at MaxDelay.
func (s *SQSSender) Send(ctx context.Context, body string, delay time.Duration) error {
	_, err := s.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:     aws.String(s.url),
		MessageBody:  aws.String(body),
		DelaySeconds: int32(min(max(delay, 0), MaxDelay) / time.Second),
	})
	if err != nil {
		return fmt.Errorf("send webhook message: %w", err)
	}
	return nil
}
