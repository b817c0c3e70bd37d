package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestTenantKeysNeverMeet: tenant "a" sending thread id "b#c" must not land in tenant "a#b"'s
// thread "c", whatever the tenants are called.
func TestTenantKeysNeverMeet(t *testing.T) {
	pairs := [][2]string{{"a", "b#c"}, {"a#b", "c"}, {"a%23b", "c"}, {"a", "%23b#c"}, {"a#", "b"}, {"a", "#b"}}
	seen := map[string][2]string{}
	for _, p := range pairs {
		for _, prefix := range []string{"THREAD", "IDEMP"} {
			k := TenantKey(prefix, p[0], p[1])
			if prev, dup := seen[k]; dup {
				t.Errorf("%v and %v share key %s", prev, p, k)
			}
			seen[k] = p
		}
	}
	if got := TenantKey("THREAD", "acme", "t1"); got != "THREAD#acme#t1" {
		t.Errorf("a valid tenant's key changed: %s", got)
	}
}

// TestGetThreadChecksItsTenant: a thread record is joined only by the tenant it names.
func TestGetThreadChecksItsTenant(t *testing.T) {
	stamp := created.Format(time.RFC3339Nano)
	db := &fakeDynamoDB{item: map[string]types.AttributeValue{
		AttrPK: str("THREAD#a#b#c"), AttrSK: str("THREAD"), "thread_id": str("c"), "tenant": str("a#b"),
		"latest_task_id": str("t-1"), "turns": num(1), "created_at": str(stamp), "updated_at": str(stamp),
	}}
	s := New(db, "tasks")
	if _, err := s.GetThread(context.Background(), "a", "b#c"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tenant a joining tenant a#b's thread = %v, want ErrNotFound", err)
	}
	if th, err := s.GetThread(context.Background(), "a#b", "c"); err != nil || th.LatestTaskID != "t-1" {
		t.Fatalf("the thread's own tenant = %+v, %v", th, err)
	}
}

// TestReplayedChecksItsTenant: an idempotency record answers only the tenant it names.
func TestReplayedChecksItsTenant(t *testing.T) {
	db := &fakeDynamoDB{item: map[string]types.AttributeValue{
		AttrPK: str("IDEMP#a#b#k"), AttrSK: str("IDEMP"), "tenant": str("a#b"), "task_id": str("t-1"), "body_hash": str("h"),
	}}
	s := New(db, "tasks")
	if _, _, err := s.Replayed(context.Background(), "a", "b#k", created); !errors.Is(err, ErrNotFound) {
		t.Fatalf("tenant a reading tenant a#b's key = %v, want ErrNotFound", err)
	}
	if id, _, err := s.Replayed(context.Background(), "a#b", "k", created); err != nil || id != "t-1" {
		t.Fatalf("the key's own tenant = %q, %v", id, err)
	}
}
