package system

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/task"
)

// The tests of the API surface beyond invoke-and-poll: long polls, sync invokes, stops, lists
// and threads, against the emulators.

// timedCall is call, timed.
func timedCall(t *testing.T, method, path, body string) (int, http.Header, map[string]any, time.Duration) {
	t.Helper()
	start := time.Now()
	code, hdr, got := call(t, method, path, body)
	return code, hdr, got, time.Since(start)
}

// submitTask invokes an agent through the xpander async route and returns the new task's id.
func submitTask(t *testing.T, agentID, body string) string {
	t.Helper()
	code, _, got := call(t, http.MethodPost, "/v1/agents/"+agentID+"/invoke/async", body)
	id, _ := got["task_id"].(string)
	if code != http.StatusOK || id == "" {
		t.Fatalf("invoke %s = %d %v", agentID, code, got)
	}
	return id
}

// errorCode is the reason code of an error answer in either dialect.
func errorCode(body map[string]any) any {
	if e, ok := body["error"].(map[string]any); ok && body["receipt_id"] == nil {
		return e["code"]
	}
	return body["code"]
}

// waitForLog waits until a log line mentions every one of parts.
func waitForLog(t *testing.T, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for line := range strings.SplitSeq(logs.String(), "\n") {
			if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(line, p) }) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no log line mentions all of %q", parts)
}

func TestLongPollReturnsOnChangeOrTimesOut(t *testing.T) {
	t.Parallel()
	id := submitTask(t, "echo", `{"input":{"text":"long poll","delay_ms":1800}}`)
	waitFor(t, "/v1/tasks/"+id, "executing")

	// Nothing changes for a second: the wait runs out and answers the task as it stands.
	code, hdr, got, took := timedCall(t, http.MethodGet, "/v1/receipts/"+id+"?wait=1", "")
	if code != 200 || statusOf(got) != "running" || hdr.Get("Retry-After") == "" {
		t.Fatalf("receipt after wait=1 = %d %v (Retry-After %q)", code, statusOf(got), hdr.Get("Retry-After"))
	}
	if took < time.Second || took > 2*time.Second {
		t.Errorf("wait=1 answered after %v", took)
	}
	// The agent answers within the wait: the answer comes as soon as the state changes.
	code, hdr, got, took = timedCall(t, http.MethodGet, "/v1/tasks/"+id+"?wait=10", "")
	if code != 200 || got["status"] != "completed" || got["result"] != "long poll" || hdr.Get("Retry-After") != "" {
		t.Fatalf("task after wait=10 = %d %v %v", code, got["status"], got["result"])
	}
	if took > 3*time.Second {
		t.Errorf("wait=10 answered after %v; the task completed well before", took)
	}
	// An ended task answers at once, whatever the wait.
	if _, _, _, took = timedCall(t, http.MethodGet, "/v1/tasks/"+id+"?wait=25", ""); took > time.Second {
		t.Errorf("wait on an ended task took %v", took)
	}

	for _, c := range []struct {
		path   string
		status int
	}{{"/v1/tasks/" + id + "?wait=26", 422}, {"/v1/receipts/" + id + "?wait=-1", 400}, {"/v1/tasks/" + id + "?wait=soon", 422}} {
		code, _, got := call(t, http.MethodGet, c.path, "")
		if code != c.status || errorCode(got) != "validation_failed" {
			t.Errorf("GET %s = %d %v, want %d validation_failed", c.path, code, got, c.status)
		}
	}
}

func TestSyncInvoke(t *testing.T) {
	t.Parallel()
	code, hdr, got, took := timedCall(t, http.MethodPost, "/v1/agents/echo/invoke", `{"input":{"text":"right away"}}`)
	if code != 200 || got["status"] != "completed" || got["result"] != "right away" || hdr.Get("Retry-After") != "" {
		t.Fatalf("sync invoke of a fast agent = %d %v", code, got)
	}
	if took > 5*time.Second {
		t.Errorf("sync invoke took %v", took)
	}

	code, hdr, got, took = timedCall(t, http.MethodPost, "/v1/agents/echo/invoke?wait=1", `{"input":{"text":"slowly","delay_ms":2000}}`)
	id, _ := got["task_id"].(string)
	if code != 202 || (got["status"] != "pending" && got["status"] != "executing") || got["result"] != nil {
		t.Fatalf("sync invoke of a slow agent = %d %v", code, got)
	}
	if hdr.Get("Retry-After") == "" || hdr.Get("Location") != "/v1/tasks/"+id || took < time.Second || took > 3*time.Second {
		t.Errorf("202 after %v with Retry-After %q, Location %q", took, hdr.Get("Retry-After"), hdr.Get("Location"))
	}
	// The 202 names a task to poll, which ends as any other.
	if done := waitFor(t, hdr.Get("Location"), "completed"); done["result"] != "slowly" {
		t.Errorf("polled result = %v", done["result"])
	}

	code, _, got = call(t, http.MethodPost, "/v1/agents/echo/invoke?version=1&wait=0", `{"input":{"text":"v1"}}`)
	if code != 202 || got["agent_version"] != "1" {
		t.Errorf("sync invoke of version 1 = %d %v", code, got)
	}
	code, _, got = call(t, http.MethodPost, "/v1/agents/echo/invoke?version=7", `{"input":{"text":"v7"}}`)
	if code != 404 || got["code"] != "agent_version_not_found" {
		t.Errorf("sync invoke of an unknown version = %d %v", code, got)
	}
	code, _, got = call(t, http.MethodPost, "/v1/agents/echo/invoke-async?version=7", `{"message":"v7"}`)
	if code != 404 || errorCode(got) != "agent_version_not_found" {
		t.Errorf("ServiceNet invoke of an unknown version = %d %v", code, got)
	}
}

func TestStopRunningTask(t *testing.T) {
	t.Parallel()
	id := submitTask(t, "echo", `{"input":{"text":"never answered","delay_ms":1200}}`)
	waitFor(t, "/v1/tasks/"+id, "executing")
	code, _, got := call(t, http.MethodPost, "/v1/tasks/"+id+"/stop", "")
	e, _ := got["error"].(map[string]any)
	if code != 200 || got["status"] != "stopped" || got["is_manually_stopped"] != true || e["code"] != task.ReasonCanceled || got["finished_at"] == nil {
		t.Fatalf("stop of a running task = %d %v", code, got)
	}
	// The agent answers later; the worker's write finds the task stopped and drops the answer.
	waitForLog(t, "outcome superseded", id)
	_, _, got = call(t, http.MethodGet, "/v1/tasks/"+id, "")
	if got["status"] != "stopped" || got["result"] != nil {
		t.Fatalf("stopped task after the agent answered = %v %v", got["status"], got["result"])
	}
	// ServiceNet sees a failed receipt, code canceled; stopping it again changes nothing.
	code, _, got = call(t, http.MethodPost, "/v1/receipts/"+id+"/stop", "")
	e, _ = got["error"].(map[string]any)
	if code != 200 || statusOf(got) != "failed" || e["code"] != task.ReasonCanceled || got["output"] != nil {
		t.Fatalf("second stop, as a receipt = %d %v", code, got)
	}
}

// A queued turn waits behind the thread's running turn, so it is stopped while certainly queued:
// it must never reach the agent.
func TestStopQueuedTaskNeverRuns(t *testing.T) {
	t.Parallel()
	thread := "stop-" + uuid.NewString()
	first := submitTask(t, "counter", `{"input":{"text":"first"},"id":"`+thread+`"}`)
	second := submitTask(t, "counter", `{"input":{"text":"second"},"id":"`+thread+`"}`)
	code, _, got := call(t, http.MethodPost, "/v1/tasks/"+second+"/stop", "")
	if code != 200 || got["status"] != "stopped" || got["started_at"] != nil || got["is_manually_stopped"] != true {
		t.Fatalf("stop of a queued turn = %d %v", code, got)
	}
	waitFor(t, "/v1/tasks/"+first, "completed")
	// The stopped turn's message comes back once the first turn has ended, and is dropped.
	waitForLog(t, "duplicate delivery ignored", second)
	_, _, got = call(t, http.MethodGet, "/v1/tasks/"+second, "")
	// Never claimed: no start, and execution_attempts still the 1 every task starts with.
	if got["status"] != "stopped" || got["result"] != nil || got["started_at"] != nil || got["execution_attempts"] != float64(1) {
		t.Errorf("stopped turn = %v", got)
	}
	if n := counter.callsFor(second); n != 0 {
		t.Errorf("the agent was called %d times for a stopped task", n)
	}
}

func TestStopEndedAndUnknown(t *testing.T) {
	t.Parallel()
	id := submitTask(t, "echo", `{"input":{"text":"done already"}}`)
	waitFor(t, "/v1/tasks/"+id, "completed")
	code, hdr, got := call(t, http.MethodPost, "/v1/tasks/"+id+"/stop", "")
	if code != 200 || got["status"] != "completed" || got["result"] != "done already" || got["is_manually_stopped"] != false || hdr.Get("Retry-After") != "" {
		t.Errorf("stop of a completed task = %d %v", code, got)
	}
	for _, c := range []struct{ path, code string }{
		{"/v1/tasks/" + uuid.NewString() + "/stop", "task_not_found"},
		{"/v1/receipts/" + uuid.NewString() + "/stop", "receipt_not_found"},
		{"/v1/receipts/not-a-receipt/stop", "receipt_not_found"},
	} {
		if code, _, got := call(t, http.MethodPost, c.path, ""); code != 404 || errorCode(got) != c.code {
			t.Errorf("POST %s = %d %v, want 404 %s", c.path, code, got, c.code)
		}
	}
}

// listPage GETs a page of tasks, waiting for the index (eventually consistent) to show want items.
func listPage(t *testing.T, path string, want int) ([]string, map[string]any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _, got := call(t, http.MethodGet, path, "")
		if code != 200 {
			t.Fatalf("GET %s = %d %v", path, code, got)
		}
		items, _ := got["items"].([]any)
		var ids []string
		for _, it := range items {
			ids = append(ids, it.(map[string]any)["task_id"].(string))
		}
		if len(ids) == want || time.Now().After(deadline) {
			return ids, got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestListTasks(t *testing.T) {
	since := url.QueryEscape(time.Now().UTC().Add(-time.Millisecond).Format(time.RFC3339Nano))
	var ids []string
	var created []string
	for i := range 3 {
		code, _, got := call(t, http.MethodPost, "/v1/agents/echo/invoke/async", fmt.Sprintf(`{"input":{"text":"listed %d"}}`, i))
		if code != 200 {
			t.Fatalf("invoke = %d %v", code, got)
		}
		ids = append(ids, got["task_id"].(string))
		created = append(created, got["created_at"].(string))
	}
	newestFirst := []string{ids[2], ids[1], ids[0]}
	for _, id := range ids {
		waitFor(t, "/v1/tasks/"+id, "completed")
	}

	// Newest first, two pages: the cursor leads on, and the last page has none.
	page1, got := listPage(t, "/v1/tasks?created_after="+since+"&limit=2", 2)
	next, _ := got["next_cursor"].(string)
	if !slices.Equal(page1, newestFirst[:2]) || next == "" {
		t.Fatalf("page 1 = %v, cursor %q; want %v and a cursor", page1, next, newestFirst[:2])
	}
	page2, got := listPage(t, "/v1/tasks?created_after="+since+"&limit=2&cursor="+next, 1)
	if !slices.Equal(page2, newestFirst[2:]) || got["next_cursor"] != nil {
		t.Fatalf("page 2 = %v, cursor %v; want %v and none", page2, got["next_cursor"], newestFirst[2:])
	}

	// A fourth task, slow, then stopped: the status filter tells them apart.
	slow := submitTask(t, "echo", `{"input":{"text":"listed slow","delay_ms":3000}}`)
	if got, _ := listPage(t, "/v1/tasks?created_after="+since+"&status=pending,executing", 1); !slices.Equal(got, []string{slow}) {
		t.Errorf("pending or executing = %v, want %v", got, []string{slow})
	}
	if got, _ := listPage(t, "/v1/tasks?created_after="+since+"&status=completed", 3); !slices.Equal(got, newestFirst) {
		t.Errorf("completed = %v, want %v", got, newestFirst)
	}
	call(t, http.MethodPost, "/v1/tasks/"+slow+"/stop", "")
	if got, _ := listPage(t, "/v1/tasks?created_after="+since+"&status=stopped&status=failed", 1); !slices.Equal(got, []string{slow}) {
		t.Errorf("stopped or failed = %v, want %v", got, []string{slow})
	}

	// By agent, by thread (a first xpander turn's thread is its own id), by creation time.
	all := append([]string{slow}, newestFirst...)
	if got, _ := listPage(t, "/v1/agents/echo/tasks?created_after="+since, 4); !slices.Equal(got, all) {
		t.Errorf("echo's tasks = %v, want %v", got, all)
	}
	if got, _ := listPage(t, "/v1/tasks?agent_id=echo&created_after="+since, 4); !slices.Equal(got, all) {
		t.Errorf("agent_id=echo = %v, want %v", got, all)
	}
	if got, _ := listPage(t, "/v1/agents/counter/tasks?created_after="+since, 0); len(got) != 0 {
		t.Errorf("counter's tasks = %v, want none", got)
	}
	if got, _ := listPage(t, "/v1/tasks?thread_id="+ids[1]+"&created_after="+since, 1); !slices.Equal(got, ids[1:2]) {
		t.Errorf("thread %s = %v", ids[1], got)
	}
	between := "/v1/tasks?created_after=" + url.QueryEscape(created[0]) + "&created_before=" + url.QueryEscape(created[2])
	if got, _ := listPage(t, between, 1); !slices.Equal(got, ids[1:2]) {
		t.Errorf("strictly between the first and the third = %v, want %v", got, ids[1:2])
	}

	// A cursor is the caller's own: one made for another tenant's partition is refused.
	raw, err := base64.RawURLEncoding.DecodeString(next)
	if err != nil {
		t.Fatalf("cursor %q is not base64url: %v", next, err)
	}
	var key map[string]any
	if err := json.Unmarshal(raw, &key); err != nil || key["gsi1pk"] != "TENANT#default" {
		t.Fatalf("cursor holds %s", raw)
	}
	key["gsi1pk"] = "TENANT#someone-else"
	forged, _ := json.Marshal(key)
	for _, c := range []string{base64.RawURLEncoding.EncodeToString(forged), "not-a-cursor!", base64.RawURLEncoding.EncodeToString([]byte("{}"))} {
		code, _, got := call(t, http.MethodGet, "/v1/tasks?cursor="+url.QueryEscape(c), "")
		if code != 400 || got["code"] != "invalid_cursor" {
			t.Errorf("cursor %q = %d %v, want 400 invalid_cursor", c, code, got)
		}
	}
	for _, q := range []string{"status=done", "limit=0", "limit=101", "created_after=yesterday"} {
		if code, _, got := call(t, http.MethodGet, "/v1/tasks?"+q, ""); code != 422 || got["code"] != "validation_failed" {
			t.Errorf("GET /v1/tasks?%s = %d %v, want 422 validation_failed", q, code, got)
		}
	}
}

func TestThreadRoute(t *testing.T) {
	t.Parallel()
	thread := "conv-" + uuid.NewString()
	first := submitTask(t, "echo", `{"input":{"text":"hello"},"id":"`+thread+`"}`)
	second := submitTask(t, "echo", `{"input":{"text":"again"},"id":"`+thread+`"}`)
	waitFor(t, "/v1/tasks/"+second, "completed")

	want := []map[string]any{
		{"id": first + ":user", "role": "user", "content": "hello"},
		{"id": first + ":agent", "role": "agent", "content": "hello"},
		{"id": second + ":user", "role": "user", "content": "again"},
		{"id": second + ":agent", "role": "agent", "content": "again"},
	}
	for _, id := range []string{thread, first, second} {
		var got map[string]any
		deadline := time.Now().Add(10 * time.Second)
		for {
			var code int
			code, _, got = call(t, http.MethodGet, "/v1/tasks/"+id+"/thread", "")
			if code != 200 {
				t.Fatalf("thread of %s = %d %v", id, code, got)
			}
			if msgs, _ := got["messages"].([]any); len(msgs) == len(want) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		msgs, _ := got["messages"].([]any)
		if got["id"] != thread || len(msgs) != len(want) {
			t.Fatalf("thread of %s = %v", id, got)
		}
		for i, m := range msgs {
			m := m.(map[string]any)
			for k, v := range want[i] {
				if m[k] != v {
					t.Errorf("thread of %s: message %d %s = %v, want %v", id, i, k, m[k], v)
				}
			}
			if _, err := time.Parse(time.RFC3339Nano, fmt.Sprint(m["created_at"])); err != nil {
				t.Errorf("message %d created_at = %v", i, m["created_at"])
			}
		}
	}
	if code, _, got := call(t, http.MethodGet, "/v1/tasks/no-such-thread-"+uuid.NewString()+"/thread", ""); code != 404 || got["code"] != "task_not_found" {
		t.Errorf("thread of nothing = %d %v", code, got)
	}
}
