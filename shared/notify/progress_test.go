package notify

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tasklog"
)

// countingTasks counts the reads of each task.
type countingTasks struct {
	fakeTasks
	gets map[string]int
}

func (c *countingTasks) Head(ctx context.Context, id string) (*task.Task, error) {
	c.gets[id]++
	return c.fakeTasks.Head(ctx, id)
}

// eventRec builds the stream record of a log event's item as it is inserted: marked says the
// task opted in to progress events (tasklog.AttrNotify).
func eventRec(seq, id string, n int64, typ tasklog.Type, data string, marked bool) batch.StreamRecord {
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	sk := "EV#" + strings.Repeat("0", 10-len(itoa(n))) + itoa(n)
	img := map[string]types.AttributeValue{
		"pk": str("TASK#" + id), "sk": str(sk), "seq": &types.AttributeValueMemberN{Value: itoa(n)}, "type": str(string(typ)),
		"at": str(at.Add(time.Duration(n) * time.Second).Format(time.RFC3339Nano)), "tenant": str("org-1"), "data": str(data),
	}
	if marked {
		img[tasklog.AttrNotify] = &types.AttributeValueMemberBOOL{Value: true}
	}
	return batch.StreamRecord{Sequence: seq, Keys: map[string]types.AttributeValue{"pk": img["pk"], "sk": img["sk"]}, NewImage: img}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestProgressEvents: the marked events of a task's log go to the bus as Agent Task Progress and
// to the webhooks as task.progress, named by task and sequence number; unmarked events, events the
// completion events announce, rewrites of an event and events of deleted tasks send nothing; a
// task is read once per batch.
func TestProgressEvents(t *testing.T) {
	tasks := &countingTasks{fakeTasks: fakeTasks{"t1": newTask("t1", task.Xpander), "t2": newTask("t2", task.ServiceNet)}, gets: map[string]int{}}
	bus := &fakeBus{failAt: -1}
	hooks := &fakeWebhooks{}
	n := New(Config{Tasks: tasks, Events: bus, Bus: "agentq-bus", Webhooks: hooks})
	rewritten := eventRec("7", "t1", 3, tasklog.Status, `{"message":"again"}`, true)
	rewritten.OldImage = rewritten.NewImage
	from, err := n.Handle(context.Background(), []batch.StreamRecord{
		eventRec("1", "t1", 1, tasklog.Created, `{"state":"queued"}`, true),
		eventRec("2", "t1", 2, tasklog.Status, `{"message":"thinking"}`, true),
		eventRec("3", "t2", 1, tasklog.Created, `{"state":"queued"}`, false),    // not opted in
		eventRec("4", "t1", 4, tasklog.Paused, `{"state":"paused"}`, true),      // announced as task.paused
		eventRec("5", "t1", 5, tasklog.Finished, `{"state":"succeeded"}`, true), // announced as its outcome
		eventRec("6", "gone", 1, tasklog.Chunk, `{"text":"x"}`, true),           // the task was deleted
		rewritten,
	})
	if err != nil || from != "" {
		t.Fatalf("Handle = %q, %v", from, err)
	}
	var got []string
	for _, e := range bus.entries {
		var d ProgressDetail
		if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &d); err != nil {
			t.Fatal(err)
		}
		if aws.ToString(e.DetailType) != DetailProgress || d.Tenant != "org-1" || d.AgentID != "echo" || d.Dialect != "xpander" ||
			!aws.ToTime(e.Time).Equal(d.At) || strings.Contains(aws.ToString(e.Detail), "hook-SECRET") {
			t.Errorf("entry %s: %s", aws.ToString(e.DetailType), aws.ToString(e.Detail))
		}
		got = append(got, d.TaskID+" "+itoa(d.Seq)+" "+string(d.Type)+" "+string(d.Data))
	}
	want := `t1 1 created {"state":"queued"}|t1 2 status {"message":"thinking"}`
	if strings.Join(got, "|") != want {
		t.Errorf("events:\n got  %q\n want %q", got, want)
	}
	if len(hooks.got) != 2 {
		t.Fatalf("webhook notifications = %+v, want 2", hooks.got)
	}
	seqs := map[int64]bool{}
	for _, h := range hooks.got { // scheduled concurrently: in any order
		seqs[h.EventSeq] = true
		if h.Event.Type != TypeProgress || h.TaskID != "t1" || h.URL != tasks.fakeTasks["t1"].WebhookURL {
			t.Errorf("notification = %+v", h)
		}
	}
	if !seqs[1] || !seqs[2] {
		t.Errorf("notified events %v, want 1 and 2", seqs)
	}
	if tasks.gets["t1"] != 1 {
		t.Errorf("task t1 read %d times for the batch, want once", tasks.gets["t1"])
	}
}

// TestProgressDetailBounded: an event whose detail would pass MaxProgressDetailBytes goes without
// its data, marked truncated, and names the event all the same.
func TestProgressDetailBounded(t *testing.T) {
	tests := []struct {
		name      string
		data      string
		truncated bool
	}{
		{"small", `{"text":"hi"}`, false},
		{"large", `{"text":"` + strings.Repeat("x", MaxProgressDetailBytes) + `"}`, true},
		{"not JSON", `{"text":`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NewProgressDetail(newTask("t1", task.Xpander), tasklog.Event{Seq: 9, Type: tasklog.Chunk, At: at, Data: json.RawMessage(tc.data)})
			if err != nil {
				t.Fatal(err)
			}
			var d ProgressDetail
			if err := json.Unmarshal(b, &d); err != nil || len(b) > MaxProgressDetailBytes || d.Seq != 9 || d.TaskID != "t1" || d.Truncated != tc.truncated ||
				(len(d.Data) == 0) != tc.truncated {
				t.Errorf("detail (%d bytes) = %.200s, %v", len(b), b, err)
			}
		})
	}
}

// TestWanted: the local stream poller's filter passes what the stack's two filter patterns pass
// (the same cases as infra/construct/events' TestNotifySource).
func TestWanted(t *testing.T) {
	removed := rec("1", "TASK", "t1", task.Succeeded, "")
	removed.Removed = true
	rewritten := eventRec("1", "t1", 3, tasklog.Status, `{}`, true)
	rewritten.OldImage = rewritten.NewImage
	for _, c := range []struct {
		name string
		rec  batch.StreamRecord
		want bool
	}{
		{"task succeeded", rec("1", "TASK", "t1", task.Running, task.Succeeded), true},
		{"task paused", rec("1", "TASK", "t1", task.Running, task.Paused), true},
		{"task rejected at accept", rec("1", "TASK", "t1", "", task.Rejected), true},
		{"task claimed", rec("1", "TASK", "t1", task.Queued, task.Running), false},
		{"task accepted", rec("1", "TASK", "t1", "", task.Queued), false},
		{"task expired by TTL", removed, false},
		{"another item type", rec("1", "THREAD", "t1", "", task.Succeeded), false},
		{"an opted-in task's status event", eventRec("1", "t1", 3, tasklog.Status, `{}`, true), true},
		{"an opted-in task's created event", eventRec("1", "t1", 1, tasklog.Created, `{}`, true), true},
		{"an event of a task not opted in", eventRec("1", "t1", 3, tasklog.Status, `{}`, false), false},
		{"an opted-in task's finished event", eventRec("1", "t1", 3, tasklog.Finished, `{}`, true), false},
		{"an opted-in task's paused event", eventRec("1", "t1", 3, tasklog.Paused, `{}`, true), false},
		{"an event rewritten", rewritten, false},
	} {
		if got := Wanted(c.rec); got != c.want {
			t.Errorf("%s: Wanted = %v, want %v", c.name, got, c.want)
		}
	}
}
