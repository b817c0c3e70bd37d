package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/task"
)

// conflictingDB answers every put with a failed condition carrying item.
type conflictingDB struct {
	fakeDynamoDB
}

func (f *conflictingDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.puts = append(f.puts, in)
	return nil, &types.ConditionalCheckFailedException{Message: aws.String("no"), Item: f.item}
}

func TestAbandon(t *testing.T) {
	now := created.Add(time.Second)
	submitted := &task.Task{ID: "t1", Tenant: "org-1", AgentID: "echo", State: task.Queued, Version: 1, CreatedAt: created, UpdatedAt: created}
	db := &fakeDynamoDB{}
	got, err := New(db, "tasks").Abandon(context.Background(), submitted, now, task.ReasonDispatchFailed, "not queued")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != task.Failed || got.Version != 2 || !got.FinishedAt.Equal(now) || got.Reason != task.ReasonDispatchFailed || submitted.State != task.Queued {
		t.Errorf("abandoned = %+v (submitted %s)", got, submitted.State)
	}
	in := db.puts[0]
	// Whether or not the submission's own write landed, and only while no worker has claimed it.
	if aws.ToString(in.ConditionExpression) != "attribute_not_exists(#pk) OR (#state = :queued AND #version = :submitted)" ||
		in.ExpressionAttributeValues[":submitted"].(*types.AttributeValueMemberN).Value != "1" {
		t.Errorf("condition %q %v", aws.ToString(in.ConditionExpression), in.ExpressionAttributeValues)
	}
	var it item
	if err := attributevalue.UnmarshalMap(in.Item, &it); err != nil {
		t.Fatal(err)
	}
	if it.State != "failed" || it.GSI3PK != "" || it.PK != "TASK#t1" {
		t.Errorf("item state %q, in the active index %q", it.State, it.GSI3PK)
	}

	// A worker claimed it first: the task will run, and the caller learns how it stands.
	cdb := &conflictingDB{fakeDynamoDB{item: attrs(t, task.Running, 2)}}
	_, err = New(cdb, "tasks").Abandon(context.Background(), submitted, now, task.ReasonDispatchFailed, "not queued")
	var conflict *task.ConflictError
	if !errors.As(err, &conflict) || conflict.Current.State != task.Running {
		t.Fatalf("Abandon of a claimed task = %v, want a conflict showing it running", err)
	}
}
