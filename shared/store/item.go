package store

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// item is a task as DynamoDB holds it. Times are RFC 3339 strings with nanoseconds so that they
// sort as text; the lease is Unix milliseconds so that conditions can compare it as a number.
type item struct {
	PK              string `dynamodbav:"pk"`
	SK              string `dynamodbav:"sk"`
	GSI1PK          string `dynamodbav:"gsi1pk,omitempty"`
	GSI1SK          string `dynamodbav:"gsi1sk,omitempty"`
	GSI2PK          string `dynamodbav:"gsi2pk,omitempty"`
	GSI2SK          string `dynamodbav:"gsi2sk,omitempty"`
	GSI3PK          string `dynamodbav:"gsi3pk,omitempty"`
	GSI3SK          string `dynamodbav:"gsi3sk,omitempty"`
	GSI4PK          string `dynamodbav:"gsi4pk,omitempty"`
	GSI4SK          string `dynamodbav:"gsi4sk,omitempty"`
	GSI5PK          string `dynamodbav:"gsi5pk,omitempty"`
	ID              string `dynamodbav:"id"`
	Tenant          string `dynamodbav:"tenant"`
	AgentID         string `dynamodbav:"agent_id"`
	AgentVersion    string `dynamodbav:"agent_version,omitempty"`
	Dialect         string `dynamodbav:"dialect"`
	Source          string `dynamodbav:"source,omitempty"`
	ThreadID        string `dynamodbav:"thread_id,omitempty"`
	ThreadSeq       int    `dynamodbav:"thread_seq,omitempty"`
	PrevTaskID      string `dynamodbav:"prev_task_id,omitempty"`
	State           string `dynamodbav:"state"`
	Version         int64  `dynamodbav:"version"`
	Request         string `dynamodbav:"request,omitempty"`
	RequestRef      string `dynamodbav:"request_ref,omitempty"`
	Text            string `dynamodbav:"text,omitempty"`
	WebhookURL      string `dynamodbav:"webhook_url,omitempty"`
	NeedsSecrets    bool   `dynamodbav:"needs_secrets,omitempty"`
	ProgressEvents  bool   `dynamodbav:"progress_events,omitempty"`
	InFlightCounted bool   `dynamodbav:"in_flight_counted,omitempty"`
	// CompletionEvents is always written; an item without it was accepted when every outcome
	// went on the bus, and keeps that promise (completionEvents).
	CompletionEvents  *bool   `dynamodbav:"completion_events"`
	Result            string  `dynamodbav:"result,omitempty"`
	Output            string  `dynamodbav:"output,omitempty"`
	ResultRef         string  `dynamodbav:"result_ref,omitempty"`
	RemoteTaskID      string  `dynamodbav:"remote_task_id,omitempty"`
	HITL              string  `dynamodbav:"hitl_request,omitempty"`
	PromptTokens      int     `dynamodbav:"prompt_tokens,omitempty"`
	CompletionTok     int     `dynamodbav:"completion_tokens,omitempty"`
	TotalTokens       int     `dynamodbav:"total_tokens,omitempty"`
	Actions           int     `dynamodbav:"actions,omitempty"`
	CostUSD           float64 `dynamodbav:"cost_usd,omitempty"`
	ParentTaskID      string  `dynamodbav:"parent_task_id,omitempty"`
	TriggeringAgentID string  `dynamodbav:"triggering_agent_id,omitempty"`
	UserID            string  `dynamodbav:"user_id,omitempty"`
	Reason            string  `dynamodbav:"reason,omitempty"`
	ReasonMessage     string  `dynamodbav:"reason_message,omitempty"`
	Attempts          int     `dynamodbav:"attempts"`
	CostUnits         int     `dynamodbav:"cost_units"`
	ExpectedMs        int64   `dynamodbav:"expected_ms,omitempty"`
	LeaseUntil        int64   `dynamodbav:"lease_until,omitempty"`
	CreatedAt         string  `dynamodbav:"created_at"`
	UpdatedAt         string  `dynamodbav:"updated_at,omitempty"`
	StartedAt         string  `dynamodbav:"started_at,omitempty"`
	PausedAt          string  `dynamodbav:"paused_at,omitempty"`
	FinishedAt        string  `dynamodbav:"finished_at,omitempty"`
	ExpiresAt         int64   `dynamodbav:"expires_at,omitempty"`
	// The receipt's facts: see task.Task.
	Sync           bool   `dynamodbav:"sync,omitempty"`
	CallerAgentID  string `dynamodbav:"caller_agent_id,omitempty"`
	CallerPublicID string `dynamodbav:"caller_public_id,omitempty"`
	Verification   string `dynamodbav:"verification,omitempty"`
}

func toItem(t *task.Task) item {
	it := item{
		PK: table.TaskPartition(t.ID), SK: table.TaskSortKey,
		GSI1PK: table.TenantPartition("TENANT", t.Tenant), GSI1SK: table.Stamp(t.CreatedAt) + "#" + t.ID,
		ID: t.ID, Tenant: t.Tenant, AgentID: t.AgentID, AgentVersion: t.AgentVersion,
		Dialect: string(t.Dialect), Source: t.Source, ThreadID: t.ThreadID, ThreadSeq: t.ThreadSeq, PrevTaskID: t.PrevTaskID,
		ResultRef: t.ResultRef, RemoteTaskID: t.RemoteTaskID, HITL: string(t.HITL), PromptTokens: t.Usage.Prompt, CompletionTok: t.Usage.Completion, TotalTokens: t.Usage.Total,
		Actions: t.Usage.Actions, CostUSD: t.Usage.Cost, ParentTaskID: t.ParentTaskID, TriggeringAgentID: t.TriggeringAgentID, UserID: t.UserID,
		State: string(t.State), Version: t.Version, RequestRef: t.RequestRef,
		Result: t.Result, Output: string(t.Output), Reason: t.Reason, ReasonMessage: t.ReasonMessage,
		Attempts: t.Attempts, CostUnits: t.CostUnits, ExpectedMs: t.Expected.Milliseconds(), NeedsSecrets: t.NeedsSecrets, WebhookURL: t.WebhookURL, ProgressEvents: t.ProgressEvents, InFlightCounted: t.InFlightCounted, CompletionEvents: new(t.CompletionEvents),
		CreatedAt: table.Stamp(t.CreatedAt), UpdatedAt: table.Stamp(t.UpdatedAt), StartedAt: table.Stamp(t.StartedAt),
		PausedAt: table.Stamp(t.PausedAt), FinishedAt: table.Stamp(t.FinishedAt),
		Sync: t.Sync, CallerAgentID: t.CallerAgentID, CallerPublicID: t.CallerPublicID,
		Verification: t.Verification,
	}
	request, text := task.InlineRequest(t)
	it.Request, it.Text = string(request), text
	// A task recorded in flight enters by_created, once; by_active only when the sweeper's walk
	// or a resume puts it there (see Watch).
	it.GSI3SK = activeSortKey(t.CreatedAt, t.ID)
	if inFlight(t.State) {
		it.GSI5PK = createdPartition(t.ID)
	}
	if t.ParentTaskID != "" {
		it.GSI4PK, it.GSI4SK = parentPartition(t.Tenant, t.ParentTaskID), it.GSI1SK
	}
	// A conversation's first xpander turn is its thread's own task (its id is the thread's), which
	// Turns reads by its key: only later turns are entered in by_thread, so a conversation of one
	// turn, the common case, writes nothing to the index.
	if t.ThreadID != "" && t.ThreadID != t.ID {
		it.GSI2PK = table.TenantKey("THREAD", t.Tenant, t.ThreadID)
		it.GSI2SK = it.GSI1SK
	}
	if !t.LeaseUntil.IsZero() {
		it.LeaseUntil = t.LeaseUntil.UnixMilli()
	}
	if !t.ExpiresAt.IsZero() {
		it.ExpiresAt = t.ExpiresAt.Unix()
	}
	return it
}

// completionEvents reads an item's completion_events: as written, or true for an item written
// before tasks chose (every outcome went on the bus then, and a task keeps what it was promised
// at accept, a triggered task in flight across the deploy included).
func completionEvents(v *bool) bool { return v == nil || *v }

func fromAttributes(av map[string]types.AttributeValue) (*task.Task, error) {
	var it item
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return nil, fmt.Errorf("decode task item: %w", err)
	}
	t := &task.Task{
		ID: it.ID, Tenant: it.Tenant, AgentID: it.AgentID, AgentVersion: it.AgentVersion,
		Dialect: task.Dialect(it.Dialect), Source: it.Source, ThreadID: it.ThreadID, ThreadSeq: it.ThreadSeq, PrevTaskID: it.PrevTaskID,
		ResultRef: it.ResultRef, RemoteTaskID: it.RemoteTaskID, Usage: task.Usage{Tokens: task.Tokens{Prompt: it.PromptTokens, Completion: it.CompletionTok, Total: it.TotalTokens}, Actions: it.Actions, Cost: it.CostUSD},
		ParentTaskID: it.ParentTaskID, TriggeringAgentID: it.TriggeringAgentID, UserID: it.UserID,
		State: task.State(it.State), Version: it.Version, RequestRef: it.RequestRef, Text: it.Text, Result: it.Result,
		Reason: it.Reason, ReasonMessage: it.ReasonMessage, Attempts: it.Attempts, CostUnits: it.CostUnits,
		Expected:     time.Duration(it.ExpectedMs) * time.Millisecond,
		NeedsSecrets: it.NeedsSecrets, WebhookURL: it.WebhookURL, ProgressEvents: it.ProgressEvents, InFlightCounted: it.InFlightCounted, CompletionEvents: completionEvents(it.CompletionEvents),
		Sync: it.Sync, CallerAgentID: it.CallerAgentID, CallerPublicID: it.CallerPublicID,
		Verification: it.Verification,
	}
	if it.Request != "" {
		t.Request = json.RawMessage(it.Request)
	}
	if it.HITL != "" {
		t.HITL = json.RawMessage(it.HITL)
	}
	if it.Output != "" {
		t.Output = json.RawMessage(it.Output)
	}
	if it.LeaseUntil != 0 {
		t.LeaseUntil = time.UnixMilli(it.LeaseUntil).UTC()
	}
	if it.ExpiresAt != 0 {
		t.ExpiresAt = time.Unix(it.ExpiresAt, 0).UTC()
	}
	var err error
	for _, f := range []struct {
		dst *time.Time
		src string
	}{{&t.CreatedAt, it.CreatedAt}, {&t.UpdatedAt, it.UpdatedAt}, {&t.StartedAt, it.StartedAt}, {&t.PausedAt, it.PausedAt}, {&t.FinishedAt, it.FinishedAt}} {
		if *f.dst, err = table.ParseStamp(f.src); err != nil {
			return nil, fmt.Errorf("decode task %s: %w", it.ID, err)
		}
	}
	if !t.State.Valid() {
		return nil, fmt.Errorf("decode task %s: unknown state %q", it.ID, it.State)
	}
	return t, nil
}

// inFlight tells the states whose task waits on a work message: those the by_active index holds.
func inFlight(s task.State) bool { return s == task.Queued || s == task.Running }

// activePartition spreads the by_active index over table.ActiveShards partitions by task id.
func activePartition(id string) string { return shardKey("ACTIVE", shardOf(id)) }

// createdPartition spreads the by_created index over table.ActiveShards partitions by task id.
func createdPartition(id string) string { return shardKey("CREATED", shardOf(id)) }

func shardOf(id string) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % table.ActiveShards)
}

func shardKey(prefix string, shard int) string { return fmt.Sprintf("%s#%d", prefix, shard) }

// parentPartition is a task's sub-tasks' partition of the by_parent index.
func parentPartition(tenant, parentID string) string { return "PARENT#" + tenant + "#" + parentID }

// activeSortKey orders the by_active and by_created indexes by creation, which no write moves: a
// task's writes while it stays in flight are then no index writes. A task idle since a time was
// created before it, so the sweeper reads the entries older than its cutoff and checks their last
// write.
func activeSortKey(created time.Time, id string) string { return table.Stamp(created) + "#" + id }

// TaskFromImage decodes a task item as a table stream carries it (the new image of a change),
// and loads its offloaded answer back from the blob store, so the task reads as it was written
// whatever moved it since.
func (s *Store) TaskFromImage(ctx context.Context, image map[string]types.AttributeValue) (*task.Task, error) {
	t, err := fromAttributes(image)
	if err != nil {
		return nil, err
	}
	if t.ResultRef != "" {
		if err := s.loadResult(ctx, t); err != nil {
			return nil, fmt.Errorf("decode task %s from stream: %w", t.ID, err)
		}
	}
	return t, nil
}
