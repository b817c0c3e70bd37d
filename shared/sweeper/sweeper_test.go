package sweeper

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fakeStore struct {
	tasks    map[string]*task.Task
	idleErr  error
	touched  []string
	limitArg int
}

func (f *fakeStore) Idle(_ context.Context, before time.Time, limit int) ([]*task.Task, error) {
	f.limitArg = limit
	if f.idleErr != nil {
		return nil, f.idleErr
	}
	var out []*task.Task
	for _, t := range f.tasks {
		if (t.State == task.Queued || t.State == task.Running) && t.UpdatedAt.Before(before) && len(out) < limit {
			c := *t
			out = append(out, &c)
		}
	}
	return out, nil
}

func (f *fakeStore) Get(_ context.Context, id string) (*task.Task, error) {
	t, ok := f.tasks[id]
	if !ok {
		return nil, task.ErrNotFound
	}
	c := *t
	return &c, nil
}

func (f *fakeStore) Touch(_ context.Context, id string, state task.State, version int64, at time.Time) (*task.Task, error) {
	t, ok := f.tasks[id]
	if !ok {
		return nil, task.ErrNotFound
	}
	if t.State != state || t.Version != version {
		return nil, &task.ConflictError{Current: t}
	}
	t.UpdatedAt = at
	f.touched = append(f.touched, id)
	return t, nil
}

func (f *fakeStore) Transition(_ context.Context, id string, c task.Change) (*task.Task, error) {
	t := f.tasks[id]
	if t.Version != c.Version || t.State != c.From[0] {
		return nil, &task.ConflictError{Current: t}
	}
	t.State, t.Reason, t.ReasonMessage, t.Version, t.UpdatedAt = c.To, c.Reason, c.ReasonMessage, t.Version+1, c.Now
	return t, nil
}

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

func run(t *testing.T, fs *fakeStore, q *fakeQueue) Report {
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
		{"queued, no secrets: requeued", stale("q", task.Queued), nil, task.Queued, true, Report{Examined: 1, Requeued: 1}},
		{"running, lease long expired: requeued", expiredLease, nil, task.Running, true, Report{Examined: 1, Requeued: 1}},
		{"needs secrets: failed lost", withSecrets, nil, task.Failed, false, Report{Examined: 1, Failed: 1}},
		{"agent version gone: failed lost", gone, nil, task.Failed, false, Report{Examined: 1, Failed: 1}},
		{"lease lapsed lately: left alone", recentLease, nil, task.Running, false, Report{Examined: 1, Skipped: 1}},
		{"recently written: not read", fresh, nil, task.Queued, false, Report{}},
		{"turn behind a busy predecessor: left alone", waiting, []*task.Task{busy}, task.Queued, false, Report{Examined: 1, Skipped: 1}},
		{"turn after an ended predecessor: requeued", after, []*task.Task{done}, task.Queued, true, Report{Examined: 1, Requeued: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := &fakeStore{tasks: map[string]*task.Task{tt.task.ID: tt.task}}
			for _, x := range tt.extra {
				fs.tasks[x.ID] = x
			}
			q := &fakeQueue{}
			r := run(t, fs, q)
			if r != tt.want {
				t.Errorf("report %+v, want %+v", r, tt.want)
			}
			got := fs.tasks[tt.task.ID]
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
		})
	}
}

func TestSweepConflictIsSkipped(t *testing.T) {
	// A worker claims the task between the read and the touch: nothing is sent.
	fs := &racingStore{fakeStore: fakeStore{tasks: map[string]*task.Task{"q": stale("q", task.Queued)}}}
	q := &fakeQueue{}
	s := New(Config{Store: fs, Queue: q, Registry: fakeRegistry{"echo@1": echo()}, Now: func() time.Time { return now }})
	r, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r != (Report{Examined: 1, Skipped: 1}) || len(q.sent) != 0 {
		t.Errorf("report %+v, sent %d", r, len(q.sent))
	}
}

// racingStore lets a worker claim every task just after the sweeper read it.
type racingStore struct{ fakeStore }

func (r *racingStore) Idle(ctx context.Context, before time.Time, limit int) ([]*task.Task, error) {
	out, err := r.fakeStore.Idle(ctx, before, limit)
	for _, t := range r.tasks {
		t.State, t.Version, t.UpdatedAt = task.Running, t.Version+1, now
	}
	return out, err
}

func TestSweepErrors(t *testing.T) {
	fs := &fakeStore{idleErr: errors.New("throttled")}
	s := New(Config{Store: fs, Queue: &fakeQueue{}, Registry: fakeRegistry{}})
	if _, err := s.Sweep(context.Background()); err == nil {
		t.Error("want the read error")
	}
	if fs.limitArg != DefaultLimit {
		t.Errorf("limit %d, want %d", fs.limitArg, DefaultLimit)
	}
	// A send that fails counts as an error; the task was touched, so it comes back after StaleAfter.
	fs = &fakeStore{tasks: map[string]*task.Task{"q": stale("q", task.Queued)}}
	s = New(Config{Store: fs, Queue: &fakeQueue{err: errors.New("sqs down")}, Registry: fakeRegistry{"echo@1": echo()},
		Now: func() time.Time { return now }})
	r, err := s.Sweep(context.Background())
	if err != nil || r != (Report{Examined: 1, Errors: 1}) {
		t.Errorf("report %+v, err %v", r, err)
	}
}
