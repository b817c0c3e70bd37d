package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// fakeDynamoDB records requests and answers with what a test set. It evaluates no expression (the
// integration tests against DynamoDB Local do); it lets tests check what the store asks for and how
// it reads the answers.
type fakeDynamoDB struct {
	// DynamoDB is nil: a call to a method the fake does not implement panics, failing the test.
	DynamoDB
	puts    []*dynamodb.PutItemInput
	gets    []*dynamodb.GetItemInput
	updates []*dynamodb.UpdateItemInput
	err     error
	item    map[string]types.AttributeValue
}

func (f *fakeDynamoDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.puts = append(f.puts, in)
	return &dynamodb.PutItemOutput{}, f.err
}

func (f *fakeDynamoDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.gets = append(f.gets, in)
	if f.err != nil {
		return nil, f.err
	}
	return &dynamodb.GetItemOutput{Item: f.item}, nil
}

func (f *fakeDynamoDB) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.updates = append(f.updates, in)
	if f.err != nil {
		return nil, f.err
	}
	return &dynamodb.UpdateItemOutput{Attributes: f.item}, nil
}

var created = time.Date(2026, 2, 7, 2, 13, 26, 0, time.UTC)

func attrs(t *testing.T, s task.State, version int64) map[string]types.AttributeValue {
	t.Helper()
	av, err := attributevalue.MarshalMap(toItem(&task.Task{ID: "t1", Tenant: "org-1", AgentID: "echo", State: s, Version: version, CreatedAt: created}))
	if err != nil {
		t.Fatal(err)
	}
	return av
}

func TestCreate(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantExist bool
		wantErr   bool
	}{
		{"written", nil, false, false},
		{"id taken", &types.ConditionalCheckFailedException{Message: aws.String("taken")}, true, true},
		{"throttled", errors.New("ProvisionedThroughputExceededException"), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := &fakeDynamoDB{err: tt.err}
			err := New(db, "tasks").Create(context.Background(), &task.Task{ID: "t1", Tenant: "org-1", State: task.Queued, Version: 1, CreatedAt: created})
			if (err != nil) != tt.wantErr || errors.Is(err, task.ErrExists) != tt.wantExist {
				t.Fatalf("Create = %v, want error %v, task.ErrExists %v", err, tt.wantErr, tt.wantExist)
			}
			if err != nil && !strings.Contains(err.Error(), "t1") {
				t.Errorf("error %v does not name the task", err)
			}
			in := db.puts[0]
			if aws.ToString(in.TableName) != "tasks" || in.ConditionExpression == nil {
				t.Errorf("PutItem into %s with condition %v: a create must never overwrite", aws.ToString(in.TableName), in.ConditionExpression)
			}
			if pk, _ := in.Item[table.AttrPK].(*types.AttributeValueMemberS); pk == nil || pk.Value != "TASK#t1" {
				t.Errorf("pk = %#v", in.Item[table.AttrPK])
			}
		})
	}
}

func TestGet(t *testing.T) {
	db := &fakeDynamoDB{item: attrs(t, task.Running, 3)}
	got, err := New(db, "tasks").Get(context.Background(), "t1")
	if err != nil || got.ID != "t1" || got.State != task.Running || got.Version != 3 {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if in := db.gets[0]; !aws.ToBool(in.ConsistentRead) || aws.ToString(in.TableName) != "tasks" {
		t.Errorf("GetItem not strongly consistent on table tasks: %+v", in)
	}

	db = &fakeDynamoDB{}
	if _, err := New(db, "tasks").Get(context.Background(), "t1"); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("Get of a missing item = %v, want task.ErrNotFound", err)
	}
	db = &fakeDynamoDB{err: errors.New("boom")}
	if _, err := New(db, "tasks").Get(context.Background(), "t1"); err == nil || errors.Is(err, task.ErrNotFound) {
		t.Errorf("Get on a failing table = %v, want a plain error", err)
	}
}

func TestConditionalFailures(t *testing.T) {
	ops := map[string]func(s *Store) (*task.Task, error){
		"claim": func(s *Store) (*task.Task, error) {
			return s.Claim(context.Background(), "t1", created, time.Minute)
		},
		"transition": func(s *Store) (*task.Task, error) {
			return s.Transition(context.Background(), "t1", task.Change{From: []task.State{task.Running}, Version: 2, To: task.Succeeded, Now: created})
		},
	}
	for name, op := range ops {
		t.Run(name+"/conflict", func(t *testing.T) {
			db := &fakeDynamoDB{err: &types.ConditionalCheckFailedException{Item: attrs(t, task.Succeeded, 5)}}
			_, err := op(New(db, "tasks"))
			var ce *task.ConflictError
			if !errors.As(err, &ce) || ce.Current.State != task.Succeeded || ce.Current.Version != 5 {
				t.Fatalf("err = %v, want a task.ConflictError carrying the task as it stands", err)
			}
			if !strings.Contains(ce.Error(), "succeeded at version 5") {
				t.Errorf("ConflictError.Error() = %q", ce.Error())
			}
			in := db.updates[0]
			if in.ReturnValues != types.ReturnValueAllNew || in.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
				t.Errorf("return values %s / %s, want ALL_NEW / ALL_OLD", in.ReturnValues, in.ReturnValuesOnConditionCheckFailure)
			}
		})
		t.Run(name+"/missing", func(t *testing.T) {
			db := &fakeDynamoDB{err: &types.ConditionalCheckFailedException{}}
			if _, err := op(New(db, "tasks")); !errors.Is(err, task.ErrNotFound) {
				t.Errorf("err = %v, want task.ErrNotFound", err)
			}
		})
		t.Run(name+"/written", func(t *testing.T) {
			db := &fakeDynamoDB{item: attrs(t, task.Running, 2)}
			got, err := op(New(db, "tasks"))
			if err != nil || got.ID != "t1" || got.Version != 2 {
				t.Errorf("= %+v, %v; want the item DynamoDB returned", got, err)
			}
		})
		t.Run(name+"/unreadable current", func(t *testing.T) {
			bad := attrs(t, task.Running, 2)
			bad["state"] = &types.AttributeValueMemberS{Value: "bogus"}
			db := &fakeDynamoDB{err: &types.ConditionalCheckFailedException{Item: bad}}
			_, err := op(New(db, "tasks"))
			var ce *task.ConflictError
			if err == nil || errors.As(err, &ce) || errors.Is(err, task.ErrNotFound) {
				t.Errorf("err = %v, want a decode error", err)
			}
		})
	}
}

func TestClaimLease(t *testing.T) {
	db := &fakeDynamoDB{item: attrs(t, task.Running, 2)}
	if _, err := New(db, "tasks").Claim(context.Background(), "t1", created, 45*time.Second); err != nil {
		t.Fatal(err)
	}
	v := db.updates[0].ExpressionAttributeValues
	if n, _ := v[":lease"].(*types.AttributeValueMemberN); n == nil || n.Value != "1770430451000" {
		t.Errorf(":lease = %#v, want now+45s in ms", v[":lease"])
	}
	if n, _ := v[":nowms"].(*types.AttributeValueMemberN); n == nil || n.Value != "1770430406000" {
		t.Errorf(":nowms = %#v, want now in ms", v[":nowms"])
	}
}

func TestTransitionRefusesIllegalMoves(t *testing.T) {
	tests := []task.Change{
		{From: []task.State{task.Succeeded}, To: task.Failed},
		{From: []task.State{task.Queued}, To: task.Succeeded},
		{From: []task.State{task.Running, task.Failed}, To: task.Queued},
	}
	for _, c := range tests {
		t.Run(fmt.Sprint(c.From, "->", c.To), func(t *testing.T) {
			db := &fakeDynamoDB{item: attrs(t, task.Running, 2)}
			if _, err := New(db, "tasks").Transition(context.Background(), "t1", c); err == nil {
				t.Errorf("Transition(%v -> %s) succeeded", c.From, c.To)
			}
			if len(db.updates) != 0 {
				t.Errorf("an illegal move reached DynamoDB")
			}
		})
	}
}

// TestTransitionToAStateWithNoSources: with From empty, the sources are every state that may move
// to To; when there are none (rejected) the move is illegal and must not reach DynamoDB.
func TestTransitionToAStateWithNoSources(t *testing.T) {
	db := &fakeDynamoDB{item: attrs(t, task.Running, 2)}
	if _, err := New(db, "tasks").Transition(context.Background(), "t1", task.Change{To: task.Rejected, Now: created}); err == nil {
		t.Errorf("Transition to rejected with no source states succeeded")
	}
	if len(db.updates) != 0 {
		t.Errorf("sent condition %q to DynamoDB", aws.ToString(db.updates[0].ConditionExpression))
	}
}

func TestTransitionRecords(t *testing.T) {
	tests := []struct {
		name       string
		c          task.Change
		wantSet    []string
		wantRemove bool
	}{
		{"succeeded", task.Change{From: []task.State{task.Running}, Version: 2, To: task.Succeeded, Result: "r", Output: []byte(`{"a":1}`)},
			[]string{"result", "output", "finished_at"}, true},
		{"back to queued", task.Change{From: []task.State{task.Running}, To: task.Queued, Reason: "agent_unavailable", ReasonMessage: "503"},
			[]string{"reason", "reason_message"}, true},
		{"paused", task.Change{From: []task.State{task.Running}, To: task.Paused}, []string{"paused_at"}, true},
		{"running keeps its lease", task.Change{From: []task.State{task.Running}, To: task.Running}, nil, false},
		{"cost", task.Change{To: task.Failed, CostUnits: 3}, []string{"cost_units", "finished_at"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := &fakeDynamoDB{item: attrs(t, task.Running, 3)}
			tt.c.Now = created
			if _, err := New(db, "tasks").Transition(context.Background(), "t1", tt.c); err != nil {
				t.Fatal(err)
			}
			in := db.updates[0]
			names := map[string]bool{}
			for _, n := range in.ExpressionAttributeNames {
				names[n] = true
			}
			for _, attr := range tt.wantSet {
				if !names[attr] {
					t.Errorf("%s not written: %s", attr, aws.ToString(in.UpdateExpression))
				}
			}
			if got := strings.Contains(aws.ToString(in.UpdateExpression), "REMOVE"); got != tt.wantRemove {
				t.Errorf("lease removed = %v, want %v: %s", got, tt.wantRemove, aws.ToString(in.UpdateExpression))
			}
			_, expectsVersion := in.ExpressionAttributeValues[":expect"]
			if expectsVersion != (tt.c.Version != 0) {
				t.Errorf("version condition = %v, want %v: %s", expectsVersion, tt.c.Version != 0, aws.ToString(in.ConditionExpression))
			}
			// Every source state is a condition value.
			from := tt.c.From
			if len(from) == 0 {
				from = task.Sources(tt.c.To)
			}
			vals := map[string]bool{}
			for k, v := range in.ExpressionAttributeValues {
				if s, ok := v.(*types.AttributeValueMemberS); ok && strings.HasPrefix(k, ":from") {
					vals[s.Value] = true
				}
			}
			for _, f := range from {
				if !vals[string(f)] {
					t.Errorf("source state %s missing from the condition values", f)
				}
			}
			if len(vals) != len(from) {
				t.Errorf("condition allows %v, want exactly %v", vals, from)
			}
		})
	}
}
