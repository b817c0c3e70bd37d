package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tasklog"
)

// post sends a progress report or push and answers the status and the body's code.
func (h *streamHarness) post(t *testing.T, path, body string, header ...string) (int, string) {
	t.Helper()
	resp := h.request(t, context.Background(), http.MethodPost, path, body, header...)
	raw, _ := io.ReadAll(resp.Body)
	var b struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(raw, &b)
	return resp.StatusCode, b.Code
}

func (h *streamHarness) events(t *testing.T, id string) []tasklog.Event {
	t.Helper()
	evs, err := h.log.Read(context.Background(), id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestProgressReports: an agent with its task's token appends progress; hostile or forged
// reports, other tasks' tokens and ended tasks are refused with a code, and nothing is logged.
func TestProgressReports(t *testing.T) {
	other := storedTask(task.Running)
	other.ID = otherTaskID
	h := newStreamHarness(t, time.Minute, storedTask(task.Running), other)
	path := "/v1/tasks/" + taskID + "/progress"
	token := mustToken(t, h.keys, "org-1", taskID)
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	if status, _ := h.post(t, path, `{"type":"chunk","data":{"text":"hel"}}`, bearer(token)...); status != http.StatusAccepted {
		t.Fatalf("a good report: %d", status)
	}
	for _, tc := range []struct {
		name, body string
		header     []string
		status     int
		code       string
	}{
		{"no token", `{"type":"chunk","data":{"text":"x"}}`, nil, 401, "invalid_progress_token"},
		{"another task's token", `{"type":"chunk","data":{"text":"x"}}`, bearer(mustToken(t, h.keys, "org-1", otherTaskID)), 401, "invalid_progress_token"},
		{"the token of the id under another tenant", `{"type":"chunk","data":{"text":"x"}}`, bearer(mustToken(t, h.keys, "org-2", taskID)), 401, "invalid_progress_token"},
		{"a key instead of a token", `{"type":"chunk","data":{"text":"x"}}`, []string{"X-Api-Key", apiKey}, 401, "invalid_progress_token"},
		{"forged finished", `{"type":"finished","data":{"state":"succeeded"}}`, bearer(token), 422, "invalid_progress_report"},
		{"forged created", `{"type":"created","data":{}}`, bearer(token), 422, "invalid_progress_report"},
		{"unknown type", `{"type":"<script>","data":{}}`, bearer(token), 422, "invalid_progress_report"},
		{"data not an object", `{"type":"status","data":"hi"}`, bearer(token), 422, "invalid_progress_report"},
		{"missing text", `{"type":"chunk","data":{"txt":"x"}}`, bearer(token), 422, "invalid_progress_report"},
		{"unknown field", `{"type":"chunk","data":{"text":"x"},"task_id":"` + otherTaskID + `"}`, bearer(token), 422, "invalid_progress_report"},
		{"two objects", `{"type":"chunk","data":{"text":"x"}}{}`, bearer(token), 422, "invalid_progress_report"},
		{"not JSON", `type=chunk`, bearer(token), 422, "invalid_progress_report"},
		{"invalid UTF-8", "{\"type\":\"chunk\",\"data\":{\"text\":\"\xff\"}}", bearer(token), 422, "invalid_progress_report"},
		{"too large", `{"type":"chunk","data":{"text":"` + strings.Repeat("a", 17<<10) + `"}}`, bearer(token), 422, "invalid_progress_report"},
		{"id with a newline", `{"type":"chunk","data":{"text":"x"},"id":"a\nb"}`, bearer(token), 422, "invalid_progress_report"},
		{"over a MiB", strings.Repeat(" ", 1<<20+1), bearer(token), 413, "body_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code := h.post(t, path, tc.body, tc.header...)
			if status != tc.status || code != tc.code {
				t.Errorf("%d %s, want %d %s", status, code, tc.status, tc.code)
			}
		})
	}
	if evs := h.events(t, taskID); len(evs) != 1 || evs[0].Type != tasklog.Chunk {
		t.Fatalf("log %+v, want the one good report", evs)
	}
	if evs := h.events(t, otherTaskID); len(evs) != 0 {
		t.Fatalf("another task's log got %+v", evs)
	}

	// A report with an id is logged once.
	body := `{"type":"status","data":{"message":"step 2"},"id":"r-2"}`
	if status, _ := h.post(t, path, body, bearer(token)...); status != http.StatusAccepted {
		t.Fatalf("report r-2: %d", status)
	}
	if status, code := h.post(t, path, body, bearer(token)...); status != http.StatusConflict || code != "duplicate_report" {
		t.Fatalf("report r-2 again: %d %s", status, code)
	}

	// The rate limit: a burst fills it, the next report waits.
	refused := 0
	for range tasklog.RateBurst + 2 {
		if status, code := h.post(t, path, `{"type":"chunk","data":{"text":"x"}}`, bearer(token)...); status == http.StatusTooManyRequests && code == "rate_limited" {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no report was rate limited")
	}

	// A report that passed the task's check while it ended: the log, closed by finished, refuses it.
	h.add(t, taskID, tasklog.Finished, `{"state":"succeeded"}`)
	if status, code := h.post(t, path, `{"type":"chunk","data":{"text":"racing"}}`, bearer(token)...); status != http.StatusConflict || code != "task_ended" {
		t.Fatalf("a report on a log that ended: %d %s", status, code)
	}

	// An ended task takes no more.
	h.read.set(taskID, func(tk *task.Task) { tk.State = task.Succeeded })
	if status, code := h.post(t, path, `{"type":"chunk","data":{"text":"late"}}`, bearer(token)...); status != http.StatusConflict || code != "task_ended" {
		t.Fatalf("a report on an ended task: %d %s", status, code)
	}
}

// TestProgressFollowsTheImpliedAttempt: an agent reports on its task's first attempt, which no
// writer stores: the report is seq 3, after the attempt the task's record implies, and a page of
// the log reads created, the attempt and the report without a gap.
func TestProgressFollowsTheImpliedAttempt(t *testing.T) {
	claimed := storedTask(task.Running)
	claimed.Attempts, claimed.StartedAt = 1, now
	h := newStreamHarness(t, time.Minute, claimed)
	token := mustToken(t, h.keys, "org-1", taskID)
	if status, _ := h.post(t, "/v1/tasks/"+taskID+"/progress", `{"type":"chunk","data":{"text":"hel"}}`, "Authorization", "Bearer "+token); status != http.StatusAccepted {
		t.Fatalf("a good report: %d", status)
	}
	if evs := h.events(t, taskID); len(evs) != 1 || evs[0].Seq != tasklog.AttemptSeq+1 {
		t.Fatalf("stored %+v, want the report at seq %d", evs, tasklog.AttemptSeq+1)
	}
	resp := h.request(t, context.Background(), http.MethodGet, "/v1/tasks/"+taskID+"/events", "", authed("Accept", "application/json")...)
	var page struct {
		Items []tasklog.Event `json:"items"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	want := []tasklog.Type{tasklog.Created, tasklog.Attempt, tasklog.Chunk}
	if len(page.Items) != len(want) {
		t.Fatalf("page %+v, want %v", page.Items, want)
	}
	for i, ev := range page.Items {
		if ev.Type != want[i] || ev.Seq != int64(i+1) {
			t.Fatalf("page %+v, want %v as 1..3", page.Items, want)
		}
	}
}

// TestA2APush: an A2A 1.0 push with the task's token is logged; the same push again, a push
// about another remote task or without the token is refused.
func TestA2APush(t *testing.T) {
	tk := storedTask(task.Running)
	tk.RemoteTaskID = "remote-1"
	h := newStreamHarness(t, time.Minute, tk)
	path := "/v1/tasks/" + taskID + "/push"
	hdr := []string{"A2A-Notification-Token", mustToken(t, h.keys, "org-1", taskID), "Content-Type", "application/json"}
	status := `{"statusUpdate":{"taskId":"remote-1","contextId":"c","status":{"state":"TASK_STATE_WORKING","message":{"messageId":"m1","role":"ROLE_AGENT","parts":[{"text":"reading the files"}]}}}}`
	if got, code := h.post(t, path, status, hdr...); got != http.StatusAccepted {
		t.Fatalf("push: %d %s", got, code)
	}
	artifact := `{"artifactUpdate":{"taskId":"remote-1","contextId":"c","artifact":{"artifactId":"a1","name":"report","parts":[{"text":"chapter 1"}]},"append":false,"lastChunk":false}}`
	if got, code := h.post(t, path, artifact, hdr...); got != http.StatusAccepted {
		t.Fatalf("artifact push: %d %s", got, code)
	}
	for _, tc := range []struct {
		name, body string
		header     []string
		status     int
		code       string
	}{
		{"replayed", status, hdr, 409, "duplicate_report"},
		{"another remote task", strings.Replace(status, "remote-1", "remote-2", 1), hdr, 403, "remote_task_mismatch"},
		{"no token", strings.Replace(status, "m1", "m2", 1), nil, 401, "invalid_progress_token"},
		{"not a StreamResponse", `{"hello":1}`, hdr, 422, "invalid_progress_report"},
		{"two events at once", `{"statusUpdate":{"taskId":"remote-1","status":{"state":"TASK_STATE_WORKING"}},"task":{"id":"remote-1"}}`, hdr, 422, "invalid_progress_report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, code := h.post(t, path, tc.body, tc.header...)
			if got != tc.status || code != tc.code {
				t.Errorf("%d %s, want %d %s", got, code, tc.status, tc.code)
			}
		})
	}
	evs := h.events(t, taskID)
	if len(evs) != 2 || evs[0].Type != tasklog.Status || evs[1].Type != tasklog.Artifact {
		t.Fatalf("log %+v", evs)
	}
	var st, art map[string]any
	_ = json.Unmarshal(evs[0].Data, &st)
	_ = json.Unmarshal(evs[1].Data, &art)
	if st["state"] != "working" || st["message"] != "reading the files" || art["text"] != "chapter 1" || art["artifact_id"] != "a1" {
		t.Fatalf("events %s %s", evs[0].Data, evs[1].Data)
	}
}

// TestA2APush03: an A2A 0.3 agent pushes its whole task with X-A2A-Notification-Token: the
// first push logs its status; the next, where the status is the same and an artifact appeared,
// logs the artifact alone; the same push again, a push about another remote task, one without
// the token and hostile bodies are refused.
func TestA2APush03(t *testing.T) {
	tk := storedTask(task.Running)
	tk.RemoteTaskID = "remote-1"
	h := newStreamHarness(t, time.Minute, tk)
	path := "/v1/tasks/" + taskID + "/push"
	hdr := []string{"X-A2A-Notification-Token", mustToken(t, h.keys, "org-1", taskID), "Content-Type", "application/json"}
	working := `{"kind":"task","id":"remote-1","contextId":"c","status":{"state":"working","message":{"kind":"message","messageId":"m1","role":"agent","parts":[{"kind":"text","text":"reading the files"}]}}`
	first := working + `}`
	second := working + `,"artifacts":[{"artifactId":"a1","name":"report","parts":[{"kind":"text","text":"chapter 1"}]}]}`
	for _, body := range []string{first, second} {
		if got, code := h.post(t, path, body, hdr...); got != http.StatusAccepted {
			t.Fatalf("push: %d %s", got, code)
		}
	}
	for _, tc := range []struct {
		name, body string
		header     []string
		status     int
		code       string
	}{
		{"replayed", second, hdr, 409, "duplicate_report"},
		{"another remote task", strings.Replace(first, "remote-1", "remote-2", 1), hdr, 403, "remote_task_mismatch"},
		{"no token", strings.Replace(first, "m1", "m2", 1), nil, 401, "invalid_progress_token"},
		{"unknown kind", `{"kind":"tasks","id":"remote-1"}`, hdr, 422, "invalid_progress_report"},
		{"file bytes not base64", `{"kind":"task","id":"remote-1","status":{"state":"working"},"artifacts":[{"artifactId":"f","parts":[{"kind":"file","file":{"bytes":"@@"}}]}]}`, hdr, 422, "invalid_progress_report"},
		{"an artifact over the bound", `{"kind":"task","id":"remote-1","status":{"state":"working"},"artifacts":[{"artifactId":"big","parts":[{"kind":"text","text":"` +
			strings.Repeat("x", progress.MaxReportBytes) + `"}]}]}`, hdr, 422, "invalid_progress_report"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, code := h.post(t, path, tc.body, tc.header...)
			if got != tc.status || code != tc.code {
				t.Errorf("%d %s, want %d %s", got, code, tc.status, tc.code)
			}
		})
	}
	evs := h.events(t, taskID)
	if len(evs) != 2 || evs[0].Type != tasklog.Status || evs[1].Type != tasklog.Artifact {
		t.Fatalf("log %+v", evs)
	}
	var st, art map[string]any
	_ = json.Unmarshal(evs[0].Data, &st)
	_ = json.Unmarshal(evs[1].Data, &art)
	if st["state"] != "working" || st["message"] != "reading the files" || art["text"] != "chapter 1" || art["artifact_id"] != "a1" || art["append"] != false {
		t.Fatalf("events %s %s", evs[0].Data, evs[1].Data)
	}
}
