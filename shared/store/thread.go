package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/task"
)

// Thread is a conversation: the turns (tasks) that share a thread id, in order.
type Thread struct {
	ID           string
	Tenant       string
	LatestTaskID string
	// Turns is how many turns the thread has; the latest has ThreadSeq == Turns.
	Turns int
	// Stored says whether the thread has a record. A single-turn conversation has none: its one
	// task's id is the thread's id, and the record appears with the second turn.
	Stored    bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

type threadItem struct {
	PK           string `dynamodbav:"pk"`
	SK           string `dynamodbav:"sk"`
	ID           string `dynamodbav:"thread_id"`
	Tenant       string `dynamodbav:"tenant"`
	LatestTaskID string `dynamodbav:"latest_task_id"`
	Turns        int    `dynamodbav:"turns"`
	CreatedAt    string `dynamodbav:"created_at"`
	UpdatedAt    string `dynamodbav:"updated_at"`
	ExpiresAt    int64  `dynamodbav:"expires_at,omitempty"`
}

// TenantKey joins a prefix, a tenant and an id into one key ("THREAD#<tenant>#<id>"). The tenant
// comes before the id and never holds the '#' separator (tenant names exclude it, and the key
// escapes '%' and '#' should one ever get through), so no tenant and id can spell another
// tenant's key: tenant "a" with thread "b#c" is "THREAD#a#b#c", and tenant "a#b" would be
// "THREAD#a%23b#c".
func TenantKey(prefix, tenant, id string) string {
	return TenantPartition(prefix, tenant) + "#" + id
}

// TenantPartition is a tenant's key under a prefix ("TENANT#<tenant>"), escaped as TenantKey's.
func TenantPartition(prefix, tenant string) string {
	return prefix + "#" + tenantEscaper.Replace(tenant)
}

var tenantEscaper = strings.NewReplacer("%", "%25", "#", "%23")

func threadKey(tenant, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: str(TenantKey("THREAD", tenant, id)),
		AttrSK: str("THREAD"),
	}
}

func idempotencyKey(tenant, key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: str(TenantKey("IDEMP", tenant, key)),
		AttrSK: str("IDEMP"),
	}
}

// GetThread reads a thread with a strongly consistent read, or returns ErrNotFound.
func (s *Store) GetThread(ctx context.Context, tenant, id string) (*Thread, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: threadKey(tenant, id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("get thread %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("get thread %s: %w", id, ErrNotFound)
	}
	th, err := decodeThread(out.Item)
	if err != nil {
		return nil, err
	}
	if th.Tenant != tenant || th.ID != id {
		// Keys keep tenants apart; the record's own words are checked as well, so a key that
		// ever met another tenant's would still join nobody else's thread.
		return nil, fmt.Errorf("get thread %s: %w", id, ErrNotFound)
	}
	return th, nil
}

func decodeThread(av map[string]types.AttributeValue) (*Thread, error) {
	var it threadItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return nil, fmt.Errorf("decode thread item: %w", err)
	}
	th := &Thread{ID: it.ID, Tenant: it.Tenant, LatestTaskID: it.LatestTaskID, Turns: it.Turns, Stored: true}
	var err error
	if th.CreatedAt, err = parseStamp(it.CreatedAt); err != nil {
		return nil, fmt.Errorf("decode thread %s: %w", it.ID, err)
	}
	if th.UpdatedAt, err = parseStamp(it.UpdatedAt); err != nil {
		return nil, fmt.Errorf("decode thread %s: %w", it.ID, err)
	}
	return th, nil
}

// Idempotency asks Submit to remember a request under a key, so that a replay finds the first task.
type Idempotency struct {
	Key string
	// BodyHash identifies the request; the same key with another hash is a different request.
	BodyHash string
	// TTL is how long the key is remembered.
	TTL time.Duration
}

// SubmitOptions says what Submit writes besides the task.
type SubmitOptions struct {
	// Thread is the task's thread as read before the write (the zero Thread for a new one): the
	// task becomes its next turn, provided nothing moved it meanwhile. Nil writes no thread record.
	Thread      *Thread
	Idempotency *Idempotency
}

// Errors of Submit.
var (
	// ErrThreadMoved means another turn was added to the thread since it was read: read it again.
	ErrThreadMoved = errors.New("thread moved on")
)

// ReplayError means the idempotency key was already used. TaskID is the first request's task.
type ReplayError struct {
	TaskID   string
	BodyHash string
}

func (e *ReplayError) Error() string { return "idempotency key already used for task " + e.TaskID }

// Submit records a new task together with its place in a thread and its idempotency key, all or
// nothing. A task with neither is a single conditional put.
func (s *Store) Submit(ctx context.Context, t *task.Task, o SubmitOptions) error {
	if o.Thread == nil && o.Idempotency == nil {
		return s.Create(ctx, t)
	}
	if err := s.StageRequest(ctx, t); err != nil {
		return fmt.Errorf("submit task %s: %w", t.ID, err)
	}
	taskAV, err := attributevalue.MarshalMap(toItem(t))
	if err != nil {
		return fmt.Errorf("submit task %s: %w", t.ID, err)
	}
	now := stamp(t.CreatedAt)
	onFail := types.ReturnValuesOnConditionCheckFailureAllOld
	items := []types.TransactWriteItem{{Put: &types.Put{
		TableName: aws.String(s.table), Item: taskAV,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	}}}
	threadAt, idemAt := -1, -1
	if o.Thread != nil {
		threadAt = len(items)
		exp := num(t.ExpiresAt.Unix())
		if !o.Thread.Stored {
			av, err := attributevalue.MarshalMap(threadItem{
				PK: TenantKey("THREAD", t.Tenant, t.ThreadID), SK: "THREAD", ID: t.ThreadID, Tenant: t.Tenant,
				LatestTaskID: t.ID, Turns: o.Thread.Turns + 1, CreatedAt: now, UpdatedAt: now, ExpiresAt: unixOrZero(t.ExpiresAt),
			})
			if err != nil {
				return fmt.Errorf("submit task %s: %w", t.ID, err)
			}
			items = append(items, types.TransactWriteItem{Put: &types.Put{
				TableName: aws.String(s.table), Item: av,
				ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
				ExpressionAttributeNames:            map[string]string{"#pk": AttrPK},
				ReturnValuesOnConditionCheckFailure: onFail,
			}})
		} else {
			items = append(items, types.TransactWriteItem{Update: &types.Update{
				TableName:           aws.String(s.table),
				Key:                 threadKey(t.Tenant, t.ThreadID),
				UpdateExpression:    aws.String("SET #latest = :task, #turns = :next, #updated = :now, #exp = :exp"),
				ConditionExpression: aws.String("#turns = :seen"),
				ExpressionAttributeNames: map[string]string{
					"#latest": "latest_task_id", "#turns": "turns", "#updated": "updated_at", "#exp": AttrExpiresAt,
				},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":task": str(t.ID), ":next": num(int64(o.Thread.Turns + 1)), ":seen": num(int64(o.Thread.Turns)),
					":now": str(now), ":exp": exp,
				},
				ReturnValuesOnConditionCheckFailure: onFail,
			}})
		}
	}
	if o.Idempotency != nil {
		idemAt = len(items)
		item := idempotencyKey(t.Tenant, o.Idempotency.Key)
		item["tenant"] = str(t.Tenant)
		item["task_id"] = str(t.ID)
		item["body_hash"] = str(o.Idempotency.BodyHash)
		item[AttrExpiresAt] = num(t.CreatedAt.Add(o.Idempotency.TTL).Unix())
		items = append(items, types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(s.table), Item: item,
			// An expired key is free again even before TTL has deleted it.
			ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #exp < :now"),
			ExpressionAttributeNames:            map[string]string{"#pk": AttrPK, "#exp": AttrExpiresAt},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":now": num(t.CreatedAt.Unix())},
			ReturnValuesOnConditionCheckFailure: onFail,
		}})
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		if err != nil {
			return fmt.Errorf("submit task %s: %w", t.ID, err)
		}
		return nil
	}
	reasons := canceled.CancellationReasons
	failed := func(i int) bool {
		return i >= 0 && i < len(reasons) && aws.ToString(reasons[i].Code) == "ConditionalCheckFailed"
	}
	switch {
	case failed(idemAt):
		var it struct {
			TaskID   string `dynamodbav:"task_id"`
			BodyHash string `dynamodbav:"body_hash"`
		}
		if err := attributevalue.UnmarshalMap(reasons[idemAt].Item, &it); err != nil || it.TaskID == "" {
			return fmt.Errorf("submit task %s: read idempotency record: %w", t.ID, ErrThreadMoved)
		}
		return fmt.Errorf("submit task %s: %w", t.ID, &ReplayError{TaskID: it.TaskID, BodyHash: it.BodyHash})
	case failed(threadAt):
		return fmt.Errorf("submit task %s: %w", t.ID, ErrThreadMoved)
	case failed(0):
		return fmt.Errorf("submit task %s: %w", t.ID, ErrExists)
	}
	for _, r := range reasons {
		if aws.ToString(r.Code) == "TransactionConflict" {
			// Another writer touched the same thread or key at the same moment: read and retry.
			return fmt.Errorf("submit task %s: %w", t.ID, ErrThreadMoved)
		}
	}
	return fmt.Errorf("submit task %s: %w", t.ID, err)
}

// Replayed returns the task id an idempotency key was used for, or ErrNotFound when the key is
// free (never used, or expired at now).
func (s *Store) Replayed(ctx context.Context, tenant, key string, now time.Time) (taskID, bodyHash string, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: idempotencyKey(tenant, key), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return "", "", fmt.Errorf("read idempotency key: %w", err)
	}
	var it struct {
		Tenant    string `dynamodbav:"tenant"`
		TaskID    string `dynamodbav:"task_id"`
		BodyHash  string `dynamodbav:"body_hash"`
		ExpiresAt int64  `dynamodbav:"expires_at"`
	}
	if len(out.Item) == 0 {
		return "", "", ErrNotFound
	}
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return "", "", fmt.Errorf("decode idempotency record: %w", err)
	}
	if it.Tenant != "" && it.Tenant != tenant {
		// Records written before they named their tenant have none; every later one must match.
		return "", "", ErrNotFound
	}
	if it.ExpiresAt != 0 && it.ExpiresAt < now.Unix() {
		return "", "", ErrNotFound
	}
	return it.TaskID, it.BodyHash, nil
}

// Resolve finds what an xpander id names: a thread (its latest turn) or a task. Both keys are
// read in one consistent batch. Like Get, it loads the task's offloaded payloads back.
func (s *Store) Resolve(ctx context.Context, tenant, id string) (*task.Task, error) {
	out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
		RequestItems: map[string]types.KeysAndAttributes{s.table: {
			Keys: []map[string]types.AttributeValue{taskKey(id), threadKey(tenant, id)}, ConsistentRead: aws.Bool(true),
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", id, err)
	}
	if len(out.UnprocessedKeys) > 0 {
		// Throttled: fall back to single reads rather than retrying the batch here.
		return s.resolveSlowly(ctx, tenant, id)
	}
	var found *task.Task
	for _, av := range out.Responses[s.table] {
		switch av[AttrSK].(*types.AttributeValueMemberS).Value {
		case "THREAD":
			th, err := decodeThread(av)
			if err != nil {
				return nil, err
			}
			return s.Get(ctx, th.LatestTaskID)
		case "TASK":
			if found, err = fromAttributes(av); err != nil {
				return nil, err
			}
		}
	}
	if found == nil {
		return nil, fmt.Errorf("resolve %s: %w", id, ErrNotFound)
	}
	if err := s.loadBlobs(ctx, []*task.Task{found}, loadAll); err != nil {
		return nil, fmt.Errorf("resolve %s: %w", id, err)
	}
	return found, nil
}

func (s *Store) resolveSlowly(ctx context.Context, tenant, id string) (*task.Task, error) {
	th, err := s.GetThread(ctx, tenant, id)
	switch {
	case err == nil:
		return s.Get(ctx, th.LatestTaskID)
	case errors.Is(err, ErrNotFound):
		return s.Get(ctx, id)
	default:
		return nil, err
	}
}

// Turns returns up to limit turns of a thread, oldest first. It reads the by_thread index, which
// is eventually consistent: a turn that ended a moment ago may show its previous state. The
// offloaded answers and texts of the turns are loaded back (a conversation is what they say);
// their offloaded request bodies are not, unless the text came with them.
func (s *Store) Turns(ctx context.Context, tenant, threadID string, limit int) ([]*task.Task, error) {
	ix := Indexes[1]
	var out []*task.Task
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(ix.Name),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": ix.PartitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(TenantKey("THREAD", tenant, threadID))},
		// Newest first, so that a long thread yields its most recent turns.
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(int32(min(limit, 100))),
	})
	for p.HasMorePages() && len(out) < limit {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list turns of thread %s: %w", threadID, err)
		}
		for _, av := range page.Items {
			t, err := fromAttributes(av)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	if err := s.loadBlobs(ctx, out, loadConversation); err != nil {
		return nil, fmt.Errorf("list turns of thread %s: %w", threadID, err)
	}
	// Oldest first, by turn number.
	sortTurns(out)
	return out, nil
}

func sortTurns(ts []*task.Task) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].ThreadSeq < ts[j-1].ThreadSeq; j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// ReleaseIdempotency frees an idempotency key that names taskID, so that the next request with
// the key makes a new task instead of replaying this one: the accept core frees the key of a task
// it could not queue, which the caller was told to submit again. The record is marked expired
// (TTL removes it); a key that names another task is left alone.
func (s *Store) ReleaseIdempotency(ctx context.Context, tenant, key, taskID string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: idempotencyKey(tenant, key),
		UpdateExpression:          aws.String("SET #exp = :released"),
		ConditionExpression:       aws.String("#task = :task"),
		ExpressionAttributeNames:  map[string]string{"#exp": AttrExpiresAt, "#task": "task_id"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":released": num(1), ":task": str(taskID)},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("release idempotency key of task %s: %w", taskID, err)
	}
	return nil
}
