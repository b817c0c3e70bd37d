package httpapi

import (
	"testing"
	"time"
)

// TestReadEvery checks the long poll's re-read schedule: every 500 ms through the first 3 s of a
// wait (the holds of callers that came back at the agent's expected end), then every second.
func TestReadEvery(t *testing.T) {
	tests := []struct {
		elapsed, want time.Duration
	}{
		{0, 500 * time.Millisecond},
		{500 * time.Millisecond, 500 * time.Millisecond},
		{2999 * time.Millisecond, 500 * time.Millisecond},
		{3 * time.Second, time.Second},
		{20 * time.Second, time.Second},
	}
	for _, tt := range tests {
		if got := readEvery(tt.elapsed); got != tt.want {
			t.Errorf("readEvery(%v) = %v, want %v", tt.elapsed, got, tt.want)
		}
	}
}
