package lambdaevents_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/lambdaevents"
)

func TestRecords(t *testing.T) {
	tests := []struct {
		count string
		want  int
	}{{"3", 3}, {"1", 1}, {"", 1}, {"0", 1}, {"x", 1}}
	for _, tt := range tests {
		ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: "b", EventSourceARN: "arn:q",
			ReceiptHandle: "rh", Attributes: map[string]string{"ApproximateReceiveCount": tt.count}}}}
		want := []batch.Record{{ID: "m1", Body: "b", Source: "arn:q", ReceiptHandle: "rh", ReceiveCount: tt.want}}
		if got := lambdaevents.Records(ev); !reflect.DeepEqual(got, want) {
			t.Errorf("count %q: records = %+v, want %+v", tt.count, got, want)
		}
	}
}

func TestSQSAnswersTheFailedRecords(t *testing.T) {
	h := lambdaevents.SQS(func(_ context.Context, recs []batch.Record) []string {
		return []string{recs[1].ID}
	})
	resp, err := h(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "a"}, {MessageId: "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []events.SQSBatchItemFailure{{ItemIdentifier: "b"}}
	if !reflect.DeepEqual(resp.BatchItemFailures, want) {
		t.Errorf("failures = %+v, want %+v", resp.BatchItemFailures, want)
	}
	if resp := lambdaevents.Response(nil); resp.BatchItemFailures != nil {
		t.Errorf("no failures answered %+v", resp.BatchItemFailures)
	}
}
