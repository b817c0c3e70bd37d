// Package store keeps tasks in DynamoDB, the source of truth. Every state change is a conditional
// write guarded by the expected state (and, where the writer holds one, the expected version), so a
// duplicate or stale delivery can never overwrite a newer state.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

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
	blobs Blobs // nil: payloads over task.InlineLimit are refused
	// events hears of every write that landed, to log it in the task's event log; nil: none.
	events Recorder
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
		table.AttrPK: table.S(table.TaskPartition(id)),
		table.AttrSK: table.S(table.TaskSortKey),
	}
}

// Create records a new task. It fails with task.ErrExists if the id is taken. A request too large for
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
		ExpressionAttributeNames: map[string]string{"#pk": table.AttrPK},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("create task %s: %w", t.ID, task.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create task %s: %w", t.ID, err)
	}
	return nil
}

// Get reads a task with a strongly consistent read, and loads its offloaded request and answer
// back from the blob store.
func (s *Store) Get(ctx context.Context, id string) (*task.Task, error) {
	t, err := s.Head(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.loadBlobs(ctx, []*task.Task{t}, loadAll); err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return t, nil
}

// Head reads a task's record with a strongly consistent read, without loading an offloaded
// request or answer back (RequestRef, ResultRef stay set): for a reader that needs the task's
// identity and settings only, and may have no right on the blob store (the notifier).
func (s *Store) Head(ctx context.Context, id string) (*task.Task, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            taskKey(id),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("get task %s: %w", id, task.ErrNotFound)
	}
	return fromAttributes(out.Item)
}

// Claim gives the caller the task's lease until now+lease and moves it to running, when the task is
// queued or running under a lease that has expired. The attempt count goes up by one. Otherwise it
// returns a *task.ConflictError with the task as it stands, or task.ErrNotFound.
func (s *Store) Claim(ctx context.Context, id string, now time.Time, lease time.Duration) (*task.Task, error) {
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table),
		Key:       taskKey(id),
		UpdateExpression: aws.String("SET #state = :running, #lease = :lease, #attempts = #attempts + :one, " +
			"#version = #version + :one, #updated = :now, #started = if_not_exists(#started, :now)"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND (#state = :queued OR (#state = :running AND #lease < :nowms))"),
		ExpressionAttributeNames: map[string]string{
			"#pk": table.AttrPK, "#state": "state", "#lease": "lease_until", "#attempts": "attempts",
			"#version": "version", "#updated": "updated_at", "#started": "started_at",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":running": table.S(string(task.Running)),
			":queued":  table.S(string(task.Queued)),
			":lease":   table.N(now.Add(lease).UnixMilli()),
			":nowms":   table.N(now.UnixMilli()),
			":now":     table.S(table.Stamp(now)),
			":one":     table.N(1),
		},
	}
	t, err := s.update(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("claim task %s: %w", id, err)
	}
	s.recordClaimed(ctx, t)
	return t, nil
}

// Transition moves a task to c.To if it is in one of c.From (and at c.Version, when set) and returns
// the task as written. Leaving running drops the lease; reaching a terminal state stamps
// finished_at. On a failed condition it returns a *task.ConflictError or task.ErrNotFound.
//
// An answer over task.InlineLimit is written to the blob store before the item, under
// results/<task id>/<version>.json, and the item records the key instead of the answer; the task
// returned carries the answer all the same. Without blobs, such a transition writes nothing and
// returns ErrTooLarge: the caller decides what the task becomes (the worker fails it), since a
// truncated answer would pass for a whole one. A blob whose item write then fails stays behind
// unreferenced until the bucket's lifecycle rule expires it.
func (s *Store) Transition(ctx context.Context, id string, c task.Change) (*task.Task, error) {
	from, err := c.Sources()
	if err != nil {
		return nil, fmt.Errorf("transition task %s: %w", id, err)
	}
	u := &updateExpr{
		names:  map[string]string{"#pk": table.AttrPK, "#state": "state", "#version": "version", "#updated": "updated_at"},
		values: map[string]types.AttributeValue{":to": table.S(string(c.To)), ":now": table.S(table.Stamp(c.Now)), ":one": table.N(1)},
		set:    []string{"#state = :to", "#version = #version + :one", "#updated = :now"},
	}
	offloaded, err := s.setAnswer(ctx, u, id, c)
	if err != nil {
		return nil, fmt.Errorf("transition task %s to %s: %w", id, c.To, err)
	}
	setOutcome(u, id, from, c)
	t, err := s.update(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       taskKey(id),
		UpdateExpression:          aws.String(u.expression()),
		ConditionExpression:       aws.String(transitionCondition(u, from, c.Version)),
		ExpressionAttributeNames:  u.names,
		ExpressionAttributeValues: u.values,
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
	s.recordChanged(ctx, t, c)
	return t, nil
}

// updateExpr collects an UpdateItem's SET and REMOVE clauses with their names and values.
type updateExpr struct {
	names       map[string]string
	values      map[string]types.AttributeValue
	set, remove []string
}

// field sets attr to v, under the placeholders #name and :name.
func (u *updateExpr) field(name, attr string, v types.AttributeValue) {
	u.names["#"+name] = attr
	u.values[":"+name] = v
	u.set = append(u.set, "#"+name+" = :"+name)
}

// drop removes attr, under the placeholder #name.
func (u *updateExpr) drop(name, attr string) {
	u.names["#"+name] = attr
	u.remove = append(u.remove, "#"+name)
}

func (u *updateExpr) expression() string {
	expr := "SET " + strings.Join(u.set, ", ")
	if len(u.remove) > 0 {
		expr += " REMOVE " + strings.Join(u.remove, ", ")
	}
	return expr
}

// setAnswer records the change's answer: inline, or, over InlineLimit, in the blob store with the
// item keeping its key (offloaded). An inline answer drops an older key; an offloaded one drops
// the older inline answer.
func (s *Store) setAnswer(ctx context.Context, u *updateExpr, id string, c task.Change) (offloaded bool, err error) {
	switch {
	case len(c.Result)+len(c.Output) > task.InlineLimit:
		key, err := s.putResult(ctx, id, c)
		if err != nil {
			return false, err
		}
		u.field("result_ref", "result_ref", table.S(key))
		u.drop("result", "result")
		u.drop("output", "output")
		return true, nil
	case c.Result != "" || len(c.Output) > 0:
		if c.Result != "" {
			u.field("result", "result", table.S(c.Result))
		}
		if len(c.Output) > 0 {
			u.field("output", "output", table.S(string(c.Output)))
		}
		u.drop("result_ref", "result_ref")
	}
	return false, nil
}

// setOutcome records the rest of the change: why, at what cost, when it finished or paused, the
// agent's own task, the task's place in the by_active index, and the lease.
func setOutcome(u *updateExpr, id string, from []task.State, c task.Change) {
	if c.Reason != "" {
		u.field("reason", "reason", table.S(c.Reason))
		u.field("reason_message", "reason_message", table.S(c.ReasonMessage))
	}
	if c.CostUnits > 0 {
		u.field("cost", "cost_units", table.N(int64(c.CostUnits)))
	}
	if c.Usage != (task.Usage{}) {
		u.field("ptok", "prompt_tokens", table.N(int64(c.Usage.Prompt)))
		u.field("ctok", "completion_tokens", table.N(int64(c.Usage.Completion)))
		u.field("ttok", "total_tokens", table.N(int64(c.Usage.Total)))
		u.field("actions", "actions", table.N(int64(c.Usage.Actions)))
		u.field("usd", "cost_usd", &types.AttributeValueMemberN{Value: strconv.FormatFloat(c.Usage.Cost, 'g', -1, 64)})
	}
	switch {
	case c.To.Terminal():
		u.field("finished", "finished_at", table.S(table.Stamp(c.Now)))
	case c.To == task.Paused:
		u.field("paused", "paused_at", table.S(table.Stamp(c.Now)))
	}
	if c.RemoteTaskID != "" {
		u.field("remote", "remote_task_id", table.S(c.RemoteTaskID))
	}
	if len(c.HITL) > 0 {
		u.field("hitl", "hitl_request", table.S(string(c.HITL)))
	}
	// A task leaves by_active when it pauses or ends (removing an absent key writes nothing to
	// the index). One resumed from paused enters it: the sweeper's walk of by_created may have
	// passed it while it was paused. Other moves between queued and running leave it where it is.
	// Its sort key, set when the task was recorded, does not move (see activeSortKey).
	switch {
	case !inFlight(c.To):
		u.drop("g3pk", "gsi3pk")
	case slices.Contains(from, task.Paused):
		u.field("g3pk", "gsi3pk", table.S(activePartition(id)))
	}
	switch {
	case c.To != task.Running:
		u.drop("lease", "lease_until")
	case c.ReleaseLease:
		u.field("lease", "lease_until", table.N(0))
	}
}

// transitionCondition is the write's condition: the task exists, is in one of from and, when
// version is set, at that version.
func transitionCondition(u *updateExpr, from []task.State, version int64) string {
	cond := []string{}
	for i, f := range from {
		k := fmt.Sprintf(":from%d", i)
		u.values[k] = table.S(string(f))
		cond = append(cond, "#state = "+k)
	}
	condition := "attribute_exists(#pk) AND (" + strings.Join(cond, " OR ") + ")"
	if version != 0 {
		u.values[":expect"] = table.N(version)
		condition += " AND #version = :expect"
	}
	return condition
}

// update runs a conditional UpdateItem that returns the new item, and turns a failed condition
// into a *task.ConflictError carrying the old item (or task.ErrNotFound when there was none).
func (s *Store) update(ctx context.Context, in *dynamodb.UpdateItemInput) (*task.Task, error) {
	in.ReturnValues = types.ReturnValueAllNew
	in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	out, err := s.db.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if len(ccf.Item) == 0 {
			return nil, task.ErrNotFound
		}
		cur, err := fromAttributes(ccf.Item)
		if err != nil {
			return nil, err
		}
		return nil, &task.ConflictError{Current: cur}
	}
	if err != nil {
		return nil, err
	}
	return fromAttributes(out.Attributes)
}
