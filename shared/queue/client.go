package queue

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// SQS is the part of the SQS API the client uses.
type SQS interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Client sends work messages to one queue.
type Client struct {
	api SQS
	url string
}

// NewClient returns a client for the queue at url.
func NewClient(api SQS, url string) *Client { return &Client{api: api, url: url} }

// MaxDelay is the longest delay SQS allows on a message.
const MaxDelay = 15 * time.Minute

// Send enqueues m, delivered no sooner than delay from now (capped at MaxDelay). The message
// carries ctx's X-Ray trace header (TraceAttribute), so the task's run is part of the trace of
// the request that accepted it.
func (c *Client) Send(ctx context.Context, m *Message, delay time.Duration) error {
	body, err := Encode(m)
	if err != nil {
		return err
	}
	_, err = c.api.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:                aws.String(c.url),
		MessageBody:             aws.String(body),
		DelaySeconds:            int32(min(delay, MaxDelay) / time.Second),
		MessageSystemAttributes: traceAttributes(ctx),
	})
	if err != nil {
		return fmt.Errorf("send message for task %s: %w", m.TaskID, err)
	}
	return nil
}

// Postpone makes a received message visible again after d, so a retry waits instead of spinning.
func (c *Client) Postpone(ctx context.Context, receiptHandle string, d time.Duration) error {
	secs := int32(min(d, 12*time.Hour) / time.Second)
	_, err := c.api.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(c.url),
		ReceiptHandle:     aws.String(receiptHandle),
		VisibilityTimeout: secs,
	})
	if err != nil {
		return fmt.Errorf("postpone message by %v: %w", d, err)
	}
	return nil
}
