package store

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// A task recorded in flight enters by_created, keyed by its creation; not by_active, which only
// the sweeper's watch and a resume enter. No write while it stays in flight moves either key.
func TestActiveIndexFollowsTheState(t *testing.T) {
	later := created.Add(time.Minute)
	for st, want := range map[task.State]bool{task.Queued: true, task.Running: true, task.Paused: false, task.Succeeded: false, task.Failed: false} {
		it := toItem(&task.Task{ID: "t1", Tenant: "org-1", State: st, CreatedAt: created, UpdatedAt: later})
		if (it.GSI5PK != "") != want || it.GSI3PK != "" || it.GSI3SK != table.Stamp(created)+"#t1" {
			t.Errorf("%s: gsi5pk %q gsi3pk %q gsi3sk %q, want by_created=%v, not by_active, under the creation stamp",
				st, it.GSI5PK, it.GSI3PK, it.GSI3SK, want)
		}
	}
	for _, p := range []string{activePartition("t1"), createdPartition("t1")} {
		if !strings.HasSuffix(p, "#"+strconv.Itoa(shardOf("t1"))) || shardOf("t1") != shardOf("t1") {
			t.Errorf("partition %q", p)
		}
	}

	for _, tc := range []struct {
		from         task.State
		to           task.State
		enter, leave bool
	}{
		{task.Running, task.Queued, false, false},
		{task.Running, task.Running, false, false},
		{task.Running, task.Paused, false, true},
		{task.Running, task.Succeeded, false, true},
		{task.Paused, task.Queued, true, false},
		{task.Paused, task.Failed, false, true},
	} {
		db := &fakeDynamoDB{item: attrs(t, tc.from, 2)}
		if _, err := New(db, "tasks").Transition(context.Background(), "t1", task.Change{From: []task.State{tc.from}, To: tc.to, Now: later}); err != nil {
			t.Fatal(err)
		}
		expr := *db.updates[0].UpdateExpression
		set, remove, _ := strings.Cut(expr, " REMOVE ")
		if strings.Contains(expr, "#g3sk") || strings.Contains(expr, "gsi5") {
			t.Errorf("%s to %s: %s moves a key of by_created", tc.from, tc.to, expr)
		}
		if tc.enter != strings.Contains(set, "#g3pk = :g3pk") || tc.leave != strings.Contains(remove, "#g3pk") {
			t.Errorf("%s to %s: %s, want enter=%v leave=%v by_active", tc.from, tc.to, expr, tc.enter, tc.leave)
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
		if expr := *db.updates[0].UpdateExpression; strings.Contains(expr, "gsi") || strings.Contains(expr, "g3") {
			t.Errorf("%s %s writes an index key", name, expr)
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
