package trigger_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/agentq/agentq/shared/trigger"
)

type fakeSQS struct {
	in  []*sqs.SendMessageInput
	err error
}

func (f *fakeSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.in = append(f.in, in)
	return &sqs.SendMessageOutput{}, f.err
}

var _ trigger.SQSAPI = (*sqs.Client)(nil)

func TestSQSRejects(t *testing.T) {
	api := &fakeSQS{}
	q := trigger.NewSQSRejects(api, "https://sqs.us-east-1.amazonaws.com/123456789012/agentq-trigger-dlq")
	r := trigger.Rejection{Reason: "agent_not_found", Message: "no published agent has that id", Source: "sqs", EventID: "m-1",
		AgentID: "nope", Tenant: "acme", Event: json.RawMessage(`{"agent_id":"nope"}`), RejectedAt: now}
	if err := q.Reject(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	in := api.in[0]
	var got trigger.Rejection
	if err := json.Unmarshal([]byte(*in.MessageBody), &got); err != nil {
		t.Fatal(err)
	}
	if *in.QueueUrl != "https://sqs.us-east-1.amazonaws.com/123456789012/agentq-trigger-dlq" || got.Reason != r.Reason || got.EventID != "m-1" ||
		string(got.Event) != `{"agent_id":"nope"}` || !got.RejectedAt.Equal(now) ||
		*in.MessageAttributes["reason"].StringValue != "agent_not_found" || *in.MessageAttributes["source"].StringValue != "sqs" {
		t.Errorf("sent %+v: %s", in, *in.MessageBody)
	}
	api.err = errors.New("throttled")
	if err := q.Reject(context.Background(), r); err == nil || !strings.Contains(err.Error(), "throttled") {
		t.Errorf("err = %v", err)
	}
}
