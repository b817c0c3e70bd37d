package store

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// roundTrip turns a task into DynamoDB attributes, as Create writes them, and back.
func roundTrip(t *testing.T, tk *task.Task) (map[string]types.AttributeValue, *task.Task) {
	t.Helper()
	av, err := attributevalue.MarshalMap(toItem(tk))
	if err != nil {
		t.Fatalf("marshal item: %v", err)
	}
	got, err := fromAttributes(av)
	if err != nil {
		t.Fatalf("fromAttributes: %v", err)
	}
	return av, got
}

func TestItemRoundTripFull(t *testing.T) {
	sydney := time.FixedZone("AEDT", 11*3600)
	created := time.Date(2026, 2, 7, 13, 13, 26, 325626789, sydney)
	in := &task.Task{
		ID: "81250b20-e9d7-4b3b-9995-07dc72b4bb59", Tenant: "org-1", AgentID: "echo", AgentVersion: "3",
		Dialect: task.ServiceNet, Source: "api", ThreadID: "ctx-1", ThreadSeq: 2, PrevTaskID: "f1e2d3c4-0000-4000-8000-000000000001",
		State: task.Succeeded, Version: 4,
		Request: json.RawMessage(`{"message":"hi"}`), Text: "hi", WebhookURL: "https://hooks.example.com/agentq", Result: "hello", Output: json.RawMessage(`{"output":"hello"}`),
		ResultRef: "results/81250b20", Usage: task.Usage{Tokens: task.Tokens{Prompt: 10, Completion: 5, Total: 15}, Actions: 2, Cost: 0.015},
		ParentTaskID: "p-1", TriggeringAgentID: "planner", UserID: "u-1",
		Reason: task.ReasonAgentUnavailable, ReasonMessage: "first try failed", Attempts: 2, CostUnits: 5, Expected: 1500 * time.Millisecond,
		LeaseUntil: created.Add(45*time.Second + 123456789), CreatedAt: created, UpdatedAt: created.Add(20 * time.Second),
		StartedAt: created.Add(time.Second), PausedAt: created.Add(2 * time.Second), FinishedAt: created.Add(19 * time.Second),
		ExpiresAt: created.Add(30*24*time.Hour + 700*time.Millisecond), ProgressEvents: true, CompletionEvents: true, InFlightCounted: true,
	}
	av, got := roundTrip(t, in)
	// The notifier decides from the stream's image alone: the choice is an attribute of the item.
	if b, ok := av["completion_events"].(*types.AttributeValueMemberBOOL); !ok || !b.Value {
		t.Errorf("completion_events = %#v, want true", av["completion_events"])
	}

	// Times come back in UTC at the precision each is stored with: timestamps to the nanosecond,
	// the lease to the millisecond (conditions compare it as a number), expiry to the second (TTL).
	want := *in
	for _, p := range []*time.Time{&want.CreatedAt, &want.UpdatedAt, &want.StartedAt, &want.PausedAt, &want.FinishedAt} {
		*p = p.UTC()
	}
	want.LeaseUntil = in.LeaseUntil.Truncate(time.Millisecond).UTC()
	want.ExpiresAt = in.ExpiresAt.Truncate(time.Second).UTC()
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("round trip:\ngot  %+v\nwant %+v", got, &want)
	}

	keys := map[string]string{
		"pk": "TASK#81250b20-e9d7-4b3b-9995-07dc72b4bb59", "sk": "TASK",
		"gsi1pk": "TENANT#org-1", "gsi1sk": "2026-02-07T02:13:26.325626789Z#81250b20-e9d7-4b3b-9995-07dc72b4bb59",
		"gsi2pk": "THREAD#org-1#ctx-1", "gsi2sk": "2026-02-07T02:13:26.325626789Z#81250b20-e9d7-4b3b-9995-07dc72b4bb59",
		"state": "succeeded", "dialect": "servicenet", "request": `{"message":"hi"}`, "output": `{"output":"hello"}`,
	}
	for k, want := range keys {
		s, ok := av[k].(*types.AttributeValueMemberS)
		if !ok || s.Value != want {
			t.Errorf("%s = %#v, want string %q", k, av[k], want)
		}
	}
	// expires_at must be a Number of epoch seconds, or DynamoDB's TTL ignores it; lease_until is
	// compared as a number of milliseconds.
	for k, want := range map[string]string{
		table.AttrExpiresAt: "1773022407", "lease_until": "1770430451449", "version": "4", "attempts": "2", "cost_units": "5", "expected_ms": "1500",
	} {
		n, ok := av[k].(*types.AttributeValueMemberN)
		if !ok || n.Value != want {
			t.Errorf("%s = %#v, want number %s", k, av[k], want)
		}
	}
}

func TestItemRoundTripMinimal(t *testing.T) {
	created := time.Date(2026, 2, 7, 2, 13, 26, 0, time.UTC)
	in := &task.Task{ID: "t1", Tenant: "org-1", AgentID: "echo", Dialect: task.Xpander, State: task.Queued, Version: 1, CreatedAt: created}
	av, got := roundTrip(t, in)
	if !reflect.DeepEqual(got, in) {
		t.Errorf("round trip:\ngot  %+v\nwant %+v", got, in)
	}
	if got.Request != nil || got.Output != nil {
		t.Errorf("empty Request/Output came back as %q/%q, want nil", got.Request, got.Output)
	}
	for _, k := range []string{"agent_version", "source", "thread_id", "thread_seq", "prev_task_id", "request", "text",
		"result", "output", "result_ref", "prompt_tokens", "completion_tokens", "total_tokens", "reason",
		"reason_message", "expected_ms", "lease_until", "updated_at", "started_at", "paused_at", "finished_at", table.AttrExpiresAt, "gsi2pk", "gsi2sk"} {
		if _, ok := av[k]; ok {
			t.Errorf("empty %s stored as %#v; it must be left out (sparse index, no TTL)", k, av[k])
		}
	}
	for _, k := range []string{table.AttrPK, table.AttrSK, "gsi1pk", "gsi1sk", "id", "tenant", "agent_id", "dialect", "state", "version", "attempts", "cost_units", "created_at"} {
		if _, ok := av[k]; !ok {
			t.Errorf("required attribute %s missing", k)
		}
	}
}

func TestFromAttributesRefuses(t *testing.T) {
	base := func() map[string]types.AttributeValue {
		av, err := attributevalue.MarshalMap(toItem(&task.Task{ID: "t1", Tenant: "o", AgentID: "a", State: task.Queued,
			CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}))
		if err != nil {
			t.Fatal(err)
		}
		return av
	}
	tests := []struct {
		name   string
		mutate func(av map[string]types.AttributeValue)
		want   string
	}{
		{"unknown state", func(av map[string]types.AttributeValue) { av["state"] = &types.AttributeValueMemberS{Value: "pending"} }, "unknown state"},
		{"no state", func(av map[string]types.AttributeValue) { delete(av, "state") }, "unknown state"},
		{"bad created_at", func(av map[string]types.AttributeValue) {
			av["created_at"] = &types.AttributeValueMemberS{Value: "yesterday"}
		}, "decode task t1"},
		{"bad finished_at", func(av map[string]types.AttributeValue) {
			av["finished_at"] = &types.AttributeValueMemberS{Value: "2026-13-01T00:00:00Z"}
		}, "decode task t1"},
		{"version not a number", func(av map[string]types.AttributeValue) { av["version"] = &types.AttributeValueMemberS{Value: "1"} }, "decode task item"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			av := base()
			tt.mutate(av)
			got, err := fromAttributes(av)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("fromAttributes = %+v, %v; want an error containing %q", got, err, tt.want)
			}
		})
	}
}

// TestCompletionEventsAttribute: a task's choice is written either way, so an item without it is
// one accepted before tasks chose, when every outcome went on the bus: it reads as asking, and
// a task in flight across the deploy (a triggered one waiting for its event, say) keeps its event.
func TestCompletionEventsAttribute(t *testing.T) {
	for _, want := range []bool{false, true} {
		av, got := roundTrip(t, &task.Task{ID: "t1", Tenant: "org-1", AgentID: "echo", Dialect: task.Xpander, State: task.Queued,
			Version: 1, CompletionEvents: want})
		if b, ok := av["completion_events"].(*types.AttributeValueMemberBOOL); !ok || b.Value != want {
			t.Errorf("completion_events written as %#v, want %v", av["completion_events"], want)
		}
		if got.CompletionEvents != want {
			t.Errorf("CompletionEvents read back as %v, want %v", got.CompletionEvents, want)
		}
		delete(av, "completion_events")
		old, err := fromAttributes(av)
		if err != nil || !old.CompletionEvents {
			t.Errorf("an item from before the choice reads CompletionEvents %v (%v), want true", old != nil && old.CompletionEvents, err)
		}
	}
}
