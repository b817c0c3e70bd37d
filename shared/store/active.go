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
// before, least recently written first. It reads the sparse by_active index (keys only), the
// entries of tasks created before before, shard by shard, and then those tasks, so its cost is
// bounded by the tasks in flight that are that old, whatever the table holds. The index and the
// reads are eventually consistent: a task answered may have moved on a moment ago, so a caller
// acts on it with a conditional write. Requests and answers kept in the blob store are not loaded
// (RequestRef says where they are).
func (s *Store) Idle(ctx context.Context, before time.Time, limit int) ([]*task.Task, error) {
	if limit <= 0 {
		return nil, nil
	}
	var tasks []*task.Task
	for shard := range table.ActiveShards {
		p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
			TableName:                aws.String(s.table),
			IndexName:                aws.String(table.IndexActive),
			KeyConditionExpression:   aws.String("#pk = :pk AND #sk < :before"),
			ExpressionAttributeNames: map[string]string{"#pk": "gsi3pk", "#sk": "gsi3sk"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk":     table.S(fmt.Sprintf("ACTIVE#%d", shard)),
				":before": table.S(table.Stamp(before)),
			},
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("read idle tasks (shard %d): %w", shard, err)
			}
			found, err := s.idleOf(ctx, page.Items, before)
			if err != nil {
				return nil, err
			}
			tasks = append(tasks, found...)
		}
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].UpdatedAt.Before(tasks[j].UpdatedAt) })
	if len(tasks) > limit {
		tasks = tasks[:limit]
	}
	return tasks, nil
}

// idleOf reads the tasks that index entries name and answers those still in flight and last
// written before before.
func (s *Store) idleOf(ctx context.Context, entries []map[string]types.AttributeValue, before time.Time) ([]*task.Task, error) {
	tasks, err := s.tasksOf(ctx, entries)
	if err != nil {
		return nil, fmt.Errorf("read idle tasks: %w", err)
	}
	var out []*task.Task
	for _, t := range tasks {
		if inFlight(t.State) && t.UpdatedAt.Before(before) {
			out = append(out, t)
		}
	}
	return out, nil
}

// tasksOf reads the tasks that the entries of an index name, 100 at a time, eventually
// consistently, in no particular order. A task deleted since is left out.
func (s *Store) tasksOf(ctx context.Context, entries []map[string]types.AttributeValue) ([]*task.Task, error) {
	keys := make([]map[string]types.AttributeValue, len(entries))
	for i, e := range entries {
		keys[i] = table.ItemKey(e)
	}
	items, err := table.BatchGet(ctx, s.db, s.table, keys)
	if err != nil {
		return nil, err
	}
	out := make([]*task.Task, 0, len(items))
	for _, av := range items {
		t, err := fromAttributes(av)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Touch records that the task was looked after at now without changing it: it moves updated_at,
// provided the task is still in state at version.
// The version does not move, so a worker holding the task's claim is not disturbed, and readers
// waiting for a change are not woken. On a failed condition it returns a *task.ConflictError or
// task.ErrNotFound.
func (s *Store) Touch(ctx context.Context, id string, state task.State, version int64, now time.Time) (*task.Task, error) {
	t, err := s.update(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 taskKey(id),
		UpdateExpression:    aws.String("SET #updated = :now"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND #state = :state AND #version = :version"),
		ExpressionAttributeNames: map[string]string{
			"#pk": table.AttrPK, "#state": "state", "#version": "version", "#updated": "updated_at",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now":   table.S(table.Stamp(now)),
			":state": table.S(string(state)), ":version": table.N(version),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("touch task %s: %w", id, err)
	}
	return t, nil
}
