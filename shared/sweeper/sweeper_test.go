package sweeper

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/task/tasktest"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fakeQueue struct {
	sent []*queue.Message
	err  error
}

func (q *fakeQueue) Send(_ context.Context, m *queue.Message, _ time.Duration) error {
	if q.err != nil {
		return q.err
	}
	q.sent = append(q.sent, m)
	return nil
}

type fakeRegistry map[string]agent.Agent

func (r fakeRegistry) Lookup(_ context.Context, id, version string) (agent.Agent, error) {
	a, ok := r[id+"@"+version]
	if !ok {
		return agent.Agent{}, agent.ErrVersionNotFound
	}
	return a, nil
}

func echo() agent.Agent {
	return agent.Agent{ID: "echo", Version: "1", Protocol: agent.HTTP, Endpoint: "http://127.0.0.1:1/echo"}
}

func stale(id string, st task.State) *task.Task {
	return &task.Task{ID: id, Tenant: "t1", AgentID: "echo", AgentVersion: "1", State: st, Version: 3,
		Text: "hi", Request: []byte(`{"input":{"text":"hi"}}`), CreatedAt: now.Add(-2 * time.Hour), UpdatedAt: now.Add(-time.Hour)}
}

func run(t *testing.T, fs Store, q *fakeQueue) Report {
	t.Helper()
	s := New(Config{Store: fs, Queue: q, Registry: fakeRegistry{"echo@1": echo()}, Now: func() time.Time { return now }})
	r, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSweep(t *testing.T) {
	withSecrets := stale("secret", task.Queued)
	withSecrets.NeedsSecrets = true
	expiredLease := stale("expired", task.Running)
	expiredLease.LeaseUntil = now.Add(-time.Hour)
	recentLease := stale("recent", task.Running)
	recentLease.LeaseUntil = now.Add(-time.Minute)
	fresh := stale("fresh", task.Queued)
	fresh.UpdatedAt = now.Add(-time.Minute)
	gone := stale("gone", task.Queued)
	gone.AgentVersion = "9"
	waiting := stale("waiting", task.Queued)
	waiting.PrevTaskID = "busy"
	busy := stale("busy", task.Running)
	busy.LeaseUntil = now.Add(time.Minute)
	busy.UpdatedAt = now
	after := stale("after", task.Queued)
	after.PrevTaskID, after.ThreadID = "done", "th"
	done := stale("done", task.Succeeded)

	tests := []struct {
		name      string
		task      *task.Task
		extra     []*task.Task
		wantState task.State
		wantSent  bool
		want      Report
	}{
		{"queued, no secrets: requeued", stale("q", task.Queued), nil, task.Queued, true, Report{Passed: 1, Watched: 1, Examined: 1, Requeued: 1}},
		{"running, lease long expired: requeued", expiredLease, nil, task.Running, true, Report{Passed: 1, Watched: 1, Examined: 1, Requeued: 1}},
		{"needs secrets: failed lost", withSecrets, nil, task.Failed, false, Report{Passed: 1, Watched: 1, Examined: 1, Failed: 1}},
		{"agent version gone: failed lost", gone, nil, task.Failed, false, Report{Passed: 1, Watched: 1, Examined: 1, Failed: 1}},
		{"lease lapsed lately: left alone", recentLease, nil, task.Running, false, Report{Passed: 1, Watched: 1, Examined: 1, Skipped: 1}},
		{"recently written: watched, not mended", fresh, nil, task.Queued, false, Report{Passed: 1, Watched: 1}},
		{"turn behind a busy predecessor: left alone", waiting, []*task.Task{busy}, task.Queued, false, Report{Passed: 2, Watched: 2, Examined: 1, Skipped: 1}},
		{"turn after an ended predecessor: requeued", after, []*task.Task{done}, task.Queued, true, Report{Passed: 2, Watched: 1, Examined: 1, Requeued: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := tasktest.New(append([]*task.Task{tt.task}, tt.extra...)...)
			q := &fakeQueue{}
			r := run(t, fs, q)
			if r != tt.want {
				t.Errorf("report %+v, want %+v", r, tt.want)
			}
			got := fs.Task(tt.task.ID)
			if got.State != tt.wantState {
				t.Errorf("state %s, want %s", got.State, tt.wantState)
			}
			if got.State == task.Failed && (got.Reason != task.ReasonLost || got.ReasonMessage == "") {
				t.Errorf("failed with %q %q, want reason lost", got.Reason, got.ReasonMessage)
			}
			if (len(q.sent) == 1) != tt.wantSent {
				t.Fatalf("sent %d messages, want sent=%v", len(q.sent), tt.wantSent)
			}
			if tt.wantSent {
				m := q.sent[0]
				if m.Kind != queue.KindInvoke || m.TaskID != tt.task.ID || m.Agent.ID != "echo" || m.Text != "hi" ||
					string(m.Request) != `{"input":{"text":"hi"}}` || !m.AcceptedAt.Equal(tt.task.CreatedAt) ||
					m.ThreadTurn != (tt.task.PrevTaskID != "") || m.AuthToken != "" || m.Secrets != nil {
					t.Errorf("message %+v", m)
				}
				if got.UpdatedAt != now {
					t.Errorf("requeued task not touched: updated_at %v", got.UpdatedAt)
				}
				// A second run finds it touched, and sends nothing more.
				if r := run(t, fs, q); r.Requeued != 0 || len(q.sent) != 1 {
					t.Errorf("second run %+v sent %d", r, len(q.sent))
				}
			}
			if got.State == task.Queued || got.State == task.Running {
				if !fs.Watched(tt.task.ID) {
					t.Error("a task in flight that the walk passed is not watched: a message lost later would never be found")
				}
			}
		})
	}
}

func TestSweepConflictIsSkipped(t *testing.T) {
	// A worker claims the task between the read and the touch: nothing is sent.
	fs := &racingStore{Store: tasktest.New(stale("q", task.Queued))}
	q := &fakeQueue{}
	s := New(Config{Store: fs, Queue: q, Registry: fakeRegistry{"echo@1": echo()}, Now: func() time.Time { return now }})
	r, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r != (Report{Passed: 1, Watched: 1, Examined: 1, Skipped: 1}) || len(q.sent) != 0 {
		t.Errorf("report %+v, sent %d", r, len(q.sent))
	}
	// The same race on a watched task that the next runs read from the idle ones.
	later := now.Add(2 * time.Hour)
	fs.claim = true
	s = New(Config{Store: fs, Queue: q, Registry: fakeRegistry{"echo@1": echo()}, Now: func() time.Time { return later }})
	if r, err := s.Sweep(context.Background()); err != nil || r != (Report{Examined: 1, Skipped: 1}) || len(q.sent) != 0 {
		t.Errorf("report %+v, err %v, sent %d", r, err, len(q.sent))
	}
}

// racingStore lets a worker claim every task just after the sweeper read it: when the walk
// watches it, and, with claim set, when it is read among the idle ones.
type racingStore struct {
	*tasktest.Store
	claim bool
}

func (r *racingStore) Watch(ctx context.Context, id string) (*task.Task, error) {
	t, err := r.Store.Watch(ctx, id)
	if err == nil {
		r.claimed(t.ID)
	}
	return t, err
}

func (r *racingStore) Idle(ctx context.Context, before time.Time, limit int) ([]*task.Task, error) {
	out, err := r.Store.Idle(ctx, before, limit)
	for _, t := range out {
		if r.claim {
			r.claimed(t.ID)
		}
	}
	return out, err
}

func (r *racingStore) claimed(id string) {
	cur := r.Task(id)
	cur.State, cur.Version, cur.UpdatedAt = task.Running, cur.Version+1, now
	r.Put(&cur)
}

// failingIdle cannot read the idle tasks, and records the limit it was asked for.
type failingIdle struct {
	*tasktest.Store
	limit, passLimit int
}

func (f *failingIdle) Pass(ctx context.Context, before time.Time, limit int, fn func([]*task.Task) error) (int, error) {
	f.passLimit = limit
	return f.Store.Pass(ctx, before, limit, fn)
}

func (f *failingIdle) Idle(_ context.Context, _ time.Time, limit int) ([]*task.Task, error) {
	f.limit = limit
	return nil, errors.New("throttled")
}

func TestSweepErrors(t *testing.T) {
	fs := &failingIdle{Store: tasktest.New()}
	s := New(Config{Store: fs, Queue: &fakeQueue{}, Registry: fakeRegistry{}})
	if _, err := s.Sweep(context.Background()); err == nil {
		t.Error("want the read error")
	}
	if fs.limit != DefaultLimit || fs.passLimit != DefaultPassLimit {
		t.Errorf("limits %d, %d; want %d, %d", fs.limit, fs.passLimit, DefaultLimit, DefaultPassLimit)
	}
	// A send that fails counts as an error; the task was touched, so it comes back after StaleAfter.
	s = New(Config{Store: tasktest.New(stale("q", task.Queued)), Queue: &fakeQueue{err: errors.New("sqs down")}, Registry: fakeRegistry{"echo@1": echo()},
		Now: func() time.Time { return now }})
	r, err := s.Sweep(context.Background())
	if err != nil || r != (Report{Passed: 1, Watched: 1, Examined: 1, Errors: 1}) {
		t.Errorf("report %+v, err %v", r, err)
	}
}

// TestTaskInFlightAtTheWalkIsFoundLater: a task still legitimately running when the walk passes
// it (a long-running agent checked a minute ago) is watched; when its message is lost later, a
// run finds it among the idle watched tasks and requeues it.
func TestTaskInFlightAtTheWalkIsFoundLater(t *testing.T) {
	t0 := now.Add(-31 * time.Minute)
	long := stale("long", task.Running)
	long.CreatedAt, long.UpdatedAt, long.LeaseUntil = t0, now.Add(-2*time.Minute), now.Add(13*time.Minute)
	fs := tasktest.New(long)
	q := &fakeQueue{}
	at := func(when time.Time) Report {
		t.Helper()
		s := New(Config{Store: fs, Queue: q, Registry: fakeRegistry{"echo@1": echo()}, Now: func() time.Time { return when }})
		r, err := s.Sweep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := at(now); r != (Report{Passed: 1, Watched: 1}) || len(q.sent) != 0 {
		t.Fatalf("first look: report %+v, sent %d; want it watched and left alone", r, len(q.sent))
	}
	// Its message is lost: nothing writes it. Once its lease ran out StaleAfter ago, a run that
	// passes nothing new finds it all the same.
	if r := at(now.Add(50 * time.Minute)); r != (Report{Examined: 1, Requeued: 1}) || len(q.sent) != 1 || q.sent[0].TaskID != "long" {
		t.Errorf("after the message was lost: report %+v, sent %d; want it requeued", r, len(q.sent))
	}
}

// TestResumedTaskIsWatched: a task paused when the walk passed it is not watched; its resume
// watches it, so that a message lost after the resume is found.
func TestResumedTaskIsWatched(t *testing.T) {
	paused := stale("paused", task.Paused)
	fs := tasktest.New(paused)
	q := &fakeQueue{}
	if r := run(t, fs, q); r != (Report{Passed: 1}) || fs.Watched("paused") {
		t.Fatalf("report %+v, watched %v; want passed, not watched", r, fs.Watched("paused"))
	}
	resumedAt := now.Add(-time.Hour) // the approval an hour ago; its message was lost
	if _, err := fs.Transition(context.Background(), "paused", task.Change{From: []task.State{task.Paused}, To: task.Queued, Version: paused.Version, Now: resumedAt}); err != nil {
		t.Fatal(err)
	}
	if r := run(t, fs, q); r != (Report{Examined: 1, Requeued: 1}) || len(q.sent) != 1 {
		t.Errorf("report %+v, sent %d; want the resumed task requeued", r, len(q.sent))
	}
}

// failingWatch cannot watch until fixed.
type failingWatch struct {
	*tasktest.Store
	broken bool
}

func (f *failingWatch) Watch(ctx context.Context, id string) (*task.Task, error) {
	if f.broken {
		return nil, errors.New("throttled")
	}
	return f.Store.Watch(ctx, id)
}

// TestWalkErrorLeavesThePage: a task the walk could not watch is not passed: the next run passes
// and mends it.
func TestWalkErrorLeavesThePage(t *testing.T) {
	fs := &failingWatch{Store: tasktest.New(stale("q", task.Queued)), broken: true}
	q := &fakeQueue{}
	s := New(Config{Store: fs, Queue: q, Registry: fakeRegistry{"echo@1": echo()}, Now: func() time.Time { return now }})
	if r, err := s.Sweep(context.Background()); err == nil || r.Passed != 0 || len(q.sent) != 0 {
		t.Fatalf("report %+v, err %v, sent %d; want the walk's error and nothing passed", r, err, len(q.sent))
	}
	fs.broken = false
	if r, err := s.Sweep(context.Background()); err != nil || r != (Report{Passed: 1, Watched: 1, Examined: 1, Requeued: 1}) {
		t.Errorf("second run: report %+v, err %v", r, err)
	}
}
