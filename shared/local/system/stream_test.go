package system

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/dispatch/a2atest"
	"github.com/agentq/agentq/shared/sse"
	"github.com/agentq/agentq/shared/tasklog"
)

// logOf reads a task's whole log as JSON pages from the API at base.
func logOf(t *testing.T, base, id string) []tasklog.Event {
	t.Helper()
	var out []tasklog.Event
	var after int64
	for {
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/v1/tasks/%s/events?after=%d", base, id, after), nil)
		req.Header.Set("x-api-key", testKey)
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items     []tasklog.Event `json:"items"`
			NextAfter int64           `json:"next_after"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("events of %s: %d %v", id, resp.StatusCode, err)
		}
		if len(page.Items) == 0 {
			return out
		}
		out = append(out, page.Items...)
		after = page.NextAfter
	}
}

// waitLog polls a task's log until ok holds of it.
func waitLog(t *testing.T, base, id string, what string, ok func([]tasklog.Event) bool) []tasklog.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs := logOf(t, base, id)
		if ok(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: the log never showed %s: %+v", id, what, evs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// finishedLog waits until the log of task id on the shared system ends with finished.
func finishedLog(t *testing.T, id string) []tasklog.Event {
	t.Helper()
	return waitLog(t, sys.APIURL, id, "the finished event", func(evs []tasklog.Event) bool { return len(evs) > 0 && evs[len(evs)-1].Type.Final() })
}

// typesOf lists the events' types, space-separated.
func typesOf(evs []tasklog.Event) string {
	names := make([]string, len(evs))
	for i, ev := range evs {
		names[i] = string(ev.Type)
	}
	return strings.Join(names, " ")
}

func has(evs []tasklog.Event, typ tasklog.Type, text string) bool {
	for _, ev := range evs {
		if ev.Type == typ && strings.Contains(string(ev.Data), text) {
			return true
		}
	}
	return false
}

// TestA2AAgentPushesProgressWhileNoWorkerRuns: a long-running A2A 1.0 agent (the Go SDK's server,
// with push notifications) is given a push configuration for its task; once the worker has let
// go of the task and stopped altogether, the agent's pushes still land in the task's log, in
// order, and the stream of the finished task reads every event once, ending with finished.
func TestA2AAgentPushesProgressWhileNoWorkerRuns(t *testing.T) {
	ag := a2atest.New(t, 1, a2atest.Pushes())
	own, id, runWorker := ownSystemWithTask(t, "pusher", "push", ag.URL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The worker sends the task, finds the agent working, records its task and lets go.
	stop := runWorker()
	waitLog(t, own.APIURL, id, "the agent working on its own task", func(evs []tasklog.Event) bool { return has(evs, tasklog.StateChanged, "remote_task_id") })
	stop()

	// No worker runs now: the agent reports progress by push alone.
	ag.Proceed()
	evs := waitLog(t, own.APIURL, id, "the pushed progress", func(evs []tasklog.Event) bool {
		return has(evs, tasklog.Status, "step 2") && has(evs, tasklog.Artifact, "draft")
	})
	if last := evs[len(evs)-1]; last.Type.Final() {
		t.Fatalf("the task ended without a worker: %+v", last)
	}

	// A worker comes back, checks, and records the outcome; the stream reads the whole log.
	stop = runWorker()
	defer stop()
	sreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, own.APIURL+"/v1/tasks/"+id+"/events", nil)
	sreq.Header.Set("x-api-key", testKey)
	sresp, err := http.DefaultClient.Do(sreq)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	r := sse.NewReader(sresp.Body)
	var names []string
	var seq int64
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var e tasklog.Event
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil || e.Seq != seq+1 || ev.ID != fmt.Sprint(e.Seq) {
			t.Fatalf("event %q after %d (%v)", ev.Data, seq, err)
		}
		seq = e.Seq
		names = append(names, ev.Name)
	}
	got := strings.Join(names, " ")
	// The agent's first push (its task, working) may land before or after the worker records it.
	if !strings.HasPrefix(got, "created attempt ") || !strings.Contains(got, " state ") || !strings.Contains(got, "status status artifact") ||
		!strings.HasSuffix(got, "finished") {
		t.Fatalf("stream %q", got)
	}
	if !has(logOf(t, own.APIURL, id), tasklog.Finished, "progress result") {
		t.Fatal("the finished event lacks the result")
	}
}

// TestHTTPAgentReportsProgress: an HTTP agent gets a progress_url and token with its request and
// posts progress to it before it answers; its reports are in the task's log, before the outcome.
func TestHTTPAgentReportsProgress(t *testing.T) {
	agentSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in dispatch.HTTPRequest
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.ProgressURL == "" || in.ProgressToken == "" {
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
		_, _ = io.WriteString(w, "partial answer")
	}))
	defer agentSrv.Close()
	id := "reporter-" + uuid.NewString()[:8]
	if code, body := request(t, http.MethodPut, "/v1/agents/"+id, testAdminKey,
		fmt.Sprintf(`{"protocol":"http","endpoint":%q,"timeout":"10s","publish":true}`, agentSrv.URL)); code != http.StatusOK {
		t.Fatalf("publish = %d %v", code, body)
	}
	_, body := post(t, "/v1/agents/"+id+"/invoke/async", `{"input":{"text":"go"}}`)
	taskID := body["task_id"].(string)
	if done := waitFor(t, "/v1/tasks/"+taskID, "completed", "failed", "error"); done["status"] != "completed" {
		t.Fatalf("task = %v", done)
	}
	evs := finishedLog(t, taskID)
	if got := typesOf(evs); got != "created attempt status chunk finished" {
		t.Fatalf("log %q", got)
	}
}

// TestA2AStreamingAgentEventsLogged: an A2A agent that streams is called with
// SendStreamingMessage while the worker holds its short call; its updates are in the log before
// the outcome.
func TestA2AStreamingAgentEventsLogged(t *testing.T) {
	id := publishA2A(t, a2atest.New(t, 1, a2atest.Streams()))
	_, body := post(t, "/v1/agents/"+id+"/invoke/async", `{"input":{"text":"stream please"}}`)
	taskID := body["task_id"].(string)
	if done := waitFor(t, "/v1/tasks/"+taskID, "completed", "failed", "error"); done["result"] != "stream result" {
		t.Fatalf("task = %v", done)
	}
	evs := finishedLog(t, taskID)
	if got := typesOf(evs); !strings.HasPrefix(got, "created attempt status status status artifact") || !has(evs, tasklog.Status, "step 2") {
		t.Fatalf("log %q", got)
	}
}

// TestA2A03AgentPushesProgressWhileNoWorkerRuns: a long-running A2A 0.3 agent (a2a-go v0.3's own
// server, whose card declares push notifications) is given a 0.3 push configuration for its
// task and pushes its whole task after every update; once no worker runs, those pushes land in
// the task's log as status and artifact events, each once although every push repeats the task
// so far, and a worker that comes back records the outcome.
func TestA2A03AgentPushesProgressWhileNoWorkerRuns(t *testing.T) {
	ag := a2atest.NewPusher03(t)
	own, id, runWorker := ownSystemWithTask(t, "pusher03", "push03", ag.URL)

	stop := runWorker()
	waitLog(t, own.APIURL, id, "the agent working on its own task", func(evs []tasklog.Event) bool { return has(evs, tasklog.StateChanged, "remote_task_id") })
	stop()

	ag.Proceed()
	evs := waitLog(t, own.APIURL, id, "the pushed progress", func(evs []tasklog.Event) bool {
		return has(evs, tasklog.Status, "step 2") && has(evs, tasklog.Artifact, "progress result") && has(evs, tasklog.Status, `"completed"`)
	})
	if last := evs[len(evs)-1]; last.Type.Final() {
		t.Fatalf("the task ended without a worker: %+v", last)
	}
	if n, m := count(evs, tasklog.Status, "step 2"), count(evs, tasklog.Artifact, "draft"); n != 1 || m != 1 {
		t.Fatalf("the repeated parts of the pushed tasks were logged %d and %d times, want once: %s", n, m, typesOf(evs))
	}

	stop = runWorker()
	defer stop()
	evs = waitLog(t, own.APIURL, id, "the finished event", func(evs []tasklog.Event) bool { return len(evs) > 0 && evs[len(evs)-1].Type.Final() })
	if !has(evs, tasklog.Finished, "progress result") {
		t.Fatalf("the finished event lacks the result: %s", typesOf(evs))
	}
}

// count answers how many events of typ hold text.
func count(evs []tasklog.Event, typ tasklog.Type, text string) int {
	n := 0
	for _, ev := range evs {
		if ev.Type == typ && strings.Contains(string(ev.Data), text) {
			n++
		}
	}
	return n
}

// ownSystemWithTask starts a local system of its own (tables and queues named after name) that
// knows the A2A agent agentID at url and runs no worker, and submits one task to that agent. It
// answers the system, the task's id, and a way to run a worker until the returned stop is called.
func ownSystemWithTask(t *testing.T, agentID, name, url string) (own *System, id string, runWorker func() (stop func())) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	sealKey := make([]byte, 32)
	own, err := Start(ctx, Options{
		Addr: "127.0.0.1:0", APIKey: testKey, NoWorker: true, SealKey: sealKey,
		DynamoDBEndpoint: sys.DynamoDBEndpoint, SQSEndpoint: sys.SQSEndpoint,
		Table: "agentq-" + name + "-tasks", Queue: "agentq-" + name + "-work", Bucket: "agentq-" + name + "-results",
		Agents:       []agent.Agent{{ID: agentID, Protocol: agent.A2A, Endpoint: url, Timeout: agent.Duration(10 * time.Second)}},
		CheckBackoff: func(int) time.Duration { return 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = own.Close() })
	runWorker = func() (stop func()) {
		wctx, wcancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { _ = RunWorker(wctx, own.WorkerOptions(sealKey)) })
		return func() { wcancel(); wg.Wait() }
	}
	req, _ := http.NewRequest(http.MethodPost, own.APIURL+"/v1/agents/"+agentID+"/invoke/async", strings.NewReader(`{"input":{"text":"progress please"}}`))
	req.Header.Set("x-api-key", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var accepted map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&accepted)
	resp.Body.Close()
	if id, _ = accepted["task_id"].(string); id == "" {
		t.Fatalf("invoke: %v", accepted)
	}
	return own, id, runWorker
}
