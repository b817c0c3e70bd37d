package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// The sweeper's position in by_created is one item, an attribute per shard holding the sort key of
// the last entry it passed there.
const (
	passedPK     = "SWEEPER"
	passedSK     = "PASSED"
	passedPrefix = "shard_"
)

// passPage is the most entries Pass reads from a shard at once: one BatchGetItem of their tasks.
const passPage = 100

// Pass walks the by_created index forward from where the last walk stopped to the entries of
// tasks created before before, at most limit entries. Page by page, in turn over the shards, it
// reads the tasks the entries name (eventually consistently, without their blobs) and hands fn
// those still in flight (queued or running); once fn returns nil, the shard's position moves
// past the page, kept in the table for the next walk. An error of fn stops the walk with the
// page not passed. It answers how many entries it passed.
//
// An entry is passed once, so a task the walk finds in flight must be handed to Watch to be
// found again (fn does that); a task paused then is entered by its resume (Transition).
func (s *Store) Pass(ctx context.Context, before time.Time, limit int, fn func([]*task.Task) error) (int, error) {
	after, err := s.passed(ctx)
	if err != nil {
		return 0, err
	}
	upTo := table.Stamp(before)
	done := make([]bool, table.ActiveShards)
	passed, open := 0, table.ActiveShards
	for open > 0 && passed < limit {
		for shard := range table.ActiveShards {
			if done[shard] || passed >= limit {
				continue
			}
			n, last, more, err := s.passPage(ctx, shard, after[shard], upTo, min(passPage, limit-passed), fn)
			if err != nil {
				return passed, err
			}
			passed += n
			if last != "" {
				after[shard] = last
			}
			if !more {
				done[shard] = true
				open--
			}
		}
	}
	return passed, nil
}

// passPage reads up to n entries of a shard after after and before upTo, hands fn the tasks in
// flight among them, and then moves the shard's position past them. It answers the entries
// passed, the last one's sort key, and whether the shard may hold more before upTo.
func (s *Store) passPage(ctx context.Context, shard int, after, upTo string, n int, fn func([]*task.Task) error) (int, string, bool, error) {
	if after >= upTo {
		return 0, "", false, nil
	}
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		IndexName:                aws.String(table.IndexCreated),
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk < :before"),
		ExpressionAttributeNames: map[string]string{"#pk": "gsi5pk", "#sk": "gsi3sk"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": table.S(shardKey("CREATED", shard)), ":before": table.S(upTo),
		},
		Limit: aws.Int32(int32(n)),
	}
	if after != "" {
		// BETWEEN takes its bounds in: the entry at after, passed already, is read again (the
		// limit counts it) and left out.
		in.KeyConditionExpression = aws.String("#pk = :pk AND #sk BETWEEN :after AND :before")
		in.ExpressionAttributeValues[":after"] = table.S(after)
		in.Limit = aws.Int32(int32(n + 1))
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return 0, "", false, fmt.Errorf("walk tasks by creation (shard %d): %w", shard, err)
	}
	entries := out.Items
	if len(entries) > 0 && sortKeyOf(entries[0]) == after {
		entries = entries[1:]
	}
	if len(entries) == 0 {
		return 0, "", false, nil
	}
	more := len(out.LastEvaluatedKey) > 0
	tasks, err := s.tasksOf(ctx, entries)
	if err != nil {
		return 0, "", false, fmt.Errorf("walk tasks by creation (shard %d): %w", shard, err)
	}
	var live []*task.Task
	for _, t := range tasks {
		if inFlight(t.State) {
			live = append(live, t)
		}
	}
	if err := fn(live); err != nil {
		return 0, "", false, err
	}
	last := sortKeyOf(entries[len(entries)-1])
	if err := s.passTo(ctx, shard, last); err != nil {
		return 0, "", false, err
	}
	return len(entries), last, more, nil
}

func sortKeyOf(entry map[string]types.AttributeValue) string {
	if v, ok := entry["gsi3sk"].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func passedKey() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{table.AttrPK: table.S(passedPK), table.AttrSK: table.S(passedSK)}
}

// passed reads the walk's position in each shard; "" where it has not begun.
func (s *Store) passed(ctx context.Context) ([]string, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: passedKey(), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read the sweeper's position: %w", err)
	}
	after := make([]string, table.ActiveShards)
	for shard := range after {
		if v, ok := out.Item[passedPrefix+strconv.Itoa(shard)].(*types.AttributeValueMemberS); ok {
			after[shard] = v.Value
		}
	}
	return after, nil
}

// passTo moves the walk's position in a shard forward to last; a position further on (another
// walk's) stays.
func (s *Store) passTo(ctx context.Context, shard int, last string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       passedKey(),
		UpdateExpression:          aws.String("SET #at = :last"),
		ConditionExpression:       aws.String("attribute_not_exists(#at) OR #at < :last"),
		ExpressionAttributeNames:  map[string]string{"#at": passedPrefix + strconv.Itoa(shard)},
		ExpressionAttributeValues: map[string]types.AttributeValue{":last": table.S(last)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("keep the sweeper's position (shard %d): %w", shard, err)
	}
	return nil
}

// Watch enters a task in flight into the by_active index, where Idle finds it should it go
// unwritten for long, and answers it as it now stands (without its blobs). It writes only the
// index's partition key, on condition that the task is queued or running, whatever its version:
// a worker holding the task is not disturbed. A task no longer in flight is a *task.ConflictError
// carrying it; a deleted one task.ErrNotFound.
func (s *Store) Watch(ctx context.Context, id string) (*task.Task, error) {
	t, err := s.update(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 taskKey(id),
		UpdateExpression:    aws.String("SET #g3pk = :g3pk"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND (#state = :queued OR #state = :running)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": table.AttrPK, "#state": "state", "#g3pk": "gsi3pk",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":g3pk":   table.S(activePartition(id)),
			":queued": table.S(string(task.Queued)), ":running": table.S(string(task.Running)),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watch task %s: %w", id, err)
	}
	return t, nil
}
