package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// Abandon records t, a task whose submission failed halfway, as failed with reason and message,
// whether or not its own record was written: one conditional put that succeeds when no record
// exists yet (its later-arriving write then fails its own condition) or when the record is still
// as the submission wrote it (queued at version 1, so no worker has claimed it). Either way no
// worker will run it: a claim needs a queued task. It returns the task as written, or a
// *task.ConflictError with the task as it stands when a worker got to it first (it will run).
func (s *Store) Abandon(ctx context.Context, t *task.Task, now time.Time, reason, message string) (*task.Task, error) {
	failed := *t
	failed.State, failed.Version = task.Failed, t.Version+1
	failed.Reason, failed.ReasonMessage = reason, message
	failed.UpdatedAt, failed.FinishedAt = now, now
	item, err := attributevalue.MarshalMap(toItem(&failed))
	if err != nil {
		return nil, fmt.Errorf("abandon task %s: %w", t.ID, err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.table),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR (#state = :queued AND #version = :submitted)"),
		ExpressionAttributeNames:            map[string]string{"#pk": table.AttrPK, "#state": "state", "#version": "version"},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":queued": table.S(string(task.Queued)), ":submitted": table.N(t.Version)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		cur, derr := fromAttributes(ccf.Item)
		if derr != nil {
			return nil, fmt.Errorf("abandon task %s: %w", t.ID, derr)
		}
		return nil, fmt.Errorf("abandon task %s: %w", t.ID, &task.ConflictError{Current: cur})
	}
	if err != nil {
		return nil, fmt.Errorf("abandon task %s: %w", t.ID, err)
	}
	return &failed, nil
}
