package task

import (
	"slices"
	"testing"
)

func TestChangeSources(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Change
		want []State
		ok   bool
	}{
		{"given", Change{From: []State{Running}, To: Succeeded}, []State{Running}, true},
		{"every source", Change{To: Canceled}, []State{Queued, Running, Paused}, true},
		{"illegal source", Change{From: []State{Running, Succeeded}, To: Failed}, nil, false},
		{"unreachable target", Change{To: Rejected}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.Sources()
			if (err == nil) != tc.ok || !slices.Equal(got, tc.want) {
				t.Errorf("Sources() = %v, %v; want %v, ok=%v", got, err, tc.want, tc.ok)
			}
		})
	}
}
