package tasktest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/agentq/agentq/shared/task"
)

// passedTo is a position in the order of tasks by creation (then id).
type passedTo struct {
	created time.Time
	id      string
}

func (p passedTo) before(t *task.Task) bool {
	c := p.created.Compare(t.CreatedAt)
	return c < 0 || (c == 0 && p.id < t.ID)
}

// Watched tells whether the task is among those Idle reads (the DynamoDB store's by_active).
func (s *Store) Watched(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watched[id]
}

// follow keeps the watched set as the DynamoDB store's transitions keep by_active: a task leaves
// it when it pauses or ends, and enters it when it is resumed from paused.
func (s *Store) follow(id string, from []task.State, to task.State) {
	switch {
	case !inFlight(to):
		delete(s.watched, id)
	case slices.Contains(from, task.Paused):
		s.watched[id] = true
	}
}

func inFlight(st task.State) bool { return st == task.Queued || st == task.Running }

// Watch enters a task in flight among those Idle reads and answers it; a task no longer in
// flight is a *task.ConflictError, a missing one task.ErrNotFound.
func (s *Store) Watch(_ context.Context, id string) (*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.find(id)
	if err != nil {
		return nil, fmt.Errorf("watch task %s: %w", id, err)
	}
	if !inFlight(t.State) {
		return nil, fmt.Errorf("watch task %s: %w", id, conflict(t))
	}
	s.watched[id] = true
	cp := *t
	return &cp, nil
}

// Pass walks the tasks created before before that no earlier walk passed, oldest first, at most
// limit of them, and hands fn those in flight, 100 at a time; a page fn returns nil for is passed
// for good, one it fails is not. It answers how many tasks it passed.
func (s *Store) Pass(_ context.Context, before time.Time, limit int, fn func([]*task.Task) error) (int, error) {
	passed := 0
	for passed < limit {
		page, last := s.nextPage(before, min(100, limit-passed))
		if len(page) == 0 {
			return passed, nil
		}
		var live []*task.Task
		for _, t := range page {
			if inFlight(t.State) {
				live = append(live, t)
			}
		}
		if err := fn(live); err != nil {
			return passed, err
		}
		s.mu.Lock()
		s.passed = last
		s.mu.Unlock()
		passed += len(page)
	}
	return passed, nil
}

// nextPage answers copies of up to n tasks created before before and after the walk's position,
// oldest first, and the position after them.
func (s *Store) nextPage(before time.Time, n int) ([]*task.Task, passedTo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*task.Task
	for _, t := range s.tasks {
		if t.CreatedAt.Before(before) && s.passed.before(t) {
			cp := *t
			out = append(out, &cp)
		}
	}
	slices.SortFunc(out, func(a, b *task.Task) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if len(out) > n {
		out = out[:n]
	}
	if len(out) == 0 {
		return nil, s.passed
	}
	last := out[len(out)-1]
	return out, passedTo{last.CreatedAt, last.ID}
}

// Idle answers up to limit watched tasks in flight (queued or running) last written before
// before, least recently written first.
func (s *Store) Idle(_ context.Context, before time.Time, limit int) ([]*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*task.Task
	for id := range s.watched {
		if t, ok := s.tasks[id]; ok && inFlight(t.State) && t.UpdatedAt.Before(before) {
			cp := *t
			out = append(out, &cp)
		}
	}
	slices.SortFunc(out, func(a, b *task.Task) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	if len(out) > max(limit, 0) {
		out = out[:max(limit, 0)]
	}
	return out, nil
}
