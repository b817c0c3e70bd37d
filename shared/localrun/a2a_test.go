package localrun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/a2asrv"
	"github.com/a2aproject/a2a-go/a2asrv/eventqueue"
	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/notify"
)

// a2aAgent is a real A2A agent (the SDK's server) on 127.0.0.1. By the first word of the text:
//
//	slow   works until it has been asked (tasks/get) slowChecks times, then completes
//	ask    asks which currency; the answer completes the task
//	hold   works until it is canceled
//	other  answers with a message echoing the text
type a2aAgent struct {
	srv        *httptest.Server
	slowChecks int32
	gets       atomic.Int32
	release    chan struct{}
	once       sync.Once

	mu      sync.Mutex
	methods []string
}

func newA2AAgent(t *testing.T, slowChecks int32) *a2aAgent {
	t.Helper()
	ag := &a2aAgent{slowChecks: slowChecks, release: make(chan struct{})}
	rpc := a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(ag, a2asrv.WithLogger(slog.New(slog.DiscardHandler))))
	ag.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Method string `json:"method"`
		}
		_ = json.Unmarshal(body, &req)
		ag.mu.Lock()
		ag.methods = append(ag.methods, req.Method)
		ag.mu.Unlock()
		if req.Method == "tasks/get" && ag.gets.Add(1) >= ag.slowChecks {
			ag.once.Do(func() { close(ag.release) })
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rpc.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		ag.once.Do(func() { close(ag.release) })
		ag.srv.Close()
	})
	return ag
}

func (ag *a2aAgent) count(method string) int {
	ag.mu.Lock()
	defer ag.mu.Unlock()
	n := 0
	for _, m := range ag.methods {
		if m == method {
			n++
		}
	}
	return n
}

// Execute implements a2asrv.AgentExecutor.
func (ag *a2aAgent) Execute(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	var text string
	for _, p := range rc.Message.Parts {
		if tp, ok := p.(a2a.TextPart); ok {
			text += tp.Text
		}
	}
	status := func(state a2a.TaskState, msg string) error {
		var m *a2a.Message
		if msg != "" {
			m = a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: msg})
		}
		ev := a2a.NewStatusUpdateEvent(rc, state, m)
		ev.Final = state.Terminal() || state == a2a.TaskStateInputRequired
		return q.Write(ctx, ev)
	}
	done := func(answer string) error {
		return q.Write(ctx, &a2a.Task{ID: rc.TaskID, ContextID: rc.ContextID, Status: a2a.TaskStatus{State: a2a.TaskStateCompleted},
			Artifacts: []*a2a.Artifact{{ID: "answer", Parts: a2a.ContentParts{a2a.TextPart{Text: answer}}}}})
	}
	if rc.StoredTask != nil {
		return done("paid in " + text)
	}
	word, _, _ := strings.Cut(text, " ")
	switch word {
	case "slow":
		if err := status(a2a.TaskStateWorking, "on it"); err != nil {
			return err
		}
		select {
		case <-ag.release:
		case <-ctx.Done():
			return nil
		}
		return done("slow result")
	case "ask":
		return status(a2a.TaskStateInputRequired, "which currency?")
	case "hold":
		if err := status(a2a.TaskStateWorking, ""); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	default:
		return q.Write(ctx, a2a.NewMessage(a2a.MessageRoleAgent, a2a.TextPart{Text: "a2a: " + text}))
	}
}

// Cancel implements a2asrv.AgentExecutor.
func (ag *a2aAgent) Cancel(ctx context.Context, rc *a2asrv.RequestContext, q eventqueue.Queue) error {
	ev := a2a.NewStatusUpdateEvent(rc, a2a.TaskStateCanceled, nil)
	ev.Final = true
	return q.Write(ctx, ev)
}

// publishA2A publishes the agent under a fresh id and returns the id.
func publishA2A(t *testing.T, ag *a2aAgent) string {
	t.Helper()
	id := "a2a-" + uuid.NewString()[:8]
	code, body := request(t, http.MethodPut, "/v1/agents/"+id, testAdminKey,
		fmt.Sprintf(`{"protocol":"a2a","endpoint":%q,"timeout":"10s","publish":true}`, ag.srv.URL))
	if code != http.StatusOK {
		t.Fatalf("publish = %d %v", code, body)
	}
	return id
}

func TestA2AImmediateAnswer(t *testing.T) {
	id := publishA2A(t, newA2AAgent(t, 1))
	_, body := post(t, "/v1/agents/"+id+"/invoke/async", `{"input":{"text":"hello there"}}`)
	if done := waitFor(t, "/v1/tasks/"+body["task_id"].(string), "completed", "failed", "error"); done["result"] != "a2a: hello there" {
		t.Fatalf("task = %v", done)
	}
}

// TestA2ALongRunningTask: the agent keeps its task working past the call; the worker is not held,
// and checks back until the task completes.
func TestA2ALongRunningTask(t *testing.T) {
	ag := newA2AAgent(t, 40)
	id := publishA2A(t, ag)
	_, body := post(t, "/v1/agents/"+id+"/invoke-async", `{"message":"slow please"}`)
	done := waitFor(t, "/v1/receipts/"+body["receipt_id"].(string), "succeeded", "failed")
	if done["status"] != "succeeded" || done["output"] != "slow result" {
		t.Fatalf("receipt = %v", done)
	}
	if n := ag.count("message/send"); n != 1 {
		t.Errorf("message/send sent %d times, want 1: checks must not send the task again", n)
	}
	if n := ag.count("tasks/get"); n < 40 {
		t.Errorf("tasks/get %d times, want at least 40", n)
	}
}

// TestA2AInputRequiredThenResumed: the agent pauses for input; the next turn on the same
// conversation answers it and the agent's task completes.
func TestA2AInputRequiredThenResumed(t *testing.T) {
	id := publishA2A(t, newA2AAgent(t, 1))
	thread := "pay-" + uuid.NewString()
	_, first := post(t, "/v1/agents/"+id+"/invoke/async", fmt.Sprintf(`{"input":{"text":"ask me"},"id":%q}`, thread))
	paused := waitFor(t, "/v1/tasks/"+first["task_id"].(string), "paused", "failed", "error")
	hitl, _ := paused["hitl_request"].(map[string]any)
	if paused["status"] != "paused" || hitl["message"] != "which currency?" {
		t.Fatalf("first turn = %v", paused)
	}
	// The pause is told on the bus, with what the agent asked (events_test.go).
	if _, d := busEvent(t, first["task_id"].(string), notify.DetailPaused); d.State != "paused" || !strings.Contains(fmt.Sprint(d.Task), "which currency?") {
		t.Errorf("paused event detail = %+v", d)
	}
	_, second := post(t, "/v1/agents/"+id+"/invoke/async", fmt.Sprintf(`{"input":{"text":"AUD"},"id":%q}`, thread))
	done := waitFor(t, "/v1/tasks/"+second["task_id"].(string), "completed", "failed", "error")
	if done["result"] != "paid in AUD" {
		t.Fatalf("answering turn = %v", done)
	}
	if _, _, firstNow := call(t, http.MethodGet, "/v1/tasks/"+first["task_id"].(string), ""); firstNow["status"] != "completed" {
		t.Errorf("the answered turn is %v, want completed", firstNow["status"])
	}
}

// TestA2AStopCancelsAtTheAgent: stopping a task the agent works on asynchronously cancels it there.
func TestA2AStopCancelsAtTheAgent(t *testing.T) {
	ag := newA2AAgent(t, 1)
	id := publishA2A(t, ag)
	_, body := post(t, "/v1/agents/"+id+"/invoke/async", `{"input":{"text":"hold on"}}`)
	taskID := body["task_id"].(string)
	// Wait until the agent has the task (the first check has happened).
	deadline := time.Now().Add(20 * time.Second)
	for ag.count("tasks/get") == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	code, stopped := post(t, "/v1/tasks/"+taskID+"/stop", "")
	if code != http.StatusOK || stopped["status"] != "stopped" {
		t.Fatalf("stop = %d %v", code, stopped)
	}
	for ag.count("tasks/cancel") == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if ag.count("tasks/cancel") == 0 {
		t.Fatal("the agent was never asked to cancel")
	}
	if _, _, now := call(t, http.MethodGet, "/v1/tasks/"+taskID, ""); now["status"] != "stopped" {
		t.Errorf("task after cancel = %v", now["status"])
	}
}
