package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// The by_active index holds a task while it is queued or running, keyed by its last write.
func TestActiveIndexFollowsTheState(t *testing.T) {
	for st, want := range map[task.State]bool{task.Queued: true, task.Running: true, task.Paused: false, task.Succeeded: false, task.Failed: false} {
		it := toItem(&task.Task{ID: "t1", Tenant: "org-1", State: st, CreatedAt: created, UpdatedAt: created})
		if (it.GSI3PK != "") != want || it.GSI3SK != table.Stamp(created)+"#t1" {
			t.Errorf("%s: gsi3pk %q gsi3sk %q, want indexed=%v", st, it.GSI3PK, it.GSI3SK, want)
		}
	}
	if p := activePartition("t1"); !strings.HasPrefix(p, "ACTIVE#") || p != activePartition("t1") {
		t.Errorf("partition %q", p)
	}

	later := created.Add(time.Minute)
	for to, indexed := range map[task.State]bool{task.Queued: true, task.Running: true, task.Paused: false, task.Succeeded: false} {
		db := &fakeDynamoDB{item: attrs(t, task.Running, 2)}
		if _, err := New(db, "tasks").Transition(context.Background(), "t1", task.Change{From: []task.State{task.Running}, To: to, Now: later}); err != nil {
			t.Fatal(err)
		}
		in := db.updates[0]
		expr := *in.UpdateExpression
		set, remove, _ := strings.Cut(expr, " REMOVE ")
		if in.ExpressionAttributeNames["#g3sk"] != "gsi3sk" || !strings.Contains(set, "#g3sk = :g3sk") {
			t.Errorf("to %s: %s does not move the index sort key", to, expr)
		}
		if indexed != strings.Contains(set, "#g3pk = :g3pk") || indexed == strings.Contains(remove, "#g3pk") {
			t.Errorf("to %s: %s, want indexed=%v", to, expr, indexed)
		}
	}

	db := &fakeDynamoDB{item: attrs(t, task.Queued, 1)}
	if _, err := New(db, "tasks").Claim(context.Background(), "t1", later, time.Minute); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(*db.updates[0].UpdateExpression, "#g3sk = :g3sk") {
		t.Errorf("claim %s does not move the index sort key", *db.updates[0].UpdateExpression)
	}
}

func TestTouchKeepsTheVersion(t *testing.T) {
	db := &fakeDynamoDB{item: attrs(t, task.Queued, 3)}
	if _, err := New(db, "tasks").Touch(context.Background(), "t1", task.Queued, 3, created); err != nil {
		t.Fatal(err)
	}
	in := db.updates[0]
	if strings.Contains(*in.UpdateExpression, "#version =") || !strings.Contains(*in.ConditionExpression, "#version = :version") {
		t.Errorf("touch %s if %s", *in.UpdateExpression, *in.ConditionExpression)
	}
}
