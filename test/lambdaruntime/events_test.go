//go:build linux

package lambdaruntime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// taskStream reads the table's real stream, as Lambda's DynamoDB event source mapping does
// (DescribeTable for the stream, DescribeStream for its shards, TRIM_HORIZON iterators,
// GetRecords), and returns the stream's ARN and the records of one task, in stream order, once
// the last of them shows the task in state want.
func taskStream(ctx context.Context, t *testing.T, ddb *dynamodb.Client, streams *dynamodbstreams.Client, taskID string, want task.State) (string, []streamtypes.Record) {
	t.Helper()
	desc, err := ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(tableName)})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(desc.Table.LatestStreamArn)
	if arn == "" {
		t.Fatalf("table %s has no stream", tableName)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := readStream(ctx, t, streams, arn, taskID)
		if n := len(recs); n > 0 && stateOf(recs[n-1].Dynamodb.NewImage) == want {
			return arn, recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s: %d records of task %s, the last not in state %s", arn, len(recs), taskID, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readStream reads every shard of the stream from its oldest record to its latest and keeps the
// records of the task's item.
func readStream(ctx context.Context, t *testing.T, streams *dynamodbstreams.Client, arn, taskID string) []streamtypes.Record {
	t.Helper()
	var shards []streamtypes.Shard
	var start *string
	for {
		out, err := streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn), ExclusiveStartShardId: start})
		if err != nil {
			t.Fatal(err)
		}
		shards = append(shards, out.StreamDescription.Shards...)
		if start = out.StreamDescription.LastEvaluatedShardId; start == nil {
			break
		}
	}
	var recs []streamtypes.Record
	for _, sh := range shards { // parents are listed before their children
		it, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: aws.String(arn), ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatal(err)
		}
		// An open shard always has a next iterator: an empty page is its end, for now.
		for iter, pages := it.ShardIterator, 0; iter != nil && pages < 100; pages++ {
			out, err := streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(1000)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Records {
				if isTaskItem(r.Dynamodb.Keys, taskID) {
					recs = append(recs, r)
				}
			}
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return recs
}

func isTaskItem(keys map[string]streamtypes.AttributeValue, taskID string) bool {
	pk, ok1 := keys[table.AttrPK].(*streamtypes.AttributeValueMemberS)
	sk, ok2 := keys[table.AttrSK].(*streamtypes.AttributeValueMemberS)
	return ok1 && ok2 && pk.Value == "TASK#"+taskID && sk.Value == "TASK"
}

func stateOf(image map[string]streamtypes.AttributeValue) task.State {
	if s, ok := image["state"].(*streamtypes.AttributeValueMemberS); ok {
		return task.State(s.Value)
	}
	return ""
}

// streamEvent is the records as Lambda's DynamoDB event source hands them to the function.
func streamEvent(t *testing.T, arn string, recs []streamtypes.Record) events.DynamoDBEvent {
	t.Helper()
	ev := events.DynamoDBEvent{Records: make([]events.DynamoDBEventRecord, 0, len(recs))}
	for _, r := range recs {
		d := r.Dynamodb
		keys, err := lambdaImage(d.Keys)
		if err != nil {
			t.Fatal(err)
		}
		newImage, err := lambdaImage(d.NewImage)
		if err != nil {
			t.Fatal(err)
		}
		oldImage, err := lambdaImage(d.OldImage)
		if err != nil {
			t.Fatal(err)
		}
		rec := events.DynamoDBEventRecord{
			AWSRegion: region, EventID: aws.ToString(r.EventID), EventName: string(r.EventName),
			EventSource: "aws:dynamodb", EventVersion: aws.ToString(r.EventVersion), EventSourceArn: arn,
			Change: events.DynamoDBStreamRecord{
				Keys: keys, NewImage: newImage, OldImage: oldImage, SequenceNumber: aws.ToString(d.SequenceNumber),
				SizeBytes: aws.ToInt64(d.SizeBytes), StreamViewType: string(d.StreamViewType),
			},
		}
		if d.ApproximateCreationDateTime != nil {
			rec.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: *d.ApproximateCreationDateTime}
		}
		ev.Records = append(ev.Records, rec)
	}
	return ev
}

// deliveryMessage is the part of a webhook queue message checked here.
type deliveryMessage struct {
	Kind       string `json:"kind"`
	DeliveryID string `json:"delivery_id"`
	TaskID     string `json:"task_id"`
	Attempt    int    `json:"attempt"`
}

// receiveDelivery takes, from the webhook queue, the message of the first attempt of a delivery
// for taskID.
func receiveDelivery(ctx context.Context, t *testing.T, sq *sqs.Client, url, taskID string) (sqstypes.Message, deliveryMessage) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var dm deliveryMessage
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &dm); err != nil {
				t.Fatalf("webhook queue: a message the deliverer cannot read: %v: %s", err, aws.ToString(m.Body))
			}
			if dm.TaskID == taskID {
				return m, dm
			}
		}
	}
	t.Fatalf("webhook queue: no delivery message for task %s", taskID)
	return sqstypes.Message{}, deliveryMessage{}
}

// hookReceiver is a webhook endpoint on 127.0.0.1 that records every request and answers 204.
type hookReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []hookRequest
}

type hookRequest struct {
	method, path string
	header       http.Header
	body         []byte
}

func newHookReceiver(t *testing.T) *hookReceiver {
	t.Helper()
	h := &hookReceiver{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.got = append(h.got, hookRequest{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body})
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.got...)
}

// withFields returns the JSON object raw with the fields set.
func withFields(t *testing.T, raw []byte, fields map[string]any) []byte {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, raw)
	}
	for k, v := range fields {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		obj[k] = b
	}
	out, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lambdaImage converts an item image as the DynamoDB Streams API returns it into the shape a
// Lambda stream event carries.
func lambdaImage(image map[string]streamtypes.AttributeValue) (map[string]events.DynamoDBAttributeValue, error) {
	if image == nil {
		return nil, nil
	}
	out := make(map[string]events.DynamoDBAttributeValue, len(image))
	for k, v := range image {
		av, err := lambdaValue(v)
		if err != nil {
			return nil, fmt.Errorf("convert attribute %s: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}

func lambdaValue(v streamtypes.AttributeValue) (events.DynamoDBAttributeValue, error) {
	switch v := v.(type) {
	case *streamtypes.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value), nil
	case *streamtypes.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value), nil
	case *streamtypes.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value), nil
	case *streamtypes.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value), nil
	case *streamtypes.AttributeValueMemberNULL:
		return events.NewNullAttribute(), nil
	case *streamtypes.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value), nil
	case *streamtypes.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value), nil
	case *streamtypes.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value), nil
	case *streamtypes.AttributeValueMemberL:
		out := make([]events.DynamoDBAttributeValue, len(v.Value))
		for i, e := range v.Value {
			av, err := lambdaValue(e)
			if err != nil {
				return events.DynamoDBAttributeValue{}, err
			}
			out[i] = av
		}
		return events.NewListAttribute(out), nil
	case *streamtypes.AttributeValueMemberM:
		m, err := lambdaImage(v.Value)
		if err != nil {
			return events.DynamoDBAttributeValue{}, err
		}
		return events.NewMapAttribute(m), nil
	}
	return events.DynamoDBAttributeValue{}, fmt.Errorf("unsupported attribute type %T", v)
}
