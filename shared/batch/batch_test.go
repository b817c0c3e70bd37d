package batch_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/agentq/agentq/shared/batch"
)

func TestProcessReportsFailedRecordsInOrder(t *testing.T) {
	recs := []batch.Record{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}
	var mu sync.Mutex
	seen := map[int]string{}
	failed := batch.Process(context.Background(), recs, 0, func(_ context.Context, i int, rec batch.Record) error {
		mu.Lock()
		seen[i] = rec.ID
		mu.Unlock()
		if rec.ID == "b" || rec.ID == "d" {
			return errors.New("again")
		}
		return nil
	})
	if !slices.Equal(failed, []string{"b", "d"}) {
		t.Errorf("failed = %v, want [b d]", failed)
	}
	for i, rec := range recs {
		if seen[i] != rec.ID {
			t.Errorf("record %d was handled as %q, want %q", i, seen[i], rec.ID)
		}
	}
}

func TestProcessRunsConcurrentlyWithinTheLimit(t *testing.T) {
	tests := []struct {
		name       string
		limit, n   int
		wantAtOnce int32
	}{
		{"unbounded", 0, 6, 6},
		{"bounded", 2, 6, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs := make([]batch.Record, tt.n)
			var running, peak, arrivals atomic.Int32
			release := make(chan struct{})
			var arrived sync.WaitGroup
			arrived.Add(int(tt.wantAtOnce))
			go func() { arrived.Wait(); close(release) }()
			batch.Process(context.Background(), recs, tt.limit, func(context.Context, int, batch.Record) error {
				n := running.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				if arrivals.Add(1) <= tt.wantAtOnce {
					arrived.Done()
				}
				<-release
				running.Add(-1)
				return nil
			})
			if peak.Load() != tt.wantAtOnce {
				t.Errorf("at most %d records ran at once, want %d", peak.Load(), tt.wantAtOnce)
			}
		})
	}
}

func TestProcessEmptyBatch(t *testing.T) {
	if failed := batch.Process(context.Background(), nil, 4, nil); failed != nil {
		t.Errorf("failed = %v", failed)
	}
}
