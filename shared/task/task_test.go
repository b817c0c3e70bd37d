package task

import (
	"testing"
	"time"
)

func TestCanTransition(t *testing.T) {
	states := []State{Queued, Running, Paused, Succeeded, Failed, Error, Canceled, Rejected}
	legal := map[[2]State]bool{
		{Queued, Running}: true, {Queued, Paused}: true, {Queued, Failed}: true, {Queued, Error}: true, {Queued, Canceled}: true,
		{Running, Queued}: true, {Running, Running}: true, {Running, Paused}: true, {Running, Succeeded}: true,
		{Running, Failed}: true, {Running, Error}: true, {Running, Canceled}: true,
		{Paused, Queued}: true, {Paused, Succeeded}: true, {Paused, Failed}: true, {Paused, Error}: true, {Paused, Canceled}: true,
	}
	// Every pair of states is checked, so a transition added by mistake fails here.
	for _, from := range states {
		for _, to := range states {
			t.Run(string(from)+"->"+string(to), func(t *testing.T) {
				if got, want := CanTransition(from, to), legal[[2]State{from, to}]; got != want {
					t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
				}
			})
		}
	}
}

func TestTerminalStatesHaveNoExit(t *testing.T) {
	for _, s := range []State{Succeeded, Failed, Error, Canceled, Rejected} {
		if !s.Terminal() {
			t.Errorf("%s.Terminal() = false", s)
		}
		for _, to := range []State{Queued, Running, Paused, Succeeded, Failed, Error, Canceled, Rejected} {
			if CanTransition(s, to) {
				t.Errorf("terminal %s may move to %s", s, to)
			}
		}
	}
	for _, s := range []State{Queued, Running, Paused} {
		if s.Terminal() {
			t.Errorf("%s.Terminal() = true", s)
		}
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		s    State
		want bool
	}{
		{Queued, true}, {Rejected, true}, {"", false}, {"pending", false}, {"RUNNING", false},
	}
	for _, tt := range tests {
		if got := tt.s.Valid(); got != tt.want {
			t.Errorf("State(%q).Valid() = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestSources(t *testing.T) {
	tests := []struct {
		to   State
		want []State
	}{
		{Running, []State{Queued, Running}},
		{Succeeded, []State{Running, Paused}},
		{Canceled, []State{Queued, Running, Paused}},
		{Queued, []State{Running, Paused}},
		{Rejected, nil},
	}
	for _, tt := range tests {
		got := Sources(tt.to)
		if len(got) != len(tt.want) {
			t.Fatalf("Sources(%s) = %v, want %v", tt.to, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("Sources(%s) = %v, want %v", tt.to, got, tt.want)
			}
		}
	}
}

func TestExpired(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		exp  time.Time
		want bool
	}{
		{"no ttl", time.Time{}, false},
		{"future", now.Add(time.Second), false},
		{"exactly now", now, true},
		{"past", now.Add(-time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := &Task{ExpiresAt: tt.exp}
			if got := tk.Expired(now); got != tt.want {
				t.Errorf("Expired = %v, want %v", got, tt.want)
			}
		})
	}
}
