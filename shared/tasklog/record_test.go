package tasklog_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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

// readTask reads task id's log from after as readers see it, the created event included.
func readTask(t *testing.T, s *store.Store, log tasklog.Reader, id string, after int64) []tasklog.Event {
	t.Helper()
	tk, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := tasklog.ReadTask(context.Background(), log, tk, after, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
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
	evs := readTask(t, s, log, id, 0)
	want := []tasklog.Type{tasklog.Created, tasklog.Attempt, tasklog.Retry, tasklog.Attempt, tasklog.Paused, tasklog.Resumed,
		tasklog.Attempt, tasklog.Finished}
	if got := types(evs); !slices.Equal(got, want) {
		t.Fatalf("log = %v, want %v", got, want)
	}
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: a gap", i, ev.Seq)
		}
	}
	var retry, paused, finished map[string]any
	_ = json.Unmarshal(evs[2].Data, &retry)
	_ = json.Unmarshal(evs[4].Data, &paused)
	_ = json.Unmarshal(evs[7].Data, &finished)
	if retry["reason"] != task.ReasonAgentUnavailable || retry["attempt"] != float64(1) {
		t.Errorf("retry = %v", retry)
	}
	if q, _ := paused["question"].(map[string]any); q["question"] != "which city?" {
		t.Errorf("paused = %v, want the agent's question", paused)
	}
	if finished["state"] != "succeeded" || finished["result"] != "Paris" {
		t.Errorf("finished = %v", finished)
	}
	// The usage reported with the answer is part of finished: no event of its own.
	if u, _ := finished["usage"].(map[string]any); u["total_tokens"] != float64(5) {
		t.Errorf("finished = %v, want the usage in it", finished)
	}
	if !evs[7].At.Equal(now.Add(6 * time.Second)) {
		t.Errorf("finished at %v, want the write's time", evs[8].At)
	}
}

// TestConcurrentWritersOneLog: a worker finishing, a stop and an agent pushing progress, all at
// once on one task: the log is gap-free, holds every push that was taken, refuses those that came
// after it ended, and ends with one Finished event that says what the task became.
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
				_, err := log.Append(ctx, tasklog.Entry{TaskID: id, Tenant: "acme", Type: tasklog.Status, Data: data, Claimed: true})
				errs <- err
			}
		})
		wg.Wait()
		close(errs)
		taken := 0
		for err := range errs {
			switch {
			case err == nil:
				taken++
			case !errors.Is(err, tasklog.ErrEnded):
				t.Fatal(err)
			}
		}
		final, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		evs := readTask(t, s, log, id, 0)
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
		if finishedAt != len(evs)-1 || statuses != taken || evs[0].Type != tasklog.Created || evs[1].Type != tasklog.Attempt {
			t.Fatalf("log %v: want created and the attempt first, %d statuses and a finished event last", types(evs), taken)
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

// TestCreatedAndFirstAttemptAreImplied: no writer stores created or a task's first attempt;
// every reader sees them first (seq 1, the task as it was accepted; seq 2, the first claim), and a
// read resumes across them from every position.
func TestCreatedAndFirstAttemptAreImplied(t *testing.T) {
	ctx := context.Background()
	log := tasklogtest.New()
	r := tasklog.NewRecorder(log, nil)
	tk := newTask(uuid.NewString())
	claimed := *tk
	claimAt := now.Add(3 * time.Second)
	claimed.State, claimed.Attempts, claimed.Version, claimed.StartedAt, claimed.UpdatedAt = task.Running, 1, 2, claimAt, claimAt
	r.Claimed(ctx, &claimed)
	if stored, _ := log.Read(ctx, tk.ID, 0, 0); len(stored) != 0 {
		t.Fatalf("stored %v, want nothing: the first attempt is implied", stored)
	}
	all, err := tasklog.ReadTask(ctx, log, &claimed, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := types(all), []tasklog.Type{tasklog.Created, tasklog.Attempt}; !slices.Equal(got, want) || all[0].Seq != 1 || all[1].Seq != 2 {
		t.Fatalf("log = %v, want %v", all, want)
	}
	if !strings.Contains(string(all[0].Data), `"state":"queued"`) || !all[0].At.Equal(tk.CreatedAt) {
		t.Errorf("created = %+v, want the task as it was created", all[0])
	}
	if string(all[1].Data) != `{"attempt":1,"state":"running"}` || !all[1].At.Equal(claimAt) {
		t.Errorf("attempt = %s at %v, want attempt 1 at the claim's time", all[1].Data, all[1].At)
	}
	for after, want := range map[int64][]tasklog.Type{1: {tasklog.Attempt}, 2: {}, -1: {tasklog.Created, tasklog.Attempt}} {
		got, _ := tasklog.ReadTask(ctx, log, &claimed, after, 0)
		if !slices.Equal(types(got), want) {
			t.Errorf("after %d: %v, want %v", after, types(got), want)
		}
	}
	if one, _ := tasklog.ReadTask(ctx, log, &claimed, 0, 1); len(one) != 1 || one[0].Type != tasklog.Created {
		t.Errorf("a page of one = %v, want created", one)
	}
	if queued, _ := tasklog.ReadTask(ctx, log, tk, 0, 0); !slices.Equal(types(queued), []tasklog.Type{tasklog.Created}) {
		t.Errorf("a task never claimed reads %v, want created alone", types(queued))
	}
}

// TestFirstAttemptOfAProgressEventsTask: a task that opted in to progress events stores its first
// attempt (the notifier hears of stored events only), as seq 2 and as readers imply it, so a
// reader that read before the append and one after see the same event under the same id, even
// when a later event landed first.
func TestFirstAttemptOfAProgressEventsTask(t *testing.T) {
	ctx := context.Background()
	log := tasklogtest.New()
	claimed := newTask(uuid.NewString())
	claimed.State, claimed.Attempts, claimed.Version, claimed.StartedAt, claimed.UpdatedAt = task.Running, 1, 2, now, now
	claimed.ProgressEvents = true
	before, _ := tasklog.ReadTask(ctx, log, claimed, 0, 0)
	// The agent's first report lands before the worker's append of the attempt.
	if ev, err := log.Append(ctx, tasklog.Entry{TaskID: claimed.ID, Type: tasklog.Status, Limited: true, Claimed: true, Notify: true}); err != nil || ev.Seq != 3 {
		t.Fatalf("a report on a claimed task: %+v, %v; want seq 3", ev, err)
	}
	tasklog.NewRecorder(log, nil).Claimed(ctx, claimed)
	stored, _ := log.Read(ctx, claimed.ID, 0, 0)
	if len(stored) != 2 || stored[0].Seq != 2 || stored[0].Type != tasklog.Attempt {
		t.Fatalf("stored %v, want the attempt at 2 and the report at 3", stored)
	}
	after, _ := tasklog.ReadTask(ctx, log, claimed, 0, 0)
	if len(after) != 3 || !reflect.DeepEqual(after[1], before[1]) {
		t.Fatalf("read before the append %+v, after %+v: want the same attempt", before, after)
	}
}

// TestStaleRecordStopsBeforeTheAttempt: a reader whose task record predates the first claim, on
// a log whose stored events already follow the attempt, answers nothing past created rather than
// skip seq 2; with the task read again it answers the attempt and the rest.
func TestStaleRecordStopsBeforeTheAttempt(t *testing.T) {
	ctx := context.Background()
	tk := newTask(uuid.NewString())
	stored := storedLog{{Seq: 3, Type: tasklog.Finished, At: now}}
	for after, want := range map[int64][]tasklog.Type{0: {tasklog.Created}, 1: {}} {
		got, _ := tasklog.ReadTask(ctx, stored, tk, after, 0)
		if !slices.Equal(types(got), want) {
			t.Errorf("stale record, after %d: %v, want %v", after, types(got), want)
		}
	}
	fresh := *tk
	fresh.State, fresh.Attempts, fresh.StartedAt = task.Succeeded, 1, now
	got, _ := tasklog.ReadTask(ctx, stored, &fresh, 1, 0)
	if want := []tasklog.Type{tasklog.Attempt, tasklog.Finished}; !slices.Equal(types(got), want) || got[0].Seq != 2 {
		t.Errorf("fresh record: %v, want %v", got, want)
	}
}

// TestEndedBeforeAnyClaim: a task stopped while queued has no attempt; its finished event is
// seq 2. A stop that lands after the first claim is seq 3, after the implied attempt.
func TestEndedBeforeAnyClaim(t *testing.T) {
	ctx := context.Background()
	s, log, id := recordedTask(t)
	if _, err := s.Transition(ctx, id, task.Change{To: task.Canceled, Now: now, Reason: task.ReasonCanceled}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, id, now, time.Minute); err == nil {
		t.Fatal("claimed a canceled task")
	}
	evs := readTask(t, s, log, id, 0)
	if got := types(evs); !slices.Equal(got, []tasklog.Type{tasklog.Created, tasklog.Finished}) || evs[1].Seq != 2 {
		t.Fatalf("log %v, want created and finished at 2", evs)
	}
	id2 := uuid.NewString()
	if err := s.Create(ctx, newTask(id2)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, id2, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, id2, task.Change{To: task.Canceled, Now: now, Reason: task.ReasonCanceled}); err != nil {
		t.Fatal(err)
	}
	evs = readTask(t, s, log, id2, 0)
	if got := types(evs); !slices.Equal(got, []tasklog.Type{tasklog.Created, tasklog.Attempt, tasklog.Finished}) || evs[2].Seq != 3 {
		t.Fatalf("log %v, want created, the implied attempt and finished at 3", evs)
	}
}

// TestStoredCreatedIsNotRepeated: a log written before created was implied begins with its own
// created event, and one written before the first attempt was implied holds its own attempt at
// 2; a reader answers each once, whatever the record says.
func TestStoredCreatedIsNotRepeated(t *testing.T) {
	ctx := context.Background()
	tk := newTask(uuid.NewString())
	tk.Attempts, tk.StartedAt = 1, now
	for _, old := range []storedLog{
		{{Seq: 1, Type: tasklog.Created, At: now}, {Seq: 2, Type: tasklog.Attempt, At: now}, {Seq: 3, Type: tasklog.Finished, At: now}},
		{{Seq: 2, Type: tasklog.Attempt, At: now, Data: json.RawMessage(`{"stored":true}`)}, {Seq: 3, Type: tasklog.Finished, At: now}},
	} {
		for after := int64(0); after <= 3; after++ {
			evs, err := tasklog.ReadTask(ctx, old, tk, after, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := []tasklog.Type{tasklog.Created, tasklog.Attempt, tasklog.Finished}[after:]
			if got := types(evs); !slices.Equal(got, want) {
				t.Fatalf("after %d: log = %v, want %v", after, got, want)
			}
			if after <= 1 && len(old) == 2 && string(evs[1-after].Data) != `{"stored":true}` {
				t.Fatalf("after %d: attempt %s, want the stored one", after, evs[1-after].Data)
			}
		}
	}
}

// storedLog is one task's stored events, as a Reader.
type storedLog []tasklog.Event

func (s storedLog) Read(_ context.Context, _ string, after int64, limit int) ([]tasklog.Event, error) {
	var out []tasklog.Event
	for _, ev := range s {
		if ev.Seq > after && len(out) < limit {
			out = append(out, ev)
		}
	}
	return out, nil
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
	evs := readTask(t, s, log, id, 0)
	if got, want := types(evs), []tasklog.Type{tasklog.Created, tasklog.Attempt, tasklog.StateChanged}; !slices.Equal(got, want) {
		t.Fatalf("log = %v, want %v", got, want)
	}
	if !strings.Contains(string(evs[2].Data), `"remote_task_id":"remote-1"`) {
		t.Fatalf("state event %s", evs[2].Data)
	}
}

// countingDB counts the writes and queries of the store and the log by operation.
type countingDB struct {
	store.DynamoDB
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingDB) count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[op]++
}

func (c *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.count("UpdateItem")
	return c.DynamoDB.UpdateItem(ctx, in, o...)
}

func (c *countingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.count("PutItem")
	return c.DynamoDB.PutItem(ctx, in, o...)
}

func (c *countingDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.count("TransactWriteItems")
	return c.DynamoDB.TransactWriteItems(ctx, in, o...)
}

func (c *countingDB) Query(ctx context.Context, in *dynamodb.QueryInput, o ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.count("Query")
	return c.DynamoDB.Query(ctx, in, o...)
}

// TestTypicalTaskLogCost: a task accepted, claimed once and answered with usage costs its log one
// one-item write and one read (the finished event's tail): created and the first attempt are
// implied, usage rides in finished, and finished needs no dedupe marker. With the claim and the
// outcome, the worker's part of the task is three UpdateItems and one Query.
func TestTypicalTaskLogCost(t *testing.T) {
	suite.Require(t)
	ctx := context.Background()
	name := newTable(t)
	db := &countingDB{DynamoDB: dynamo, calls: map[string]int{}}
	log := tasklog.New(db, name)
	s := store.New(db, name).WithEvents(tasklog.NewRecorder(log, nil))
	id := uuid.NewString()
	if err := s.Create(ctx, newTask(id)); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"PutItem": 1}; !maps.Equal(db.calls, want) {
		t.Errorf("accept's requests = %v, want %v", db.calls, want)
	}
	clear(db.calls)
	cl, err := s.Claim(ctx, id, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"UpdateItem": 1}; !maps.Equal(db.calls, want) {
		t.Errorf("the claim's requests = %v, want %v: the first attempt is implied", db.calls, want)
	}
	if _, err := s.Transition(ctx, id, task.Change{From: []task.State{task.Running}, Version: cl.Version, To: task.Succeeded, Now: now,
		Result: "done", Usage: task.Usage{Tokens: task.Tokens{Prompt: 1, Completion: 1, Total: 2}}}); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"UpdateItem": 3, "Query": 1}; !maps.Equal(db.calls, want) {
		t.Errorf("the worker's requests = %v, want %v", db.calls, want)
	}
	evs := readTask(t, s, log, id, 0)
	if got, want := types(evs), []tasklog.Type{tasklog.Created, tasklog.Attempt, tasklog.Finished}; !slices.Equal(got, want) || evs[2].Seq != 3 {
		t.Errorf("log = %v, want %v", evs, want)
	}
}
