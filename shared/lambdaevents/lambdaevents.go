// Package lambdaevents is the SQS adapter at the Lambda edge: it turns Lambda's SQS events into
// the plain batch records the services handle, and their failures into a partial batch response.
// Besides the functions and the API Gateway adapter, it is the only package that speaks Lambda's
// event types.
package lambdaevents

import (
	"context"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/agentq/agentq/shared/batch"
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
			ReceiptHandle: m.ReceiptHandle, ReceiveCount: receiveCount(m.Attributes["ApproximateReceiveCount"])}
	}
	return recs
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
