// Package tasklogtest is the in-memory task event log the service tests use, and the conformance
// checks it and the DynamoDB log (shared/tasklog, on DynamoDB Local) both pass, so that tests
// written against the double hold for the real log.
package tasklogtest

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/agentq/agentq/shared/tasklog"
)

// Log keeps task logs in memory under the DynamoDB log's rules: gap-free numbering of the stored
// events from tasklog.CreatedSeq+1 (created is implied), or tasklog.AttemptSeq+1 once the task
// has been claimed (its first attempt is implied too), an opening event at tasklog.AttemptSeq
// while that number is free, one append per dedupe name, nothing after Finished, the per-task
// rate limit and size bound.
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
	// An opening event takes its number while it is free, as the DynamoDB log's conditional put of
	// that number does, without reading the tail.
	opening := e.Opening && !e.Limited && !slices.ContainsFunc(evs, func(ev tasklog.Event) bool { return ev.Seq == tasklog.AttemptSeq })
	if n := len(evs); n > 0 && evs[n-1].Type.Final() && !opening {
		if e.Type.Final() {
			return tasklog.Event{}, tasklog.ErrDuplicate
		}
		return tasklog.Event{}, tasklog.ErrEnded
	}
	last := int64(tasklog.CreatedSeq)
	if n := len(evs); n > 0 {
		last = evs[n-1].Seq
	}
	if e.Claimed {
		last = max(last, tasklog.AttemptSeq)
	}
	if e.Limited {
		if last >= tasklog.MaxEvents {
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
	seq := last + 1
	if opening {
		seq = tasklog.AttemptSeq
	}
	ev := tasklog.Event{Seq: seq, Type: e.Type, At: e.At.UTC(), Data: e.Data}
	evs = append(evs, ev)
	// Kept in number order: an opening event may land after later numbers did.
	slices.SortFunc(evs, func(a, b tasklog.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	l.events[e.TaskID] = evs
	return ev, nil
}

// Read answers up to limit stored events of the task after sequence number after.
func (l *Log) Read(_ context.Context, taskID string, after int64, limit int) ([]tasklog.Event, error) {
	if limit <= 0 || limit > tasklog.PageLimit {
		limit = tasklog.PageLimit
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []tasklog.Event
	for _, ev := range l.events[taskID] {
		if ev.Seq > after && len(out) < limit {
			out = append(out, ev)
		}
	}
	return out, nil
}
