package dialect_test

import (
	"testing"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/task"
)

// TestXpanderResultKeptElsewhere: an answer in the blob store that was not loaded (a list item)
// reads as null, never as an empty answer; loaded, it reads whole.
func TestXpanderResultKeptElsewhere(t *testing.T) {
	tests := []struct {
		name string
		t    task.Task
		want *string
	}{
		{"inline", task.Task{State: task.Succeeded, Result: "hi"}, resultPtr("hi")},
		{"inline and empty", task.Task{State: task.Succeeded}, resultPtr("")},
		{"kept elsewhere, not loaded", task.Task{State: task.Succeeded, ResultRef: "results/t1/3.json"}, nil},
		{"kept elsewhere, loaded", task.Task{State: task.Succeeded, ResultRef: "results/t1/3.json", Result: "big"}, resultPtr("big")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dialect.Xpander(&tt.t).Result
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("result = %v, want %v", resultOrNil(got), resultOrNil(tt.want))
			}
		})
	}
}

func resultPtr(s string) *string { return &s }

func resultOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
