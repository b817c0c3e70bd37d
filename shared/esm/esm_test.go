package esm

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// fakeSQS serves one batch of messages and records deletions.
type fakeSQS struct {
	mu       sync.Mutex
	batch    []types.Message
	served   bool
	deleted  []string
	received *sqs.ReceiveMessageInput
}

func (f *fakeSQS) ReceiveMessage(_ context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.received = in
	if f.served {
		return &sqs.ReceiveMessageOutput{}, nil
	}
	f.served = true
	return &sqs.ReceiveMessageOutput{Messages: f.batch}, nil
}

func (f *fakeSQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range in.Entries {
		f.deleted = append(f.deleted, aws.ToString(e.ReceiptHandle))
	}
	return &sqs.DeleteMessageBatchOutput{}, nil
}

func msg(id string) types.Message {
	return types.Message{
		MessageId: aws.String(id), ReceiptHandle: aws.String("rh-" + id), Body: aws.String("body-" + id),
		Attributes: map[string]string{"ApproximateReceiveCount": "2"},
	}
}

func TestOnce(t *testing.T) {
	tests := []struct {
		name        string
		handler     Handler
		wantDeleted []string
	}{
		{
			name: "all succeed",
			handler: func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
				return events.SQSEventResponse{}, nil
			},
			wantDeleted: []string{"rh-a", "rh-b", "rh-c"},
		},
		{
			name: "partial failure keeps the failed record",
			handler: func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
				return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "b"}}}, nil
			},
			wantDeleted: []string{"rh-a", "rh-c"},
		},
		{
			name: "function error keeps the whole batch",
			handler: func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
				return events.SQSEventResponse{}, errors.New("boom")
			},
			wantDeleted: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeSQS{batch: []types.Message{msg("a"), msg("b"), msg("c")}}
			var got events.SQSEvent
			m := &Mapping{API: api, QueueURL: "http://q", QueueARN: "arn:aws:sqs:us-east-1:000000000000:q", Region: "us-east-1",
				Handler: func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
					got = ev
					return tt.handler(ctx, ev)
				}}
			n, err := m.Once(context.Background())
			if err != nil || n != 3 {
				t.Fatalf("Once = %d, %v", n, err)
			}
			sort.Strings(api.deleted)
			if len(api.deleted) != len(tt.wantDeleted) {
				t.Fatalf("deleted %v, want %v", api.deleted, tt.wantDeleted)
			}
			for i := range api.deleted {
				if api.deleted[i] != tt.wantDeleted[i] {
					t.Fatalf("deleted %v, want %v", api.deleted, tt.wantDeleted)
				}
			}
			r := got.Records[1]
			if r.MessageId != "b" || r.ReceiptHandle != "rh-b" || r.Body != "body-b" || r.EventSource != "aws:sqs" ||
				r.EventSourceARN != m.QueueARN || r.AWSRegion != "us-east-1" || r.Attributes["ApproximateReceiveCount"] != "2" {
				t.Errorf("record = %+v", r)
			}
			if api.received.MaxNumberOfMessages != 10 {
				t.Errorf("batch size asked = %d, want 10", api.received.MaxNumberOfMessages)
			}
		})
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	api := &fakeSQS{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	m := &Mapping{API: api, QueueURL: "http://q", Handler: func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
		return events.SQSEventResponse{}, nil
	}}
	go func() { _ = m.Run(ctx); close(done) }()
	cancel()
	<-done // a Run that ignored cancellation would hang here and the test would time out
}
