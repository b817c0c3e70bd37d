// Package tasktest is the one in-memory task store for tests. It honours the conditions the
// DynamoDB store (shared/store) writes under: a claim takes a queued task or a running one whose
// lease has lapsed, a transition checks the expected states and version and drops or ends the
// lease, a touch checks state and version, and a failed condition answers *task.ConflictError
// with the task as it stands (DynamoDB's ALL_OLD) or task.ErrNotFound; Pass, Watch and Idle keep
// the sweeper's walk position and watched tasks as the DynamoDB store's by_created and by_active
// indexes do (a task recorded is not watched; a pause or an end unwatches it, a resume watches
// it). Conformance runs the same
// checks against any store, so the fake and the real store cannot drift apart.
//
// Tests of the services use it in place of hand-written fakes, read what was written with Task,
// Changes and Claims, and make an operation fail with the Err fields or TransitionHook.
package tasktest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/agentq/agentq/shared/task"
)

// Store keeps tasks in memory. The zero value is not usable: call New.
type Store struct {
	// GetErr, ClaimErr and TransitionErr, when set, are what Get, Claim and Transition answer
	// (after recording the call) instead of looking at the tasks.
	GetErr, ClaimErr, TransitionErr error
	// TransitionHook, when set, runs first on every Transition that TransitionErr lets through; a
	// non-nil error is answered as is and nothing is written (a store refusing a payload, say). It
	// runs without the store's lock, so it may Put a task as a concurrent writer would.
	TransitionHook func(id string, c task.Change) error

	mu      sync.Mutex
	tasks   map[string]*task.Task
	watched map[string]bool // what the DynamoDB store's by_active index holds
	passed  passedTo        // how far the sweeper's walk of tasks by creation went
	changes []task.Change
	claims  []time.Duration
	gets    int
}

// New returns a store holding copies of ts.
func New(ts ...*task.Task) *Store {
	s := &Store{tasks: map[string]*task.Task{}, watched: map[string]bool{}}
	for _, t := range ts {
		cp := *t
		s.tasks[t.ID] = &cp
	}
	return s
}

// Put records t as it is (a copy), replacing any task with its id, without any condition: a test
// sets the scene with it.
func (s *Store) Put(t *task.Task) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := *t
	s.tasks[t.ID] = &cp
}

// Task returns a copy of the task with the given id; the zero Task when there is none.
func (s *Store) Task(id string) task.Task {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tasks[id]; ok {
		return *t
	}
	return task.Task{}
}

// Changes returns every change Transition was asked for, in order, whether it was written or not.
func (s *Store) Changes() []task.Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.changes)
}

// Claims returns the lease of every Claim asked for, in order.
func (s *Store) Claims() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.claims)
}

// Gets counts the calls to Get.
func (s *Store) Gets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets
}

// Create records a new task; task.ErrExists if its id is taken.
func (s *Store) Create(_ context.Context, t *task.Task) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tasks[t.ID]; ok {
		return fmt.Errorf("create task %s: %w", t.ID, task.ErrExists)
	}
	cp := *t
	s.tasks[t.ID] = &cp
	return nil
}

// Get answers a copy of the task, or task.ErrNotFound.
func (s *Store) Get(_ context.Context, id string) (*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	if s.GetErr != nil {
		return nil, s.GetErr
	}
	t, ok := s.tasks[id]
	if !ok {
		return nil, fmt.Errorf("get task %s: %w", id, task.ErrNotFound)
	}
	cp := *t
	return &cp, nil
}

// Claim moves a queued task, or a running one whose lease ended before now, to running under a
// lease until now+lease, and counts the attempt.
func (s *Store) Claim(_ context.Context, id string, now time.Time, lease time.Duration) (*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims = append(s.claims, lease)
	if s.ClaimErr != nil {
		return nil, s.ClaimErr
	}
	t, err := s.find(id)
	if err != nil {
		return nil, fmt.Errorf("claim task %s: %w", id, err)
	}
	if t.State != task.Queued && (t.State != task.Running || !t.LeaseUntil.Before(now)) {
		return nil, fmt.Errorf("claim task %s: %w", id, conflict(t))
	}
	t.State, t.LeaseUntil, t.Attempts, t.Version, t.UpdatedAt = task.Running, now.Add(lease), t.Attempts+1, t.Version+1, now
	if t.StartedAt.IsZero() {
		t.StartedAt = now
	}
	cp := *t
	return &cp, nil
}

// Transition applies c as the DynamoDB store does: the move must be legal from every state of
// c.From (or from any state when From is empty), the task must be in one of them and, when
// c.Version is set, at that version.
func (s *Store) Transition(_ context.Context, id string, c task.Change) (*task.Task, error) {
	s.mu.Lock()
	s.changes = append(s.changes, c)
	refuse, hook := s.TransitionErr, s.TransitionHook
	s.mu.Unlock()
	if refuse != nil {
		return nil, refuse
	}
	if hook != nil {
		if err := hook(id, c); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	from, err := c.Sources()
	if err != nil {
		return nil, fmt.Errorf("transition task %s: %w", id, err)
	}
	t, err := s.find(id)
	if err != nil {
		return nil, fmt.Errorf("transition task %s to %s: %w", id, c.To, err)
	}
	if !slices.Contains(from, t.State) || (c.Version != 0 && c.Version != t.Version) {
		return nil, fmt.Errorf("transition task %s to %s: %w", id, c.To, conflict(t))
	}
	apply(t, c)
	s.follow(id, from, c.To)
	cp := *t
	return &cp, nil
}

// apply writes c to t, field by field as the store's update expression does.
func apply(t *task.Task, c task.Change) {
	t.State, t.Version, t.UpdatedAt = c.To, t.Version+1, c.Now
	if c.Result != "" || len(c.Output) > 0 {
		t.Result, t.Output, t.ResultRef = c.Result, c.Output, ""
	}
	if c.Reason != "" {
		t.Reason, t.ReasonMessage = c.Reason, c.ReasonMessage
	}
	if c.CostUnits > 0 {
		t.CostUnits = c.CostUnits
	}
	if c.Usage != (task.Usage{}) {
		t.Usage = c.Usage
	}
	switch {
	case c.To.Terminal():
		t.FinishedAt = c.Now
	case c.To == task.Paused:
		t.PausedAt = c.Now
	}
	if c.RemoteTaskID != "" {
		t.RemoteTaskID = c.RemoteTaskID
	}
	if len(c.HITL) > 0 {
		t.HITL = c.HITL
	}
	if c.To != task.Running || c.ReleaseLease {
		t.LeaseUntil = time.Time{}
	}
}

// Touch moves the task's last write to now without changing its version, provided it is still in
// state at version.
func (s *Store) Touch(_ context.Context, id string, state task.State, version int64, now time.Time) (*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.find(id)
	if err != nil {
		return nil, fmt.Errorf("touch task %s: %w", id, err)
	}
	if t.State != state || t.Version != version {
		return nil, fmt.Errorf("touch task %s: %w", id, conflict(t))
	}
	t.UpdatedAt = now
	cp := *t
	return &cp, nil
}

// Abandon records t as failed with reason and message when no task has its id or the task is
// still as submitted (queued at t's version), as the DynamoDB store's conditional put does.
func (s *Store) Abandon(_ context.Context, t *task.Task, now time.Time, reason, message string) (*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.tasks[t.ID]; ok && (cur.State != task.Queued || cur.Version != t.Version) {
		return nil, fmt.Errorf("abandon task %s: %w", t.ID, conflict(cur))
	}
	failed := *t
	failed.State, failed.Version, failed.Reason, failed.ReasonMessage = task.Failed, t.Version+1, reason, message
	failed.UpdatedAt, failed.FinishedAt, failed.LeaseUntil = now, now, time.Time{}
	s.tasks[t.ID] = &failed
	cp := failed
	return &cp, nil
}

// Turns answers a thread's tasks in turn order, at most limit of them.
func (s *Store) Turns(_ context.Context, tenant, threadID string, limit int) ([]*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*task.Task
	for _, t := range s.tasks {
		if t.Tenant == tenant && t.ThreadID == threadID {
			cp := *t
			out = append(out, &cp)
		}
	}
	slices.SortFunc(out, func(a, b *task.Task) int { return a.ThreadSeq - b.ThreadSeq })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Family answers what deleting t removes, as the DynamoDB store does: t, or every turn of its
// conversation, and their sub-tasks at any depth, sub-tasks before their parents; more than
// task.MaxFamily is task.ErrFamilyTooLarge.
func (s *Store) Family(_ context.Context, t *task.Task) ([]*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	queue := []*task.Task{t}
	for _, u := range s.tasks {
		if u.ID != t.ID && u.Tenant == t.Tenant && t.ThreadID != "" && u.ThreadID == t.ThreadID {
			cp := *u
			queue = append(queue, &cp)
		}
	}
	return task.Family(queue, func(cur *task.Task, _ int) ([]*task.Task, error) {
		var children []*task.Task
		for _, u := range s.tasks {
			if u.Tenant == cur.Tenant && u.ParentTaskID == cur.ID {
				cp := *u
				children = append(children, &cp)
			}
		}
		return children, nil
	})
}

// Delete removes the tasks for good.
func (s *Store) Delete(_ context.Context, ts []*task.Task) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range ts {
		delete(s.tasks, t.ID)
		delete(s.watched, t.ID)
	}
	return nil
}

// SetVerification records a verdict on task id's receipt, without moving its version, and
// answers the task.
func (s *Store) SetVerification(_ context.Context, id, verdict string) (*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.find(id)
	if err != nil {
		return nil, err
	}
	t.Verification = verdict
	cp := *t
	return &cp, nil
}

// find returns the stored task itself; the caller holds the lock.
func (s *Store) find(id string) (*task.Task, error) {
	t, ok := s.tasks[id]
	if !ok {
		return nil, task.ErrNotFound
	}
	return t, nil
}

// conflict answers what DynamoDB's ALL_OLD gives a failed condition: the task as it stands.
func conflict(t *task.Task) error {
	cp := *t
	return &task.ConflictError{Current: &cp}
}
