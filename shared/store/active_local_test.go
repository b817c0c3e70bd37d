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
// those in flight and unwritten since the cutoff, least recently written first.
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
// consumed, a task's claim and touches write nothing to by_active; only entering and leaving it
// do.
func TestInFlightWritesAreNoIndexWrites(t *testing.T) {
	ctx := context.Background()
	m := bench.NewMeter()
	s := localTable(t, "active-writes", m)
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	submit(t, s, "t1", now)
	active := func() float64 { return m.Usage()[""].WRU["active-writes/"+table.IndexActive] }
	if active() == 0 {
		t.Fatal("entering by_active consumed no index capacity: DynamoDB Local reported none")
	}
	m.Reset()
	claimed, err := s.Claim(ctx, "t1", now.Add(time.Second), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Touch(ctx, "t1", task.Running, claimed.Version, now.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if w := active(); w != 0 {
		t.Errorf("claim and touch wrote %.1f units to by_active, want 0", w)
	}
	if _, err := s.Transition(ctx, "t1", task.Change{From: []task.State{task.Running}, To: task.Succeeded, Version: claimed.Version, Now: now.Add(3 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	if w := active(); w == 0 {
		t.Error("leaving by_active wrote nothing to it")
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
