package system

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// lostTask records a task as the accept path would, an hour ago, but sends no message: its
// message was lost.
func lostTask(t *testing.T, text string, state task.State, needsSecrets bool) string {
	t.Helper()
	id := uuid.NewString()
	then := time.Now().UTC().Add(-time.Hour)
	tk := &task.Task{
		ID: id, Tenant: "default", AgentID: "echo", Dialect: task.Xpander, Source: "api", ThreadID: id, ThreadSeq: 1,
		State: state, Version: 1, Request: []byte(`{"input":{"text":"` + text + `"}}`), Text: text,
		NeedsSecrets: needsSecrets, CreatedAt: then, UpdatedAt: then, ExpiresAt: time.Now().Add(time.Hour),
	}
	if state == task.Running {
		tk.Attempts, tk.StartedAt, tk.LeaseUntil = 1, then, then.Add(time.Minute)
	}
	if err := store.New(sys.DynamoDB, sys.Table).Create(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSweeperMendsLostMessages(t *testing.T) {
	requeue := lostTask(t, "swept back", task.Queued, false)
	lapsed := lostTask(t, "lease lapsed", task.Running, false)
	secret := lostTask(t, "needs a token", task.Queued, true)
	fresh := uuid.NewString() // a task of a moment ago is left alone
	now := time.Now().UTC()
	if err := store.New(sys.DynamoDB, sys.Table).Create(context.Background(), &task.Task{
		ID: fresh, Tenant: "default", AgentID: "echo", Dialect: task.Xpander, ThreadID: fresh, ThreadSeq: 1,
		State: task.Queued, Version: 1, Text: "fresh", CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}

	// The index is eventually consistent: sweep until all three were dealt with.
	var requeued, failed int
	deadline := time.Now().Add(20 * time.Second)
	for requeued < 2 || failed < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("sweeps requeued %d and failed %d, want 2 and 1", requeued, failed)
		}
		r, err := sys.Sweep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		requeued, failed = requeued+r.Requeued, failed+r.Failed
		time.Sleep(100 * time.Millisecond)
	}

	for id, text := range map[string]string{requeue: "swept back", lapsed: "lease lapsed"} {
		done := waitFor(t, "/v1/tasks/"+id, "completed", "failed", "error")
		if done["status"] != "completed" || done["result"] != text {
			t.Errorf("requeued task %s = %v", id, done)
		}
	}
	code, _, body := call(t, http.MethodGet, "/v1/tasks/"+secret, "")
	e, _ := body["error"].(map[string]any)
	if code != http.StatusOK || body["status"] != "failed" || e["code"] != task.ReasonLost || e["message"] == "" {
		t.Errorf("task needing secrets = %d %v", code, body)
	}
	// A second sweep finds nothing more to do with them, and the fresh task was never touched.
	if r, err := sys.Sweep(context.Background()); err != nil || r.Failed != 0 {
		t.Errorf("second sweep %+v %v", r, err)
	}
	if _, _, body := call(t, http.MethodGet, "/v1/tasks/"+fresh, ""); body["status"] != "pending" {
		t.Errorf("fresh task = %v", body)
	}
}

// setWritten makes the task look last written at updated, under a lease until lease, as a worker's
// claim or a long-running agent's check leaves it.
func setWritten(t *testing.T, id string, updated, lease time.Time) {
	t.Helper()
	_, err := sys.DynamoDB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName:        aws.String(sys.Table),
		Key:              map[string]types.AttributeValue{table.AttrPK: table.S(table.TaskPartition(id)), table.AttrSK: table.S(table.TaskSortKey)},
		UpdateExpression: aws.String("SET updated_at = :u, lease_until = :l"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":u": table.S(table.Stamp(updated)), ":l": table.N(lease.UnixMilli()),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSweeperFindsATaskRunningAtItsFirstLook: a task an hour old but still running (a long
// agent's check claimed it a moment ago) is left alone by the sweep whose walk passes it, and
// watched; when its message is then lost, a later sweep finds it and sends it again.
func TestSweeperFindsATaskRunningAtItsFirstLook(t *testing.T) {
	ctx := context.Background()
	id := lostTask(t, "still running", task.Running, false)
	now := time.Now().UTC()
	setWritten(t, id, now, now.Add(15*time.Minute))
	watched := func() bool {
		out, err := sys.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(sys.Table), ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{table.AttrPK: table.S(table.TaskPartition(id)), table.AttrSK: table.S(table.TaskSortKey)},
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.Item["gsi3pk"] != nil
	}
	for deadline := time.Now().Add(20 * time.Second); !watched(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no sweep watched the running task its walk passed")
		}
		if _, err := sys.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := store.New(sys.DynamoDB, sys.Table).Get(ctx, id); err != nil || got.State != task.Running || got.Attempts != 1 {
		t.Fatalf("the running task was disturbed: %+v, %v", got, err)
	}

	// Its message is lost: nothing writes it for an hour, its lease long run out.
	setWritten(t, id, now.Add(-time.Hour), now.Add(-45*time.Minute))
	requeued := 0
	for deadline := time.Now().Add(20 * time.Second); requeued == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no sweep found the watched task whose message was lost")
		}
		r, err := sys.Sweep(ctx)
		if err != nil {
			t.Fatal(err)
		}
		requeued += r.Requeued
	}
	if done := waitFor(t, "/v1/tasks/"+id, "completed", "failed", "error"); done["status"] != "completed" || done["result"] != "still running" {
		t.Errorf("requeued task = %v", done)
	}
}
