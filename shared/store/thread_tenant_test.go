package store

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// TestGetThreadChecksItsTenant: a thread record is joined only by the tenant it names.
func TestGetThreadChecksItsTenant(t *testing.T) {
	stamp := table.Stamp(created)
	db := &fakeDynamoDB{item: map[string]types.AttributeValue{
		table.AttrPK: table.S("THREAD#a#b#c"), table.AttrSK: table.S("THREAD"), "thread_id": table.S("c"), "tenant": table.S("a#b"),
		"latest_task_id": table.S("t-1"), "turns": table.N(1), "created_at": table.S(stamp), "updated_at": table.S(stamp),
	}}
	s := New(db, "tasks")
	if _, err := s.GetThread(context.Background(), "a", "b#c"); !errors.Is(err, task.ErrNotFound) {
		t.Fatalf("tenant a joining tenant a#b's thread = %v, want ErrNotFound", err)
	}
	if th, err := s.GetThread(context.Background(), "a#b", "c"); err != nil || th.LatestTaskID != "t-1" {
		t.Fatalf("the thread's own tenant = %+v, %v", th, err)
	}
}
