package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// The by_active index holds a task while it is queued or running, keyed by its creation: no write
// while it stays in flight moves its key, so none of them is an index write.
func TestActiveIndexFollowsTheState(t *testing.T) {
	later := created.Add(time.Minute)
	for st, want := range map[task.State]bool{task.Queued: true, task.Running: true, task.Paused: false, task.Succeeded: false, task.Failed: false} {
		it := toItem(&task.Task{ID: "t1", Tenant: "org-1", State: st, CreatedAt: created, UpdatedAt: later})
		if (it.GSI3PK != "") != want || it.GSI3SK != table.Stamp(created)+"#t1" {
			t.Errorf("%s: gsi3pk %q gsi3sk %q, want indexed=%v under the creation stamp", st, it.GSI3PK, it.GSI3SK, want)
		}
	}
	if p := activePartition("t1"); !strings.HasPrefix(p, "ACTIVE#") || p != activePartition("t1") {
		t.Errorf("partition %q", p)
	}

	for to, indexed := range map[task.State]bool{task.Queued: true, task.Running: true, task.Paused: false, task.Succeeded: false} {
		db := &fakeDynamoDB{item: attrs(t, task.Running, 2)}
		if _, err := New(db, "tasks").Transition(context.Background(), "t1", task.Change{From: []task.State{task.Running}, To: to, Now: later}); err != nil {
			t.Fatal(err)
		}
		in := db.updates[0]
		expr := *in.UpdateExpression
		set, remove, _ := strings.Cut(expr, " REMOVE ")
		if strings.Contains(expr, "#g3sk") {
			t.Errorf("to %s: %s moves the index sort key", to, expr)
		}
		if indexed != strings.Contains(set, "#g3pk = :g3pk") || indexed == strings.Contains(remove, "#g3pk") {
			t.Errorf("to %s: %s, want indexed=%v", to, expr, indexed)
		}
	}

	for name, write := range map[string]func(s *Store) error{
		"claim": func(s *Store) error { _, err := s.Claim(context.Background(), "t1", later, time.Minute); return err },
		"touch": func(s *Store) error { _, err := s.Touch(context.Background(), "t1", task.Queued, 1, later); return err },
	} {
		db := &fakeDynamoDB{item: attrs(t, task.Queued, 1)}
		if err := write(New(db, "tasks")); err != nil {
			t.Fatal(err)
		}
		if expr := *db.updates[0].UpdateExpression; strings.Contains(expr, "gsi3sk") || db.updates[0].ExpressionAttributeNames["#g3sk"] != "" {
			t.Errorf("%s %s moves the index sort key", name, expr)
		}
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
