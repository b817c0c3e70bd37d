package httpapi_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/task"
)

// cursorAt is a cursor of the fake store, after n matching tasks.
func cursorAt(n int) string { return "at:" + strconv.Itoa(n) }

func TestListPageEnvelope(t *testing.T) {
	tests := []struct {
		name                 string
		path                 string
		listed, counted      int
		next                 string
		exact                bool
		wantTotal, wantPages int
		wantPage, wantPer    int
		wantCounts           int
	}{
		{"last page: no count", "/v1/tasks?page=3&per_page=10", 4, 0, "", false, 24, 3, 3, 10, 0},
		{"more follow: counted after the page", "/v1/tasks?page=2&per_page=10", 10, 35, cursorAt(20), true, 55, 6, 2, 10, 1},
		{"count stopped at its bound", "/v1/tasks?per_page=50", 50, 5000, cursorAt(50), false, 5050, 101, 1, 50, 1},
		{"limit is a page size too", "/v1/tasks?limit=100", 100, 1, cursorAt(100), true, 101, 2, 1, 100, 1},
		// The list's read budget ran out after 12 matches, before page 3 began.
		{"budget spent before the page", "/v1/tasks?page=3&per_page=10", 0, 30, cursorAt(12), true, 42, 5, 3, 10, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t)
			for range tt.listed {
				hs.read.listed = append(hs.read.listed, storedTask(task.Succeeded))
			}
			hs.read.next, hs.read.counted, hs.read.countExact = tt.next, tt.counted, tt.exact
			r := do(t, hs.h, http.MethodGet, tt.path, "", authed()...)
			if r.status != 200 {
				t.Fatalf("= %d %s", r.status, r.raw)
			}
			got := []any{r.body["total"], r.body["total_pages"], r.body["page"], r.body["per_page"], r.body["total_exact"]}
			want := []any{float64(tt.wantTotal), float64(tt.wantPages), float64(tt.wantPage), float64(tt.wantPer), tt.exact || tt.next == ""}
			if !slices.Equal(got, want) {
				t.Errorf("total, total_pages, page, per_page, total_exact = %v, want %v", got, want)
			}
			if len(hs.read.counts) != tt.wantCounts {
				t.Fatalf("%d counts, want %d", len(hs.read.counts), tt.wantCounts)
			}
			if tt.wantCounts == 1 && (hs.read.counts[0].Cursor != tt.next || hs.read.counts[0].Offset != 0) {
				t.Errorf("count query = %+v, want after the page's cursor", hs.read.counts[0])
			}
		})
	}
}

func TestListPageAfterCursor(t *testing.T) {
	hs := newHarness(t)
	// A cursor the store made after 40 tasks leads to page 3 of 20.
	cursor := cursorAt(40)
	hs.read.listed = []*task.Task{storedTask(task.Succeeded)}
	r := do(t, hs.h, http.MethodGet, "/v1/tasks?cursor="+cursor, "", authed()...)
	if r.status != 200 || r.body["page"] != float64(3) || r.body["total"] != float64(41) {
		t.Errorf("= %d %s", r.status, r.raw)
	}
}

func TestListPageErrors(t *testing.T) {
	tests := []struct{ name, path, loc string }{
		{"per_page over 50", "/v1/tasks?per_page=51", "per_page"},
		{"page 0", "/v1/tasks?page=0", "page"},
		{"page and cursor", "/v1/tasks?page=2&cursor=abc", "page"},
		{"per_page and limit", "/v1/tasks?per_page=10&limit=10", "per_page"},
		{"past the depth", "/v1/tasks?page=21&per_page=50", "page"},
		{"unknown internal status", "/v1/tasks?internal_status=pending", "internal_status"},
		{"from_date not a date", "/v1/tasks?from_date=yesterday", "from_date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t)
			r := do(t, hs.h, http.MethodGet, tt.path, "", authed()...)
			wantError(t, r, task.Xpander, 422, "validation_failed")
			if !slices.Contains(problemLocs(r), "query."+tt.loc) {
				t.Errorf("problems %v, want one at query.%s", problemLocs(r), tt.loc)
			}
			if len(hs.read.lists) != 0 {
				t.Error("a refused list read the store")
			}
		})
	}
}

func TestDeleteTask(t *testing.T) {
	hs := newHarness(t)
	running := storedTask(task.Running)
	running.ThreadID, running.ThreadSeq, running.RemoteTaskID = "th-1", 2, ""
	first := storedTask(task.Succeeded)
	first.ID, first.ThreadID, first.ThreadSeq = otherTaskID, "th-1", 1
	sub := storedTask(task.Queued)
	sub.ID, sub.ParentTaskID = "a0000000-0000-4000-8000-000000000003", otherTaskID
	theirs := storedTask(task.Succeeded)
	theirs.ID, theirs.Tenant = "a0000000-0000-4000-8000-000000000004", "org-2"
	for _, tk := range []*task.Task{running, first, sub, theirs} {
		hs.read.Put(tk)
	}
	hs.read.threads["org-1#th-1"] = taskID

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodDelete, "/v1/tasks/th-1", nil)
	req.Header.Set("X-Api-Key", apiKey)
	hs.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("= %d %q, want 204 and no body", rec.Code, rec.Body.String())
	}
	if len(hs.read.deleted) != 1 || len(hs.read.deleted[0]) != 3 {
		t.Fatalf("deleted %v, want the conversation's two turns and the sub-task", hs.read.deleted)
	}
	// What had not ended was stopped before it was deleted; what had ended was left as it was.
	var stopped []string
	for _, c := range hs.read.Changes() {
		if c.To == task.Canceled {
			stopped = append(stopped, string(c.Reason))
		}
	}
	if len(stopped) != 2 {
		t.Errorf("%d stops, want 2 (the running turn and the queued sub-task)", len(stopped))
	}
	if got := hs.read.Task(theirs.ID); got.ID == "" {
		t.Error("another tenant's task was deleted")
	}
	// Gone: the id names nothing now, and deleting again is a 404.
	wantError(t, do(t, hs.h, http.MethodGet, "/v1/tasks/"+taskID, "", authed()...), task.Xpander, 404, "task_not_found")
	wantError(t, do(t, hs.h, http.MethodDelete, "/v1/tasks/"+otherTaskID, "", authed()...), task.Xpander, 404, "task_not_found")
	// Another tenant's task is not the caller's to delete.
	wantError(t, do(t, hs.h, http.MethodDelete, "/v1/tasks/"+theirs.ID, "", authed()...), task.Xpander, 404, "task_not_found")
}

func TestFullThread(t *testing.T) {
	hs := newHarness(t)
	second := storedTask(task.Succeeded)
	second.ThreadID, second.ThreadSeq, second.Result = "th-1", 2, "SECOND"
	second.Usage = task.Usage{Tokens: task.Tokens{Prompt: 5, Completion: 2, Total: 7}}
	second.FinishedAt = now.Add(time.Second)
	first := storedTask(task.Succeeded)
	first.ID, first.ThreadID, first.ThreadSeq, first.Result = otherTaskID, "th-1", 1, "FIRST"
	sub := storedTask(task.Running)
	sub.ID, sub.ParentTaskID, sub.Text = "a0000000-0000-4000-8000-000000000003", otherTaskID, "look it up"
	for _, tk := range []*task.Task{second, first, sub} {
		hs.read.Put(tk)
	}
	hs.read.threads["org-1#th-1"] = taskID
	r := do(t, hs.h, http.MethodGet, "/v1/tasks/th-1/thread/full", "", authed()...)
	if r.status != 200 || len(r.body) != 2 {
		t.Fatalf("= %d %s", r.status, r.raw)
	}
	var got struct {
		Root []struct {
			ID, Role, Content string
			CreatedAt         int64 `json:"created_at"`
			Metrics           *struct {
				TotalTokens int `json:"total_tokens"`
			}
		}
	}
	if err := json.Unmarshal([]byte(r.raw), &got); err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, m := range got.Root {
		roles = append(roles, m.ID+" "+m.Role+" "+m.Content)
	}
	want := []string{"th-1_user_1 user hello", "th-1_agent_1 assistant FIRST", "th-1_user_2 user hello", "th-1_agent_2 assistant SECOND"}
	if !slices.Equal(roles, want) {
		t.Errorf("root = %v\nwant %v", roles, want)
	}
	if m := got.Root[3]; m.Metrics == nil || m.Metrics.TotalTokens != 7 || m.CreatedAt != now.Add(time.Second).Unix() {
		t.Errorf("the last answer = %+v", m)
	}
	subMsgs, _ := r.body[sub.ID].([]any)
	if len(subMsgs) != 1 {
		t.Errorf("sub-task bucket = %v, want its one user message (it has not answered)", r.body[sub.ID])
	}
}

func TestUsage(t *testing.T) {
	hs := newHarness(t)
	second := storedTask(task.Succeeded)
	second.ThreadID, second.ThreadSeq = "th-1", 2
	second.Usage = task.Usage{Tokens: task.Tokens{Prompt: 1500, Completion: 300, Total: 1800}, Actions: 3, Cost: 0.012341}
	first := storedTask(task.Succeeded)
	first.ID, first.ThreadID, first.ThreadSeq = otherTaskID, "th-1", 1
	first.Usage = task.Usage{Tokens: task.Tokens{Prompt: 20, Completion: 22, Total: 42}, Actions: 1, Cost: 0.000004}
	hs.read.Put(second)
	hs.read.Put(first)
	hs.read.threads["org-1#th-1"] = taskID
	r := do(t, hs.h, http.MethodGet, "/v1/tasks/th-1/llm_usage", "", authed()...)
	want := `{"task_id":"th-1","tokens":1842,"input_tokens":1520,"output_tokens":322,"actions":4,"is_byok":false,"cost":0.01235}` + "\n"
	if r.status != 200 || r.raw != want {
		t.Errorf("= %d %s\nwant %s", r.status, r.raw, want)
	}
	// A task whose agent reported nothing answers zeros.
	lone := storedTask(task.Succeeded)
	lone.ID = "a0000000-0000-4000-8000-000000000005"
	hs.read.Put(lone)
	r = do(t, hs.h, http.MethodGet, "/v1/tasks/"+lone.ID+"/llm_usage", "", authed()...)
	if r.raw != `{"task_id":"`+lone.ID+`","tokens":0,"input_tokens":0,"output_tokens":0,"actions":0,"is_byok":false,"cost":0}`+"\n" {
		t.Errorf("no usage = %s", r.raw)
	}
}

func pausedTask() *task.Task {
	tk := storedTask(task.Paused)
	tk.RemoteTaskID = "remote-1"
	tk.HITL = json.RawMessage(`{"wait_node_id":"remote-1","message":"ship it?"}`)
	return tk
}

// decideOn sends a decision about a paused task, which must answer 200 with the task in status.
func decideOn(t *testing.T, verb, body, status string) (*harness, response) {
	t.Helper()
	hs := newHarness(t)
	hs.read.Put(pausedTask())
	r := do(t, hs.h, http.MethodPost, "/v1/hitl/"+taskID+"/"+verb, body, authed()...)
	if r.status != 200 || r.body["status"] != status {
		t.Fatalf("= %d %s", r.status, r.raw)
	}
	return hs, r
}

func TestApprove(t *testing.T) {
	hs, r := decideOn(t, "approve", `{"approved_by":"ana@example.com","message":"go ahead"}`, "pending")
	hitl, _ := r.body["hitl_request"].(map[string]any)
	if hitl["approved_by"] != "ana@example.com" || hitl["wait_node_id"] != "remote-1" {
		t.Errorf("hitl_request = %v", hitl)
	}
	if !slices.Equal(hs.read.resumed, []string{taskID + ":go ahead"}) {
		t.Errorf("resumed %v", hs.read.resumed)
	}
	// Approved once, it no longer waits: a second decision is refused.
	r = do(t, hs.h, http.MethodPost, "/v1/hitl/"+taskID+"/reject", `{"rejected_by":"bo"}`, authed()...)
	wantError(t, r, task.Xpander, 409, "task_not_paused")
}

func TestApproveUnsent(t *testing.T) {
	hs := newHarness(t)
	hs.read.Put(pausedTask())
	hs.read.resumeErr = errors.New("queue down")
	r := do(t, hs.h, http.MethodPost, "/v1/hitl/"+taskID+"/approve", `{"approved_by":"ana"}`, authed()...)
	if r.status < 500 {
		t.Errorf("= %d %s, want a 5xx", r.status, r.raw)
	}
	// Nothing will run it, so it waits for a decision again.
	if got := hs.read.Task(taskID); got.State != task.Paused || strings.Contains(string(got.HITL), "approved_by") {
		t.Errorf("after a failed send: %s %s", got.State, got.HITL)
	}
}

func TestReject(t *testing.T) {
	hs, r := decideOn(t, "reject", `{"rejected_by":"bo","reason":"too risky"}`, "failed")
	e, _ := r.body["error"].(map[string]any)
	if e["code"] != task.ReasonHITLRejected || e["message"] != "rejected by bo: too risky" {
		t.Errorf("error = %v", e)
	}
	if hitl, _ := r.body["hitl_request"].(map[string]any); hitl["rejected_by"] != "bo" {
		t.Errorf("hitl_request = %v", hitl)
	}
	if len(hs.read.resumed) != 0 {
		t.Error("a rejected task was sent to its agent")
	}
}

func TestDecisionErrors(t *testing.T) {
	tests := []struct {
		name, path, body string
		task             *task.Task
		status           int
		code             string
	}{
		{"approver missing", "/approve", `{}`, pausedTask(), 422, "validation_failed"},
		{"approver empty", "/approve", `{"approved_by":""}`, pausedTask(), 422, "validation_failed"},
		{"approver too long", "/approve", `{"approved_by":"` + strings.Repeat("a", 257) + `"}`, pausedTask(), 422, "validation_failed"},
		{"the other field", "/approve", `{"rejected_by":"bo"}`, pausedTask(), 422, "validation_failed"},
		{"an extra field", "/reject", `{"rejected_by":"bo","by":"x"}`, pausedTask(), 422, "validation_failed"},
		{"not a string", "/reject", `{"rejected_by":5}`, pausedTask(), 422, "validation_failed"},
		{"not JSON", "/reject", `no`, pausedTask(), 422, "validation_failed"},
		{"not paused", "/approve", `{"approved_by":"ana"}`, storedTask(task.Running), 409, "task_not_paused"},
		{"ended", "/reject", `{"rejected_by":"bo"}`, storedTask(task.Succeeded), 409, "task_not_paused"},
		{"no such task", "/approve", `{"approved_by":"ana"}`, nil, 404, "task_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t)
			if tt.task != nil {
				hs.read.Put(tt.task)
			}
			wantError(t, do(t, hs.h, http.MethodPost, "/v1/hitl/"+taskID+tt.path, tt.body, authed()...), task.Xpander, tt.status, tt.code)
			if len(hs.read.resumed) != 0 {
				t.Error("a refused decision resumed the task")
			}
		})
	}
}
