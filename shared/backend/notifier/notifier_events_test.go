package notifier

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/config"
)

type offline struct{}

func (offline) Do(*http.Request) (*http.Response, error) { return nil, errors.New("offline") }

type countingBus struct{ entries int }

func (b *countingBus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	b.entries += len(in.Entries)
	return &eventbridge.PutEventsOutput{Entries: make([]ebtypes.PutEventsResultEntry, len(in.Entries))}, nil
}

// TestNewFollowsTheSetting: AGENTQ_COMPLETION_EVENTS=all publishes the outcome of a task that did
// not ask; requested (the default) does not.
func TestNewFollowsTheSetting(t *testing.T) {
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	image := map[string]types.AttributeValue{
		"pk": s("TASK#t1"), "sk": s("TASK"), "id": s("t1"), "tenant": s("org-1"), "agent_id": s("echo"),
		"dialect": s("xpander"), "state": s("succeeded"), "version": &types.AttributeValueMemberN{Value: "4"},
		"completion_events": &types.AttributeValueMemberBOOL{Value: false}, // the task did not ask
	}
	rec := batch.StreamRecord{Sequence: "1", Keys: map[string]types.AttributeValue{"pk": s("TASK#t1"), "sk": s("TASK")}, NewImage: image}
	for _, tc := range []struct {
		setting string
		want    int
	}{{config.CompletionEventsRequested, 0}, {config.CompletionEventsAll, 1}} {
		// No network: the webhook side's reads fail at once, after the events were put.
		ddb := dynamodb.New(dynamodb.Options{Region: "us-east-1", HTTPClient: offline{}, RetryMaxAttempts: 1})
		sq := sqs.New(sqs.Options{Region: "us-east-1", HTTPClient: offline{}, RetryMaxAttempts: 1})
		p, err := backend.Build(&config.Config{Table: "t", CompletionEvents: tc.setting}, backend.Clients{DynamoDB: ddb, SQS: sq}, backend.Options{})
		if err != nil {
			t.Fatal(err)
		}
		bus := &countingBus{}
		n := New(p, bus, "b")
		if _, err := n.Handle(context.Background(), []batch.StreamRecord{rec}); err != nil {
			t.Fatalf("%s: Handle: %v", tc.setting, err)
		}
		if bus.entries != tc.want {
			t.Errorf("%s: %d events put, want %d", tc.setting, bus.entries, tc.want)
		}
	}
}
