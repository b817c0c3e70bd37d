package task

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestFamily(t *testing.T) {
	// turn-1 has sub-tasks a and b; a has its own, a1; turn-2 names b again (seen once).
	kids := map[string][]string{"turn-1": {"a", "b"}, "a": {"a1"}, "turn-2": {"b"}}
	children := func(cur *Task, _ int) ([]*Task, error) {
		var out []*Task
		for _, id := range kids[cur.ID] {
			out = append(out, &Task{ID: id})
		}
		return out, nil
	}
	got, err := Family([]*Task{{ID: "turn-2"}, {ID: "turn-1"}}, children)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range got {
		ids = append(ids, u.ID)
	}
	// Breadth first from the roots, answered in reverse: sub-tasks before their parents.
	if want := []string{"a1", "a", "b", "turn-1", "turn-2"}; !slices.Equal(ids, want) {
		t.Errorf("family = %v, want %v", ids, want)
	}
}

func TestFamilyBounded(t *testing.T) {
	wide := func(cur *Task, room int) ([]*Task, error) {
		if room < 0 {
			t.Fatalf("asked for children with room %d", room)
		}
		var out []*Task
		for i := range room + 1 { // the root has one more than fits: the family is too large
			if cur.ID == "root" {
				out = append(out, &Task{ID: fmt.Sprint(i)})
			}
		}
		return out, nil
	}
	if _, err := Family([]*Task{{ID: "root"}}, wide); !errors.Is(err, ErrFamilyTooLarge) {
		t.Errorf("a family of more than %d = %v, want ErrFamilyTooLarge", MaxFamily, err)
	}
	failing := func(*Task, int) ([]*Task, error) { return nil, errors.New("index down") }
	if _, err := Family([]*Task{{ID: "root"}}, failing); err == nil || errors.Is(err, ErrFamilyTooLarge) {
		t.Errorf("a failed read = %v, want it", err)
	}
}
