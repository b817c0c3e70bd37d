package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// Bounds of a deletion.
const (
	// familyTurns bounds the turns of a conversation a deletion reads.
	familyTurns = 1000
	// deleteBatch is how many deletes go in one TransactWriteItems (DynamoDB allows 100).
	deleteBatch = 100
)

// Family returns what deleting t removes: t, or every turn of its conversation when it belongs to
// one (xpander's task id is the conversation's), and the sub-tasks of each (the by_parent index),
// at any depth. Sub-tasks come before their parents, so that a deletion that stops half way leaves
// no sub-task whose parent is gone: deleting the parent again finds them.
func (s *Store) Family(ctx context.Context, t *task.Task) ([]*task.Task, error) {
	roots := []*task.Task{t}
	if t.ThreadID != "" {
		turns, err := s.Turns(ctx, t.Tenant, t.ThreadID, familyTurns)
		if err != nil {
			return nil, fmt.Errorf("find the tasks of %s: %w", t.ID, err)
		}
		for _, u := range turns {
			if u.ID != t.ID && u.Tenant == t.Tenant {
				roots = append(roots, u)
			}
		}
	}
	return task.Family(roots, func(cur *task.Task, room int) ([]*task.Task, error) {
		return s.children(ctx, cur, room)
	})
}

// children returns up to limit+1 sub-tasks of t: one more than limit tells the caller there are
// too many.
func (s *Store) children(ctx context.Context, t *task.Task, limit int) ([]*task.Task, error) {
	ix := table.Indexes[3]
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(ix.Name),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": ix.PartitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": table.S(parentPartition(t.Tenant, t.ID))},
	})
	var out []*task.Task
	for p.HasMorePages() && len(out) <= limit {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list sub-tasks of %s: %w", t.ID, err)
		}
		for _, av := range page.Items {
			c, err := fromAttributes(av)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// Delete removes tasks for good, in the order given (Family's), and the records of the
// conversations they held, so that their ids name nothing afterwards. It writes up to 100 deletes
// a transaction; should one fail, the tasks before it are gone and the rest are not, and deleting
// again finishes the work. Blobs of large payloads stay until the bucket's lifecycle rule expires
// them: nothing refers to them any more.
func (s *Store) Delete(ctx context.Context, ts []*task.Task) error {
	var keys, threads []map[string]types.AttributeValue
	seen := map[[2]string]bool{}
	for _, t := range ts {
		keys = append(keys, taskKey(t.ID))
		if th := [2]string{t.Tenant, t.ThreadID}; t.ThreadID != "" && !seen[th] {
			seen[th] = true
			threads = append(threads, threadKey(t.Tenant, t.ThreadID))
		}
	}
	// Thread records go last, after their turns: a conversation whose record is gone while turns
	// remain would take a new turn as its first.
	keys = append(keys, threads...)
	for batch := range slices.Chunk(keys, deleteBatch) {
		items := make([]types.TransactWriteItem, len(batch))
		for i, k := range batch {
			items[i] = types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table), Key: k}}
		}
		if _, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
			return fmt.Errorf("delete %d tasks: %w", len(ts), err)
		}
	}
	return nil
}
