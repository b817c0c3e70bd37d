package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/local/bench"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// TestReadThreadOnDynamoDBLocal: one batch read answers a new turn's place in its thread: a new
// thread; a conversation of one turn (no record: its first turn, the latest, comes with it); a
// recorded thread (its first turn still comes with it); and never another tenant's conversation.
func TestReadThreadOnDynamoDBLocal(t *testing.T) {
	ctx := context.Background()
	m := bench.NewMeter()
	s := localTable(t, "read-thread", m)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	first := &task.Task{ID: "conv-1", Tenant: "org-1", AgentID: "echo", Dialect: task.Xpander, ThreadID: "conv-1", ThreadSeq: 1,
		State: task.Succeeded, Version: 1, Text: "hi", CreatedAt: at, UpdatedAt: at}
	if err := s.Submit(ctx, first, task.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
	m.Reset()
	th, latest, err := s.ReadThread(ctx, "org-1", "conv-1")
	if err != nil || th.Stored || th.Turns != 1 || th.LatestTaskID != "conv-1" || latest == nil || latest.State != task.Succeeded {
		t.Fatalf("a conversation of one turn = %+v, %+v, %v", th, latest, err)
	}
	if calls := m.Usage()[""].Calls; len(calls) != 1 || calls["DynamoDB.BatchGetItem"] != 1 {
		t.Errorf("requests %v, want one BatchGetItem", calls)
	}
	if th, latest, err := s.ReadThread(ctx, "org-2", "conv-1"); err != nil || th.Turns != 0 || latest != nil {
		t.Errorf("another tenant's read = %+v, %+v, %v; want a new thread", th, latest, err)
	}
	second := &task.Task{ID: "turn-2", Tenant: "org-1", AgentID: "echo", Dialect: task.Xpander, ThreadID: "conv-1", ThreadSeq: 2,
		PrevTaskID: "conv-1", State: task.Queued, Version: 1, Text: "and?", CreatedAt: at, UpdatedAt: at}
	if err := s.Submit(ctx, second, task.SubmitOptions{Thread: th}); err != nil {
		t.Fatal(err)
	}
	th, latest, err = s.ReadThread(ctx, "org-1", "conv-1")
	if err != nil || !th.Stored || th.Turns != 2 || th.LatestTaskID != "turn-2" || latest == nil || latest.ID != "conv-1" {
		t.Fatalf("a recorded thread = %+v, %+v, %v; want turn-2 latest and the first turn", th, latest, err)
	}
	if th, latest, err := s.ReadThread(ctx, "org-1", "new-conv"); err != nil || th.Turns != 0 || th.LatestTaskID != "" || latest != nil {
		t.Errorf("a new thread = %+v, %+v, %v", th, latest, err)
	}
}

// TestTurnsReadsAnIndexedFirstTurnOnce: a first turn recorded before first turns were left out
// of by_thread is still in the index; Turns answers it once, not once from the index and once by
// its key.
func TestTurnsReadsAnIndexedFirstTurnOnce(t *testing.T) {
	ctx := context.Background()
	s := localTable(t, "oldturns", bench.NewMeter())
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, id := range []string{"th", "turn-2"} {
		tk := &task.Task{ID: id, Tenant: "org-1", AgentID: "echo", Dialect: task.Xpander, State: task.Queued, Version: 1,
			ThreadID: "th", ThreadSeq: i + 1, Text: "turn " + id, CreatedAt: t0.Add(time.Duration(i) * time.Second)}
		tk.UpdatedAt = tk.CreatedAt
		if err := s.Submit(ctx, tk, task.SubmitOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// As an earlier release wrote it: the first turn in the index too.
	if _, err := dynamo.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String("oldturns"),
		Key:                       map[string]types.AttributeValue{table.AttrPK: table.S(table.TaskPartition("th")), table.AttrSK: table.S(table.TaskSortKey)},
		UpdateExpression:          aws.String("SET gsi2pk = :p, gsi2sk = gsi1sk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": table.S(table.TenantKey("THREAD", "org-1", "th"))},
	}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Turns(ctx, "org-1", "th", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "th" || got[1].ID != "turn-2" {
		t.Errorf("turns = %v, want th and turn-2, once each", ids(got))
	}
}

func ids(ts []*task.Task) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}
