package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/local/bench"
	"github.com/agentq/agentq/shared/task"
)

func listIDs(ts []*task.Task) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

// TestListOnDynamoDBLocal: by_tenant copies only what never changes, so a task's transitions and
// receipt facts write nothing to it; lists still filter on state and verdict (in the tasks read
// back) and on the copied attributes (in the index), page after page.
func TestListOnDynamoDBLocal(t *testing.T) {
	ctx := context.Background()
	m := bench.NewMeter()
	s := localTable(t, "lists", m)
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, id := range []string{"a0", "b1", "a2", "b3", "a4", "b5", "a6"} {
		tk := &task.Task{ID: id, Tenant: "org-1", AgentID: "agent-" + id[:1], Dialect: task.ServiceNet, State: task.Queued, Version: 1,
			Text: "hi", CreatedAt: t0.Add(time.Duration(i) * time.Second), ExpiresAt: t0.Add(time.Hour), CallerAgentID: "caller-" + id[:1]}
		tk.UpdatedAt = tk.CreatedAt
		if err := s.Submit(ctx, tk, task.SubmitOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if w := m.Usage()[""].WRU["lists/by_tenant"]; w == 0 {
		t.Fatal("recording the tasks consumed no by_tenant capacity: DynamoDB Local reported none")
	}
	m.Reset()
	for _, id := range []string{"a0", "b3", "a4"} {
		if _, err := s.Transition(ctx, id, task.Change{From: []task.State{task.Queued}, To: task.Failed, Now: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SetVerification(ctx, "a4", "verified"); err != nil {
		t.Fatal(err)
	}
	if w := m.Usage()[""].WRU["lists/by_tenant"]; w != 0 {
		t.Errorf("transitions and a verdict wrote %.1f units to by_tenant, want 0", w)
	}
	now := t0.Add(2 * time.Minute)
	for _, tt := range []struct {
		name string
		q    task.ListQuery
		want []string
	}{
		{"all", task.ListQuery{}, []string{"a6", "b5", "a4", "b3", "a2", "b1", "a0"}},
		{"failed", task.ListQuery{States: []task.State{task.Failed}}, []string{"a4", "b3", "a0"}},
		{"agent a, queued", task.ListQuery{AgentID: "agent-a", States: []task.State{task.Queued}}, []string{"a6", "a2"}},
		{"caller b", task.ListQuery{CallerAgentID: "caller-b"}, []string{"b5", "b3", "b1"}},
		{"verified", task.ListQuery{Verification: "verified"}, []string{"a4"}},
		{"not_required", task.ListQuery{Verification: task.VerdictNotRequired, AgentID: "agent-a"}, []string{"a6", "a2", "a0"}},
	} {
		for _, limit := range []int{1, 2, 100} {
			var got []string
			q := tt.q
			q.Tenant, q.Limit, q.Now = "org-1", limit, now
			for range 10 {
				items, next, err := s.List(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(items) > limit {
					t.Errorf("%s: a page of %d, limit %d", tt.name, len(items), limit)
				}
				got = append(got, listIDs(items)...)
				if q.Cursor = next; next == "" {
					break
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s, pages of %d: %v, want %v", tt.name, limit, got, tt.want)
			}
		}
		q := tt.q
		q.Tenant, q.Now, q.Offset, q.Limit = "org-1", now, 1, 1
		if items, _, err := s.List(ctx, q); err != nil || len(tt.want) > 1 && !slices.Equal(listIDs(items), tt.want[1:2]) {
			t.Errorf("%s, offset 1: %v, %v; want %v", tt.name, listIDs(items), err, tt.want[1:2])
		}
		q.Offset, q.Limit = 0, 0
		if n, exact, err := s.Count(ctx, q); err != nil || n != len(tt.want) || !exact {
			t.Errorf("%s: Count = %d, %v, %v; want %d exactly", tt.name, n, exact, err, len(tt.want))
		}
	}
	// Expired tasks are left out of lists and counts without reading them.
	later := task.ListQuery{Tenant: "org-1", Now: t0.Add(2 * time.Hour)}
	if items, next, err := s.List(ctx, later); err != nil || len(items) != 0 || next != "" {
		t.Errorf("after expiry: %v, %q, %v; want nothing", listIDs(items), next, err)
	}
	if n, _, err := s.Count(ctx, later); err != nil || n != 0 {
		t.Errorf("count after expiry = %d, %v; want 0", n, err)
	}
}
