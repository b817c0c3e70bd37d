package store

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// Idle answers up to limit tasks in flight (queued or running) that no write has touched since
// before, least recently written first. It reads the sparse by_active index, one page per shard,
// so its cost is bounded by limit whatever the table holds. The index is eventually consistent: a
// task answered may have moved on a moment ago, so a caller acts on it with a conditional write.
// Requests and answers kept in the blob store are not loaded (RequestRef says where they are).
func (s *Store) Idle(ctx context.Context, before time.Time, limit int) ([]*task.Task, error) {
	if limit <= 0 {
		return nil, nil
	}
	var tasks []*task.Task
	for shard := range table.ActiveShards {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                aws.String(s.table),
			IndexName:                aws.String(table.IndexActive),
			KeyConditionExpression:   aws.String("#pk = :pk AND #sk < :before"),
			ExpressionAttributeNames: map[string]string{"#pk": "gsi3pk", "#sk": "gsi3sk"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk":     table.S(fmt.Sprintf("ACTIVE#%d", shard)),
				":before": table.S(table.Stamp(before)),
			},
			Limit: aws.Int32(int32(limit)),
		})
		if err != nil {
			return nil, fmt.Errorf("read idle tasks (shard %d): %w", shard, err)
		}
		for _, av := range out.Items {
			t, err := fromAttributes(av)
			if err != nil {
				return nil, err
			}
			tasks = append(tasks, t)
		}
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].UpdatedAt.Before(tasks[j].UpdatedAt) })
	if len(tasks) > limit {
		tasks = tasks[:limit]
	}
	return tasks, nil
}

// Touch records that the task was looked after at now without changing it: it moves updated_at
// (and the task's place in the by_active index), provided the task is still in state at version.
// The version does not move, so a worker holding the task's claim is not disturbed, and readers
// waiting for a change are not woken. On a failed condition it returns a *task.ConflictError or
// task.ErrNotFound.
func (s *Store) Touch(ctx context.Context, id string, state task.State, version int64, now time.Time) (*task.Task, error) {
	t, err := s.update(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 taskKey(id),
		UpdateExpression:    aws.String("SET #updated = :now, #g3sk = :g3sk"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND #state = :state AND #version = :version"),
		ExpressionAttributeNames: map[string]string{
			"#pk": table.AttrPK, "#state": "state", "#version": "version", "#updated": "updated_at", "#g3sk": "gsi3sk",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": table.S(table.Stamp(now)), ":g3sk": table.S(activeSortKey(now, id)),
			":state": table.S(string(state)), ":version": table.N(version),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("touch task %s: %w", id, err)
	}
	return t, nil
}
