package tasktest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/task"
)

func TestConformance(t *testing.T) {
	Conformance(t, func(*testing.T) Conformer { return New() })
}

func TestInjectedErrorsAreRecordedAndAnswered(t *testing.T) {
	ctx := context.Background()
	s := New(queued("t1"))
	boom := errors.New("boom")
	s.GetErr, s.ClaimErr, s.TransitionErr = boom, boom, boom
	if _, err := s.Get(ctx, "t1"); !errors.Is(err, boom) {
		t.Errorf("get: %v", err)
	}
	if _, err := s.Claim(ctx, "t1", conformanceNow, time.Second); !errors.Is(err, boom) {
		t.Errorf("claim: %v", err)
	}
	c := task.Change{To: task.Canceled, Now: conformanceNow}
	if _, err := s.Transition(ctx, "t1", c); !errors.Is(err, boom) {
		t.Errorf("transition: %v", err)
	}
	if s.Gets() != 1 || len(s.Claims()) != 1 || s.Claims()[0] != time.Second || len(s.Changes()) != 1 || s.Changes()[0].To != task.Canceled {
		t.Errorf("recorded gets %d, claims %v, changes %v", s.Gets(), s.Claims(), s.Changes())
	}
	if got := s.Task("t1"); got.State != task.Queued || got.Version != 1 {
		t.Errorf("a refused write changed the task: %+v", got)
	}
}

func TestTransitionHookRefusesWithoutWriting(t *testing.T) {
	ctx := context.Background()
	s := New(queued("t1"))
	s.TransitionHook = func(id string, c task.Change) error {
		if c.Result != "" {
			return task.ErrTooLarge
		}
		return nil
	}
	if _, err := s.Transition(ctx, "t1", task.Change{To: task.Failed, Now: conformanceNow, Result: "big"}); !errors.Is(err, task.ErrTooLarge) {
		t.Fatalf("hooked transition: %v", err)
	}
	if got := s.Task("t1"); got.State != task.Queued {
		t.Errorf("refused transition wrote %+v", got)
	}
	if _, err := s.Transition(ctx, "t1", task.Change{To: task.Failed, Now: conformanceNow}); err != nil {
		t.Errorf("transition the hook lets through: %v", err)
	}
}

func TestIdleAndTurns(t *testing.T) {
	ctx := context.Background()
	old, older, fresh, done := queued("old"), queued("older"), queued("fresh"), queued("done")
	old.UpdatedAt, older.UpdatedAt = conformanceNow.Add(-time.Hour), conformanceNow.Add(-2*time.Hour)
	done.State, done.UpdatedAt = task.Succeeded, conformanceNow.Add(-3*time.Hour)
	s := New(old, older, fresh, done)
	if got, _ := s.Idle(ctx, conformanceNow, 10); len(got) != 0 {
		t.Errorf("idle before any is watched = %v, want none", ids(got))
	}
	for _, id := range []string{"old", "older", "fresh", "done"} {
		_, _ = s.Watch(ctx, id) // done is ended: not watched
	}
	got, err := s.Idle(ctx, conformanceNow, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "older" || got[1].ID != "old" {
		t.Errorf("idle = %v, want [older old]", ids(got))
	}
	if got, _ := s.Idle(ctx, conformanceNow, 1); len(got) != 1 || got[0].ID != "older" {
		t.Errorf("idle limit 1 = %v, want [older]", ids(got))
	}

	turn := func(id string, seq int) *task.Task {
		tt := queued(id)
		tt.ThreadID, tt.ThreadSeq = "th", seq
		return tt
	}
	s = New(turn("b", 2), turn("a", 1), turn("c", 3), queued("other"))
	turns, err := s.Turns(ctx, "acme", "th", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(turns) != 2 || turns[0].ID != "a" || turns[1].ID != "b" {
		t.Errorf("turns = %v, want [a b]", ids(turns))
	}
}

func TestReadsAreCopies(t *testing.T) {
	ctx := context.Background()
	s := New(queued("t1"))
	got, _ := s.Get(ctx, "t1")
	got.State = task.Failed
	if s.Task("t1").State != task.Queued {
		t.Error("changing a read task changed the store")
	}
	s.Put(&task.Task{ID: "t1", State: task.Paused})
	if s.Task("t1").State != task.Paused {
		t.Error("Put did not replace the task")
	}
}

func ids(ts []*task.Task) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}
