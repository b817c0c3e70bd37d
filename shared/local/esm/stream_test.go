package esm

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/agentq/agentq/shared/batch"
)

// fakeStream serves closed shards of records; iterators are "shard/position".
type fakeStream struct {
	shards []streamtypes.Shard
	recs   map[string][]streamtypes.Record
}

func (f *fakeStream) DescribeStream(context.Context, *dynamodbstreams.DescribeStreamInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	return &dynamodbstreams.DescribeStreamOutput{StreamDescription: &streamtypes.StreamDescription{Shards: f.shards}}, nil
}

func (f *fakeStream) GetShardIterator(_ context.Context, in *dynamodbstreams.GetShardIteratorInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	shard := aws.ToString(in.ShardId)
	pos := 0
	for i, r := range f.recs[shard] {
		if aws.ToString(r.Dynamodb.SequenceNumber) != aws.ToString(in.SequenceNumber) {
			continue
		}
		switch in.ShardIteratorType {
		case streamtypes.ShardIteratorTypeAtSequenceNumber:
			pos = i
		case streamtypes.ShardIteratorTypeAfterSequenceNumber:
			pos = i + 1
		}
	}
	return &dynamodbstreams.GetShardIteratorOutput{ShardIterator: aws.String(fmt.Sprintf("%s/%d", shard, pos))}, nil
}

func (f *fakeStream) GetRecords(_ context.Context, in *dynamodbstreams.GetRecordsInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	shard, p, _ := strings.Cut(aws.ToString(in.ShardIterator), "/")
	pos, _ := strconv.Atoi(p)
	recs := f.recs[shard]
	end := min(pos+int(aws.ToInt32(in.Limit)), len(recs))
	out := &dynamodbstreams.GetRecordsOutput{Records: recs[pos:end]}
	if end < len(recs) || pos < len(recs) {
		out.NextShardIterator = aws.String(fmt.Sprintf("%s/%d", shard, end))
	}
	return out, nil // a closed shard read to its end has no next iterator
}

func streamRecord(seq, state string) streamtypes.Record {
	return streamtypes.Record{
		EventID: aws.String("ev-" + seq), EventName: streamtypes.OperationTypeModify,
		Dynamodb: &streamtypes.StreamRecord{
			SequenceNumber: aws.String(seq),
			Keys:           map[string]streamtypes.AttributeValue{"pk": &streamtypes.AttributeValueMemberS{Value: "TASK#" + seq}},
			NewImage: map[string]streamtypes.AttributeValue{
				"state": &streamtypes.AttributeValueMemberS{Value: state},
				"n":     &streamtypes.AttributeValueMemberN{Value: "3"},
				"l":     &streamtypes.AttributeValueMemberL{Value: []streamtypes.AttributeValue{&streamtypes.AttributeValueMemberBOOL{Value: true}}},
				"m":     &streamtypes.AttributeValueMemberM{Value: map[string]streamtypes.AttributeValue{"x": &streamtypes.AttributeValueMemberNULL{Value: true}}},
			},
			OldImage:       map[string]streamtypes.AttributeValue{"state": &streamtypes.AttributeValueMemberS{Value: "running"}},
			StreamViewType: streamtypes.StreamViewTypeNewAndOldImages,
		},
	}
}

func TestStreamMappingReadsInOrderAndRetriesFromTheFailure(t *testing.T) {
	f := &fakeStream{
		// The child's records must come after its parent's.
		shards: []streamtypes.Shard{{ShardId: aws.String("child"), ParentShardId: aws.String("parent")}, {ShardId: aws.String("parent")}},
		recs: map[string][]streamtypes.Record{
			"parent": {streamRecord("1", "succeeded"), streamRecord("2", "failed"), streamRecord("3", "paused")},
			"child":  {streamRecord("4", "canceled")},
		},
	}
	var mu sync.Mutex
	var seen []string
	failedOnce := false
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := &StreamMapping{
		API: f, StreamARN: "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/1", BatchSize: 2, Idle: time.Millisecond,
		Handler: func(_ context.Context, recs []batch.StreamRecord) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range recs {
				n, _ := r.NewImage["n"].(*types.AttributeValueMemberN)
				l, _ := r.NewImage["l"].(*types.AttributeValueMemberL)
				m, _ := r.NewImage["m"].(*types.AttributeValueMemberM)
				old, _ := r.OldImage["state"].(*types.AttributeValueMemberS)
				if n == nil || n.Value != "3" || l == nil || !l.Value[0].(*types.AttributeValueMemberBOOL).Value ||
					m == nil || !m.Value["x"].(*types.AttributeValueMemberNULL).Value || old == nil || old.Value != "running" || r.Removed {
					t.Errorf("record %s converted wrongly: %+v", r.Sequence, r)
				}
				if r.Sequence == "2" && !failedOnce {
					// Record 2 fails once: it and everything after it come again.
					failedOnce = true
					return "2", nil
				}
				seen = append(seen, r.Sequence+":"+r.NewImage["state"].(*types.AttributeValueMemberS).Value)
			}
			if len(seen) == 4 {
				cancel()
			}
			return "", nil
		},
	}
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	want := "1:succeeded 2:failed 3:paused 4:canceled"
	if got := strings.Join(seen, " "); got != want {
		t.Errorf("handled %q, want %q", got, want)
	}
}

func TestStreamMappingRetriesABatchThatErrs(t *testing.T) {
	f := &fakeStream{
		shards: []streamtypes.Shard{{ShardId: aws.String("s")}},
		recs:   map[string][]streamtypes.Record{"s": {streamRecord("1", "succeeded")}},
	}
	calls := 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := &StreamMapping{API: f, StreamARN: "arn", Idle: time.Millisecond,
		Handler: func(context.Context, []batch.StreamRecord) (string, error) {
			calls++
			if calls < 3 {
				return "", fmt.Errorf("bus down")
			}
			cancel()
			return "", nil
		},
	}
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if calls != 3 {
		t.Errorf("handler called %d times, want 3 (two failures, then success)", calls)
	}
}

func TestStreamMappingSkipsAPoisonRecordAfterMaxRetries(t *testing.T) {
	f := &fakeStream{
		shards: []streamtypes.Shard{{ShardId: aws.String("s")}},
		recs:   map[string][]streamtypes.Record{"s": {streamRecord("1", "succeeded"), streamRecord("2", "failed"), streamRecord("3", "paused")}},
	}
	var mu sync.Mutex
	tries := map[string]int{}
	var handled []string
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m := &StreamMapping{API: f, StreamARN: "arn", Idle: time.Millisecond, MaxRetries: 2,
		Handler: func(_ context.Context, recs []batch.StreamRecord) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range recs {
				seq := r.Sequence
				tries[seq]++
				if seq == "2" { // poison: fails every time
					return "2", nil
				}
				handled = append(handled, seq)
				if seq == "3" {
					cancel()
				}
			}
			return "", nil
		},
	}
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if tries["2"] != 3 || strings.Join(handled, ",") != "1,3" {
		t.Errorf("record 2 tried %d times (want 1 + 2 retries), handled %v (want 1,3)", tries["2"], handled)
	}
}

// TestStreamMappingFilters: only the records the filter passes reach the handler, in order, and a
// batch it passes none of costs no handler call.
func TestStreamMappingFilters(t *testing.T) {
	f := &fakeStream{
		shards: []streamtypes.Shard{{ShardId: aws.String("s")}},
		recs: map[string][]streamtypes.Record{"s": {
			streamRecord("1", "running"), streamRecord("2", "running"), // a batch of nothing wanted
			streamRecord("3", "succeeded"), streamRecord("4", "running"),
			streamRecord("5", "failed"),
		}},
	}
	var mu sync.Mutex
	var seen []string
	calls := 0
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := &StreamMapping{
		API: f, StreamARN: "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/1", BatchSize: 2, Idle: time.Millisecond,
		Filter: func(r batch.StreamRecord) bool {
			return r.NewImage["state"].(*types.AttributeValueMemberS).Value != "running"
		},
		Handler: func(_ context.Context, recs []batch.StreamRecord) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			for _, r := range recs {
				seen = append(seen, r.Sequence)
			}
			if len(seen) == 2 {
				cancel()
			}
			return "", nil
		},
	}
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(seen, " "); got != "3 5" || calls != 2 {
		t.Errorf("handled %q in %d calls, want \"3 5\" in 2", got, calls)
	}
}
