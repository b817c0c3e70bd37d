package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/agentq/agentq/shared/local/bench"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// localTable creates a table of its own on DynamoDB Local and answers a store over a client whose
// requests m counts.
func localTable(t *testing.T, name string, m *bench.Meter) *store.Store {
	t.Helper()
	suite.Require(t)
	if err := table.CreateTable(context.Background(), dynamo, name); err != nil {
		t.Fatal(err)
	}
	db := dynamodb.New(dynamo.Options(), func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, m.APIOption) })
	return store.New(db, name)
}

func submit(t *testing.T, s *store.Store, id string, created time.Time) {
	t.Helper()
	tk := &task.Task{ID: id, Tenant: "org-1", AgentID: "echo", Dialect: task.ServiceNet, State: task.Queued, Version: 1,
		Text: "hi", CreatedAt: created, UpdatedAt: created}
	if err := s.Submit(context.Background(), tk, task.SubmitOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestIdleOnDynamoDBLocal: Idle reads the keys-only by_active index, then the tasks, and answers
// those watched, in flight and unwritten since the cutoff, least recently written first.
func TestIdleOnDynamoDBLocal(t *testing.T) {
	ctx := context.Background()
	s := localTable(t, "idle", bench.NewMeter())
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	cutoff := t0.Add(10 * time.Minute)
	submit(t, s, "old-idle", t0)
	submit(t, s, "older-idle", t0.Add(-time.Minute))
	submit(t, s, "old-touched", t0)
	submit(t, s, "old-done", t0)
	submit(t, s, "new", cutoff.Add(time.Minute))
	if got, err := s.Idle(ctx, cutoff, 10); err != nil || len(got) != 0 {
		t.Errorf("idle before any is watched = %v, %v; want none", got, err)
	}
	for _, id := range []string{"old-idle", "older-idle", "old-touched", "old-done", "new"} {
		if _, err := s.Watch(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Touch(ctx, "old-touched", task.Queued, 1, cutoff.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, "old-done", task.Change{From: []task.State{task.Queued}, To: task.Failed, Now: t0.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Idle(ctx, cutoff, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tk := range got {
		ids = append(ids, tk.ID)
	}
	if len(ids) != 2 || ids[0] != "older-idle" || ids[1] != "old-idle" {
		t.Errorf("idle = %v, want [older-idle old-idle]", ids)
	}
	if got, err := s.Idle(ctx, cutoff, 1); err != nil || len(got) != 1 || got[0].ID != "older-idle" {
		t.Errorf("idle limit 1 = %v, %v; want older-idle", got, err)
	}
}

// TestInFlightWritesAreNoIndexWrites: on DynamoDB Local, which reports the capacity each index
// consumed, recording a task enters by_created (and not by_active), and nothing after it writes
// to either: claims, touches, a retry, the end. Only a task the sweeper watches enters by_active,
// and leaves it when it ends; its walk reads the index and writes nothing to it.
func TestInFlightWritesAreNoIndexWrites(t *testing.T) {
	ctx := context.Background()
	m := bench.NewMeter()
	s := localTable(t, "active-writes", m)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	index := func(name string) float64 { return m.Usage()[""].WRU["active-writes/"+name] }
	submit(t, s, "t1", now)
	submit(t, s, "t2", now)
	if index(table.IndexCreated) != 2 || index(table.IndexActive) != 0 {
		t.Fatalf("recording two tasks wrote %.1f units to by_created and %.1f to by_active, want 2 and 0",
			index(table.IndexCreated), index(table.IndexActive))
	}
	m.Reset()
	at := now
	step := func(name string, write func() (*task.Task, error)) *task.Task {
		t.Helper()
		at = at.Add(time.Second)
		got, err := write()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return got
	}
	claimed := step("claim", func() (*task.Task, error) { return s.Claim(ctx, "t1", at, time.Minute) })
	step("touch", func() (*task.Task, error) { return s.Touch(ctx, "t1", task.Running, claimed.Version, at) })
	retried := step("retry", func() (*task.Task, error) {
		return s.Transition(ctx, "t1", task.Change{From: []task.State{task.Running}, To: task.Queued, Version: claimed.Version, Now: at})
	})
	claimed = step("claim again", func() (*task.Task, error) { return s.Claim(ctx, "t1", at, time.Minute) })
	step("end", func() (*task.Task, error) {
		return s.Transition(ctx, "t1", task.Change{From: []task.State{task.Running}, To: task.Succeeded, Version: claimed.Version, Now: at})
	})
	if retried.State != task.Queued {
		t.Fatalf("retry left %s", retried.State)
	}
	for _, name := range []string{table.IndexCreated, table.IndexActive} {
		if w := index(name); w != 0 {
			t.Errorf("a task's life after it was recorded wrote %.1f units to %s, want 0", w, name)
		}
	}

	// The sweeper's walk passes both; it watches t2, still in flight, which then leaves by_active
	// when it ends.
	m.Reset()
	n, err := s.Pass(ctx, now.Add(time.Hour), 10, func(ts []*task.Task) error {
		for _, tk := range ts {
			if _, err := s.Watch(ctx, tk.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("pass = %d, %v; want 2", n, err)
	}
	if index(table.IndexCreated) != 0 || index(table.IndexActive) != 1 {
		t.Errorf("the walk wrote %.1f units to by_created and %.1f to by_active, want 0 and 1 (watching t2)",
			index(table.IndexCreated), index(table.IndexActive))
	}
	m.Reset()
	if _, err := s.Transition(ctx, "t2", task.Change{From: []task.State{task.Queued}, To: task.Canceled, Now: at}); err != nil {
		t.Fatal(err)
	}
	if index(table.IndexActive) != 1 || index(table.IndexCreated) != 0 {
		t.Errorf("a watched task's end wrote %.1f units to by_active and %.1f to by_created, want 1 and 0",
			index(table.IndexActive), index(table.IndexCreated))
	}
}

// TestTurnsOnDynamoDBLocal: Turns reads the keys-only by_thread index, then the turns, oldest
// first; a turn's transition writes nothing to the index.
func TestTurnsOnDynamoDBLocal(t *testing.T) {
	ctx := context.Background()
	m := bench.NewMeter()
	s := localTable(t, "turns", m)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, id := range []string{"th", "turn-2", "turn-3"} {
		tk := &task.Task{ID: id, Tenant: "org-1", AgentID: "echo", Dialect: task.Xpander, State: task.Queued, Version: 1,
			ThreadID: "th", ThreadSeq: i + 1, Text: "turn " + id, CreatedAt: t0.Add(time.Duration(i) * time.Second)}
		tk.UpdatedAt = tk.CreatedAt
		m.Reset()
		if err := s.Submit(ctx, tk, task.SubmitOptions{}); err != nil {
			t.Fatal(err)
		}
		// The thread's own task (its first turn) is read by its key; later turns are entered.
		if w, want := m.Usage()[""].WRU["turns/by_thread"], map[bool]float64{true: 0, false: 1}[id == "th"]; w != want {
			t.Errorf("submitting %s wrote %.1f units to by_thread, want %.0f", id, w, want)
		}
	}
	m.Reset()
	if _, err := s.Transition(ctx, "th", task.Change{From: []task.State{task.Queued}, To: task.Failed, Now: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if w := m.Usage()[""].WRU["turns/by_thread"]; w != 0 {
		t.Errorf("a turn's transition wrote %.1f units to by_thread, want 0", w)
	}
	got, err := s.Turns(ctx, "org-1", "th", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != "th" || got[1].ID != "turn-2" || got[2].ID != "turn-3" || got[2].Text != "turn turn-3" {
		t.Fatalf("turns = %+v, want th, turn-2, turn-3 with their texts", got)
	}
	if got, err := s.Turns(ctx, "org-1", "th", 2); err != nil || len(got) != 2 || got[0].ID != "turn-2" {
		t.Errorf("last 2 turns = %v, %v; want turn-2 and turn-3", got, err)
	}
	// A thread named like another tenant's task (a ServiceNet context_id may be any string) does
	// not take that task as its first turn.
	if got, err := s.Turns(ctx, "org-2", "th", 10); err != nil || len(got) != 0 {
		t.Errorf("org-2's thread th = %v, %v; want no turns", got, err)
	}
}
