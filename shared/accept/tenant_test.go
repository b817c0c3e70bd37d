package accept_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tenantlimit"
)

// countingInFlight is a cap of tasks in flight kept in memory, admitting as tenantlimit.Limiter
// does: uncounted (the caller counts with Count) unless the tenant was last seen at its cap, then
// checked and counted at once.
type countingInFlight struct {
	mu    sync.Mutex
	max   int
	count map[string]int
	atCap map[string]bool
	// counting, when set, is called as Count starts; its error is Count's.
	counting func() error
}

func (c *countingInFlight) Admit(_ context.Context, tenant string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.atCap[tenant] {
		return false, nil
	}
	if c.count[tenant] >= c.max {
		return false, &tenantlimit.Error{Code: tenantlimit.CodeQuotaExceeded, Limit: c.max}
	}
	c.count[tenant]++
	c.atCap[tenant] = c.count[tenant] >= c.max
	return true, nil
}

func (c *countingInFlight) Count(_ context.Context, tenant string) error {
	if c.counting != nil {
		if err := c.counting(); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count[tenant]++
	c.atCap[tenant] = c.count[tenant] >= c.max
	return nil
}

func (c *countingInFlight) Release(_ context.Context, tenant string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count[tenant]--
	return nil
}

func (c *countingInFlight) Counts(context.Context, string) bool { return c.max > 0 }

func newCounter(max int) *countingInFlight {
	return &countingInFlight{max: max, count: map[string]int{}, atCap: map[string]bool{}}
}

func TestSubmitCountsTasksInFlight(t *testing.T) {
	h := newHarness(t)
	counter := newCounter(2)
	ids := 0
	h.svc = accept.New(accept.Config{Store: h.store, Queue: h.queue, Registry: registry, InFlight: counter,
		NewID: func() string { ids++; return taskID[:len(taskID)-1] + string(rune('0'+ids)) }})
	submit := func(tenant string) error {
		_, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: tenant, AgentID: "echo",
			Invocation: decode(t, dialect.DecodeServiceNet, `{"message":"hi"}`)})
		return err
	}
	for range 2 {
		if err := submit("flood"); err != nil {
			t.Fatal(err)
		}
	}
	var le *tenantlimit.Error
	if err := submit("flood"); !errors.As(err, &le) || le.Code != tenantlimit.CodeQuotaExceeded {
		t.Fatalf("third task = %v, want tenant_quota_exceeded", err)
	}
	if len(h.store.created) != 2 || len(h.queue.sent) != 2 {
		t.Errorf("a refused task was recorded or sent: %d, %d", len(h.store.created), len(h.queue.sent))
	}
	// Counted beside its write, so marked before it: its end uncounts it whatever the count reads.
	for _, c := range h.store.created {
		if !c.InFlightCounted {
			t.Errorf("task %s recorded without its in-flight mark", c.ID)
		}
	}
	if err := submit("quiet"); err != nil {
		t.Fatalf("another tenant: %v", err)
	}
	// A task that could not be recorded is uncounted at once.
	h.store.create = func(context.Context, *task.Task) error { return errors.New("dynamodb down") }
	if err := submit("quiet"); !errors.Is(err, accept.ErrStoreUnavailable) {
		t.Fatalf("failed write = %v", err)
	}
	if counter.count["quiet"] != 1 {
		t.Errorf("quiet has %d in flight, want 1: the unrecorded task is still counted", counter.count["quiet"])
	}
}

// TestSubmitCountsConcurrently: the in-flight count is written at the same time as the task and
// its message (one round trip, not two): each of Create, Send and Count waits until the others
// have started, which can only happen if the three run at the same time.
func TestSubmitCountsConcurrently(t *testing.T) {
	h := newHarness(t)
	counter := newCounter(10)
	started := map[string]chan struct{}{"write": make(chan struct{}), "send": make(chan struct{}), "count": make(chan struct{})}
	meet := func(me string) error {
		close(started[me])
		for other, ch := range started {
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				return fmt.Errorf("%s did not start while %s was running", other, me)
			}
		}
		return nil
	}
	counter.counting = func() error { return meet("count") }
	h.store.create = func(context.Context, *task.Task) error { return meet("write") }
	h.queue.send = func(context.Context, *queue.Message) error { return meet("send") }
	h.svc = accept.New(accept.Config{Store: h.store, Queue: h.queue, Registry: registry, InFlight: counter})
	if _, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
		Invocation: decode(t, dialect.DecodeXpander, xpanderBody)}); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if counter.count["org-1"] != 1 {
		t.Errorf("org-1 has %d in flight, want 1 (Count failed: it was not concurrent)", counter.count["org-1"])
	}
}

// TestSubmitAbandonedTaskUncounted: a task recorded but not sent is abandoned (failed without a
// transition the store's OnEnd hears), so accept gives its place back itself.
func TestSubmitAbandonedTaskUncounted(t *testing.T) {
	h := newHarness(t)
	counter := newCounter(10)
	h.queue.send = func(context.Context, *queue.Message) error { return errors.New("sqs down") }
	h.svc = accept.New(accept.Config{Store: h.store, Queue: h.queue, Registry: registry, InFlight: counter})
	_, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
		Invocation: decode(t, dialect.DecodeXpander, xpanderBody)})
	if _, ok := errors.AsType[*accept.DispatchError](err); !ok {
		t.Fatalf("Submit = %v, want a DispatchError", err)
	}
	if counter.count["org-1"] != 0 {
		t.Errorf("org-1 has %d in flight after its only task was abandoned, want 0", counter.count["org-1"])
	}
}

// TestSubmitOlderVersionRefused: a tenant runs the current version only; an older one (with a
// laxer policy of its own) or the draft is not found.
func TestSubmitOlderVersionRefused(t *testing.T) {
	h := newHarness(t)
	for _, v := range []string{"6", agent.Draft, "8"} {
		_, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo", Version: v,
			Invocation: decode(t, dialect.DecodeServiceNet, `{"message":"hi"}`)})
		if !errors.Is(err, agent.ErrVersionNotFound) {
			t.Errorf("version %s: %v, want ErrVersionNotFound", v, err)
		}
	}
	if len(h.store.created) != 0 {
		t.Error("a refused version was recorded")
	}
}

// TestSubmitNoCredentialsForAgentsWithoutAuth: an agent sent no caller credentials never gets
// them, so they do not ride in its work messages.
func TestSubmitNoCredentialsForAgentsWithoutAuth(t *testing.T) {
	for _, body := range []struct {
		d    func([]byte) (*dialect.Invocation, error)
		body string
	}{{dialect.DecodeXpander, xpanderBody}, {dialect.DecodeServiceNet, serviceNetBody}} {
		h := newHarness(t)
		got, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "plain", Invocation: decode(t, body.d, body.body)})
		if err != nil {
			t.Fatal(err)
		}
		m := h.queue.sent[len(h.queue.sent)-1]
		if len(m.Secrets) != 0 || m.AuthToken != "" || got.NeedsSecrets {
			t.Errorf("message to an agent without auth carries secrets %v, token %q (needs %v)", m.Secrets, m.AuthToken, got.NeedsSecrets)
		}
	}
}

// TestSubmitBoundsWaitingTurns: a thread takes at most MaxWaitingTurns turns that have not ended;
// one more is refused as thread_busy, and a thread whose turns ended takes more at once.
func TestSubmitBoundsWaitingTurns(t *testing.T) {
	h := newHarness(t)
	prev := ""
	for i := range accept.MaxWaitingTurns {
		id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)
		h.store.Put(&task.Task{ID: id, Tenant: "org-1", ThreadID: "thread-1", ThreadSeq: i + 1, PrevTaskID: prev, State: task.Queued, Version: 1})
		prev = id
	}
	h.store.threads = map[string]*task.Thread{"org-1/thread-1": {ID: "thread-1", Tenant: "org-1", LatestTaskID: prev, Turns: accept.MaxWaitingTurns, Stored: true}}
	_, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
		Invocation: decode(t, dialect.DecodeXpander, xpanderBody)})
	if !errors.Is(err, accept.ErrThreadBusy) {
		t.Fatalf("turn %d = %v, want ErrThreadBusy", accept.MaxWaitingTurns+1, err)
	}
	// Once the oldest turn ends there is room again.
	oldest := h.store.Task("00000000-0000-4000-8000-000000000001")
	oldest.State = task.Succeeded
	h.store.Put(&oldest)
	if _, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo",
		Invocation: decode(t, dialect.DecodeXpander, xpanderBody)}); err != nil {
		t.Fatalf("after a turn ended: %v", err)
	}
}
