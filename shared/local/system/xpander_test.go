package system

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/dispatch/a2atest"
)

// listUntil lists path until its total is want (the list index lags the tasks by a moment).
func listUntil(t *testing.T, path string, want int) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, body := call(t, http.MethodGet, path, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d %v", path, code, body)
		}
		if body["total"] == float64(want) || time.Now().After(deadline) {
			return body
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func itemIDs(body map[string]any) []string {
	items, _ := body["items"].([]any)
	var out []string
	for _, it := range items {
		out = append(out, it.(map[string]any)["task_id"].(string))
	}
	return out
}

// TestXpanderListPages: the reference's page envelope and filters over the real index.
func TestXpanderListPages(t *testing.T) {
	parent := uuid.NewString()
	start := time.Now().UTC()
	var ids []string
	for i := range 5 {
		_, body := post(t, "/v1/agents/echo/invoke/async",
			fmt.Sprintf(`{"input":{"text":"part %d","user":{"id":"user-%s","email":"u@example.com"}},"parent_execution_id":%q,"triggering_agent_id":"planner-%s"}`, i, parent[:8], parent, parent[:8]))
		ids = append(ids, body["task_id"].(string))
	}
	slices.Reverse(ids) // newest first
	base := "/v1/tasks?parent_task_id=" + parent
	first := listUntil(t, base+"&per_page=2", 5)
	if first["total"] != float64(5) || first["total_pages"] != float64(3) || first["page"] != float64(1) || first["per_page"] != float64(2) ||
		first["total_exact"] != true || !slices.Equal(itemIDs(first), ids[:2]) {
		t.Fatalf("page 1 = total %v pages %v page %v items %v, want %v", first["total"], first["total_pages"], first["page"], itemIDs(first), ids[:2])
	}
	if it := first["items"].([]any)[0].(map[string]any); it["parent_task_id"] != parent || it["user_id"] != "user-"+parent[:8] || it["updated_at"] == nil {
		t.Errorf("item = %v", it)
	}
	_, _, third := call(t, http.MethodGet, base+"&per_page=2&page=3", "")
	if !slices.Equal(itemIDs(third), ids[4:]) || third["next_cursor"] != nil || third["total"] != float64(5) {
		t.Errorf("page 3 = %v (next %v, total %v), want %v", itemIDs(third), third["next_cursor"], third["total"], ids[4:])
	}
	// The cursor goes on where page 1 ended, and knows which page that is.
	_, _, second := call(t, http.MethodGet, base+"&per_page=2&cursor="+first["next_cursor"].(string), "")
	if !slices.Equal(itemIDs(second), ids[2:4]) || second["page"] != float64(2) || second["total"] != float64(5) {
		t.Errorf("after the cursor = %v page %v total %v, want %v on page 2", itemIDs(second), second["page"], second["total"], ids[2:4])
	}
	// Filters: the end user, the triggering agent, and dates (inclusive).
	if got := listUntil(t, "/v1/tasks?user_id=user-"+parent[:8], 5); got["total"] != float64(5) {
		t.Errorf("by user: total %v", got["total"])
	}
	if got := listUntil(t, "/v1/tasks?triggering_agent_id=planner-"+parent[:8], 5); got["total"] != float64(5) {
		t.Errorf("by triggering agent: total %v", got["total"])
	}
	_, _, none := call(t, http.MethodGet, base+"&to_date="+start.Add(-time.Hour).Format(time.RFC3339), "")
	if none["total"] != float64(0) || len(itemIDs(none)) != 0 {
		t.Errorf("before they were made: %v", none)
	}
	_, _, all := call(t, http.MethodGet, base+"&from_date="+start.Add(-time.Second).Format(time.RFC3339Nano)+"&per_page=50", "")
	if all["total"] != float64(5) {
		t.Errorf("since they were made: total %v", all["total"])
	}
	// A status filter and an internal_status filter hold together.
	for _, id := range ids {
		waitFor(t, "/v1/tasks/"+id, "completed")
	}
	if got := listUntil(t, base+"&status=completed&internal_status=succeeded", 5); got["total"] != float64(5) {
		t.Errorf("completed and succeeded: total %v", got["total"])
	}
	if _, _, got := call(t, http.MethodGet, base+"&status=completed&internal_status=failed", ""); got["total"] != float64(0) {
		t.Errorf("completed and failed: total %v", got["total"])
	}
	code, _, bad := call(t, http.MethodGet, base+"&per_page=51", "")
	if code != http.StatusUnprocessableEntity || bad["code"] != "validation_failed" {
		t.Errorf("per_page 51 = %d %v", code, bad)
	}
}

// deleteTask sends DELETE and returns its status and whether the answer had a body.
func deleteTask(t *testing.T, id string) (int, bool) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, sys.APIURL+"/v1/tasks/"+id, nil)
	req.Header.Set("x-api-key", testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b [1]byte
	n, _ := resp.Body.Read(b[:])
	return resp.StatusCode, n > 0
}

// TestXpanderDelete: a running task is stopped, then it and its sub-tasks are gone.
func TestXpanderDelete(t *testing.T) {
	_, parent := post(t, "/v1/agents/echo/invoke/async", `{"input":{"text":"slow parent","delay_ms":3000}}`)
	pid := parent["task_id"].(string)
	_, child := post(t, "/v1/agents/echo/invoke/async", fmt.Sprintf(`{"input":{"text":"child"},"parent_execution_id":%q}`, pid))
	cid := child["task_id"].(string)
	waitFor(t, "/v1/tasks/"+cid, "completed")
	waitFor(t, "/v1/tasks/"+pid, "executing")
	if code, hasBody := deleteTask(t, pid); code != http.StatusNoContent || hasBody {
		t.Fatalf("DELETE = %d (body %v), want 204 without a body", code, hasBody)
	}
	for _, id := range []string{pid, cid} {
		if code, _, body := call(t, http.MethodGet, "/v1/tasks/"+id, ""); code != http.StatusNotFound || body["code"] != "task_not_found" {
			t.Errorf("GET %s after the delete = %d %v", id, code, body)
		}
	}
	if code, _ := deleteTask(t, pid); code != http.StatusNotFound {
		t.Errorf("second DELETE = %d, want 404", code)
	}
	// The running call's outcome finds nothing to write, and nothing comes back.
	deadline := time.Now().Add(20 * time.Second)
	dropped := func() bool {
		for line := range strings.Lines(logs.String()) {
			if strings.Contains(line, "outcome dropped") && strings.Contains(line, `"task_id":"`+pid+`"`) {
				return true
			}
		}
		return false
	}
	for !dropped() {
		if time.Now().After(deadline) {
			t.Fatal("the worker never finished the deleted task's call")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _, _ := call(t, http.MethodGet, "/v1/tasks/"+pid, ""); code != http.StatusNotFound {
		t.Errorf("the deleted task came back: %d", code)
	}
}

// TestXpanderFullThreadAndUsage: a two-turn conversation with a sub-task, read whole, and the
// usage its agent reported, summed.
func TestXpanderFullThreadAndUsage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"output":"noted","usage":{"input_tokens":100,"output_tokens":20,"actions":2,"cost":0.00125}}`)
	}))
	defer srv.Close()
	agentID := "metered-" + uuid.NewString()[:8]
	publishAgent(t, agentID, fmt.Sprintf(`{"protocol":"http","endpoint":%q,"publish":true}`, srv.URL))
	thread := "conv-" + uuid.NewString()
	_, one := post(t, "/v1/agents/"+agentID+"/invoke/async", fmt.Sprintf(`{"input":{"text":"FIRST"},"id":%q}`, thread))
	_, two := post(t, "/v1/agents/"+agentID+"/invoke/async", fmt.Sprintf(`{"input":{"text":"SECOND"},"id":%q}`, thread))
	waitFor(t, "/v1/tasks/"+two["task_id"].(string), "completed")
	_, sub := post(t, "/v1/agents/echo/invoke/async", fmt.Sprintf(`{"input":{"text":"delegated"},"parent_execution_id":%q}`, one["task_id"]))
	waitFor(t, "/v1/tasks/"+sub["task_id"].(string), "completed")

	code, _, full := call(t, http.MethodGet, "/v1/tasks/"+thread+"/thread/full", "")
	if code != http.StatusOK {
		t.Fatalf("thread/full = %d %v", code, full)
	}
	root, _ := full["root"].([]any)
	var said []string
	for _, m := range root {
		msg := m.(map[string]any)
		said = append(said, fmt.Sprint(msg["id"], " ", msg["role"], " ", msg["content"]))
	}
	want := []string{thread + "_user_1 user FIRST", thread + "_agent_1 assistant noted", thread + "_user_2 user SECOND", thread + "_agent_2 assistant noted"}
	if !slices.Equal(said, want) {
		t.Errorf("root = %v\nwant %v", said, want)
	}
	if bucket, _ := full[sub["task_id"].(string)].([]any); len(bucket) != 2 {
		t.Errorf("sub-task bucket = %v", full[sub["task_id"].(string)])
	}

	_, _, usage := call(t, http.MethodGet, "/v1/tasks/"+thread+"/llm_usage", "")
	if usage["task_id"] != thread || usage["tokens"] != float64(240) || usage["input_tokens"] != float64(200) ||
		usage["output_tokens"] != float64(40) || usage["actions"] != float64(4) || usage["cost"] != 0.0025 || usage["is_byok"] != false {
		t.Errorf("llm_usage = %v", usage)
	}
	// An agent that reports nothing: zeros.
	_, _, none := call(t, http.MethodGet, "/v1/tasks/"+sub["task_id"].(string)+"/llm_usage", "")
	if none["tokens"] != float64(0) || none["cost"] != float64(0) {
		t.Errorf("llm_usage of an unmetered task = %v", none)
	}
}

// TestUsageFromEveryAgentKind: A2A metadata and a Lambda agent's answer reach llm_usage too.
func TestUsageFromEveryAgentKind(t *testing.T) {
	a2aID := publishA2A(t, a2atest.New(t, 1))
	_, a2aTask := post(t, "/v1/agents/"+a2aID+"/invoke/async", `{"input":{"text":"complete it"}}`)
	publishAgent(t, "fn-metered", `{"protocol":"lambda","endpoint":"arn:aws:lambda:us-east-1:000000000000:function:metered","publish":true}`)
	_, fnTask := post(t, "/v1/agents/fn-metered/invoke/async", `{"input":{"text":"hi"}}`)
	for id, want := range map[string][3]float64{a2aTask["task_id"].(string): {3, 4, 0}, fnTask["task_id"].(string): {7, 2, 0.0009}} {
		waitFor(t, "/v1/tasks/"+id, "completed")
		_, _, u := call(t, http.MethodGet, "/v1/tasks/"+id+"/llm_usage", "")
		if u["input_tokens"] != want[0] || u["output_tokens"] != want[1] || u["tokens"] != want[0]+want[1] || u["cost"] != want[2] {
			t.Errorf("llm_usage of %s = %v, want %v", id, u, want)
		}
	}
}

// TestA2AHumanApproval: an agent paused for input goes on when a person approves, as the same
// task at the agent, in either A2A version.
func TestA2AHumanApproval(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []a2atest.Option
		send string
	}{
		{"1.0", nil, "SendMessage"},
		{"0.3", []a2atest.Option{a2atest.Legacy(), a2atest.NoCard()}, "message/send"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ag := a2atest.New(t, 1, tt.opts...)
			id := publishA2A(t, ag)
			_, body := post(t, "/v1/agents/"+id+"/invoke/async", `{"input":{"text":"ask me"}}`)
			tid := body["task_id"].(string)
			if got := waitFor(t, "/v1/tasks/"+tid, "paused", "failed", "error"); got["status"] != "paused" {
				t.Fatalf("task = %v", got)
			}
			code, approved := post(t, "/v1/hitl/"+tid+"/approve", `{"approved_by":"ana@example.com","message":"EUR"}`)
			if code != http.StatusOK || approved["status"] != "pending" {
				t.Fatalf("approve = %d %v", code, approved)
			}
			done := waitFor(t, "/v1/tasks/"+tid, "completed", "failed", "error")
			if done["result"] != "paid in EUR" {
				t.Fatalf("approved task = %v", done)
			}
			if hitl, _ := done["hitl_request"].(map[string]any); hitl["approved_by"] != "ana@example.com" {
				t.Errorf("hitl_request = %v", done["hitl_request"])
			}
			if n := ag.Count(tt.send); n != 2 {
				t.Errorf("%s %d times, want 2 (the task, then the approval)", tt.send, n)
			}
			// Decided, it no longer waits.
			if code, again := post(t, "/v1/hitl/"+tid+"/approve", `{"approved_by":"ana@example.com"}`); code != http.StatusConflict || again["code"] != "task_not_paused" {
				t.Errorf("second approval = %d %v", code, again)
			}
		})
	}
}

// TestA2AHumanRejection: a rejection ends the paused task and cancels it at the agent.
func TestA2AHumanRejection(t *testing.T) {
	ag := a2atest.New(t, 1)
	id := publishA2A(t, ag)
	_, body := post(t, "/v1/agents/"+id+"/invoke/async", `{"input":{"text":"ask me"}}`)
	tid := body["task_id"].(string)
	waitFor(t, "/v1/tasks/"+tid, "paused")
	code, rejected := post(t, "/v1/hitl/"+tid+"/reject", `{"rejected_by":"bo","reason":"over budget"}`)
	if e, _ := rejected["error"].(map[string]any); code != http.StatusOK || rejected["status"] != "failed" || e["code"] != "hitl_rejected" {
		t.Fatalf("reject = %d %v", code, rejected)
	}
	deadline := time.Now().Add(20 * time.Second)
	for ag.Count("CancelTask") == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if ag.Count("CancelTask") != 1 || ag.Count("SendMessage") != 1 {
		t.Errorf("agent saw %d cancels and %d sends, want 1 and 1", ag.Count("CancelTask"), ag.Count("SendMessage"))
	}
}

// TestXpanderDeleteConversation: a conversation's id deletes every turn, and the id then starts
// a new conversation.
func TestXpanderDeleteConversation(t *testing.T) {
	conv := "conv-" + uuid.NewString()
	var turns []string
	for _, text := range []string{"one", "two"} {
		_, body := post(t, "/v1/agents/echo/invoke/async", fmt.Sprintf(`{"input":{"text":%q},"id":%q}`, text, conv))
		turns = append(turns, body["task_id"].(string))
	}
	waitFor(t, "/v1/tasks/"+turns[1], "completed")
	if code, _ := deleteTask(t, conv); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d", code)
	}
	for _, id := range append(turns, conv) {
		if code, _, _ := call(t, http.MethodGet, "/v1/tasks/"+id, ""); code != http.StatusNotFound {
			t.Errorf("GET %s after the delete = %d", id, code)
		}
	}
	_, again := post(t, "/v1/agents/echo/invoke/async", fmt.Sprintf(`{"input":{"text":"anew"},"id":%q}`, conv))
	waitFor(t, "/v1/tasks/"+again["task_id"].(string), "completed")
	_, _, thread := call(t, http.MethodGet, "/v1/tasks/"+conv+"/thread", "")
	if msgs, _ := thread["messages"].([]any); len(msgs) != 2 {
		t.Errorf("the new conversation = %v, want its one turn", thread)
	}
}
