package tasktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/task"
)

// Conformer is what Conformance checks: the conditional writes every task store makes.
type Conformer interface {
	Create(ctx context.Context, t *task.Task) error
	Get(ctx context.Context, id string) (*task.Task, error)
	Claim(ctx context.Context, id string, now time.Time, lease time.Duration) (*task.Task, error)
	Transition(ctx context.Context, id string, c task.Change) (*task.Task, error)
	Touch(ctx context.Context, id string, state task.State, version int64, now time.Time) (*task.Task, error)
	Abandon(ctx context.Context, t *task.Task, now time.Time, reason, message string) (*task.Task, error)
	Family(ctx context.Context, t *task.Task) ([]*task.Task, error)
	Delete(ctx context.Context, ts []*task.Task) error
	SetVerification(ctx context.Context, id, verdict string) (*task.Task, error)
	Pass(ctx context.Context, before time.Time, limit int, fn func([]*task.Task) error) (int, error)
	Watch(ctx context.Context, id string) (*task.Task, error)
	Idle(ctx context.Context, before time.Time, limit int) ([]*task.Task, error)
}

var _ Conformer = (*Store)(nil)

// conformanceNow has whole milliseconds: the DynamoDB store keeps leases to the millisecond.
var conformanceNow = time.Date(2026, 2, 7, 2, 13, 26, 0, time.UTC)

// Conformance checks that a store honours the conditions of the task store's contract. newStore
// answers an empty store for each subtest. Run it on the in-memory Store and on the DynamoDB
// store: the two then fail the same tests if either drifts.
func Conformance(t *testing.T, newStore func(t *testing.T) Conformer) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s Conformer)
	}{
		{"create and get", conformCreate},
		{"claim takes a queued task or a lapsed lease", conformClaim},
		{"transition checks state and version", conformConditions},
		{"transition refuses illegal moves", conformIllegal},
		{"transition records the outcome", conformRecords},
		{"transition to running can release the lease", conformRelease},
		{"pause and retry keep what they do not change", conformPauseRetry},
		{"touch keeps the version", conformTouch},
		{"abandon holds whether or not the task was written and until it is claimed", conformAbandon},
		{"a delete takes the conversation and its sub-tasks", conformDelete},
		{"receipt facts keep the version and survive transitions", conformReceiptFacts},
		{"the sweeper walk passes each task once and idle reads the watched", conformSweep},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

func queued(id string) *task.Task {
	return &task.Task{ID: id, Tenant: "acme", AgentID: "echo", AgentVersion: "1", Dialect: task.Xpander,
		Source: "api", State: task.Queued, Version: 1, Text: "hi", CreatedAt: conformanceNow, UpdatedAt: conformanceNow}
}

// setUp creates a queued task and claims it, so that it is running at version 2 under a lease.
func setUp(t *testing.T, s Conformer, id string, claim bool) *task.Task {
	t.Helper()
	ctx := context.Background()
	if err := s.Create(ctx, queued(id)); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	if !claim {
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	got, err := s.Claim(ctx, id, conformanceNow, time.Minute)
	if err != nil {
		t.Fatalf("claim %s: %v", id, err)
	}
	return got
}

// wantConflict checks that err is a *task.ConflictError carrying the task in state at version.
func wantConflict(t *testing.T, err error, state task.State, version int64) {
	t.Helper()
	var c *task.ConflictError
	if !errors.As(err, &c) {
		t.Fatalf("err = %v, want a *task.ConflictError", err)
	}
	if c.Current == nil || c.Current.State != state || c.Current.Version != version {
		t.Fatalf("conflict carries %+v, want the task %s at version %d", c.Current, state, version)
	}
}

func conformCreate(t *testing.T, s Conformer) {
	ctx := context.Background()
	got := setUp(t, s, "t-create", false)
	if got.State != task.Queued || got.Version != 1 || got.Text != "hi" || !got.CreatedAt.Equal(conformanceNow) {
		t.Errorf("read back %+v", got)
	}
	if err := s.Create(ctx, queued("t-create")); !errors.Is(err, task.ErrExists) {
		t.Errorf("second create: %v, want task.ErrExists", err)
	}
	if _, err := s.Get(ctx, "t-none"); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("get of an unknown task: %v, want task.ErrNotFound", err)
	}
}

func conformClaim(t *testing.T, s Conformer) {
	ctx := context.Background()
	got := setUp(t, s, "t-claim", true)
	if got.State != task.Running || got.Version != 2 || got.Attempts != 1 || !got.LeaseUntil.Equal(conformanceNow.Add(time.Minute)) {
		t.Fatalf("claimed %+v", got)
	}
	if !got.StartedAt.Equal(conformanceNow) {
		t.Errorf("started at %v, want %v", got.StartedAt, conformanceNow)
	}
	_, err := s.Claim(ctx, "t-claim", conformanceNow.Add(30*time.Second), time.Minute)
	wantConflict(t, err, task.Running, 2)
	later := conformanceNow.Add(2 * time.Minute)
	again, err := s.Claim(ctx, "t-claim", later, time.Minute)
	if err != nil {
		t.Fatalf("claim after the lease ended: %v", err)
	}
	if again.Attempts != 2 || again.Version != 3 || !again.StartedAt.Equal(conformanceNow) {
		t.Errorf("second claim %+v: want attempt 2, version 3, first start kept", again)
	}
	if _, err := s.Claim(ctx, "t-none", conformanceNow, time.Minute); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("claim of an unknown task: %v, want task.ErrNotFound", err)
	}
}

func conformConditions(t *testing.T, s Conformer) {
	ctx := context.Background()
	setUp(t, s, "t-cond", true)
	_, err := s.Transition(ctx, "t-cond", task.Change{From: []task.State{task.Running}, Version: 1, To: task.Succeeded, Now: conformanceNow})
	wantConflict(t, err, task.Running, 2)
	_, err = s.Transition(ctx, "t-cond", task.Change{From: []task.State{task.Queued}, To: task.Canceled, Now: conformanceNow})
	wantConflict(t, err, task.Running, 2)
	if _, err := s.Transition(ctx, "t-none", task.Change{To: task.Canceled, Now: conformanceNow}); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("transition of an unknown task: %v, want task.ErrNotFound", err)
	}
	// Empty From means every state that may move to To: running may be canceled.
	got, err := s.Transition(ctx, "t-cond", task.Change{To: task.Canceled, Now: conformanceNow, Reason: task.ReasonCanceled})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != task.Canceled || got.Version != 3 {
		t.Errorf("canceled %+v", got)
	}
	_, err = s.Transition(ctx, "t-cond", task.Change{To: task.Canceled, Now: conformanceNow})
	wantConflict(t, err, task.Canceled, 3)
}

func conformIllegal(t *testing.T, s Conformer) {
	ctx := context.Background()
	setUp(t, s, "t-illegal", false)
	for _, c := range []task.Change{
		{From: []task.State{task.Succeeded}, To: task.Running, Now: conformanceNow},
		{To: task.Queued, From: []task.State{task.Queued}, Now: conformanceNow},
		{To: task.Rejected, Now: conformanceNow},
	} {
		_, err := s.Transition(ctx, "t-illegal", c)
		var conflict *task.ConflictError
		if err == nil || errors.As(err, &conflict) || errors.Is(err, task.ErrNotFound) {
			t.Errorf("%v to %s: err = %v, want a refusal that is no conflict", c.From, c.To, err)
		}
	}
	if got, err := s.Get(ctx, "t-illegal"); err != nil || got.State != task.Queued || got.Version != 1 {
		t.Errorf("an illegal move wrote: %+v, %v", got, err)
	}
}

func conformRecords(t *testing.T, s Conformer) {
	ctx := context.Background()
	setUp(t, s, "t-rec", true)
	done := conformanceNow.Add(time.Second)
	got, err := s.Transition(ctx, "t-rec", task.Change{From: []task.State{task.Running}, Version: 2, To: task.Succeeded, Now: done,
		Result: "answer", Output: json.RawMessage(`{"a":1}`), CostUnits: 3,
		Usage: task.Usage{Tokens: task.Tokens{Prompt: 1, Completion: 2, Total: 3}, Actions: 2, Cost: 0.0125}})
	if err != nil {
		t.Fatal(err)
	}
	read, err := s.Get(ctx, "t-rec")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []*task.Task{got, read} {
		if tt.State != task.Succeeded || tt.Version != 3 || tt.Result != "answer" || string(tt.Output) != `{"a":1}` ||
			tt.CostUnits != 3 || tt.Usage != (task.Usage{Tokens: task.Tokens{Prompt: 1, Completion: 2, Total: 3}, Actions: 2, Cost: 0.0125}) {
			t.Errorf("recorded %+v", tt)
		}
		if !tt.FinishedAt.Equal(done) || !tt.UpdatedAt.Equal(done) || !tt.LeaseUntil.IsZero() {
			t.Errorf("finished %v, updated %v, lease %v: want finished and updated at %v, no lease", tt.FinishedAt, tt.UpdatedAt, tt.LeaseUntil, done)
		}
	}
}

func conformRelease(t *testing.T, s Conformer) {
	ctx := context.Background()
	setUp(t, s, "t-rel", true)
	got, err := s.Transition(ctx, "t-rel", task.Change{From: []task.State{task.Running}, Version: 2, To: task.Running,
		Now: conformanceNow, RemoteTaskID: "remote-1", ReleaseLease: true})
	if err != nil {
		t.Fatal(err)
	}
	if got.RemoteTaskID != "remote-1" || got.LeaseUntil.After(conformanceNow) {
		t.Errorf("released %+v: want the remote id and no live lease", got)
	}
	// The next delivery may take the task up at once.
	if _, err := s.Claim(ctx, "t-rel", conformanceNow.Add(time.Millisecond), time.Minute); err != nil {
		t.Errorf("claim after a released lease: %v", err)
	}
}

func conformPauseRetry(t *testing.T, s Conformer) {
	ctx := context.Background()
	setUp(t, s, "t-pause", true)
	retry, err := s.Transition(ctx, "t-pause", task.Change{From: []task.State{task.Running}, Version: 2, To: task.Queued,
		Now: conformanceNow, Reason: task.ReasonAgentUnavailable, ReasonMessage: "try later"})
	if err != nil {
		t.Fatal(err)
	}
	if retry.State != task.Queued || !retry.LeaseUntil.IsZero() || retry.Reason != task.ReasonAgentUnavailable {
		t.Errorf("retry %+v", retry)
	}
	if _, err := s.Claim(ctx, "t-pause", conformanceNow, time.Minute); err != nil {
		t.Fatal(err)
	}
	at := conformanceNow.Add(time.Second)
	paused, err := s.Transition(ctx, "t-pause", task.Change{From: []task.State{task.Running}, Version: 4, To: task.Paused,
		Now: at, RemoteTaskID: "remote-2", HITL: json.RawMessage(`{"q":"why?"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if !paused.PausedAt.Equal(at) || paused.RemoteTaskID != "remote-2" || string(paused.HITL) != `{"q":"why?"}` || !paused.LeaseUntil.IsZero() {
		t.Errorf("paused %+v", paused)
	}
	if paused.Reason != task.ReasonAgentUnavailable || paused.ReasonMessage != "try later" || !paused.FinishedAt.IsZero() {
		t.Errorf("a change without a reason replaced the last one, or a pause finished the task: %+v", paused)
	}
}

func conformTouch(t *testing.T, s Conformer) {
	ctx := context.Background()
	setUp(t, s, "t-touch", false)
	at := conformanceNow.Add(time.Hour)
	got, err := s.Touch(ctx, "t-touch", task.Queued, 1, at)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || !got.UpdatedAt.Equal(at) {
		t.Errorf("touched %+v: want version 1 updated at %v", got, at)
	}
	_, err = s.Touch(ctx, "t-touch", task.Queued, 2, at)
	wantConflict(t, err, task.Queued, 1)
	_, err = s.Touch(ctx, "t-touch", task.Running, 1, at)
	wantConflict(t, err, task.Queued, 1)
	if _, err := s.Touch(ctx, "t-none", task.Queued, 1, at); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("touch of an unknown task: %v, want task.ErrNotFound", err)
	}
}

// conformAbandon: an abandon writes the failed task whether its own write landed or not, and a
// write landing after it fails; a claimed task is not abandoned, and the conflict shows it.
func conformAbandon(t *testing.T, s Conformer) {
	ctx := context.Background()
	at := conformanceNow.Add(time.Second)
	for _, written := range []bool{false, true} {
		id := fmt.Sprintf("t-abandon-%v", written)
		if written {
			setUp(t, s, id, false)
		}
		got, err := s.Abandon(ctx, queued(id), at, task.ReasonDispatchFailed, "not queued")
		if err != nil {
			t.Fatalf("abandon (written %v): %v", written, err)
		}
		if got.State != task.Failed || got.Version != 2 || got.Reason != task.ReasonDispatchFailed {
			t.Errorf("abandoned %+v", got)
		}
		stored, err := s.Get(ctx, id)
		if err != nil || stored.State != task.Failed || stored.Reason != task.ReasonDispatchFailed || stored.Version != 2 {
			t.Fatalf("stored %+v, %v; want failed at version 2", stored, err)
		}
		if err := s.Create(ctx, queued(id)); !errors.Is(err, task.ErrExists) {
			t.Errorf("a write landing after the abandon: %v, want task.ErrExists", err)
		}
		if _, err := s.Claim(ctx, id, at, time.Minute); err == nil {
			t.Errorf("an abandoned task was claimed")
		}
	}
	setUp(t, s, "t-abandon-claimed", true)
	_, err := s.Abandon(ctx, queued("t-abandon-claimed"), at, task.ReasonDispatchFailed, "not queued")
	wantConflict(t, err, task.Running, 2)
}

// conformDelete: a delete takes a conversation's turns and their sub-tasks at any depth, and nothing else.
func conformDelete(t *testing.T, s Conformer) {
	ctx := context.Background()
	turn := func(id string, seq int) *task.Task {
		u := queued(id)
		u.ThreadID, u.ThreadSeq = "conv-1", seq
		return u
	}
	sub := queued("t-sub")
	sub.ParentTaskID = "t-turn1"
	subsub := queued("t-subsub")
	subsub.ParentTaskID = "t-sub"
	other := queued("t-other")
	for _, u := range []*task.Task{turn("t-turn1", 1), turn("t-turn2", 2), sub, subsub, other} {
		if err := s.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	second, err := s.Get(ctx, "t-turn2")
	if err != nil {
		t.Fatal(err)
	}
	family, err := s.Family(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]int{}
	for i, u := range family {
		at[u.ID] = i
	}
	if len(family) != 4 || len(at) != 4 {
		t.Fatalf("family = %d tasks %v, want the two turns, the sub-task and its own", len(family), at)
	}
	if _, ok := at["t-other"]; ok {
		t.Errorf("the family holds a task of its own: %v", at)
	}
	if at["t-subsub"] > at["t-sub"] || at["t-sub"] > at["t-turn1"] {
		t.Errorf("order %v: sub-tasks come before their parents", at)
	}
	if err := s.Delete(ctx, family); err != nil {
		t.Fatal(err)
	}
	for id := range at {
		if _, err := s.Get(ctx, id); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("get %s after the delete = %v, want task.ErrNotFound", id, err)
		}
	}
	if _, err := s.Get(ctx, "t-other"); err != nil {
		t.Errorf("a task outside the family was deleted: %v", err)
	}
}

func conformReceiptFacts(t *testing.T, s Conformer) {
	ctx := context.Background()
	running := setUp(t, s, "r1", true)
	got, err := s.SetVerification(ctx, "r1", "verified")
	if err != nil {
		t.Fatalf("set a verdict: %v", err)
	}
	if got.Version != running.Version || got.State != task.Running || got.Verification != "verified" {
		t.Fatalf("after the verdict: version %d state %s verdict %q; want version %d, running, verified",
			got.Version, got.State, got.Verification, running.Version)
	}
	// The worker's next write, conditional on the version it knows, still goes through.
	done, err := s.Transition(ctx, "r1", task.Change{From: []task.State{task.Running}, To: task.Succeeded, Version: running.Version,
		Now: conformanceNow.Add(time.Second), Result: "ok"})
	if err != nil {
		t.Fatalf("a transition after the receipt writes: %v", err)
	}
	if done.Verification != "verified" {
		t.Errorf("the transition dropped the verdict: %q", done.Verification)
	}
	if _, err := s.SetVerification(ctx, "missing", "failed"); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("set a verdict on no task: %v, want ErrNotFound", err)
	}
}

// conformSweep: a recorded task is not among the idle ones until watched; the walk passes each
// task created before its bound once, handing over those in flight, and a page whose handler
// failed is not passed; a pause or an end unwatches a task, a resume watches it.
func conformSweep(t *testing.T, s Conformer) {
	ctx := context.Background()
	cutoff := conformanceNow.Add(5 * time.Minute)
	for i, id := range []string{"s-a", "s-b", "s-ended", "s-paused", "s-new"} {
		tk := queued(id)
		tk.CreatedAt = conformanceNow.Add(time.Duration(i) * time.Second)
		if id == "s-new" {
			tk.CreatedAt = cutoff.Add(time.Second)
		}
		tk.UpdatedAt = tk.CreatedAt
		if err := s.Create(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Transition(ctx, "s-ended", task.Change{To: task.Canceled, Now: conformanceNow}); err != nil {
		t.Fatal(err)
	}
	running, err := s.Claim(ctx, "s-paused", conformanceNow, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, "s-paused", task.Change{From: []task.State{task.Running}, Version: running.Version, To: task.Paused, Now: conformanceNow}); err != nil {
		t.Fatal(err)
	}
	wantIdle := func(want ...string) {
		t.Helper()
		got, err := s.Idle(ctx, cutoff, 10)
		if err != nil {
			t.Fatal(err)
		}
		if ids := idsOf(got); fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("idle = %v, want %v", ids, want)
		}
	}
	wantIdle()

	var handed []*task.Task // the store hands them over a page of a shard at a time
	pass := func(limit int, fail error) int {
		t.Helper()
		n, err := s.Pass(ctx, cutoff, limit, func(ts []*task.Task) error {
			handed = append(handed, ts...)
			if fail != nil {
				return fail
			}
			for _, tk := range ts {
				if tk.ID == "s-a" {
					if _, err := s.Watch(ctx, tk.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
			return nil
		})
		if !errors.Is(err, fail) {
			t.Fatalf("pass: %v, want %v", err, fail)
		}
		return n
	}
	if n := pass(4, errors.New("throttled")); n != 0 {
		t.Errorf("a failed page passed %d tasks", n)
	}
	handed = nil
	if n := pass(4, nil); n != 4 || fmt.Sprint(idsOf(handed)) != "[s-a s-b]" {
		t.Errorf("pass: %d passed, handed %v; want 4 passed and [s-a s-b]", n, idsOf(handed))
	}
	if n := pass(10, nil); n != 0 {
		t.Errorf("a second walk passed %d tasks again", n)
	}
	wantIdle("s-a")

	_, err = s.Watch(ctx, "s-ended")
	wantConflict(t, err, task.Canceled, 2)
	if _, err := s.Watch(ctx, "s-none"); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("watch a missing task: %v", err)
	}
	if _, err := s.Transition(ctx, "s-paused", task.Change{From: []task.State{task.Paused}, To: task.Queued, Now: conformanceNow}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, "s-a", task.Change{From: []task.State{task.Queued}, To: task.Failed, Now: conformanceNow}); err != nil {
		t.Fatal(err)
	}
	wantIdle("s-paused")
}

func idsOf(ts []*task.Task) []string {
	ids := []string{}
	for _, t := range ts {
		ids = append(ids, t.ID)
	}
	slices.Sort(ids)
	return ids
}
