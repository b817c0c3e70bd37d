package store

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/task"
)

// A receipt's verdict is written beside the task without moving its version, so that no
// worker's conditional write on the version is disturbed.
func TestReceiptWritesKeepTheVersion(t *testing.T) {
	db := &fakeDynamoDB{item: attrs(t, task.Succeeded, 4)}
	s := New(db, "tasks")
	if _, err := s.SetVerification(context.Background(), "t1", "verified"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct{ expr, attr, value string }{
		{"SET #v = :v", "verification", "verified"},
	} {
		in := db.updates[i]
		if aws.ToString(in.UpdateExpression) != want.expr || aws.ToString(in.ConditionExpression) != "attribute_exists(#pk)" {
			t.Errorf("update %d = %q if %q", i, aws.ToString(in.UpdateExpression), aws.ToString(in.ConditionExpression))
		}
		for name, attr := range in.ExpressionAttributeNames {
			if name != "#pk" && attr != want.attr {
				t.Errorf("update %d writes %s, want %s", i, attr, want.attr)
			}
		}
		for _, v := range in.ExpressionAttributeValues {
			if s, _ := v.(*types.AttributeValueMemberS); s == nil || s.Value != want.value {
				t.Errorf("update %d value = %#v, want %q", i, v, want.value)
			}
		}
	}
	db.err = &types.ConditionalCheckFailedException{}
	if _, err := s.SetVerification(context.Background(), "gone", "x"); !errors.Is(err, task.ErrNotFound) {
		t.Errorf("a task that is gone: %v", err)
	}
}

func TestReceiptFactsRoundTrip(t *testing.T) {
	in := &task.Task{ID: "t1", Tenant: "org-1", AgentID: "echo", State: task.Running, Version: 1, CreatedAt: created,
		Sync: true, CallerAgentID: "ca", CallerPublicID: "cp", Verification: "pending"}
	db := &fakeDynamoDB{}
	if err := New(db, "tasks").Create(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	out, err := fromAttributes(db.puts[0].Item)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Sync || out.CallerAgentID != "ca" || out.CallerPublicID != "cp" || out.Verification != "pending" {
		t.Errorf("read back %+v", out)
	}
}

func TestListReceiptFilters(t *testing.T) {
	tests := []struct {
		q      task.ListQuery
		filter string
	}{
		{task.ListQuery{CallerAgentID: "ca", CallerPublicID: "cp"}, "#caller = :caller AND #callerpub = :callerpub"},
		{task.ListQuery{InvokeMode: "sync"}, "#sync = :sync"},
		{task.ListQuery{InvokeMode: "async"}, "(attribute_not_exists(#sync) OR #sync <> :sync)"},
		// The verdict changes after a task is accepted: it is filtered in the tasks read back.
		{task.ListQuery{Verification: "verified"}, ""},
		{task.ListQuery{Verification: "not_required", CallerAgentID: "ca"}, "#caller = :caller"},
		{task.ListQuery{AgentID: "echo", InvokeMode: "sync"}, "#agent = :agent AND #sync = :sync"},
	}
	for _, tt := range tests {
		db := newIndex(t, 1, nil)
		tt.q.Tenant = "org-1"
		if _, _, err := New(db, "tasks").List(context.Background(), tt.q); err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(db.queries[0].FilterExpression); got != tt.filter {
			t.Errorf("%+v: filter = %q, want %q", tt.q, got, tt.filter)
		}
	}
}
