package task

import (
	"fmt"
	"slices"
)

// Family walks a task's family from roots (the task and the other turns of its conversation):
// each task, then the sub-tasks children finds for it, at any depth, each task once. It answers
// sub-tasks before their parents, so that a deletion that stops half way leaves no sub-task whose
// parent is gone: deleting the parent again finds them. More than MaxFamily tasks is
// ErrFamilyTooLarge; children is told how many more the family may hold, and may answer one
// more than that to say so.
func Family(roots []*Task, children func(t *Task, room int) ([]*Task, error)) ([]*Task, error) {
	seen := map[string]bool{}
	var out []*Task
	queue := roots
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if seen[cur.ID] {
			continue
		}
		seen[cur.ID] = true
		if out = append(out, cur); len(out) > MaxFamily {
			return nil, fmt.Errorf("find the tasks of %s: more than %d: %w", roots[0].ID, MaxFamily, ErrFamilyTooLarge)
		}
		more, err := children(cur, MaxFamily-len(out))
		if err != nil {
			return nil, fmt.Errorf("find the tasks of %s: %w", roots[0].ID, err)
		}
		queue = append(queue, more...)
	}
	slices.Reverse(out)
	return out, nil
}
