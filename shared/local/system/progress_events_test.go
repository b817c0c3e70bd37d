package system

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/local/eventbus"
	"github.com/agentq/agentq/shared/notify"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/webhook"
	"github.com/agentq/agentq/shared/webhook/signing"
)

// publishReporter publishes an HTTP agent that reports a status and a chunk to its progress_url
// before it answers.
func publishReporter(t *testing.T) string {
	t.Helper()
	agentSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in dispatch.HTTPRequest
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.ProgressURL == "" {
			http.Error(w, "no progress_url", http.StatusBadRequest)
			return
		}
		for _, body := range []string{`{"type":"status","data":{"message":"thinking"}}`, `{"type":"chunk","data":{"text":"part"}}`} {
			req, _ := http.NewRequest(http.MethodPost, in.ProgressURL, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+in.ProgressToken)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusAccepted {
				http.Error(w, "progress refused", http.StatusBadRequest)
				return
			}
			resp.Body.Close()
		}
		_, _ = io.WriteString(w, "the answer")
	}))
	t.Cleanup(agentSrv.Close)
	id := "progress-" + uuid.NewString()[:8]
	if code, body := request(t, http.MethodPut, "/v1/agents/"+id, testAdminKey,
		fmt.Sprintf(`{"protocol":"http","endpoint":%q,"timeout":"10s","publish":true}`, agentSrv.URL)); code != http.StatusOK {
		t.Fatalf("publish = %d %v", code, body)
	}
	return id
}

// hookEvents decodes what a receiver got for a task, checking every signature.
func hookEvents(t *testing.T, rcv *receiver, taskID string) (types []string, ids []string) {
	t.Helper()
	for _, got := range rcv.requests() {
		if !strings.Contains(string(got.body), taskID) {
			continue
		}
		if err := signing.Verify(testWebhookSecret, got.header, got.body, time.Now(), 0); err != nil {
			t.Fatalf("a delivery does not verify: %v", err)
		}
		var ev webhook.Event
		if err := json.Unmarshal(got.body, &ev); err != nil {
			t.Fatalf("payload %s: %v", got.body, err)
		}
		name := ev.Type
		if ev.Type == notify.TypeProgress {
			var d notify.ProgressDetail
			if err := json.Unmarshal(ev.Data, &d); err != nil || d.TaskID != taskID || d.Seq == 0 {
				t.Fatalf("progress data %s: %v", ev.Data, err)
			}
			name += ":" + string(d.Type)
		}
		types, ids = append(types, name), append(ids, got.header.Get("webhook-id"))
	}
	return types, ids
}

// TestProgressEventsOptIn: a task whose caller opted in (events_streaming) sends its progress
// (attempt, the agent's status and chunk; created is implied by the task record, never stored, so
// never sent) to the bus as Agent Task Progress and to its
// webhook as task.progress, signed, each with its own webhook-id, and its outcome once, as the
// completion event; a task not opted in sends its outcome only; and a stream record delivered
// again to the notifier creates and sends no second delivery.
func TestProgressEventsOptIn(t *testing.T) {
	agentID := publishReporter(t)
	rcv := newReceiver(t, 0)
	invoke := func(optIn bool) string {
		_, body := post(t, "/v1/agents/"+agentID+"/invoke/async",
			fmt.Sprintf(`{"input":{"text":"go"},"events_streaming":%v,"webhook_url":%q}`, optIn, rcv.URL))
		id, _ := body["task_id"].(string)
		if id == "" {
			t.Fatalf("invoke: %v", body)
		}
		waitFor(t, "/v1/tasks/"+id, "completed")
		return id
	}
	in, out := invoke(true), invoke(false)

	want := []string{"task.progress:attempt", "task.progress:status", "task.progress:chunk", "task.completed"}
	var got, ids []string
	eventually(t, "the opted-in task's deliveries", func() bool {
		got, ids = hookEvents(t, rcv, in)
		return len(got) >= len(want)
	})
	slices.Sort(got)
	if sorted := slices.Sorted(slices.Values(want)); !slices.Equal(got, sorted) {
		t.Errorf("opted-in task's webhooks = %v, want %v", got, sorted)
	}
	if slices.Sort(ids); len(slices.Compact(ids)) != len(want) {
		t.Errorf("webhook-ids %v: want one per event", ids)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, typ := range []string{"attempt", "status", "chunk"} {
		if _, err := sys.Bus.Wait(ctx, func(e eventbus.Event) bool {
			var d notify.ProgressDetail
			return e.DetailType == notify.DetailProgress && json.Unmarshal(e.Detail, &d) == nil && d.TaskID == in && string(d.Type) == typ
		}); err != nil {
			t.Errorf("no Agent Task Progress %s event of task %s: %v", typ, in, err)
		}
	}

	eventually(t, "the other task's completion delivery", func() bool { g, _ := hookEvents(t, rcv, out); return len(g) > 0 })
	if g, _ := hookEvents(t, rcv, out); !slices.Equal(g, []string{"task.completed"}) {
		t.Errorf("task not opted in: webhooks %v, want its outcome only", g)
	}
	for _, e := range sys.Bus.Events() {
		if e.DetailType == notify.DetailProgress && strings.Contains(string(e.Detail), out) {
			t.Errorf("task not opted in put a progress event: %s", e.Detail)
		}
	}

	redeliverProgress(t, in, len(want))
}

// redeliverProgress hands the notifier the stream record of task id's third event (its status)
// again, as the event source does after a failed batch: it finds the event's delivery and creates
// and sends nothing.
func redeliverProgress(t *testing.T, id string, deliveries0 int) {
	t.Helper()
	eventually(t, "every delivery made", func() bool {
		ds := deliveries(t, id)
		for _, d := range ds {
			if d["state"] != "succeeded" {
				return false
			}
		}
		return len(ds) == deliveries0
	})
	key := map[string]types.AttributeValue{table.AttrPK: table.S(table.TaskPartition(id)), table.AttrSK: table.S("EV#0000000003")}
	item, err := sys.DynamoDB.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(sys.Table), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil || len(item.Item) == 0 {
		t.Fatalf("event 3 of %s: %v", id, err)
	}
	n := notify.New(notify.Config{Tasks: store.New(sys.DynamoDB, sys.Table), Webhooks: sys.Deliveries})
	if from, err := n.Handle(context.Background(), []batch.StreamRecord{{Sequence: "1", Keys: key, NewImage: item.Item}}); err != nil || from != "" {
		t.Fatalf("Handle = %q, %v", from, err)
	}
	ds := deliveries(t, id)
	if len(ds) != deliveries0 {
		t.Fatalf("deliveries after the redelivered record = %d, want %d", len(ds), deliveries0)
	}
	for _, d := range ds {
		if d["state"] != "succeeded" || len(d["attempts"].([]any)) != 1 {
			t.Errorf("delivery %v: want succeeded after one attempt", d)
		}
	}
}
