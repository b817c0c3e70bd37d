// Package lambdaevents is the SQS and DynamoDB stream adapter at the Lambda edge: it turns
// Lambda's SQS and stream events into the plain batch records the services handle, and their
// failures into a partial batch response. Besides the functions and the API Gateway adapter, it
// is the only package that speaks Lambda's event types.
package lambdaevents

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/queue"
)

// BatchHandler handles a batch of records and answers the ids of those to deliver again.
type BatchHandler func(ctx context.Context, recs []batch.Record) []string

// SQS adapts h to a Lambda SQS handler that answers a partial batch response.
func SQS(h BatchHandler) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		return Response(h(ctx, Records(ev))), nil
	}
}

// Records converts an SQS event's messages to batch records.
func Records(ev events.SQSEvent) []batch.Record {
	recs := make([]batch.Record, len(ev.Records))
	for i, m := range ev.Records {
		recs[i] = batch.Record{ID: m.MessageId, Body: m.Body, Source: m.EventSourceARN,
			ReceiptHandle: m.ReceiptHandle, ReceiveCount: receiveCount(m.Attributes["ApproximateReceiveCount"]),
			Trace: m.Attributes[queue.TraceAttribute]}
	}
	return recs
}

// DecodeSQS reads an SQS event's JSON as batch records.
func DecodeSQS(raw []byte) ([]batch.Record, error) {
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("decode sqs event: %w", err)
	}
	return Records(ev), nil
}

// Response is the partial batch response that redelivers the records failed names.
func Response(failed []string) events.SQSEventResponse {
	var resp events.SQSEventResponse
	for _, id := range failed {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	return resp
}

// receiveCount reads ApproximateReceiveCount: 1 when it is missing or not a count.
func receiveCount(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// DynamoDB adapts h to a Lambda DynamoDB stream handler that answers a partial batch response:
// the record to retry from.
func DynamoDB(h batch.StreamHandler) func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	return func(ctx context.Context, ev events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		recs, err := StreamRecords(ev)
		unreadable := ""
		if err != nil {
			// The records before it are handled; it and those after it are retried.
			unreadable = ev.Records[len(recs)].Change.SequenceNumber
			slog.Error("read stream record", "err", err, "sequence_number", unreadable)
		}
		from, err := h(ctx, recs)
		if err != nil {
			return events.DynamoDBEventResponse{}, err
		}
		if from == "" {
			from = unreadable
		}
		if from == "" {
			return events.DynamoDBEventResponse{}, nil
		}
		return events.DynamoDBEventResponse{BatchItemFailures: []events.DynamoDBBatchItemFailure{{ItemIdentifier: from}}}, nil
	}
}

// StreamRecords converts a stream event's records to batch records. On a record it cannot read it
// answers the records before it and the error.
func StreamRecords(ev events.DynamoDBEvent) ([]batch.StreamRecord, error) {
	recs := make([]batch.StreamRecord, len(ev.Records))
	for i, r := range ev.Records {
		rec := batch.StreamRecord{Sequence: r.Change.SequenceNumber, Removed: r.EventName == string(events.DynamoDBOperationTypeRemove)}
		var err error
		for _, im := range []struct {
			dst *map[string]types.AttributeValue
			src map[string]events.DynamoDBAttributeValue
		}{{&rec.Keys, r.Change.Keys}, {&rec.NewImage, r.Change.NewImage}, {&rec.OldImage, r.Change.OldImage}} {
			if len(im.src) == 0 {
				continue
			}
			if *im.dst, err = FromStreamImage(im.src); err != nil {
				return recs[:i], fmt.Errorf("stream record %s: %w", r.Change.SequenceNumber, err)
			}
		}
		recs[i] = rec
	}
	return recs, nil
}
