package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/table"

	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tasklog"
)

// The progress events of tasks that opted in (xpander events_streaming, ServiceNet
// progress_events): every event of the task's log but those the completion events announce
// (tasklog.Announced: finished, paused).
const (
	// DetailProgress is their EventBridge detail type.
	DetailProgress = "Agent Task Progress"
	// TypeProgress is their webhook event type.
	TypeProgress = "task.progress"
)

// MaxProgressDetailBytes bounds a progress event's detail. An agent's report is at most 16 KiB
// and agentq's own events are smaller, so only a detail beyond any of them goes without its data
// (Truncated): the consumer reads the event from GET /v1/tasks/{task_id}/events?after=seq-1.
const MaxProgressDetailBytes = 64 << 10

// ProgressDetail is what a progress event carries: the task's identity, as a completion event's
// detail names it, and the log event. TaskID and Seq name the event: consumers drop duplicates by
// them.
type ProgressDetail struct {
	TaskRef
	// Seq, Type, At and Data are the log event's (GET /v1/tasks/{task_id}/events).
	Seq  int64           `json:"seq"`
	Type tasklog.Type    `json:"type"`
	At   time.Time       `json:"at"`
	Data json.RawMessage `json:"data,omitempty"`
	// Truncated says Data was left out: it would have made the event too large.
	Truncated bool `json:"truncated,omitempty"`
}

// NewProgressDetail renders the progress event of t's log event ev, within MaxProgressDetailBytes.
func NewProgressDetail(t *task.Task, ev tasklog.Event) ([]byte, error) {
	d := ProgressDetail{TaskRef: taskRef(t), Seq: ev.Seq, Type: ev.Type, At: ev.At.UTC(), Data: ev.Data}
	b, err := json.Marshal(d)
	if err == nil && len(b) <= MaxProgressDetailBytes {
		return b, nil
	}
	d.Data, d.Truncated = nil, true
	return json.Marshal(d)
}

// progress reads a stream record that may be a progress event: an event item of a task's log
// written as new (INSERT) and marked for the notifier at append, whose type the completion events
// do not announce. The task is read once per batch (tasks) for its identity and webhook URL; a
// task deleted since has nobody left to tell.
func (n *Notifier) progress(ctx context.Context, rec *batch.StreamRecord, tasks map[string]*task.Task) (*change, error) {
	if len(rec.OldImage) > 0 {
		return nil, nil // events are written once: a change of one is no new event
	}
	taskID, ev, marked, ok, err := tasklog.FromStream(rec.Keys, rec.NewImage)
	if err != nil || !ok || !marked || tasklog.Announced(ev.Type) {
		return nil, err
	}
	t, seen := tasks[taskID]
	if !seen {
		t, err = n.c.Tasks.Head(ctx, taskID)
		if errors.Is(err, task.ErrNotFound) {
			t, err = nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read task %s of event %d: %w", taskID, ev.Seq, err)
		}
		tasks[taskID] = t
	}
	if t == nil {
		return nil, nil
	}
	detail, err := NewProgressDetail(t, ev)
	if err != nil {
		return nil, fmt.Errorf("render event %d of task %s: %w", ev.Seq, taskID, err)
	}
	return &change{seq: rec.Sequence, task: t, detailType: DetailProgress, webhookType: TypeProgress, detail: detail,
		at: ev.At, eventSeq: ev.Seq}, nil
}

// Wanted reports whether the notifier acts on a stream record, as the stack's event source
// filters pass records to it (infra/construct/events NotifyFilter and ProgressFilter): a task
// item written in a state that produces events, or an event item inserted with the notify mark,
// of a type the completion events do not announce. The local stream poller filters with it, so
// the notifier runs locally for what it runs for on AWS.
func Wanted(rec batch.StreamRecord) bool {
	if rec.Removed || len(rec.NewImage) == 0 {
		return false
	}
	if table.IsTask(rec.Keys) {
		_, _, ok := Kind(stateOf(rec.NewImage))
		return ok
	}
	_, ev, marked, ok, err := tasklog.FromStream(rec.Keys, rec.NewImage)
	return err == nil && ok && marked && len(rec.OldImage) == 0 && !tasklog.Announced(ev.Type)
}
