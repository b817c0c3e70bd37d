// Package esm does locally what Lambda's event source mappings do in AWS. Mapping long-polls an
// SQS queue, hands batches to a handler as batch records, deletes what the handler finished and
// leaves its reported failures for redelivery (and, in the end, the dead-letter queue).
// StreamMapping reads a DynamoDB stream shard by shard, in order, and hands batches to a handler
// as batch stream records, retrying from the first record the handler reports failed.
package esm

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/queue"
)

// SQS is the part of the SQS API a poller uses.
type SQS interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Handler handles a batch and answers the ids of the records to deliver again, as a Lambda SQS
// handler with partial batch responses does.
type Handler func(ctx context.Context, recs []batch.Record) []string

// Mapping connects one queue to a handler.
type Mapping struct {
	API      SQS
	QueueURL string
	QueueARN string
	Region   string
	Handler  Handler
	// BatchSize is the most messages per batch (1-10); default 10.
	BatchSize int32
	// Pollers is how many batches may be in flight at once; default 2.
	Pollers int
	// Timeout bounds one handler call, as a Lambda function timeout would; default 5 minutes.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Run polls until ctx is done. It returns nil on cancellation.
func (m *Mapping) Run(ctx context.Context) error {
	m.defaults()
	var wg sync.WaitGroup
	for range m.Pollers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.poll(ctx)
		}()
	}
	wg.Wait()
	return nil
}

func (m *Mapping) defaults() {
	if m.BatchSize <= 0 || m.BatchSize > 10 {
		m.BatchSize = 10
	}
	if m.Pollers <= 0 {
		m.Pollers = 2
	}
	if m.Timeout <= 0 {
		m.Timeout = 5 * time.Minute
	}
	if m.Logger == nil {
		m.Logger = slog.New(slog.DiscardHandler)
	}
}

func (m *Mapping) poll(ctx context.Context) {
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		if backoff > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		}
		if _, err := m.Once(ctx); err != nil && ctx.Err() == nil {
			m.Logger.Warn("poll queue", "queue", m.QueueARN, "err", err)
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
		} else {
			backoff = 0
		}
	}
}

// Once receives one batch (waiting up to a second for it), hands it to the handler and deletes
// the records the handler finished. It returns how many messages it received.
func (m *Mapping) Once(ctx context.Context) (int, error) {
	m.defaults()
	out, err := m.API.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(m.QueueURL),
		MaxNumberOfMessages:         m.BatchSize,
		WaitTimeSeconds:             1,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return 0, err
	}
	if len(out.Messages) == 0 {
		return 0, nil
	}
	recs := make([]batch.Record, len(out.Messages))
	for i, msg := range out.Messages {
		n, err := strconv.Atoi(msg.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		if err != nil || n < 1 {
			n = 1
		}
		recs[i] = batch.Record{ID: aws.ToString(msg.MessageId), ReceiptHandle: aws.ToString(msg.ReceiptHandle),
			Body: aws.ToString(msg.Body), Source: m.QueueARN, ReceiveCount: n,
			Trace: msg.Attributes[queue.TraceAttribute]}
	}
	hctx, cancel := context.WithTimeout(ctx, m.Timeout)
	failedIDs := m.Handler(hctx, recs)
	cancel()
	failed := make(map[string]bool, len(failedIDs))
	for _, id := range failedIDs {
		failed[id] = true
	}
	var entries []types.DeleteMessageBatchRequestEntry
	for i, r := range recs {
		if !failed[r.ID] {
			entries = append(entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r.ReceiptHandle)})
		}
	}
	if len(entries) == 0 {
		return len(out.Messages), nil
	}
	// Deletion must happen even while shutting down, or finished work runs again.
	dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer dcancel()
	del, err := m.API.DeleteMessageBatch(dctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(m.QueueURL), Entries: entries})
	if err != nil {
		return len(out.Messages), errors.Join(errors.New("delete finished messages"), err)
	}
	for _, f := range del.Failed {
		m.Logger.Warn("delete finished message", "queue", m.QueueARN, "code", aws.ToString(f.Code))
	}
	return len(out.Messages), nil
}
