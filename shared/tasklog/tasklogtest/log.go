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

// Log keeps task logs in memory under the DynamoDB log's rules: gap-free numbering of the stored
// events from tasklog.CreatedSeq+1 (created is implied), one append per dedupe name, nothing
// after Finished, the per-task rate limit and size bound.
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
	if n := len(evs); n > 0 && evs[n-1].Type.Final() {
		if e.Type.Final() {
			return tasklog.Event{}, tasklog.ErrDuplicate
		}
		return tasklog.Event{}, tasklog.ErrEnded
	}
	if e.Limited {
		if tasklog.CreatedSeq+len(evs) >= tasklog.MaxEvents {
			return tasklog.Event{}, tasklog.ErrFull
		}
		if n := len(evs); n >= tasklog.RateBurst && e.At.Sub(evs[n-tasklog.RateBurst].At) < tasklog.RateWindow {
			return tasklog.Event{}, tasklog.ErrRateLimited
		}
	}
	if e.Dedupe != "" {
		if l.reports[e.TaskID+"\x00"+e.Dedupe] {
			return tasklog.Event{}, tasklog.ErrDuplicate
		}
		l.reports[e.TaskID+"\x00"+e.Dedupe] = true
	}
	ev := tasklog.Event{Seq: tasklog.CreatedSeq + int64(len(evs)) + 1, Type: e.Type, At: e.At.UTC(), Data: e.Data}
	l.events[e.TaskID] = append(evs, ev)
	return ev, nil
}

// Read answers up to limit stored events of the task after sequence number after.
func (l *Log) Read(_ context.Context, taskID string, after int64, limit int) ([]tasklog.Event, error) {
	if limit <= 0 || limit > tasklog.PageLimit {
		limit = tasklog.PageLimit
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := l.events[taskID]
	// evs[i] has seq CreatedSeq+1+i.
	from := max(after-tasklog.CreatedSeq, 0)
	if from >= int64(len(evs)) {
		return nil, nil
	}
	out := evs[from:min(int(from)+limit, len(evs))]
	return append([]tasklog.Event(nil), out...), nil
}
