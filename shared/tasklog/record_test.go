package tasklog_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tasklog"
	"github.com/agentq/agentq/shared/tasklog/tasklogtest"
)

var now = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func newTask(id string) *task.Task {
	return &task.Task{ID: id, Tenant: "acme", AgentID: "echo", AgentVersion: "1", Dialect: task.Xpander, Source: "api",
		State: task.Queued, Version: 1, Text: "hi", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
}

func types(evs []tasklog.Event) []tasklog.Type {
	out := make([]tasklog.Type, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}

// recordedTask creates a queued task in a store that records its writes in log.
func recordedTask(t *testing.T) (*store.Store, *tasklog.Log, string) {
	t.Helper()
	suite.Require(t)
	name := newTable(t)
	log := tasklog.New(dynamo, name)
	s := store.New(dynamo, name).WithEvents(tasklog.NewRecorder(log, nil))
	id := uuid.NewString()
	if err := s.Create(context.Background(), newTask(id)); err != nil {
		t.Fatal(err)
	}
	return s, log, id
}

// TestStoreRecordsEveryWrite: the store's writes become the task's log, whoever writes, in order.
func TestStoreRecordsEveryWrite(t *testing.T) {
	ctx := context.Background()
	s, log, id := recordedTask(t)
	cl, err := s.Claim(ctx, id, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	steps := []task.Change{
		{From: []task.State{task.Running}, Version: cl.Version, To: task.Queued, Now: now.Add(time.Second), Reason: task.ReasonAgentUnavailable, ReasonMessage: "agent answered 503"},
	}
	for _, c := range steps {
		if _, err := s.Transition(ctx, id, c); err != nil {
			t.Fatal(err)
		}
	}
	cl, err = s.Claim(ctx, id, now.Add(2*time.Second), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, id, task.Change{From: []task.State{task.Running}, Version: cl.Version, To: task.Paused, Now: now.Add(3 * time.Second), HITL: json.RawMessage(`{"question":"which city?"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, id, task.Change{From: []task.State{task.Paused}, To: task.Queued, Now: now.Add(4 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	cl, err = s.Claim(ctx, id, now.Add(5*time.Second), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, id, task.Change{From: []task.State{task.Running}, Version: cl.Version, To: task.Succeeded, Now: now.Add(6 * time.Second),
		Result: "Paris", Usage: task.Usage{Tokens: task.Tokens{Prompt: 3, Completion: 2, Total: 5}}}); err != nil {
		t.Fatal(err)
	}
	evs, err := log.Read(ctx, id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []tasklog.Type{tasklog.Created, tasklog.Attempt, tasklog.Retry, tasklog.Attempt, tasklog.Paused, tasklog.Resumed,
		tasklog.Attempt, tasklog.Usage, tasklog.Finished}
	if got := types(evs); !slices.Equal(got, want) {
		t.Fatalf("log = %v, want %v", got, want)
	}
	var retry, paused, finished map[string]any
	_ = json.Unmarshal(evs[2].Data, &retry)
	_ = json.Unmarshal(evs[4].Data, &paused)
	_ = json.Unmarshal(evs[8].Data, &finished)
	if retry["reason"] != task.ReasonAgentUnavailable || retry["attempt"] != float64(1) {
		t.Errorf("retry = %v", retry)
	}
	if q, _ := paused["question"].(map[string]any); q["question"] != "which city?" {
		t.Errorf("paused = %v, want the agent's question", paused)
	}
	if finished["state"] != "succeeded" || finished["result"] != "Paris" {
		t.Errorf("finished = %v", finished)
	}
	if !evs[8].At.Equal(now.Add(6 * time.Second)) {
		t.Errorf("finished at %v, want the write's time", evs[8].At)
	}
}

// TestConcurrentWritersOneLog: a worker finishing, a stop and an agent pushing progress, all at
// once on one task: the log is gap-free, holds every push, and ends with one Finished event that
// says what the task became.
func TestConcurrentWritersOneLog(t *testing.T) {
	suite.Require(t)
	ctx := context.Background()
	name := newTable(t)
	log := tasklog.New(dynamo, name)
	s := store.New(dynamo, name).WithEvents(tasklog.NewRecorder(log, nil))
	for range 3 {
		id := uuid.NewString()
		if err := s.Create(ctx, newTask(id)); err != nil {
			t.Fatal(err)
		}
		cl, err := s.Claim(ctx, id, now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		const pushes = 15
		var wg sync.WaitGroup
		wg.Go(func() { // the worker records the answer
			_, _ = s.Transition(ctx, id, task.Change{From: []task.State{task.Running}, Version: cl.Version, To: task.Succeeded, Now: now, Result: "done"})
		})
		wg.Go(func() { // a caller stops the task
			_, _ = s.Transition(ctx, id, task.Change{To: task.Canceled, Now: now, Reason: task.ReasonCanceled})
		})
		errs := make(chan error, pushes)
		wg.Go(func() { // the agent pushes progress
			for i := range pushes {
				data, _ := json.Marshal(map[string]any{"message": i})
				_, err := log.Append(ctx, tasklog.Entry{TaskID: id, Tenant: "acme", Type: tasklog.Status, Data: data})
				errs <- err
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		final, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := log.Read(ctx, id, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		finishedAt, statuses := -1, 0
		for i, ev := range evs {
			if ev.Seq != int64(i+1) {
				t.Fatalf("seq %d at %d: a gap", ev.Seq, i)
			}
			switch ev.Type {
			case tasklog.Finished:
				if finishedAt >= 0 {
					t.Fatal("two finished events")
				}
				finishedAt = i
				var d map[string]any
				_ = json.Unmarshal(ev.Data, &d)
				if d["state"] != string(final.State) {
					t.Fatalf("finished says %v, the task is %s", d["state"], final.State)
				}
			case tasklog.Status:
				statuses++
			}
		}
		if finishedAt < 0 || statuses != pushes || evs[0].Type != tasklog.Created {
			t.Fatalf("log %v: want created first, %d statuses and a finished event", types(evs), pushes)
		}
	}
}

// TestMissingFinishedIsAppendedOnce: a reader mending a log and the writer's own append race;
// the log gets one Finished event.
func TestMissingFinishedIsAppendedOnce(t *testing.T) {
	suite.Require(t)
	ctx := context.Background()
	log := tasklog.New(dynamo, newTable(t))
	tk := newTask(uuid.NewString())
	tk.State, tk.Reason, tk.ReasonMessage = task.Failed, task.ReasonAgentFailed, "boom"
	e, ok := tasklog.Missing(tk)
	if !ok {
		t.Fatal("an ended task lacks nothing?")
	}
	var wg sync.WaitGroup
	var dups sync.Map
	for i := range 4 {
		wg.Go(func() {
			if _, err := log.Append(ctx, e); err != nil {
				dups.Store(i, err)
			}
		})
	}
	wg.Wait()
	n := 0
	dups.Range(func(_, v any) bool {
		if !errors.Is(v.(error), tasklog.ErrDuplicate) {
			t.Errorf("append: %v", v)
		}
		n++
		return true
	})
	evs, _ := log.Read(ctx, tk.ID, 0, 0)
	if len(evs) != 1 || n != 3 {
		t.Fatalf("%d events and %d refusals, want one Finished", len(evs), n)
	}
	if _, ok := tasklog.Missing(newTask("x")); ok {
		t.Error("a queued task has no finished event to lack")
	}
}

// TestClaimBeforeCreatedIsLogged: the worker may claim a task before accept has logged its
// creation (the two leave accept together); the log still begins with created, once.
func TestClaimBeforeCreatedIsLogged(t *testing.T) {
	log := tasklogtest.New()
	r := tasklog.NewRecorder(log, nil)
	tk := newTask(uuid.NewString())
	claimed := *tk
	claimed.State, claimed.Attempts, claimed.Version = task.Running, 1, 2
	r.Claimed(context.Background(), &claimed)
	r.Created(context.Background(), tk)
	evs, _ := log.Read(context.Background(), tk.ID, 0, 0)
	if got, want := types(evs), []tasklog.Type{tasklog.Created, tasklog.Attempt}; !slices.Equal(got, want) {
		t.Fatalf("log = %v, want %v", got, want)
	}
	if !strings.Contains(string(evs[0].Data), `"state":"queued"`) {
		t.Errorf("created = %s, want the task as it was created", evs[0].Data)
	}
}

// TestChecksOnARemoteTaskAreLoggedOnce: while an agent works on its own task, each check claims
// the task and releases it again; the log says once that the agent works on, not every check.
func TestChecksOnARemoteTaskAreLoggedOnce(t *testing.T) {
	ctx := context.Background()
	s, log, id := recordedTask(t)
	for i := range 4 {
		cl, err := s.Claim(ctx, id, now.Add(time.Duration(i)*time.Second), time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Transition(ctx, id, task.Change{From: []task.State{task.Running}, Version: cl.Version, To: task.Running,
			Now: now.Add(time.Duration(i) * time.Second), RemoteTaskID: "remote-1", ReleaseLease: true}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := log.Read(ctx, id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := types(evs), []tasklog.Type{tasklog.Created, tasklog.Attempt, tasklog.StateChanged}; !slices.Equal(got, want) {
		t.Fatalf("log = %v, want %v", got, want)
	}
	if !strings.Contains(string(evs[2].Data), `"remote_task_id":"remote-1"`) {
		t.Fatalf("state event %s", evs[2].Data)
	}
}
