// Package tasklogtest is the in-memory task event log the service tests use, and the conformance
// checks it and the DynamoDB log (shared/tasklog, on DynamoDB Local) both pass, so that tests
// written against the double hold for the real log.
package tasklogtest

import (
	"context"
	"sync"
	"time"

	"github.com/agentq/agentq/shared/tasklog"
)

// Log keeps task logs in memory under the DynamoDB log's rules: gap-free numbering, one append
// per dedupe name, the per-task rate limit and size bound.
type Log struct {
	mu      sync.Mutex
	events  map[string][]tasklog.Event
	reports map[string]bool
}

var _ tasklog.Appender = (*Log)(nil)

// New returns an empty log.
func New() *Log {
	return &Log{events: map[string][]tasklog.Event{}, reports: map[string]bool{}}
}

// Append numbers e and keeps it (see tasklog.Log.Append).
func (l *Log) Append(_ context.Context, e tasklog.Entry) (tasklog.Event, error) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := l.events[e.TaskID]
	if e.Limited {
		if len(evs) >= tasklog.MaxEvents {
			return tasklog.Event{}, tasklog.ErrFull
		}
		if n := len(evs); n >= tasklog.RateBurst && e.At.Sub(evs[n-tasklog.RateBurst].At) < tasklog.RateWindow {
			return tasklog.Event{}, tasklog.ErrRateLimited
		}
	}
	if e.First && len(evs) > 0 {
		return tasklog.Event{}, tasklog.ErrDuplicate
	}
	if e.Dedupe != "" {
		if l.reports[e.TaskID+"\x00"+e.Dedupe] {
			return tasklog.Event{}, tasklog.ErrDuplicate
		}
		l.reports[e.TaskID+"\x00"+e.Dedupe] = true
	}
	ev := tasklog.Event{Seq: int64(len(evs)) + 1, Type: e.Type, At: e.At.UTC(), Data: e.Data}
	l.events[e.TaskID] = append(evs, ev)
	return ev, nil
}

// Read answers up to limit events of the task after sequence number after.
func (l *Log) Read(_ context.Context, taskID string, after int64, limit int) ([]tasklog.Event, error) {
	if limit <= 0 || limit > tasklog.PageLimit {
		limit = tasklog.PageLimit
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := l.events[taskID]
	if after < 0 {
		after = 0
	}
	if after >= int64(len(evs)) {
		return nil, nil
	}
	out := evs[after:min(int(after)+limit, len(evs))]
	return append([]tasklog.Event(nil), out...), nil
}
