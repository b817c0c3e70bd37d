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

func threadKey(tenant, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		table.AttrPK: table.S(table.TenantKey("THREAD", tenant, id)),
		table.AttrSK: table.S("THREAD"),
	}
}

func idempotencyKey(tenant, key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		table.AttrPK: table.S(table.TenantKey("IDEMP", tenant, key)),
		table.AttrSK: table.S("IDEMP"),
	}
}

// GetThread reads a thread with a strongly consistent read, or returns task.ErrNotFound.
func (s *Store) GetThread(ctx context.Context, tenant, id string) (*task.Thread, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: threadKey(tenant, id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("get thread %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("get thread %s: %w", id, task.ErrNotFound)
	}
	th, err := decodeThread(out.Item)
	if err != nil {
		return nil, err
	}
	if th.Tenant != tenant || th.ID != id {
		// Keys keep tenants apart; the record's own words are checked as well, so a key that
		// ever met another tenant's would still join nobody else's thread.
		return nil, fmt.Errorf("get thread %s: %w", id, task.ErrNotFound)
	}
	return th, nil
}

// ReadThread reads, in one consistent round trip, what a new turn of thread id needs: the
// thread's record and the task whose id is the thread's. Without a record, that task, when it
// began this tenant's conversation (an xpander first turn), is the thread's turn 1; neither makes
// a new thread (Turns 0). That first turn is answered too, when it is one (else nil), so that a
// caller checking the turns that wait need not read it again. Offloaded payloads are not loaded
// (a turn's place needs none).
func (s *Store) ReadThread(ctx context.Context, tenant, id string) (*task.Thread, *task.Task, error) {
	out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
		RequestItems: map[string]types.KeysAndAttributes{s.table: {
			Keys: []map[string]types.AttributeValue{threadKey(tenant, id), taskKey(id)}, ConsistentRead: aws.Bool(true),
		}},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read thread %s: %w", id, err)
	}
	if len(out.UnprocessedKeys) > 0 {
		// Throttled: single reads rather than retrying the batch here.
		return s.readThreadSlowly(ctx, tenant, id)
	}
	var th *task.Thread
	var first *task.Task
	for _, av := range out.Responses[s.table] {
		switch av[table.AttrSK].(*types.AttributeValueMemberS).Value {
		case "THREAD":
			if th, err = decodeThread(av); err != nil {
				return nil, nil, err
			}
			if th.Tenant != tenant || th.ID != id {
				th = nil // see GetThread
			}
		case table.TaskSortKey:
			if first, err = fromAttributes(av); err != nil {
				return nil, nil, err
			}
		}
	}
	return threadHead(tenant, id, th, first)
}

// threadHead answers the thread and its first turn from the record th and the task first at the
// thread's id, either of which may be nil.
func threadHead(tenant, id string, th *task.Thread, first *task.Task) (*task.Thread, *task.Task, error) {
	if first == nil || first.Tenant != tenant || first.ThreadID != id {
		first = nil // not a turn of this conversation
	}
	switch {
	case th != nil:
		return th, first, nil
	case first != nil:
		return &task.Thread{ID: id, Tenant: tenant, LatestTaskID: first.ID, Turns: 1}, first, nil
	}
	return &task.Thread{ID: id, Tenant: tenant}, nil, nil
}

func (s *Store) readThreadSlowly(ctx context.Context, tenant, id string) (*task.Thread, *task.Task, error) {
	th, err := s.GetThread(ctx, tenant, id)
	switch {
	case errors.Is(err, task.ErrNotFound):
		th = nil
	case err != nil:
		return nil, nil, err
	}
	first, err := s.Get(ctx, id)
	switch {
	case errors.Is(err, task.ErrNotFound):
		first = nil
	case err != nil:
		return nil, nil, fmt.Errorf("read thread %s: %w", id, err)
	}
	return threadHead(tenant, id, th, first)
}

func decodeThread(av map[string]types.AttributeValue) (*task.Thread, error) {
	var it threadItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return nil, fmt.Errorf("decode thread item: %w", err)
	}
	th := &task.Thread{ID: it.ID, Tenant: it.Tenant, LatestTaskID: it.LatestTaskID, Turns: it.Turns, Stored: true}
	var err error
	if th.CreatedAt, err = table.ParseStamp(it.CreatedAt); err != nil {
		return nil, fmt.Errorf("decode thread %s: %w", it.ID, err)
	}
	if th.UpdatedAt, err = table.ParseStamp(it.UpdatedAt); err != nil {
		return nil, fmt.Errorf("decode thread %s: %w", it.ID, err)
	}
	return th, nil
}

// Submit records a new task together with its place in a thread and its idempotency key, all or
// nothing. A task with neither is a single conditional put.
func (s *Store) Submit(ctx context.Context, t *task.Task, o task.SubmitOptions) error {
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
	items := []types.TransactWriteItem{{Put: &types.Put{
		TableName: aws.String(s.table), Item: taskAV,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": table.AttrPK},
	}}}
	threadAt, idemAt := -1, -1
	if o.Thread != nil {
		threadAt = len(items)
		w, err := s.threadWrite(t, o.Thread)
		if err != nil {
			return fmt.Errorf("submit task %s: %w", t.ID, err)
		}
		items = append(items, w)
	}
	if o.Idempotency != nil {
		idemAt = len(items)
		items = append(items, s.idempotencyWrite(t, o.Idempotency))
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err != nil {
		return fmt.Errorf("submit task %s: %w", t.ID, submitError(err, threadAt, idemAt))
	}
	return nil
}

// threadWrite makes t the next turn of th: the thread's record is created with its second turn,
// and moved on after, provided no other turn was added since th was read.
func (s *Store) threadWrite(t *task.Task, th *task.Thread) (types.TransactWriteItem, error) {
	now := table.Stamp(t.CreatedAt)
	onFail := types.ReturnValuesOnConditionCheckFailureAllOld
	if !th.Stored {
		av, err := attributevalue.MarshalMap(threadItem{
			PK: table.TenantKey("THREAD", t.Tenant, t.ThreadID), SK: "THREAD", ID: t.ThreadID, Tenant: t.Tenant,
			LatestTaskID: t.ID, Turns: th.Turns + 1, CreatedAt: now, UpdatedAt: now, ExpiresAt: unixOrZero(t.ExpiresAt),
		})
		if err != nil {
			return types.TransactWriteItem{}, err
		}
		return types.TransactWriteItem{Put: &types.Put{
			TableName: aws.String(s.table), Item: av,
			ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames:            map[string]string{"#pk": table.AttrPK},
			ReturnValuesOnConditionCheckFailure: onFail,
		}}, nil
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName:           aws.String(s.table),
		Key:                 threadKey(t.Tenant, t.ThreadID),
		UpdateExpression:    aws.String("SET #latest = :task, #turns = :next, #updated = :now, #exp = :exp"),
		ConditionExpression: aws.String("#turns = :seen"),
		ExpressionAttributeNames: map[string]string{
			"#latest": "latest_task_id", "#turns": "turns", "#updated": "updated_at", "#exp": table.AttrExpiresAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":task": table.S(t.ID), ":next": table.N(int64(th.Turns + 1)), ":seen": table.N(int64(th.Turns)),
			":now": table.S(now), ":exp": table.N(t.ExpiresAt.Unix()),
		},
		ReturnValuesOnConditionCheckFailure: onFail,
	}}, nil
}

// idempotencyWrite records the key of t's request, unless a live record holds it.
func (s *Store) idempotencyWrite(t *task.Task, idem *task.Idempotency) types.TransactWriteItem {
	item := idempotencyKey(t.Tenant, idem.Key)
	item["tenant"] = table.S(t.Tenant)
	item["task_id"] = table.S(t.ID)
	item["body_hash"] = table.S(idem.BodyHash)
	item[table.AttrExpiresAt] = table.N(t.CreatedAt.Add(idem.TTL).Unix())
	return types.TransactWriteItem{Put: &types.Put{
		TableName: aws.String(s.table), Item: item,
		// An expired key is free again even before TTL has deleted it.
		ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #exp < :now"),
		ExpressionAttributeNames:            map[string]string{"#pk": table.AttrPK, "#exp": table.AttrExpiresAt},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": table.N(t.CreatedAt.Unix())},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
}

// submitError tells from a canceled transaction which write's condition failed (the task's is
// the first; the thread's and the key's are at threadAt and idemAt, -1 when absent).
func submitError(err error, threadAt, idemAt int) error {
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		return err
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
			return fmt.Errorf("read idempotency record: %w", task.ErrThreadMoved)
		}
		return &task.ReplayError{TaskID: it.TaskID, BodyHash: it.BodyHash}
	case failed(threadAt):
		return task.ErrThreadMoved
	case failed(0):
		return task.ErrExists
	}
	for _, r := range reasons {
		if aws.ToString(r.Code) == "TransactionConflict" {
			// Another writer touched the same thread or key at the same moment: read and retry.
			return task.ErrThreadMoved
		}
	}
	return err
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
		switch av[table.AttrSK].(*types.AttributeValueMemberS).Value {
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
		return nil, fmt.Errorf("resolve %s: %w", id, task.ErrNotFound)
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
	case errors.Is(err, task.ErrNotFound):
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
	ix := table.Indexes[1]
	var entries []map[string]types.AttributeValue
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(ix.Name),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": ix.PartitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": table.S(table.TenantKey("THREAD", tenant, threadID))},
		// Newest first, so that a long thread yields its most recent turns.
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(int32(min(limit, 100))),
	})
	for p.HasMorePages() && len(entries) < limit {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list turns of thread %s: %w", threadID, err)
		}
		entries = append(entries, page.Items...)
	}
	if len(entries) > limit {
		entries = entries[:limit]
	}
	// A thread's first turn, when the thread is a task's own (an xpander conversation), is not in
	// the index (see item): it is read by its key when the newest turns leave room for it. Items
	// written before that rule are in the index too, hence the check for a duplicate.
	if len(entries) < limit && !hasTask(entries, threadID) {
		entries = append(entries, taskKey(threadID))
	}
	// The index holds keys only (a turn's writes are then no index writes): read the turns.
	read, err := s.tasksOf(ctx, entries)
	if err != nil {
		return nil, fmt.Errorf("list turns of thread %s: %w", threadID, err)
	}
	// The task read by its key may belong to no thread or to another tenant's (a ServiceNet
	// context_id that happens to be a task's id): only the thread's own turns are answered.
	out := read[:0]
	for _, t := range read {
		if t.Tenant == tenant && t.ThreadID == threadID {
			out = append(out, t)
		}
	}
	if err := s.loadBlobs(ctx, out, loadConversation); err != nil {
		return nil, fmt.Errorf("list turns of thread %s: %w", threadID, err)
	}
	// Oldest first, by turn number.
	sortTurns(out)
	return out, nil
}

// hasTask reports whether the index entries name the task id.
func hasTask(entries []map[string]types.AttributeValue, id string) bool {
	for _, e := range entries {
		if pk, ok := e[table.AttrPK].(*types.AttributeValueMemberS); ok && pk.Value == table.TaskPartition(id) {
			return true
		}
	}
	return false
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
