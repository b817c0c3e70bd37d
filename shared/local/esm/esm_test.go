package esm

import (
	"context"
	"sort"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/agentq/agentq/shared/batch"
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
			name:        "all succeed",
			handler:     func(context.Context, []batch.Record) []string { return nil },
			wantDeleted: []string{"rh-a", "rh-b", "rh-c"},
		},
		{
			name:        "partial failure keeps the failed record",
			handler:     func(context.Context, []batch.Record) []string { return []string{"b"} },
			wantDeleted: []string{"rh-a", "rh-c"},
		},
		{
			name:        "every record failed",
			handler:     func(context.Context, []batch.Record) []string { return []string{"a", "b", "c"} },
			wantDeleted: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeSQS{batch: []types.Message{msg("a"), msg("b"), msg("c")}}
			var got []batch.Record
			m := &Mapping{API: api, QueueURL: "http://q", QueueARN: "arn:aws:sqs:us-east-1:000000000000:q", Region: "us-east-1",
				Handler: func(ctx context.Context, recs []batch.Record) []string {
					got = recs
					return tt.handler(ctx, recs)
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
			want := batch.Record{ID: "b", ReceiptHandle: "rh-b", Body: "body-b", Source: m.QueueARN, ReceiveCount: 2}
			if r := got[1]; r != want {
				t.Errorf("record = %+v, want %+v", r, want)
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
	m := &Mapping{API: api, QueueURL: "http://q", Handler: func(context.Context, []batch.Record) []string { return nil }}
	go func() { _ = m.Run(ctx); close(done) }()
	cancel()
	<-done // a Run that ignored cancellation would hang here and the test would time out
}
