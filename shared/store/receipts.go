package store

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// A receipt's verdict is written beside its task's state without moving its version: it changes
// what the receipt says, not where the task stands, so no worker's conditional write on the
// version is disturbed by it, and the stream notifier (which follows the state) ignores it. The
// receipt's signature is not written at all: the issuer keeps it (package receipt).

// SetVerification records a verifier's verdict on task id's receipt and returns the task as it
// now stands. A task that does not exist
// answers ErrNotFound.
func (s *Store) SetVerification(ctx context.Context, id, verdict string) (*task.Task, error) {
	t, err := s.update(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       taskKey(id),
		UpdateExpression:          aws.String("SET #v = :v"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#v": "verification", "#pk": table.AttrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": table.S(verdict)},
	})
	if err != nil {
		return nil, fmt.Errorf("record verification of task %s: %w", id, err)
	}
	if err := s.loadBlobs(ctx, []*task.Task{t}, loadAll); err != nil {
		return nil, fmt.Errorf("record verification of task %s: %w", id, err)
	}
	return t, nil
}
