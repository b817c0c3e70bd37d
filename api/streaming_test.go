package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/sse"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tasklog"
)

// progressKeys derive the progress tokens of the contract tests' tasks.
var progressKeys = progress.NewKeys([]byte("contract-test-progress-key-32-bytes!"))

// progressToken is the task's token under progressKeys, a fixed key that cannot fail to be had.
func progressToken(tenant, id string) string {
	tok, err := progressKeys.Token(context.Background(), tenant, id)
	if err != nil {
		panic(err)
	}
	return tok
}

// logged gives task taskID (the tenant's, in state s) a log: created (implied by the task), a
// chunk, a tool call, and finished when s has ended.
func logged(s task.State) func(f *fake) {
	return func(f *fake) {
		f.put(stored(s, task.Xpander))
		for _, e := range []struct {
			typ  tasklog.Type
			data string
		}{{tasklog.Chunk, `{"text":"hel"}`}, {tasklog.ToolCallRequest, `{"tool_name":"search"}`}} {
			f.logEvent(e.typ, e.data, false)
		}
		if s.Terminal() {
			f.logEvent(tasklog.Finished, `{"state":"`+string(s)+`"}`, false)
		}
	}
}

func (f *fake) logEvent(typ tasklog.Type, data string, limited bool) {
	e := tasklog.Entry{TaskID: taskID, Tenant: tenant, Type: typ, Data: json.RawMessage(data), Limited: limited}
	if _, err := f.events.Append(context.Background(), e); err != nil {
		panic(err)
	}
}

// streamed checks that an answer is an event stream of the given event names.
func streamed(names ...string) func(t *testing.T, r answer) {
	return func(t *testing.T, r answer) {
		if r.header.Get("Content-Type") != sse.ContentType {
			t.Fatalf("Content-Type %q", r.header.Get("Content-Type"))
		}
		var got []string
		rd := sse.NewReader(strings.NewReader(string(r.raw)))
		for ev, err := rd.Next(); err == nil; ev, err = rd.Next() {
			got = append(got, ev.Name)
		}
		if strings.Join(got, " ") != strings.Join(names, " ") {
			t.Fatalf("events %v, want %v", got, names)
		}
	}
}

// agentCases are the answers of a route an agent calls with its task's token in header.
func agentCases(path, header, body string, bearer bool) []tcase {
	token := progressToken(tenant, taskID)
	if bearer {
		token = "Bearer " + token
	}
	with := []string{header, token}
	running := func(f *fake) {
		tk := stored(task.Running, task.Xpander)
		tk.RemoteTaskID = "remote-1"
		f.put(tk)
	}
	then := func(fs ...func(f *fake)) func(f *fake) {
		return func(f *fake) {
			for _, fn := range fs {
				fn(f)
			}
		}
	}
	return []tcase{
		{name: "logged", method: "POST", path: path, body: body, auth: "none", header: with, setup: running, status: 202, validRequest: true},
		{name: "no token", method: "POST", path: path, body: body, auth: "none", setup: running, status: 401, code: "invalid_progress_token"},
		{name: "an API key instead", method: "POST", path: path, body: body, setup: running, status: 401, code: "invalid_progress_token"},
		{name: "unknown task", method: "POST", path: strings.Replace(path, taskID, unknown, 1), body: body, auth: "none", header: with, status: 401, code: "invalid_progress_token"},
		{name: "other method", method: "PATCH", path: path, status: 405, code: "method_not_allowed"},
		{name: "ended", method: "POST", path: path, body: body, auth: "none", header: with, setup: logged(task.Succeeded), status: 409, code: "task_ended"},
		{name: "not a report", method: "POST", path: path, body: `{"type":"finished","data":{}}`, auth: "none", header: with, setup: running, status: 422, code: "invalid_progress_report"},
		{name: "body over 1 MiB", method: "POST", path: path, body: `{"x":"` + strings.Repeat("a", httpapi.MaxBodyBytes) + `"}`, auth: "none", header: with, setup: running, status: 413, code: "body_too_large"},
		{name: "too fast", method: "POST", path: path, body: body, auth: "none", header: with, setup: then(running, func(f *fake) {
			for range tasklog.RateBurst {
				f.logEvent(tasklog.Status, `{"message":"x"}`, true)
			}
		}), status: 429, code: "rate_limited"},
		{name: "log full", method: "POST", path: path, body: body, auth: "none", header: with, setup: then(running, func(f *fake) {
			for range tasklog.MaxEvents {
				f.logEvent(tasklog.Status, `{"message":"x"}`, false)
			}
		}), status: 429, code: "event_log_full"},
		{name: "a bug", method: "POST", path: path, body: body, auth: "none", header: with, setup: then(running, func(f *fake) { f.panics = true }), status: 500, code: "internal_error"},
		{name: "store down", method: "POST", path: path, body: body, auth: "none", header: with, setup: then(running, func(f *fake) { f.err = errTest }), status: 503, code: "unavailable"},
	}
}

// streamCases adds the streaming routes' cases to out.
func streamCases(out map[string][]tcase) {
	const events = "/v1/tasks/" + taskID + "/events"
	out["GET /v1/tasks/{task_id}/events"] = append([]tcase{
		{name: "the stream of an ended task", method: "GET", path: events, setup: logged(task.Succeeded), status: 200, validRequest: true,
			check: streamed("created", "chunk", "tool_call_request", "finished")},
		{name: "resumed", method: "GET", path: events, header: []string{"Last-Event-ID", "2"}, setup: logged(task.Succeeded), status: 200, validRequest: true,
			check: streamed("tool_call_request", "finished")},
		{name: "xpander's names", method: "GET", path: events + "?names=xpander&after=1", setup: logged(task.Failed), status: 200, validRequest: true,
			check: streamed("chunk", "tool_call_request", "task_finished")},
		{name: "a running task's, to the connection's bound", method: "GET", path: events, setup: logged(task.Running), status: 200, validRequest: true,
			check: streamed("created", "chunk", "tool_call_request", "reconnect")},
		{name: "a page", method: "GET", path: events + "?after=1&limit=2", header: []string{"Accept", "application/json"}, setup: logged(task.Succeeded), status: 200, validRequest: true,
			check: func(t *testing.T, r answer) {
				if len(r.body["items"].([]any)) != 2 || r.body["next_after"] != float64(3) || r.body["finished"] != false {
					t.Errorf("page %s", r.raw)
				}
			}},
		{name: "bad after", method: "GET", path: events + "?after=-1", setup: logged(task.Succeeded), status: 422, code: "validation_failed"},
		{name: "bad Last-Event-ID", method: "GET", path: events, header: []string{"Last-Event-ID", "x"}, setup: logged(task.Succeeded), status: 422, code: "validation_failed"},
		{name: "bad names", method: "GET", path: events + "?names=sse", status: 422, code: "validation_failed"},
	}, readCases("GET", "/v1/tasks/", "/events", false)...)
	out["GET /v1/receipts/{receipt_id}/events"] = append([]tcase{
		{name: "the stream", method: "GET", path: "/v1/receipts/" + taskID + "/events", setup: logged(task.Succeeded), status: 200, validRequest: true,
			check: streamed("created", "chunk", "tool_call_request", "finished")},
		{name: "bad after", method: "GET", path: "/v1/receipts/" + taskID + "/events?after=x", status: 400, code: "validation_failed"},
	}, readCases("GET", "/v1/receipts/", "/events", true)...)
	out["POST /v1/agents/{agent_id}/invoke/stream"] = append([]tcase{
		{name: "accepted, streamed to the bound", method: "POST", path: "/v1/agents/echo/invoke/stream", body: xpanderBody, status: 200, validRequest: true,
			check: streamed("task_created", "reconnect")},
	}, invokeCases("/v1/agents/echo/invoke/stream", xpanderBody, false)...)
	status := `{"statusUpdate":{"taskId":"remote-1","contextId":"c","status":{"state":"TASK_STATE_WORKING"}}}`
	push := append(agentCases("/v1/tasks/"+taskID+"/push", "A2A-Notification-Token", status, false),
		tcase{name: "another remote task", method: "POST", path: "/v1/tasks/" + taskID + "/push", body: strings.Replace(status, "remote-1", "remote-2", 1), auth: "none",
			header: []string{"A2A-Notification-Token", progressToken(tenant, taskID)}, setup: func(f *fake) {
				tk := stored(task.Running, task.Xpander)
				tk.RemoteTaskID = "remote-1"
				f.put(tk)
			}, status: 403, code: "remote_task_mismatch"})
	out["POST /v1/tasks/{task_id}/push"] = withDuplicate(push, "/v1/tasks/"+taskID+"/push", status, "A2A-Notification-Token", progressToken(tenant, taskID))
	report := `{"type":"chunk","data":{"text":"hel"},"id":"r-1"}`
	out["POST /v1/tasks/{task_id}/progress"] = withDuplicate(agentCases("/v1/tasks/"+taskID+"/progress", "Authorization", report, true),
		"/v1/tasks/"+taskID+"/progress", report, "Authorization", "Bearer "+progressToken(tenant, taskID))
}

// withDuplicate adds the case of a report or push sent a second time.
func withDuplicate(cases []tcase, path, body, header, token string) []tcase {
	return append(cases, tcase{name: "sent again", method: "POST", path: path, body: body, auth: "none", header: []string{header, token},
		setup: func(f *fake) {
			tk := stored(task.Running, task.Xpander)
			tk.RemoteTaskID = "remote-1"
			f.put(tk)
			// The first delivery: through the handler, as the agent sent it.
			req := tcase{method: "POST", path: path, body: body, auth: "none", header: []string{header, token}}.request()
			if r := serveQuietly(f.handler(), req); r != 202 {
				panic("the first delivery was refused")
			}
		}, status: 409, code: "duplicate_report"})
}

var errTest = errors.New("dynamodb: throttled")

// serveQuietly answers the status of req served by h.
func serveQuietly(h http.Handler, req *http.Request) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}
