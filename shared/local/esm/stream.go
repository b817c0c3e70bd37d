package esm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/agentq/agentq/shared/batch"
)

// Streams is the part of the DynamoDB Streams API a stream mapping uses.
type Streams interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// StreamMapping does locally what Lambda's DynamoDB stream event source mapping does: it reads
// every shard of a table's stream from its oldest record (TRIM_HORIZON), in order, hands batches
// to a handler as batch records, and on a reported failure retries from the failed record
// (ReportBatchItemFailures) after a backoff. Like the stack's mapping it gives up on a record that
// failed MaxRetries times running: it logs the record's sequence number at error level and goes
// on after it, so one poison record cannot stop the shard. Children of a closed shard are read
// once their parent is done, as Lambda does.
type StreamMapping struct {
	API       Streams
	StreamARN string
	Region    string
	Handler   batch.StreamHandler
	// Filter, when set, is the mapping's filter criteria: only the records it passes reach the
	// handler, and a batch it passes none of costs no handler call, as with Lambda's filters.
	Filter func(batch.StreamRecord) bool
	// BatchSize is the most records per batch (1-1000); default 100.
	BatchSize int32
	// Idle is the pause between reads of a shard with nothing new; default 200 ms.
	Idle time.Duration
	// Timeout bounds one handler call, as a Lambda function timeout would; default 5 minutes.
	Timeout time.Duration
	// MaxRetries is how often a failing record is retried before it is skipped; default 50,
	// the stack's (infra/construct/events NotifyRetryAttempts).
	MaxRetries int
	Logger     *slog.Logger
}

// Run reads the stream until ctx is done. It returns nil on cancellation.
func (m *StreamMapping) Run(ctx context.Context) error {
	m.streamDefaults()
	var wg sync.WaitGroup
	defer wg.Wait()
	started := map[string]bool{}
	done := &sync.Map{} // shard id -> true once read to its end
	for ctx.Err() == nil {
		shards, err := m.shards(ctx)
		if err != nil && ctx.Err() == nil {
			m.Logger.Warn("describe stream", "err", err)
		}
		listed := map[string]bool{}
		for _, sh := range shards {
			listed[aws.ToString(sh.ShardId)] = true
		}
		for _, sh := range shards {
			id := aws.ToString(sh.ShardId)
			if started[id] {
				continue
			}
			// A parent no longer listed was trimmed: nothing of it is left to read first.
			if parent := aws.ToString(sh.ParentShardId); parent != "" && listed[parent] {
				if _, ok := done.Load(parent); !ok {
					continue // the parent's records come first
				}
			}
			started[id] = true
			wg.Go(func() {
				if m.readShard(ctx, id) {
					done.Store(id, true)
				}
			})
		}
		sleep(ctx, time.Second)
	}
	return nil
}

func (m *StreamMapping) streamDefaults() {
	if m.BatchSize <= 0 || m.BatchSize > 1000 {
		m.BatchSize = 100
	}
	if m.Idle <= 0 {
		m.Idle = 200 * time.Millisecond
	}
	if m.Timeout <= 0 {
		m.Timeout = 5 * time.Minute
	}
	if m.Logger == nil {
		m.Logger = slog.New(slog.DiscardHandler)
	}
	if m.Region == "" {
		m.Region = "us-east-1"
	}
	if m.MaxRetries <= 0 {
		m.MaxRetries = 50
	}
}

func (m *StreamMapping) shards(ctx context.Context) ([]streamtypes.Shard, error) {
	var all []streamtypes.Shard
	var start *string
	for {
		out, err := m.API.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(m.StreamARN), ExclusiveStartShardId: start})
		if err != nil {
			return all, fmt.Errorf("describe stream %s: %w", m.StreamARN, err)
		}
		all = append(all, out.StreamDescription.Shards...)
		start = out.StreamDescription.LastEvaluatedShardId
		if start == nil {
			return all, nil
		}
	}
}

// readShard reads one shard until it closes (true) or ctx ends (false).
func (m *StreamMapping) readShard(ctx context.Context, shard string) bool {
	log := m.Logger.With("shard_id", shard)
	iter, err := m.iterator(ctx, shard, streamtypes.ShardIteratorTypeTrimHorizon, "")
	backoff := time.Duration(0)
	failing, failures := "", 0 // the record that keeps failing, and how often it has
	for ctx.Err() == nil {
		if err != nil {
			log.Warn("read stream shard", "err", err)
			backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
			sleep(ctx, backoff)
			iter, err = m.iterator(ctx, shard, streamtypes.ShardIteratorTypeTrimHorizon, "")
			continue
		}
		if iter == nil {
			return true // closed, and read to its end
		}
		out, gerr := m.API.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(m.BatchSize)})
		if gerr != nil {
			var expired *streamtypes.ExpiredIteratorException
			if errors.As(gerr, &expired) {
				err = gerr
				continue
			}
			err = fmt.Errorf("get records: %w", gerr)
			continue
		}
		if len(out.Records) == 0 {
			iter = out.NextShardIterator
			if iter != nil {
				sleep(ctx, m.Idle)
			}
			continue
		}
		failedAt, herr := m.handle(ctx, out.Records)
		switch {
		case herr != nil:
			log.Warn("stream handler failed; retrying the batch", "err", herr)
			failedAt = aws.ToString(out.Records[0].Dynamodb.SequenceNumber)
		case failedAt == "":
			iter, backoff, failing, failures = out.NextShardIterator, 0, "", 0
			continue
		}
		if failedAt != failing {
			failing, failures = failedAt, 0
		}
		failures++
		kind := streamtypes.ShardIteratorTypeAtSequenceNumber
		if failures > m.MaxRetries {
			log.Error("stream record failed every retry; skipped", "sequence_number", failedAt, "retries", m.MaxRetries)
			kind, failing, failures, backoff = streamtypes.ShardIteratorTypeAfterSequenceNumber, "", 0, 0
		} else {
			// Retry from the failed record, after a backoff, as the event source mapping does.
			backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
			sleep(ctx, backoff)
		}
		iter, err = m.iterator(ctx, shard, kind, failedAt)
	}
	return false
}

func (m *StreamMapping) iterator(ctx context.Context, shard string, kind streamtypes.ShardIteratorType, seq string) (*string, error) {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(m.StreamARN), ShardId: aws.String(shard), ShardIteratorType: kind}
	if seq != "" {
		in.SequenceNumber = aws.String(seq)
	}
	out, err := m.API.GetShardIterator(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get iterator of shard %s: %w", shard, err)
	}
	return out.ShardIterator, nil
}

// handle hands records to the handler and returns the sequence number to retry from, if any.
func (m *StreamMapping) handle(ctx context.Context, recs []streamtypes.Record) (string, error) {
	out := make([]batch.StreamRecord, 0, len(recs))
	for _, r := range recs {
		rec, err := record(r)
		if err != nil {
			return "", err
		}
		if m.Filter == nil || m.Filter(rec) {
			out = append(out, rec)
		}
	}
	if len(out) == 0 {
		return "", nil
	}
	hctx, cancel := context.WithTimeout(ctx, m.Timeout)
	defer cancel()
	return m.Handler(hctx, out)
}

// record converts a record of the DynamoDB Streams API.
func record(r streamtypes.Record) (batch.StreamRecord, error) {
	d := r.Dynamodb
	rec := batch.StreamRecord{Sequence: aws.ToString(d.SequenceNumber), Removed: r.EventName == streamtypes.OperationTypeRemove}
	var err error
	if rec.Keys, err = toItem(d.Keys); err != nil {
		return rec, err
	}
	if rec.NewImage, err = toItem(d.NewImage); err != nil {
		return rec, err
	}
	rec.OldImage, err = toItem(d.OldImage)
	return rec, err
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
