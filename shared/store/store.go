// Package store keeps tasks in DynamoDB, the source of truth. Every state change is a conditional
// write guarded by the expected state (and, where the writer holds one, the expected version), so a
// duplicate or stale delivery can never overwrite a newer state.
package store

import (
	"context"
	"encoding/json"
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

// Errors the store returns. Callers test them with errors.Is / errors.As.
var (
	// ErrNotFound: no task has that id.
	ErrNotFound = errors.New("task not found")
	// ErrExists: a task with that id was already recorded.
	ErrExists = errors.New("task already exists")
)

// ConflictError is returned when a conditional write finds the task in another state or version
// than the writer expected. Current is the task as it stands.
type ConflictError struct {
	Current *task.Task
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("task %s is %s at version %d", e.Current.ID, e.Current.State, e.Current.Version)
}

// DynamoDB is the part of the DynamoDB API the store uses.
type DynamoDB interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Store reads and writes tasks in one table.
type Store struct {
	db    DynamoDB
	table string
	blobs Blobs // nil: payloads over InlineLimit are refused
	// ended, when set, hears of every task this store moved into a terminal state.
	ended func(ctx context.Context, t *task.Task)
}

// OnEnd returns a store like s that calls f after each transition it makes into a terminal state,
// exactly once per task: terminal states have no way out, and every transition is conditional on
// the state it leaves. The tenants' in-flight counts are kept this way (tenantlimit).
func (s *Store) OnEnd(f func(ctx context.Context, t *task.Task)) *Store {
	c := *s
	c.ended = f
	return &c
}

// New returns a store over the named table.
func New(db DynamoDB, table string) *Store { return &Store{db: db, table: table} }

func taskKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: "TASK#" + id},
		AttrSK: &types.AttributeValueMemberS{Value: "TASK"},
	}
}

// Create records a new task. It fails with ErrExists if the id is taken. A request too large for
// the item is staged first (see StageRequest).
func (s *Store) Create(ctx context.Context, t *task.Task) error {
	if err := s.StageRequest(ctx, t); err != nil {
		return fmt.Errorf("create task %s: %w", t.ID, err)
	}
	item, err := attributevalue.MarshalMap(toItem(t))
	if err != nil {
		return fmt.Errorf("create task %s: %w", t.ID, err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": AttrPK},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("create task %s: %w", t.ID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create task %s: %w", t.ID, err)
	}
	return nil
}

// Get reads a task with a strongly consistent read, and loads its offloaded request and answer
// back from the blob store.
func (s *Store) Get(ctx context.Context, id string) (*task.Task, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            taskKey(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("get task %s: %w", id, ErrNotFound)
	}
	t, err := fromAttributes(out.Item)
	if err != nil {
		return nil, err
	}
	if err := s.loadBlobs(ctx, []*task.Task{t}, loadAll); err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return t, nil
}

// Claim gives the caller the task's lease until now+lease and moves it to running, when the task is
// queued or running under a lease that has expired. The attempt count goes up by one. Otherwise it
// returns a *ConflictError with the task as it stands, or ErrNotFound.
func (s *Store) Claim(ctx context.Context, id string, now time.Time, lease time.Duration) (*task.Task, error) {
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key:       taskKey(id),
		UpdateExpression: aws.String("SET #state = :running, #lease = :lease, #attempts = #attempts + :one, " +
			"#version = #version + :one, #updated = :now, #started = if_not_exists(#started, :now), " +
			"#g3pk = :g3pk, #g3sk = :g3sk"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND (#state = :queued OR (#state = :running AND #lease < :nowms))"),
		ExpressionAttributeNames: map[string]string{
			"#pk": AttrPK, "#state": "state", "#lease": "lease_until", "#attempts": "attempts",
			"#version": "version", "#updated": "updated_at", "#started": "started_at",
			"#g3pk": "gsi3pk", "#g3sk": "gsi3sk",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":running": str(string(task.Running)),
			":queued":  str(string(task.Queued)),
			":lease":   num(now.Add(lease).UnixMilli()),
			":nowms":   num(now.UnixMilli()),
			":now":     str(stamp(now)),
			":one":     num(1),
			":g3pk":    str(activePartition(id)),
			":g3sk":    str(activeSortKey(now, id)),
		},
	}
	t, err := s.update(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("claim task %s: %w", id, err)
	}
	return t, nil
}

// Change describes a state transition and what it records.
type Change struct {
	// From lists the states the task must be in; empty means every state that may move to To.
	From []task.State
	// Version, when not zero, is the version the task must have: the writer's proof that nothing
	// happened since it last looked.
	Version int64
	To      task.State
	Now     time.Time
	// Result and Output record the agent's answer. Together over InlineLimit, they are written to
	// the blob store and the item records where (result_ref).
	Result string
	Output json.RawMessage
	// Reason and ReasonMessage record why the task did not succeed (or, on a return to queued, why
	// the last attempt failed).
	Reason        string
	ReasonMessage string
	CostUnits     int
	// Tokens records what the agent reported using.
	Tokens task.Tokens
	// RemoteTaskID records the agent's own id for its task; HITL what it asked for when pausing.
	RemoteTaskID string
	HITL         json.RawMessage
	// ReleaseLease, on a move to running, ends the writer's lease at once: the task goes on at
	// the agent, and whichever delivery comes next may take it up.
	ReleaseLease bool
}

// Transition moves a task to c.To if it is in one of c.From (and at c.Version, when set) and returns
// the task as written. Leaving running drops the lease; reaching a terminal state stamps
// finished_at. On a failed condition it returns a *ConflictError or ErrNotFound.
//
// An answer over InlineLimit is written to the blob store before the item, under
// results/<task id>/<version>.json, and the item records the key instead of the answer; the task
// returned carries the answer all the same. Without blobs, such a transition writes nothing and
// returns ErrTooLarge: the caller decides what the task becomes (the worker fails it), since a
// truncated answer would pass for a whole one. A blob whose item write then fails stays behind
// unreferenced until the bucket's lifecycle rule expires it.
func (s *Store) Transition(ctx context.Context, id string, c Change) (*task.Task, error) {
	from := c.From
	if len(from) == 0 {
		from = task.Sources(c.To)
	}
	if len(from) == 0 {
		return nil, fmt.Errorf("transition task %s: nothing may move to %s", id, c.To)
	}
	for _, f := range from {
		if !task.CanTransition(f, c.To) {
			return nil, fmt.Errorf("transition task %s: %s to %s is not a legal move", id, f, c.To)
		}
	}
	names := map[string]string{"#pk": AttrPK, "#state": "state", "#version": "version", "#updated": "updated_at"}
	values := map[string]types.AttributeValue{":to": str(string(c.To)), ":now": str(stamp(c.Now)), ":one": num(1)}
	set := []string{"#state = :to", "#version = #version + :one", "#updated = :now"}
	var remove []string

	field := func(name, attr string, v types.AttributeValue) {
		names["#"+name] = attr
		values[":"+name] = v
		set = append(set, "#"+name+" = :"+name)
	}
	offloaded := false
	switch {
	case len(c.Result)+len(c.Output) > InlineLimit:
		key, err := s.putResult(ctx, id, c)
		if err != nil {
			return nil, fmt.Errorf("transition task %s to %s: %w", id, c.To, err)
		}
		offloaded = true
		field("result_ref", "result_ref", str(key))
		names["#result"], names["#output"] = "result", "output"
		remove = append(remove, "#result", "#output")
	case c.Result != "" || len(c.Output) > 0:
		if c.Result != "" {
			field("result", "result", str(c.Result))
		}
		if len(c.Output) > 0 {
			field("output", "output", str(string(c.Output)))
		}
		names["#result_ref"] = "result_ref"
		remove = append(remove, "#result_ref")
	}
	if c.Reason != "" {
		field("reason", "reason", str(c.Reason))
		field("reason_message", "reason_message", str(c.ReasonMessage))
	}
	if c.CostUnits > 0 {
		field("cost", "cost_units", num(int64(c.CostUnits)))
	}
	if c.Tokens != (task.Tokens{}) {
		field("ptok", "prompt_tokens", num(int64(c.Tokens.Prompt)))
		field("ctok", "completion_tokens", num(int64(c.Tokens.Completion)))
		field("ttok", "total_tokens", num(int64(c.Tokens.Total)))
	}
	switch {
	case c.To.Terminal():
		field("finished", "finished_at", str(stamp(c.Now)))
	case c.To == task.Paused:
		field("paused", "paused_at", str(stamp(c.Now)))
	}
	if c.RemoteTaskID != "" {
		field("remote", "remote_task_id", str(c.RemoteTaskID))
	}
	if len(c.HITL) > 0 {
		field("hitl", "hitl_request", str(string(c.HITL)))
	}
	// The by_active index holds the task while it waits on a work message, keyed by this write.
	field("g3sk", "gsi3sk", str(activeSortKey(c.Now, id)))
	if inFlight(c.To) {
		field("g3pk", "gsi3pk", str(activePartition(id)))
	} else {
		names["#g3pk"] = "gsi3pk"
		remove = append(remove, "#g3pk")
	}
	switch {
	case c.To != task.Running:
		names["#lease"] = "lease_until"
		remove = append(remove, "#lease")
	case c.ReleaseLease:
		field("lease", "lease_until", num(0))
	}

	cond := []string{}
	for i, f := range from {
		k := fmt.Sprintf(":from%d", i)
		values[k] = str(string(f))
		cond = append(cond, "#state = "+k)
	}
	condition := "attribute_exists(#pk) AND (" + strings.Join(cond, " OR ") + ")"
	if c.Version != 0 {
		values[":expect"] = num(c.Version)
		condition += " AND #version = :expect"
	}
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	t, err := s.update(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       taskKey(id),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(condition),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return nil, fmt.Errorf("transition task %s to %s: %w", id, c.To, err)
	}
	if s.ended != nil && c.To.Terminal() {
		s.ended(ctx, t)
	}
	if offloaded {
		t.Result, t.Output = c.Result, c.Output
	}
	return t, nil
}

// update runs a conditional UpdateItem that returns the new item, and turns a failed condition
// into a *ConflictError carrying the old item (or ErrNotFound when there was none).
func (s *Store) update(ctx context.Context, in *dynamodb.UpdateItemInput) (*task.Task, error) {
	in.ReturnValues = types.ReturnValueAllNew
	in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	out, err := s.db.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if len(ccf.Item) == 0 {
			return nil, ErrNotFound
		}
		cur, err := fromAttributes(ccf.Item)
		if err != nil {
			return nil, err
		}
		return nil, &ConflictError{Current: cur}
	}
	if err != nil {
		return nil, err
	}
	return fromAttributes(out.Attributes)
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: fmt.Sprint(n)}
}
