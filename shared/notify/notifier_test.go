package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/webhook"
)

var at = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// fakeTasks decodes an image by its id attribute into the task a test registered.
type fakeTasks map[string]*task.Task

func (f fakeTasks) TaskFromImage(_ context.Context, image map[string]types.AttributeValue) (*task.Task, error) {
	id := image["id"].(*types.AttributeValueMemberS).Value
	t, ok := f[id]
	if !ok {
		return nil, fmt.Errorf("no task %s", id)
	}
	cp := *t
	cp.State = task.State(image["state"].(*types.AttributeValueMemberS).Value)
	return &cp, nil
}

func (f fakeTasks) Head(_ context.Context, id string) (*task.Task, error) {
	t, ok := f[id]
	if !ok {
		return nil, fmt.Errorf("get task %s: %w", id, task.ErrNotFound)
	}
	cp := *t
	return &cp, nil
}

// fakeBus records PutEvents calls; failAt makes the entry at that index (over all calls) fail.
type fakeBus struct {
	mu      sync.Mutex
	entries []ebtypes.PutEventsRequestEntry
	calls   int
	failAt  int // -1: none
	err     error
}

func (b *fakeBus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if b.err != nil {
		return nil, b.err
	}
	// EventBridge's own checks: ten entries, and 256 KiB counted its way (Time 14 bytes).
	size := 0
	for _, e := range in.Entries {
		size += 14 + len(*e.Source) + len(*e.DetailType) + len(*e.Detail)
	}
	if len(in.Entries) > 10 || size > 256*1024 {
		return nil, fmt.Errorf("ValidationException: %d entries of %d bytes", len(in.Entries), size)
	}
	out := &eventbridge.PutEventsOutput{}
	for _, e := range in.Entries {
		if len(b.entries) == b.failAt {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{ErrorCode: aws.String("ThrottlingException"), ErrorMessage: aws.String("slow down")})
			b.failAt = -1
			continue
		}
		b.entries = append(b.entries, e)
		out.Entries = append(out.Entries, ebtypes.PutEventsResultEntry{EventId: aws.String(fmt.Sprintf("ev-%d", len(b.entries)))})
	}
	return out, nil
}

type fakeWebhooks struct {
	mu    sync.Mutex
	got   []webhook.Notification
	fails map[string]error // task id -> error
}

func (f *fakeWebhooks) Notify(_ context.Context, n webhook.Notification) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fails[n.TaskID]; err != nil {
		return err
	}
	f.got = append(f.got, n)
	return nil
}

// rec builds a stream record of an item moving from one state to another ("" for none).
func rec(seq, sk, id string, from, to task.State) batch.StreamRecord {
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	r := batch.StreamRecord{Sequence: seq, Keys: map[string]types.AttributeValue{"pk": str("TASK#" + id), "sk": str(sk)}}
	if to != "" {
		r.NewImage = map[string]types.AttributeValue{"id": str(id), "state": str(string(to))}
	}
	if from != "" {
		r.OldImage = map[string]types.AttributeValue{"id": str(id), "state": str(string(from))}
	}
	return r
}

func newTask(id string, d task.Dialect) *task.Task {
	return &task.Task{
		ID: id, Tenant: "org-1", AgentID: "echo", AgentVersion: "2", Dialect: d, Source: "api", Version: 4, State: task.Succeeded,
		Text: "hi", Result: "hello", WebhookURL: "https://hooks.example.com/x?token=hook-SECRET", CreatedAt: at, UpdatedAt: at.Add(time.Second),
		FinishedAt: at.Add(time.Second), ExpiresAt: at.Add(30 * 24 * time.Hour), CompletionEvents: true,
	}
}

// TestCompletionEventsOnlyForThoseWhoAsked: an outcome goes on the bus when its task asked for it
// or the deployment publishes every outcome; webhooks get every outcome either way; a failed
// entry is reported by its own record even when records before it were not published.
func TestCompletionEventsOnlyForThoseWhoAsked(t *testing.T) {
	asked, silent := newTask("asked", task.Xpander), newTask("silent", task.ServiceNet)
	silent.CompletionEvents = false
	asked2 := newTask("asked2", task.Xpander)
	tasks := fakeTasks{"asked": asked, "silent": silent, "asked2": asked2}
	records := func() []batch.StreamRecord {
		return []batch.StreamRecord{
			rec("1", "TASK", "silent", task.Running, task.Succeeded),
			rec("2", "TASK", "asked", task.Running, task.Failed),
			rec("3", "TASK", "asked2", task.Running, task.Canceled),
		}
	}
	tests := []struct {
		name      string
		all       bool
		failAt    int
		wantOnBus []string
		wantFrom  string
	}{
		{"requested: only the tasks that asked", false, -1, []string{"asked", "asked2"}, ""},
		{"all: every outcome", true, -1, []string{"silent", "asked", "asked2"}, ""},
		{"requested, the second published entry fails: retried from its own record", false, 1, []string{"asked"}, "3"},
		// EventBridge takes the entries after a failed one: the retry from "2" sends asked2 again.
		{"requested, the first published entry fails", false, 0, []string{"asked2"}, "2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bus, hooks := &fakeBus{failAt: tc.failAt}, &fakeWebhooks{}
			n := New(Config{Tasks: tasks, Events: bus, Bus: "b", Webhooks: hooks, AllCompletionEvents: tc.all})
			from, err := n.Handle(context.Background(), records())
			if err != nil || from != tc.wantFrom {
				t.Fatalf("Handle = %q, %v; want %q", from, err, tc.wantFrom)
			}
			var onBus []string
			for _, e := range bus.entries {
				var d Detail
				if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &d); err != nil {
					t.Fatal(err)
				}
				onBus = append(onBus, d.TaskID)
			}
			if strings.Join(onBus, ",") != strings.Join(tc.wantOnBus, ",") {
				t.Errorf("on the bus: %q, want %q", onBus, tc.wantOnBus)
			}
			var hooked []string
			for _, h := range hooks.got {
				hooked = append(hooked, h.TaskID)
			}
			slices.Sort(hooked)
			if tc.wantFrom == "" && strings.Join(hooked, ",") != "asked,asked2,silent" {
				t.Errorf("webhook notifications for %q, want every task's", hooked)
			}
		})
	}
}

func TestOnBus(t *testing.T) {
	tests := []struct {
		asked, progress, all, want bool
	}{
		{false, false, false, false},
		{true, false, false, true},
		{false, true, false, true},
		{false, false, true, true},
	}
	for _, tc := range tests {
		if got := OnBus(&task.Task{CompletionEvents: tc.asked}, tc.progress, tc.all); got != tc.want {
			t.Errorf("OnBus(asked=%v, progress=%v, all=%v) = %v, want %v", tc.asked, tc.progress, tc.all, got, tc.want)
		}
	}
}

func TestKind(t *testing.T) {
	tests := []struct {
		state            task.State
		detail, hookType string
		ok               bool
	}{
		{task.Succeeded, DetailCompleted, TypeCompleted, true},
		{task.Failed, DetailFailed, TypeFailed, true},
		{task.Error, DetailFailed, TypeFailed, true},
		{task.Rejected, DetailFailed, TypeFailed, true},
		{task.Canceled, DetailStopped, TypeStopped, true},
		{task.Paused, DetailPaused, TypePaused, true},
		{task.Queued, "", "", false},
		{task.Running, "", "", false},
	}
	for _, tc := range tests {
		d, h, ok := Kind(tc.state)
		if d != tc.detail || h != tc.hookType || ok != tc.ok {
			t.Errorf("Kind(%s) = %q, %q, %v; want %q, %q, %v", tc.state, d, h, ok, tc.detail, tc.hookType, tc.ok)
		}
	}
}

func TestHandlePublishesTransitionsOnly(t *testing.T) {
	tasks := fakeTasks{"t1": newTask("t1", task.Xpander), "t2": newTask("t2", task.ServiceNet), "t3": newTask("t3", task.Xpander)}
	bus := &fakeBus{failAt: -1}
	hooks := &fakeWebhooks{}
	n := New(Config{Tasks: tasks, Events: bus, Bus: "agentq-bus", Webhooks: hooks})
	remove := rec("9", "TASK", "t1", task.Succeeded, "")
	remove.Removed = true
	from, err := n.Handle(context.Background(), []batch.StreamRecord{
		rec("1", "TASK", "t1", task.Queued, task.Running),      // not an outcome
		rec("2", "TASK", "t1", task.Running, task.Succeeded),   // completed
		rec("3", "TASK", "t2", task.Running, task.Paused),      // paused
		rec("4", "TASK", "t1", task.Succeeded, task.Succeeded), // a write that moved nothing
		rec("5", "DELIVERY#d1", "t1", "", task.Succeeded),      // not a task item
		rec("6", "TASK", "t3", "", task.Failed),                // inserted failed
		remove,                                                 // expired by TTL
	})
	if err != nil || from != "" {
		t.Fatalf("Handle = %q, %v", from, err)
	}
	var got []string
	for _, e := range bus.entries {
		var d Detail
		if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &d); err != nil {
			t.Fatalf("detail: %v", err)
		}
		got = append(got, d.TaskID+" "+aws.ToString(e.DetailType)+" "+d.Status)
		if aws.ToString(e.Source) != Source || aws.ToString(e.EventBusName) != "agentq-bus" {
			t.Errorf("entry source %q bus %q", aws.ToString(e.Source), aws.ToString(e.EventBusName))
		}
		if strings.Contains(aws.ToString(e.Detail), "hook-SECRET") {
			t.Errorf("the detail carries the webhook URL's token: %s", aws.ToString(e.Detail))
		}
	}
	want := []string{"t1 Agent Task Completed completed", "t2 Agent Task Paused running", "t3 Agent Task Failed failed"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("events:\n got  %q\n want %q", got, want)
	}
	if len(hooks.got) != 3 {
		t.Fatalf("webhook notifications = %d, want 3", len(hooks.got))
	}
	for _, h := range hooks.got {
		if h.TaskID == "t1" && (h.Event.Type != TypeCompleted || h.URL != tasks["t1"].WebhookURL || h.TaskVersion != 4 || h.Tenant != "org-1" ||
			!h.ExpiresAt.Equal(tasks["t1"].ExpiresAt) || !bytes.Contains(h.Event.Data, []byte(`"state":"succeeded"`))) {
			t.Errorf("notification of t1 = %+v", h)
		}
	}
}

func TestHandleReportsTheFirstFailure(t *testing.T) {
	records := func() []batch.StreamRecord {
		return []batch.StreamRecord{
			rec("10", "TASK", "t1", task.Running, task.Succeeded),
			rec("11", "TASK", "t2", task.Running, task.Failed),
			rec("12", "TASK", "t3", task.Running, task.Canceled),
		}
	}
	tasks := fakeTasks{"t1": newTask("t1", task.Xpander), "t2": newTask("t2", task.Xpander), "t3": newTask("t3", task.Xpander)}
	tests := []struct {
		name    string
		bus     *fakeBus
		hooks   *fakeWebhooks
		wantSeq string
	}{
		{"all well", &fakeBus{failAt: -1}, &fakeWebhooks{}, ""},
		{"second entry refused", &fakeBus{failAt: 1}, &fakeWebhooks{}, "11"},
		{"bus unreachable", &fakeBus{failAt: -1, err: errors.New("connection refused")}, &fakeWebhooks{}, "10"},
		{"third task's webhooks fail", &fakeBus{failAt: -1}, &fakeWebhooks{fails: map[string]error{"t3": errors.New("queue down")}}, "12"},
		{"both fail, the earlier wins", &fakeBus{failAt: 2}, &fakeWebhooks{fails: map[string]error{"t2": errors.New("queue down")}}, "11"},
		// A refusal no retry can mend is logged and passed: it must not hold the stream back.
		{"webhooks refuse the event for good", &fakeBus{failAt: -1}, &fakeWebhooks{fails: map[string]error{"t2": fmt.Errorf("notify: %w", webhook.ErrInvalid)}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := New(Config{Tasks: tasks, Events: tc.bus, Bus: "b", Webhooks: tc.hooks})
			got, err := n.Handle(context.Background(), records())
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.wantSeq {
				t.Errorf("failure reported at %q, want %q", got, tc.wantSeq)
			}
		})
	}
}

func TestHandleUndecodableRecord(t *testing.T) {
	n := New(Config{Tasks: fakeTasks{}, Events: &fakeBus{failAt: -1}, Bus: "b"})
	from, err := n.Handle(context.Background(), []batch.StreamRecord{
		rec("20", "TASK", "missing", task.Running, task.Succeeded),
	})
	if err != nil || from != "20" {
		t.Errorf("Handle = %q, %v; want the record reported failed", from, err)
	}
}

func TestManyChangesGoTenAtATime(t *testing.T) {
	tasks := fakeTasks{}
	var recs []batch.StreamRecord
	for i := range 25 {
		id := fmt.Sprintf("t%d", i)
		tasks[id] = newTask(id, task.Xpander)
		recs = append(recs, rec(fmt.Sprint(100+i), "TASK", id, task.Running, task.Succeeded))
	}
	bus := &fakeBus{failAt: -1}
	from, err := New(Config{Tasks: tasks, Events: bus, Bus: "b"}).Handle(context.Background(), recs)
	if err != nil || from != "" {
		t.Fatalf("Handle = %q, %v", from, err)
	}
	if bus.calls != 3 || len(bus.entries) != 25 {
		t.Errorf("PutEvents calls = %d with %d entries, want 3 with 25", bus.calls, len(bus.entries))
	}
}

func TestNewDetailStaysUnderTheLimit(t *testing.T) {
	big := newTask("t1", task.Xpander)
	big.Result = strings.Repeat("x", MaxDetailBytes)
	b, err := NewDetail(big)
	if err != nil {
		t.Fatal(err)
	}
	var d Detail
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxDetailBytes || !d.Truncated || d.State != task.Succeeded || d.TaskID != "t1" {
		t.Errorf("detail of %d bytes, truncated %v, state %s", len(b), d.Truncated, d.State)
	}
	small, err := NewDetail(newTask("t2", task.ServiceNet))
	if err != nil {
		t.Fatal(err)
	}
	d = Detail{}
	if err := json.Unmarshal(small, &d); err != nil {
		t.Fatal(err)
	}
	if d.Truncated || d.Status != "succeeded" || !bytes.Contains(small, []byte(`"receipt_id":"t2"`)) {
		t.Errorf("small detail: %s", small)
	}
}

func TestEntrySize(t *testing.T) {
	e := ebtypes.PutEventsRequestEntry{
		EventBusName: aws.String("not counted"), Source: aws.String("agentq"), DetailType: aws.String("Agent Task Completed"),
		Detail: aws.String(`{"é":1}`), Resources: []string{"arn:a", "arn:bc"},
	}
	want := len("agentq") + len("Agent Task Completed") + len(`{"é":1}`) + len("arn:a") + len("arn:bc")
	if got := EntrySize(e); got != want || len(`{"é":1}`) != 8 {
		t.Errorf("EntrySize without Time = %d, want %d (UTF-8 bytes)", got, want)
	}
	e.Time = aws.Time(at)
	if got := EntrySize(e); got != want+14 {
		t.Errorf("EntrySize with Time = %d, want %d", got, want+14)
	}
}

func TestChunks(t *testing.T) {
	// overhead is what every entry below counts besides its detail.
	overhead := EntrySize(ebtypes.PutEventsRequestEntry{Source: aws.String("s"), DetailType: aws.String("d"), Time: aws.Time(at)})
	entries := func(details ...int) []ebtypes.PutEventsRequestEntry {
		var out []ebtypes.PutEventsRequestEntry
		for _, n := range details {
			out = append(out, ebtypes.PutEventsRequestEntry{Source: aws.String("s"), DetailType: aws.String("d"), Time: aws.Time(at),
				Detail: aws.String(strings.Repeat("x", n))})
		}
		return out
	}
	small := make([]int, 25)
	half := MaxRequestBytes/2 - overhead
	tests := []struct {
		name    string
		details []int
		want    []int
	}{
		{"none", nil, nil},
		{"by count", small, []int{10, 20, 25}},
		{"two large ones apart", []int{150 << 10, 150 << 10}, []int{1, 2}},
		{"exactly the limit fits", []int{half, half}, []int{2}},
		{"one byte over splits", []int{half, half + 1}, []int{1, 2}},
		{"a large one after small ones", []int{10, 10, 200 << 10, 100 << 10}, []int{3, 4}},
		{"an entry over the limit alone", []int{10, MaxRequestBytes, 10}, []int{1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Chunks(entries(tc.details...)); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Chunks = %v, want %v", got, tc.want)
			}
		})
	}
}

// Two large outcomes in one batch go in two calls: together they are over EventBridge's 256 KiB,
// which would fail the call, and the stream, on every retry.
func TestLargeEventsGoInSeparateCalls(t *testing.T) {
	tasks := fakeTasks{}
	var recs []batch.StreamRecord
	for i := range 4 {
		id := fmt.Sprintf("big%d", i)
		tasks[id] = newTask(id, task.Xpander)
		tasks[id].Result = strings.Repeat("y", 150<<10) // under MaxDetailBytes: sent whole
		recs = append(recs, rec(fmt.Sprint(300+i), "TASK", id, task.Running, task.Succeeded))
	}
	bus := &fakeBus{failAt: -1}
	from, err := New(Config{Tasks: tasks, Events: bus, Bus: "b"}).Handle(context.Background(), recs)
	if err != nil || from != "" {
		t.Fatalf("Handle = %q, %v", from, err)
	}
	if bus.calls != 4 || len(bus.entries) != 4 {
		t.Errorf("PutEvents calls = %d with %d entries, want 4 with 4", bus.calls, len(bus.entries))
	}
	for _, e := range bus.entries {
		if strings.Contains(*e.Detail, `"truncated"`) {
			t.Errorf("a detail under the limit was truncated")
		}
	}
}

// An event that would not fit even without the answer is reduced to the task's identity and
// state, and published with the rest of its batch.
func TestOversizedEventIsReduced(t *testing.T) {
	huge := newTask("huge", task.ServiceNet)
	huge.State, huge.Reason, huge.ReasonMessage = task.Failed, "agent_failed", strings.Repeat("z", MaxRequestBytes)
	tasks := fakeTasks{"huge": huge, "ok": newTask("ok", task.Xpander)}
	bus := &fakeBus{failAt: -1}
	from, err := New(Config{Tasks: tasks, Events: bus, Bus: "b"}).Handle(context.Background(), []batch.StreamRecord{
		rec("400", "TASK", "huge", task.Running, task.Failed), rec("401", "TASK", "ok", task.Running, task.Succeeded),
	})
	if err != nil || from != "" {
		t.Fatalf("Handle = %q, %v", from, err)
	}
	if len(bus.entries) != 2 {
		t.Fatalf("published %d events, want 2", len(bus.entries))
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(*bus.entries[0].Detail), &d); err != nil {
		t.Fatal(err)
	}
	if d["task_id"] != "huge" || d["state"] != "failed" || d["status"] != "failed" || d["truncated"] != true || d["task"] != nil ||
		d["reason"] != "agent_failed" || d["version"] != float64(4) {
		t.Errorf("reduced detail = %v", d)
	}
	if n := len(*bus.entries[0].Detail); n > 1024 {
		t.Errorf("reduced detail of %d bytes", n)
	}
}
