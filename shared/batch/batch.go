// Package batch handles the records of a queue batch concurrently and reports the ones to deliver
// again, as a Lambda partial batch response does, and defines the plain records of a queue batch
// and of a table's change stream. The Lambda event types stay in the adapter that converts them
// (shared/lambdaevents); the local pollers build records directly.
package batch

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Record is one message of a batch, whatever queue carried it.
type Record struct {
	// ID is the message id; a failure names it.
	ID   string
	Body string
	// Source identifies the queue the record came from (its ARN), which tells a work queue from
	// its dead-letter queue.
	Source string
	// ReceiptHandle names this receipt of the message, to change its visibility.
	ReceiptHandle string
	// ReceiveCount is how many times the message has been received, this time included (at
	// least 1).
	ReceiveCount int
	// Trace is the X-Ray trace header the message carries (SQS's AWSTraceHeader system
	// attribute), or "" when it has none.
	Trace string
}

// Func handles the i-th record of a batch. An error asks for the record to be delivered again.
type Func func(ctx context.Context, i int, rec Record) error

// Process runs fn on every record, at most limit at a time (every record at once when limit is
// 0 or less), and answers the ids of the records fn failed, in batch order.
func Process(ctx context.Context, recs []Record, limit int, fn Func) []string {
	if limit <= 0 {
		limit = len(recs)
	}
	failed := make([]bool, len(recs))
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for i := range recs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			failed[i] = fn(ctx, i, recs[i]) != nil
		})
	}
	wg.Wait()
	var ids []string
	for i, f := range failed {
		if f {
			ids = append(ids, recs[i].ID)
		}
	}
	return ids
}

// StreamRecord is one record of a table's change stream, whatever carried it (a Lambda stream
// event, or the local stream poller). Its images are the SDK's attribute values, which the store
// decodes.
type StreamRecord struct {
	// Sequence orders the records of a shard; a handler names the first record to retry from by it.
	Sequence string
	// Removed says the item was deleted.
	Removed bool
	// Keys, NewImage and OldImage are the item's keys and its images after and before the change.
	Keys, NewImage, OldImage map[string]types.AttributeValue
}

// StreamHandler handles a batch of stream records in order and answers the sequence number of
// the first record to retry from ("" when all are done); an error retries the whole batch.
type StreamHandler func(ctx context.Context, recs []StreamRecord) (retryFrom string, err error)
