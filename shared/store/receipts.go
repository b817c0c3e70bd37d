package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// A task's receipt facts are written beside its state without moving its version: they change
// what its receipt says, not where the task stands, so no worker's conditional write on the
// version is disturbed by them, and the stream notifier (which follows the state) ignores them.

// KeepReceiptSignature keeps sig, the receipt signature just issued for task id. A task that no
// longer exists answers ErrNotFound.
func (s *Store) KeepReceiptSignature(ctx context.Context, id, sig string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       taskKey(id),
		UpdateExpression:          aws.String("SET #sig = :sig"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#sig": "receipt_signature", "#pk": table.AttrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":sig": table.S(sig)},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("keep receipt signature of task %s: %w", id, task.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("keep receipt signature of task %s: %w", id, err)
	}
	return nil
}

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
