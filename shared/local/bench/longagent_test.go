package bench

import (
	"context"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
)

// TestLongAgent: the long-running agent answers its task working first, then completed after
// the time its text names; text that names no time takes its default.
func TestLongAgent(t *testing.T) {
	la := &longAgent{work: time.Hour}
	for _, tc := range []struct {
		name, text string
		wantEnd    bool
	}{
		{"a time in its text", "10ms", true},
		{"no time: the default, an hour here", "bench", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			ec := &a2asrv.ExecutorContext{TaskID: "t1", ContextID: "c1", Message: a2a.NewMessage(a2a.MessageRoleUser, a2a.NewTextPart(tc.text))}
			var states []a2a.TaskState
			for ev, err := range la.Execute(ctx, ec) {
				if err != nil {
					t.Fatal(err)
				}
				task, ok := ev.(*a2a.Task)
				if !ok {
					t.Fatalf("event %T, want a task", ev)
				}
				states = append(states, task.Status.State)
				if !tc.wantEnd {
					break // the caller's first answer; the task would go on working
				}
			}
			want := []a2a.TaskState{a2a.TaskStateWorking}
			if tc.wantEnd {
				want = append(want, a2a.TaskStateCompleted)
			}
			if len(states) != len(want) || states[0] != want[0] || states[len(states)-1] != want[len(want)-1] {
				t.Fatalf("states %v, want %v", states, want)
			}
		})
	}
}
