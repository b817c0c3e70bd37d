package system

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/task"
)

// lostTask records a task as the accept path would, an hour ago, but sends no message: its
// message was lost.
func lostTask(t *testing.T, text string, state task.State, needsSecrets bool) string {
	t.Helper()
	id := uuid.NewString()
	then := time.Now().UTC().Add(-time.Hour)
	tk := &task.Task{
		ID: id, Tenant: "default", AgentID: "echo", Dialect: task.Xpander, Source: "api", ThreadID: id, ThreadSeq: 1,
		State: state, Version: 1, Request: []byte(`{"input":{"text":"` + text + `"}}`), Text: text,
		NeedsSecrets: needsSecrets, CreatedAt: then, UpdatedAt: then, ExpiresAt: time.Now().Add(time.Hour),
	}
	if state == task.Running {
		tk.Attempts, tk.StartedAt, tk.LeaseUntil = 1, then, then.Add(time.Minute)
	}
	if err := store.New(sys.DynamoDB, sys.Table).Create(context.Background(), tk); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSweeperMendsLostMessages(t *testing.T) {
	requeue := lostTask(t, "swept back", task.Queued, false)
	lapsed := lostTask(t, "lease lapsed", task.Running, false)
	secret := lostTask(t, "needs a token", task.Queued, true)
	fresh := uuid.NewString() // a task of a moment ago is left alone
	now := time.Now().UTC()
	if err := store.New(sys.DynamoDB, sys.Table).Create(context.Background(), &task.Task{
		ID: fresh, Tenant: "default", AgentID: "echo", Dialect: task.Xpander, ThreadID: fresh, ThreadSeq: 1,
		State: task.Queued, Version: 1, Text: "fresh", CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}

	// The index is eventually consistent: sweep until all three were dealt with.
	var requeued, failed int
	deadline := time.Now().Add(20 * time.Second)
	for requeued < 2 || failed < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("sweeps requeued %d and failed %d, want 2 and 1", requeued, failed)
		}
		r, err := sys.Sweep(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		requeued, failed = requeued+r.Requeued, failed+r.Failed
		time.Sleep(100 * time.Millisecond)
	}

	for id, text := range map[string]string{requeue: "swept back", lapsed: "lease lapsed"} {
		done := waitFor(t, "/v1/tasks/"+id, "completed", "failed", "error")
		if done["status"] != "completed" || done["result"] != text {
			t.Errorf("requeued task %s = %v", id, done)
		}
	}
	code, _, body := call(t, http.MethodGet, "/v1/tasks/"+secret, "")
	e, _ := body["error"].(map[string]any)
	if code != http.StatusOK || body["status"] != "failed" || e["code"] != task.ReasonLost || e["message"] == "" {
		t.Errorf("task needing secrets = %d %v", code, body)
	}
	// A second sweep finds nothing more to do with them, and the fresh task was never touched.
	if r, err := sys.Sweep(context.Background()); err != nil || r.Failed != 0 {
		t.Errorf("second sweep %+v %v", r, err)
	}
	if _, _, body := call(t, http.MethodGet, "/v1/tasks/"+fresh, ""); body["status"] != "pending" {
		t.Errorf("fresh task = %v", body)
	}
}
