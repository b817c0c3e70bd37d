package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/telemetry"
	"github.com/agentq/agentq/shared/webhook"
)

// Tasks decodes the task images a stream carries, and reads the task a progress event belongs to
// (store.Store does both).
type Tasks interface {
	TaskFromImage(ctx context.Context, image map[string]types.AttributeValue) (*task.Task, error)
	Head(ctx context.Context, id string) (*task.Task, error)
}

// EventBridge is the part of the EventBridge API the notifier uses.
type EventBridge interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Webhooks schedules webhook deliveries (webhook.Service does).
type Webhooks interface {
	Notify(ctx context.Context, n webhook.Notification) error
}

// Config holds what a Notifier needs.
type Config struct {
	Tasks Tasks
	// Events and Bus say where completion events go; a nil Events publishes none.
	Events EventBridge
	Bus    string
	// AllCompletionEvents puts every task's outcome on the bus (AGENTQ_COMPLETION_EVENTS=all);
	// false puts only those of tasks that asked (task.Task.CompletionEvents). Progress events go
	// either way: only tasks that opted in have them.
	AllCompletionEvents bool
	// Webhooks, when set, gets every event for delivery to the task's and its tenant's webhooks.
	Webhooks Webhooks
	Logger   *slog.Logger
	Metrics  *telemetry.Metrics
	Now      func() time.Time
}

// Notifier handles batches of task table stream records.
type Notifier struct {
	c Config
}

// New returns a Notifier.
func New(c Config) *Notifier {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Notifier{c: c}
}

// EventBridge's limits on one PutEvents call: at most ten entries, and at most 256 KiB of entries
// counted as EventBridge counts them (EntrySize).
const (
	MaxEntries      = 10
	MaxRequestBytes = 256 << 10
)

// timeBytes is what EventBridge counts for an entry's Time, whatever its value.
const timeBytes = 14

// EntrySize is an entry's size as EventBridge counts it against MaxRequestBytes: 14 bytes for a
// Time, and the UTF-8 bytes of Source, DetailType, Detail and each of Resources (the bus name and
// the JSON around them do not count).
func EntrySize(e ebtypes.PutEventsRequestEntry) int {
	n := len(aws.ToString(e.Source)) + len(aws.ToString(e.DetailType)) + len(aws.ToString(e.Detail))
	if e.Time != nil {
		n += timeBytes
	}
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

// Chunks splits entries, in order, into the fewest consecutive runs that each fit one PutEvents
// call: at most MaxEntries entries and MaxRequestBytes bytes. It returns the end index of each
// run. An entry over MaxRequestBytes on its own is a run of one (the caller must have reduced it:
// see entry).
func Chunks(entries []ebtypes.PutEventsRequestEntry) []int {
	var ends []int
	count, bytes := 0, 0
	for i, e := range entries {
		size := EntrySize(e)
		if count > 0 && (count == MaxEntries || bytes+size > MaxRequestBytes) {
			ends = append(ends, i)
			count, bytes = 0, 0
		}
		count++
		bytes += size
	}
	if count > 0 {
		ends = append(ends, len(entries))
	}
	return ends
}

// change is a stream record that produces events.
type change struct {
	seq         string // the record's sequence number, what a partial failure reports
	task        *task.Task
	detailType  string
	webhookType string
	detail      []byte
	// at is the event's time; eventSeq, for a progress event, its number in the task's log.
	at       time.Time
	eventSeq int64
}

// Handle processes a batch of stream records: it finds the transitions that produce events, puts
// them on the bus as many per call as EventBridge takes (ten entries, 256 KiB) and schedules their webhook deliveries. A record that fails is
// reported by sequence number; the event source then retries the batch from it, in order, so
// every later record is retried too (events are delivered at least once: a consumer drops
// duplicates by task_id and version, a webhook receiver by webhook-id).
func (n *Notifier) Handle(ctx context.Context, recs []batch.StreamRecord) (retryFrom string, err error) {
	var changes []*change
	tasks := map[string]*task.Task{} // the tasks of the batch's progress events, read once each
	for i := range recs {
		c, err := n.change(ctx, &recs[i], tasks)
		if err != nil {
			n.c.Logger.Error("read stream record", "err", err, "sequence_number", recs[i].Sequence)
			return recs[i].Sequence, nil
		}
		if c != nil {
			changes = append(changes, c)
		}
	}
	failed := len(changes) // index of the first change that failed
	if n.c.Events != nil {
		failed = min(failed, n.publish(ctx, changes))
	}
	if n.c.Webhooks != nil {
		failed = min(failed, n.deliver(ctx, changes))
	}
	if failed < len(changes) {
		return changes[failed].seq, nil
	}
	return "", nil
}

// change reads a stream record: nil when it is neither a task entering a state that produces
// events nor a progress event (see progress).
func (n *Notifier) change(ctx context.Context, rec *batch.StreamRecord, tasks map[string]*task.Task) (*change, error) {
	if rec.Removed || len(rec.NewImage) == 0 {
		return nil, nil
	}
	if !table.IsTask(rec.Keys) {
		return n.progress(ctx, rec, tasks)
	}
	newState, oldState := stateOf(rec.NewImage), stateOf(rec.OldImage)
	detailType, webhookType, ok := Kind(newState)
	if !ok || newState == oldState {
		return nil, nil
	}
	t, err := n.c.Tasks.TaskFromImage(ctx, rec.NewImage)
	if err != nil {
		return nil, err
	}
	detail, err := NewDetail(t)
	if err != nil {
		return nil, fmt.Errorf("render event of task %s: %w", t.ID, err)
	}
	return &change{seq: rec.Sequence, task: t, detailType: detailType, webhookType: webhookType, detail: detail, at: t.UpdatedAt}, nil
}

func stateOf(image map[string]types.AttributeValue) task.State {
	v, ok := image["state"].(*types.AttributeValueMemberS)
	if !ok {
		return ""
	}
	return task.State(v.Value)
}

// entry is c's PutEvents entry, reduced to the task's identity and state (NewDetail's last
// resort) if even its truncated detail would not fit one call: one event must never fail a
// whole batch.
func (n *Notifier) entry(c *change) ebtypes.PutEventsRequestEntry {
	e := ebtypes.PutEventsRequestEntry{
		EventBusName: aws.String(n.c.Bus), Source: aws.String(Source), DetailType: aws.String(c.detailType),
		Detail: aws.String(string(c.detail)), Time: aws.Time(c.at),
	}
	if c.eventSeq == 0 && EntrySize(e) > MaxRequestBytes {
		if b, err := MinimalDetail(c.task); err == nil {
			e.Detail = aws.String(string(b))
		}
	}
	return e
}

// OnBus reports whether a change's event goes on the bus: a progress event always (only tasks
// that opted in have them), an outcome when its task asked for it (task.Task.CompletionEvents) or
// the deployment publishes every outcome (all). Webhooks get every change whatever it says.
func OnBus(t *task.Task, progress, all bool) bool {
	return progress || all || t.CompletionEvents
}

// publish puts the events of the changes that go on the bus (OnBus), as many per call as
// EventBridge takes, and returns the index of the first that failed (len(changes) when none did).
func (n *Notifier) publish(ctx context.Context, changes []*change) int {
	var picked []int // the indexes in changes of the events that go on the bus
	var all []ebtypes.PutEventsRequestEntry
	for i, c := range changes {
		if OnBus(c.task, c.eventSeq > 0, n.c.AllCompletionEvents) {
			picked = append(picked, i)
			all = append(all, n.entry(c))
		}
	}
	start := 0
	for _, end := range Chunks(all) {
		chunk, entries := picked[start:end], all[start:end]
		out, err := n.c.Events.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
		if err != nil {
			n.c.Logger.Error("put events", "err", err, "entries", len(entries))
			return chunk[0]
		}
		for i, e := range out.Entries {
			if i < len(chunk) && e.ErrorCode != nil {
				// Entries fail one by one (throttling, an internal error): retry from the first.
				n.c.Logger.Error("put event", "task_id", changes[chunk[i]].task.ID, "error_code", aws.ToString(e.ErrorCode),
					"error_message", aws.ToString(e.ErrorMessage))
				n.c.Metrics.Count(telemetry.EventsPublished, i)
				return chunk[i]
			}
		}
		if len(out.Entries) < len(chunk) {
			n.c.Logger.Error("put events answered fewer entries than sent", "sent", len(chunk), "answered", len(out.Entries))
			return chunk[len(out.Entries)]
		}
		n.c.Metrics.Count(telemetry.EventsPublished, len(chunk))
		for _, i := range chunk {
			c := changes[i]
			n.c.Logger.Info("event published", "task_id", c.task.ID, "agent_id", c.task.AgentID, "tenant", c.task.Tenant,
				"detail_type", c.detailType, "version", c.task.Version)
		}
		start = end
	}
	return len(changes)
}

// deliver schedules the webhook deliveries of every change concurrently and returns the index of
// the first that failed.
func (n *Notifier) deliver(ctx context.Context, changes []*change) int {
	errs := make([]error, len(changes))
	var wg sync.WaitGroup
	for i, c := range changes {
		wg.Go(func() {
			errs[i] = n.c.Webhooks.Notify(ctx, webhook.Notification{
				TaskID: c.task.ID, Tenant: c.task.Tenant, TaskVersion: c.task.Version, EventSeq: c.eventSeq, URL: c.task.WebhookURL,
				Event:     webhook.Event{Type: c.webhookType, Timestamp: c.at.UTC(), Data: c.detail},
				ExpiresAt: c.task.ExpiresAt,
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case errors.Is(err, webhook.ErrInvalid):
			// No retry can mend it: holding the stream back would only delay every later change.
			n.c.Logger.Error("webhook deliveries refused; none made", "task_id", changes[i].task.ID, "tenant", changes[i].task.Tenant, "err", err)
		case err != nil:
			n.c.Logger.Error("schedule webhook deliveries", "task_id", changes[i].task.ID, "tenant", changes[i].task.Tenant, "err", err)
			return i
		}
	}
	return len(changes)
}
