package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/task"
)

// timed sends a request and says how long the answer took.
func timed(t *testing.T, h http.Handler, method, path, body string, header ...string) (response, time.Duration) {
	t.Helper()
	start := time.Now()
	r := do(t, h, method, path, body, header...)
	return r, time.Since(start)
}

// problemLocs lists the locations of a validation error's problems, in either dialect.
func problemLocs(r response) []string {
	list, _ := r.body["detail"].([]any)
	if e, ok := r.body["error"].(map[string]any); ok {
		list, _ = e["details"].([]any)
	}
	var out []string
	for _, p := range list {
		loc, _ := p.(map[string]any)["loc"].([]any)
		parts := make([]string, len(loc))
		for i, l := range loc {
			parts[i] = fmt.Sprint(l)
		}
		out = append(out, strings.Join(parts, "."))
	}
	return out
}

func TestLongPoll(t *testing.T) {
	t.Parallel()
	type setup func(hs *harness)
	later := func(d time.Duration, f func(tk *task.Task)) setup {
		return func(hs *harness) { time.AfterFunc(d, func() { hs.read.set(taskID, f) }) }
	}
	tests := []struct {
		name      string
		state     task.State
		query     string
		setup     setup
		wantState task.State
		min, max  time.Duration
	}{
		{"no wait answers at once", task.Running, "", nil, task.Running, 0, 150 * time.Millisecond},
		{"wait=0 answers at once", task.Running, "?wait=0", nil, task.Running, 0, 150 * time.Millisecond},
		{"a task that ended answers at once", task.Succeeded, "?wait=5", nil, task.Succeeded, 0, 150 * time.Millisecond},
		// A long poll waits for the states a waiter waits for: the end, or a pause.
		{"a move to running does not end the wait", task.Queued, "?wait=1",
			later(100*time.Millisecond, func(tk *task.Task) { tk.State = task.Running }), task.Running, time.Second, 1800 * time.Millisecond},
		{"a pause ends the wait", task.Running, "?wait=5",
			later(250*time.Millisecond, func(tk *task.Task) { tk.State = task.Paused }), task.Paused, 200 * time.Millisecond, 1500 * time.Millisecond},
		{"a paused task answers at once", task.Paused, "?wait=5", nil, task.Paused, 0, 150 * time.Millisecond},
		{"a change to the end ends the wait", task.Running, "?wait=5",
			later(250*time.Millisecond, func(tk *task.Task) { tk.State, tk.Result = task.Succeeded, "done" }), task.Succeeded, 200 * time.Millisecond, 1500 * time.Millisecond},
		{"a write that keeps the state does not", task.Running, "?wait=1",
			later(100*time.Millisecond, func(tk *task.Task) { tk.Version++ }), task.Running, time.Second, 1800 * time.Millisecond},
		{"no change waits it out", task.Queued, "?wait=1", nil, task.Queued, time.Second, 1800 * time.Millisecond},
	}
	for _, tt := range tests {
		for _, prefix := range []string{"/v1/tasks/", "/v1/receipts/"} {
			t.Run(prefix+tt.name, func(t *testing.T) {
				t.Parallel()
				hs := newHarness(t)
				hs.read.Put(storedTask(tt.state))
				if tt.setup != nil {
					tt.setup(hs)
				}
				r, took := timed(t, hs.h, http.MethodGet, prefix+taskID+tt.query, "", authed()...)
				if r.status != http.StatusOK {
					t.Fatalf("status = %d: %s", r.status, r.raw)
				}
				if took < tt.min || took > tt.max {
					t.Errorf("answered after %v, want between %v and %v", took, tt.min, tt.max)
				}
				want := map[string]string{"/v1/tasks/": httpapiStatus(tt.wantState, task.Xpander), "/v1/receipts/": httpapiStatus(tt.wantState, task.ServiceNet)}[prefix]
				if got := statusOf(r.body, prefix == "/v1/receipts/"); got != want {
					t.Errorf("status = %v, want %s", got, want)
				}
				if got, wantRetry := r.header.Get("Retry-After"), !tt.wantState.Terminal(); (got != "") != wantRetry {
					t.Errorf("Retry-After = %q on a %s task", got, tt.wantState)
				}
			})
		}
	}
}

// The reads of a long poll back off: 200 ms, 400 ms, 800 ms, then every second.
func TestLongPollBacksOff(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.read.Put(storedTask(task.Running))
	do(t, hs.h, http.MethodGet, "/v1/tasks/"+taskID+"?wait=2", "", authed()...)
	// 1 first read, then at 0.2, 0.6, 1.4 and 2.0 s.
	if n := hs.read.calls(); n < 4 || n > 6 {
		t.Errorf("%d reads in a 2 s wait, want about 5", n)
	}
}

// A wait follows the id: on a thread id, a new turn is a change.
func TestLongPollFollowsTheThread(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	first := storedTask(task.Succeeded)
	first.ThreadID = "th-1"
	hs.read.Put(first)
	next := storedTask(task.Queued)
	next.ID, next.ThreadID, next.ThreadSeq = otherTaskID, "th-1", 2
	hs.read.Put(next)
	hs.read.threads["org-1#th-1"] = taskID
	// The latest turn has ended, so there is nothing to wait for: the answer is immediate.
	r, took := timed(t, hs.h, http.MethodGet, "/v1/tasks/th-1?wait=5", "", authed()...)
	if r.body["task_id"] != taskID || r.body["id"] != "th-1" || took > 150*time.Millisecond {
		t.Errorf("GET thread = %v/%v after %v, want the ended latest turn at once", r.body["id"], r.body["task_id"], took)
	}
	// The latest turn runs: a new turn ends the wait, though the turn it waited on has not ended.
	hs.read.set(taskID, func(tk *task.Task) { tk.State = task.Running })
	time.AfterFunc(250*time.Millisecond, func() {
		hs.read.mu.Lock()
		hs.read.threads["org-1#th-1"] = otherTaskID
		hs.read.mu.Unlock()
	})
	r, took = timed(t, hs.h, http.MethodGet, "/v1/tasks/th-1?wait=5", "", authed()...)
	if r.body["task_id"] != otherTaskID || r.body["status"] != "pending" || took > 1500*time.Millisecond {
		t.Errorf("GET thread = %v %v after %v, want the new turn pending", r.body["task_id"], r.body["status"], took)
	}
}

func TestLongPollStopsWithTheCaller(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.read.Put(storedTask(task.Running))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest(http.MethodGet, "/v1/tasks/"+taskID+"?wait=20", nil).WithContext(ctx)
	req.Header.Set("X-Api-Key", apiKey)
	start := time.Now()
	hs.h.ServeHTTP(httptest.NewRecorder(), req)
	if took := time.Since(start); took > time.Second {
		t.Errorf("a wait went on %v after the caller left", took)
	}
}

// In Lambda the request's context ends with the function's timeout; a wait answers before it.
func TestLongPollAnswersBeforeTheDeadline(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.read.Put(storedTask(task.Running))
	ctx, cancel := context.WithTimeout(context.Background(), 1800*time.Millisecond)
	defer cancel()
	req := httptest.NewRequest(http.MethodGet, "/v1/receipts/"+taskID+"?wait=25", nil).WithContext(ctx)
	req.Header.Set("X-Api-Key", apiKey)
	rec := httptest.NewRecorder()
	start := time.Now()
	hs.h.ServeHTTP(rec, req)
	if took := time.Since(start); rec.Code != http.StatusOK || took > 1500*time.Millisecond {
		t.Errorf("answered %d after %v with a deadline in 1.8 s, want 200 a second before it", rec.Code, took)
	}
}

func TestWaitValidation(t *testing.T) {
	for _, q := range []string{"-1", "26", "abc", "1.5", "", "1e1", "99999999999999999999"} {
		for _, rt := range []struct {
			path string
			d    task.Dialect
		}{
			{"/v1/tasks/" + taskID, task.Xpander}, {"/v1/receipts/" + taskID, task.ServiceNet},
			{"/v1/agents/echo/invoke", task.Xpander},
		} {
			t.Run(rt.path+"?wait="+q, func(t *testing.T) {
				hs := newHarness(t)
				hs.read.Put(storedTask(task.Running))
				method, body := http.MethodGet, ""
				if strings.HasSuffix(rt.path, "/invoke") {
					method, body = http.MethodPost, xpanderBody
				}
				r := do(t, hs.h, method, rt.path+"?wait="+q, body, authed()...)
				status := 422
				if rt.d == task.ServiceNet {
					status = 400
				}
				wantError(t, r, rt.d, status, "validation_failed")
				if got := problemLocs(r); !slices.Equal(got, []string{"query.wait"}) {
					t.Errorf("problems at %v, want query.wait", got)
				}
				if hs.read.calls() != 0 || hs.sub.calls() != 0 {
					t.Error("an invalid request reached the store")
				}
			})
		}
	}
	hs := newHarness(t)
	hs.read.Put(storedTask(task.Succeeded))
	r := do(t, hs.h, http.MethodGet, "/v1/tasks/"+taskID+"?wait=1&wait=2", "", authed()...)
	wantError(t, r, task.Xpander, 422, "validation_failed")
	for _, ok := range []string{"0", "25", "007"} {
		if r := do(t, hs.h, http.MethodGet, "/v1/tasks/"+taskID+"?wait="+ok, "", authed()...); r.status != 200 {
			t.Errorf("wait=%s = %d: %s", ok, r.status, r.raw)
		}
	}
}

func httpapiStatus(s task.State, d task.Dialect) string {
	if d == task.ServiceNet {
		return map[task.State]string{task.Queued: "running", task.Running: "running", task.Paused: "running",
			task.Succeeded: "succeeded", task.Failed: "failed", task.Error: "failed", task.Canceled: "failed", task.Rejected: "rejected"}[s]
	}
	return map[task.State]string{task.Queued: "pending", task.Running: "executing", task.Paused: "paused",
		task.Succeeded: "completed", task.Failed: "failed", task.Error: "error", task.Canceled: "stopped", task.Rejected: "failed"}[s]
}

// syncHarness makes submitted tasks readable, and runs them with run after they are accepted.
func syncHarness(t *testing.T, c httpapi.Config, run func(hs *harness, id string)) *harness {
	t.Helper()
	hs := newHarness(t)
	hs.sub.submit = func(sub accept.Submission) (*task.Task, error) {
		tk := &task.Task{ID: taskID, Tenant: sub.Tenant, AgentID: sub.AgentID, Dialect: sub.Invocation.Dialect, Source: sub.Source,
			State: task.Queued, Version: 1, Request: sub.Invocation.Body, Text: sub.Invocation.Text, CreatedAt: now, UpdatedAt: now}
		hs.read.mu.Lock()
		hs.read.Put(clone(tk))
		hs.read.mu.Unlock()
		if run != nil {
			run(hs, tk.ID)
		}
		return tk, nil
	}
	c.Submitter, c.Reader, c.Keys, c.Now = hs.sub, hs.read, keys, func() time.Time { return now }
	hs.h = httpapi.New(c)
	return hs
}

func TestSyncInvoke(t *testing.T) {
	t.Parallel()
	after := func(d time.Duration, s task.State) func(hs *harness, id string) {
		return func(hs *harness, id string) {
			time.AfterFunc(d, func() {
				hs.read.set(id, func(tk *task.Task) { tk.State, tk.Result = s, "hi back" })
			})
		}
	}
	tests := []struct {
		name     string
		c        httpapi.Config
		query    string
		run      func(hs *harness, id string)
		status   int
		xStatus  string
		min, max time.Duration
	}{
		{"fast agent: 200 completed", httpapi.Config{}, "", after(300*time.Millisecond, task.Succeeded), 200, "completed", 250 * time.Millisecond, 1500 * time.Millisecond},
		{"failed agent: 200 failed", httpapi.Config{}, "", after(100*time.Millisecond, task.Failed), 200, "failed", 0, 1500 * time.Millisecond},
		{"executing: 202 after the wait", httpapi.Config{}, "?wait=1", after(100*time.Millisecond, task.Running), 202, "executing", time.Second, 1800 * time.Millisecond},
		{"never picked up: 202 pending", httpapi.Config{}, "?wait=1", nil, 202, "pending", time.Second, 1800 * time.Millisecond},
		{"wait=0: 202 at once", httpapi.Config{}, "?wait=0", nil, 202, "pending", 0, 150 * time.Millisecond},
		{"paused: 202 without waiting more", httpapi.Config{}, "?wait=10", after(100*time.Millisecond, task.Paused), 202, "paused", 0, 1500 * time.Millisecond},
		{"the configured bound", httpapi.Config{SyncWait: 500 * time.Millisecond}, "", nil, 202, "pending", 500 * time.Millisecond, 1300 * time.Millisecond},
		{"wait cannot exceed the bound", httpapi.Config{SyncWait: 500 * time.Millisecond}, "?wait=20", nil, 202, "pending", 500 * time.Millisecond, 1300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hs := syncHarness(t, tt.c, tt.run)
			r, took := timed(t, hs.h, http.MethodPost, "/v1/agents/echo/invoke"+tt.query, xpanderBody, authed()...)
			if r.status != tt.status || r.body["status"] != tt.xStatus {
				t.Fatalf("= %d %v, want %d %s: %s", r.status, r.body["status"], tt.status, tt.xStatus, r.raw)
			}
			if took < tt.min || took > tt.max {
				t.Errorf("answered after %v, want between %v and %v", took, tt.min, tt.max)
			}
			if r.body["id"] != taskID || r.body["agent_id"] != "echo" {
				t.Errorf("task = %s", r.raw)
			}
			if tt.status == 202 {
				if r.header.Get("Retry-After") != "2" || r.header.Get("Location") != "/v1/tasks/"+taskID {
					t.Errorf("202 without Retry-After and Location: %v", r.header)
				}
			} else if r.header.Get("Retry-After") != "" {
				t.Error("Retry-After on a task that ended")
			}
			if tt.xStatus == "completed" && r.body["result"] != "hi back" {
				t.Errorf("result = %v", r.body["result"])
			}
		})
	}
}

func TestSyncInvokeErrors(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	hs.sub.err = fmt.Errorf("submit: %w", agent.ErrNotFound)
	wantError(t, do(t, hs.h, http.MethodPost, "/v1/agents/nope/invoke", xpanderBody, authed()...), task.Xpander, 404, "agent_not_found")
	hs.sub.err = &accept.DispatchError{Task: &task.Task{ID: taskID}, Err: fmt.Errorf("%w: sqs down", accept.ErrQueueUnavailable)}
	r := do(t, hs.h, http.MethodPost, "/v1/agents/echo/invoke", xpanderBody, authed()...)
	wantError(t, r, task.Xpander, 503, "queue_unavailable")
	if r.body["task_id"] != taskID {
		t.Errorf("task_id = %v", r.body["task_id"])
	}
	hs.sub.err = nil
	wantError(t, do(t, hs.h, http.MethodPost, "/v1/agents/echo/invoke", `{"input":{}}`, authed()...), task.Xpander, 422, "validation_failed")
	// A ServiceNet body is answered in ServiceNet's terms; one with an xpander field too is xpander's.
	wantError(t, do(t, hs.h, http.MethodPost, "/v1/agents/echo/invoke", `{"message":"  ","auth_context_id":"nope"}`, authed()...), task.ServiceNet, 400, "validation_failed")
	wantError(t, do(t, hs.h, http.MethodPost, "/v1/agents/echo/invoke", `{"message":"servicenet body","title":"t"}`, authed()...), task.Xpander, 422, "validation_failed")
	hs.sub.err = fmt.Errorf("submit: %w", agent.ErrNotFound)
	wantError(t, do(t, hs.h, http.MethodPost, "/v1/agents/nope/invoke", `{"message":"hi"}`, authed()...), task.ServiceNet, 404, "agent_not_found")
	hs.sub.err = nil
	// The task vanishing while waited on (TTL, say) answers what was known.
	r = do(t, hs.h, http.MethodPost, "/v1/agents/echo/invoke?wait=1", xpanderBody, authed()...)
	if r.status != 202 || r.body["status"] != "pending" {
		t.Errorf("= %d %s", r.status, r.raw)
	}
}

func TestInvokeVersionAndIdempotencyKey(t *testing.T) {
	for _, path := range []string{xpanderPath, serviceNetPath, "/v1/agents/echo/invoke"} {
		body := xpanderBody
		d := task.Xpander
		if path == serviceNetPath {
			body, d = serviceNetBody, task.ServiceNet
		}
		t.Run(path, func(t *testing.T) {
			hs := newHarness(t)
			r := do(t, hs.h, http.MethodPost, path+"?version=2&wait=0", body, authed("Idempotency-Key", " key-1 ")...)
			if r.status/100 != 2 {
				t.Fatalf("status = %d: %s", r.status, r.raw)
			}
			if sub := hs.sub.subs[0]; sub.Version != "2" || sub.IdempotencyKey != "key-1" {
				t.Errorf("submission version %q key %q", sub.Version, sub.IdempotencyKey)
			}
			do(t, hs.h, http.MethodPost, path+"?version=&wait=0", body, authed()...)
			if sub := hs.sub.subs[1]; sub.Version != "" || sub.IdempotencyKey != "" {
				t.Errorf("submission version %q key %q, want both empty", sub.Version, sub.IdempotencyKey)
			}
			do(t, hs.h, http.MethodPost, path+"?version=draft&wait=0", body, authed("Idempotency-Key", strings.Repeat("k", httpapi.MaxIdempotencyKeyBytes))...)
			if sub := hs.sub.subs[2]; sub.Version != "draft" || len(sub.IdempotencyKey) != httpapi.MaxIdempotencyKeyBytes {
				t.Errorf("submission version %q key of %d bytes", sub.Version, len(sub.IdempotencyKey))
			}

			status := map[task.Dialect]int{task.Xpander: 422, task.ServiceNet: 400}[d]
			for _, bad := range []struct {
				query, key string
				locs       []string
			}{
				{"?version=" + strings.Repeat("v", 65), "", []string{"query.version"}},
				{"?version=a/b", "", []string{"query.version"}},
				{"?version=.x", "", []string{"query.version"}},
				{"?version=1&version=2", "", []string{"query.version"}},
				{"", strings.Repeat("k", httpapi.MaxIdempotencyKeyBytes+1), []string{"header.Idempotency-Key"}},
				{"?version=%20", strings.Repeat("k", 300), []string{"query.version", "header.Idempotency-Key"}},
			} {
				n := hs.sub.calls()
				r := do(t, hs.h, http.MethodPost, path+bad.query, body, authed("Idempotency-Key", bad.key)...)
				wantError(t, r, d, status, "validation_failed")
				if got := problemLocs(r); !slices.Equal(got, bad.locs) {
					t.Errorf("%s: problems at %v, want %v", bad.query, got, bad.locs)
				}
				if hs.sub.calls() != n {
					t.Errorf("%s: an invalid request was submitted", bad.query)
				}
			}

			for _, e := range []struct {
				err    error
				status int
				code   string
			}{
				{fmt.Errorf("lookup: %w", agent.ErrVersionNotFound), 404, "agent_version_not_found"},
				{fmt.Errorf("submit: %w", accept.ErrIdempotencyMismatch), 409, "idempotency_key_reused"},
				{fmt.Errorf("submit: %w", accept.ErrThreadBusy), 409, "thread_busy"},
			} {
				hs.sub.err = e.err
				wantError(t, do(t, hs.h, http.MethodPost, path+"?version=9", body, authed("Idempotency-Key", "k")...), d, e.status, e.code)
			}
		})
	}
}

func TestStop(t *testing.T) {
	tests := []struct {
		state   task.State
		stopped bool
	}{
		{task.Queued, true}, {task.Running, true}, {task.Paused, true},
		{task.Succeeded, false}, {task.Failed, false}, {task.Error, false}, {task.Canceled, false}, {task.Rejected, false},
	}
	for _, tt := range tests {
		for _, d := range []task.Dialect{task.Xpander, task.ServiceNet} {
			t.Run(string(d)+"/"+string(tt.state), func(t *testing.T) {
				hs := newHarness(t)
				hs.read.Put(storedTask(tt.state))
				path := "/v1/tasks/" + taskID + "/stop"
				if d == task.ServiceNet {
					path = "/v1/receipts/" + taskID + "/stop"
				}
				want := tt.state
				if tt.stopped {
					want = task.Canceled
				}
				for i := range 2 { // a stop is idempotent
					r := do(t, hs.h, http.MethodPost, path, "", authed()...)
					if got := statusOf(r.body, d == task.ServiceNet); r.status != 200 || got != httpapiStatus(want, d) {
						t.Fatalf("stop %d = %d %v, want 200 %s: %s", i+1, r.status, got, httpapiStatus(want, d), r.raw)
					}
					if r.header.Get("Retry-After") != "" {
						t.Error("Retry-After on a stopped task")
					}
					e, _ := r.body["error"].(map[string]any)
					if tt.stopped && (e["code"] != task.ReasonCanceled || e["message"] == "") {
						t.Errorf("error = %v, want code canceled", r.body["error"])
					}
					if d == task.Xpander && r.body["is_manually_stopped"] != (want == task.Canceled) {
						t.Errorf("is_manually_stopped = %v", r.body["is_manually_stopped"])
					}
					if d == task.ServiceNet && receiptOf(r.body)["receipt_id"] != taskID {
						t.Errorf("receipt = %s", r.raw)
					}
				}
				wantCalls := 0
				if tt.stopped {
					wantCalls = 1
				}
				if len(hs.read.Changes()) != wantCalls {
					t.Fatalf("%d transitions, want %d", len(hs.read.Changes()), wantCalls)
				}
				if tt.stopped {
					c := hs.read.Changes()[0]
					if c.To != task.Canceled || c.Version != 0 || !slices.Equal(c.From, []task.State{task.Queued, task.Running, task.Paused}) ||
						c.Reason != task.ReasonCanceled || !c.Now.Equal(now) {
						t.Errorf("change = %+v", c)
					}
				}
			})
		}
	}
}

func TestStopRaces(t *testing.T) {
	// The task ended between the read and the write: its end stands.
	hs := newHarness(t)
	hs.read.Put(storedTask(task.Running))
	hs.read.conflictOnce = storedTask(task.Succeeded)
	r := do(t, hs.h, http.MethodPost, "/v1/tasks/"+taskID+"/stop", "", authed()...)
	if r.status != 200 || r.body["status"] != "completed" || len(hs.read.Changes()) != 1 {
		t.Errorf("= %d %v after %d writes", r.status, r.body["status"], len(hs.read.Changes()))
	}
	// It moved to another live state (a retry gave it back): the stop tries once more.
	hs = newHarness(t)
	hs.read.Put(storedTask(task.Running))
	hs.read.conflictOnce = storedTask(task.Queued)
	r = do(t, hs.h, http.MethodPost, "/v1/receipts/"+taskID+"/stop", "", authed()...)
	if r.status != 200 || receiptOf(r.body)["status"] != "failed" || len(hs.read.Changes()) != 2 {
		t.Errorf("= %d %v after %d writes", r.status, receiptOf(r.body)["status"], len(hs.read.Changes()))
	}
	// The store failing is a 503, and says nothing of it.
	hs = newHarness(t)
	hs.read.Put(storedTask(task.Running))
	hs.read.TransitionErr = errors.New("dynamodb: throttled")
	r = do(t, hs.h, http.MethodPost, "/v1/tasks/"+taskID+"/stop", "", authed()...)
	wantError(t, r, task.Xpander, 503, "unavailable")
	if strings.Contains(r.raw, "dynamodb") {
		t.Errorf("answer leaks internals: %s", r.raw)
	}
}

func TestStopErrors(t *testing.T) {
	tests := []struct {
		name, path string
		task       *task.Task
		d          task.Dialect
		status     int
		code       string
	}{
		{"unknown task", "/v1/tasks/" + taskID + "/stop", nil, task.Xpander, 404, "task_not_found"},
		{"unknown receipt", "/v1/receipts/" + taskID + "/stop", nil, task.ServiceNet, 404, "receipt_not_found"},
		{"another tenant's task", "/v1/tasks/" + taskID + "/stop", &task.Task{ID: taskID, Tenant: "org-2", State: task.Running}, task.Xpander, 404, "task_not_found"},
		{"another tenant's receipt", "/v1/receipts/" + taskID + "/stop", &task.Task{ID: taskID, Tenant: "org-2", State: task.Running}, task.ServiceNet, 404, "receipt_not_found"},
		{"receipt id not a UUID", "/v1/receipts/th-1/stop", nil, task.ServiceNet, 404, "receipt_not_found"},
		{"expired", "/v1/tasks/" + taskID + "/stop", &task.Task{ID: taskID, Tenant: "org-1", State: task.Running, ExpiresAt: now}, task.Xpander, 410, "task_expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t)
			if tt.task != nil {
				hs.read.Put(tt.task)
			}
			wantError(t, do(t, hs.h, http.MethodPost, tt.path, "", authed()...), tt.d, tt.status, tt.code)
			if len(hs.read.Changes()) != 0 {
				t.Error("a task that is not the caller's was written")
			}
		})
	}
}

// A stop on a thread id stops the thread's latest turn.
func TestStopByThreadID(t *testing.T) {
	hs := newHarness(t)
	hs.read.Put(storedTask(task.Running))
	hs.read.threads["org-1#th-1"] = taskID
	r := do(t, hs.h, http.MethodPost, "/v1/tasks/th-1/stop", "", authed()...)
	if r.status != 200 || r.body["id"] != taskID || r.body["status"] != "stopped" {
		t.Errorf("= %d %s", r.status, r.raw)
	}
	// Another tenant's thread of the same name is not this caller's.
	r = do(t, hs.h, http.MethodPost, "/v1/tasks/th-1/stop", "", "X-Api-Key", otherKey)
	wantError(t, r, task.Xpander, 404, "task_not_found")
}

func TestList(t *testing.T) {
	after, _ := time.Parse(time.RFC3339, "2026-02-01T00:00:00Z")
	before, _ := time.Parse(time.RFC3339Nano, "2026-02-07T02:13:26.5+01:00")
	tests := []struct {
		name  string
		path  string
		query task.ListQuery
	}{
		{"defaults", "/v1/tasks", task.ListQuery{Limit: 20}},
		{"one status", "/v1/tasks?status=pending", task.ListQuery{States: []task.State{task.Queued}, Limit: 20}},
		{"failed shows rejected too", "/v1/tasks?status=failed", task.ListQuery{States: []task.State{task.Failed, task.Rejected}, Limit: 20}},
		{"a list of statuses", "/v1/tasks?status=completed,%20stopped,error", task.ListQuery{States: []task.State{task.Succeeded, task.Canceled, task.Error}, Limit: 20}},
		{"repeated and duplicate statuses", "/v1/tasks?status=executing&status=paused,executing", task.ListQuery{States: []task.State{task.Running, task.Paused}, Limit: 20}},
		{"every filter", "/v1/tasks?agent_id=echo&thread_id=th-1&created_after=2026-02-01T00:00:00Z&created_before=2026-02-07T02:13:26.5%2B01:00&limit=100&cursor=abc",
			task.ListQuery{AgentID: "echo", ThreadID: "th-1", CreatedAfter: after, CreatedBefore: before, Limit: 100, Cursor: "abc"}},
		{"agent route", "/v1/agents/echo/tasks?limit=1", task.ListQuery{AgentID: "echo", Limit: 1}},
		{"agent route, same agent_id", "/v1/agents/echo/tasks?agent_id=echo", task.ListQuery{AgentID: "echo", Limit: 20}},
		{"unknown parameters are ignored", "/v1/tasks?sort=asc", task.ListQuery{Limit: 20}},
		{"a page", "/v1/tasks?page=3&per_page=50", task.ListQuery{Limit: 50, Offset: 100}},
		{"internal_status", "/v1/tasks?internal_status=queued,rejected", task.ListQuery{States: []task.State{task.Queued, task.Rejected}, Limit: 20}},
		{"status and internal_status: both hold", "/v1/tasks?status=failed&internal_status=rejected,queued", task.ListQuery{States: []task.State{task.Rejected}, Limit: 20}},
		{"sub-task and user filters", "/v1/tasks?parent_task_id=p-1&triggering_agent_id=planner&user_id=u-1", task.ListQuery{ParentTaskID: "p-1", TriggeringAgentID: "planner", UserID: "u-1", Limit: 20}},
		// from_date and to_date are inclusive; the store's bounds exclusive.
		{"dates", "/v1/tasks?from_date=2026-02-01T00:00:00Z&to_date=2026-02-07T02:13:26.5%2B01:00",
			task.ListQuery{CreatedAfter: after.Add(-time.Nanosecond), CreatedBefore: before.Add(time.Nanosecond), Limit: 20}},
		{"the narrower bound holds", "/v1/tasks?from_date=2026-01-01T00:00:00Z&created_after=2026-02-01T00:00:00Z&to_date=2026-02-07T02:13:26.5%2B01:00&created_before=2026-03-01T00:00:00Z",
			task.ListQuery{CreatedAfter: after, CreatedBefore: before.Add(time.Nanosecond), Limit: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t)
			do(t, hs.h, http.MethodGet, tt.path, "", authed()...)
			if len(hs.read.lists) != 1 {
				t.Fatalf("%d lists", len(hs.read.lists))
			}
			want := tt.query
			want.Tenant, want.Now = "org-1", now
			if got := hs.read.lists[0]; !reflect.DeepEqual(got, want) {
				t.Errorf("query = %+v\nwant    %+v", got, want)
			}
		})
	}
}

func TestListAnswer(t *testing.T) {
	hs := newHarness(t)
	older := storedTask(task.Succeeded)
	newer := storedTask(task.Running)
	newer.ID = otherTaskID
	hs.read.listed = []*task.Task{newer, older}
	hs.read.next = "CURSOR"
	r := do(t, hs.h, http.MethodGet, "/v1/tasks", "", authed()...)
	items, _ := r.body["items"].([]any)
	if r.status != 200 || len(items) != 2 || r.body["next_cursor"] != "CURSOR" {
		t.Fatalf("= %d %s", r.status, r.raw)
	}
	first, _ := items[0].(map[string]any)
	if first["id"] != otherTaskID || first["status"] != "executing" || first["organization_id"] != "org-1" {
		t.Errorf("items[0] = %v", first)
	}
	if r.header.Get("Retry-After") != "" {
		t.Error("Retry-After on a list")
	}

	hs.read.listed, hs.read.next = nil, ""
	r = do(t, hs.h, http.MethodGet, "/v1/agents/echo/tasks", "", authed()...)
	if r.raw != `{"items":[],"total":0,"page":1,"per_page":20,"total_pages":0,"total_exact":true,"next_cursor":null}`+"\n" {
		t.Errorf("empty page = %s", r.raw)
	}
	if len(hs.read.counts) != 1 {
		t.Errorf("the last page was counted: %d counts", len(hs.read.counts))
	}
}

func TestListErrors(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		listErr error
		status  int
		code    string
		locs    []string
	}{
		{"unknown status", "/v1/tasks?status=done", nil, 422, "validation_failed", []string{"query.status"}},
		{"empty status", "/v1/tasks?status=", nil, 422, "validation_failed", []string{"query.status"}},
		{"one bad status of two", "/v1/tasks?status=pending,queued", nil, 422, "validation_failed", []string{"query.status"}},
		{"internal state name", "/v1/tasks?status=succeeded", nil, 422, "validation_failed", []string{"query.status"}},
		{"limit 0", "/v1/tasks?limit=0", nil, 422, "validation_failed", []string{"query.limit"}},
		{"limit 101", "/v1/tasks?limit=101", nil, 422, "validation_failed", []string{"query.limit"}},
		{"limit not a number", "/v1/tasks?limit=ten", nil, 422, "validation_failed", []string{"query.limit"}},
		{"created_after not RFC 3339", "/v1/tasks?created_after=2026-02-01", nil, 422, "validation_failed", []string{"query.created_after"}},
		{"created_before not RFC 3339", "/v1/tasks?created_before=yesterday", nil, 422, "validation_failed", []string{"query.created_before"}},
		{"agent_id not an id", "/v1/tasks?agent_id=a%20b", nil, 422, "validation_failed", []string{"query.agent_id"}},
		{"agent_id against the path", "/v1/agents/echo/tasks?agent_id=other", nil, 422, "validation_failed", []string{"query.agent_id"}},
		{"thread_id over 1 KiB", "/v1/tasks?thread_id=" + strings.Repeat("t", 1025), nil, 422, "validation_failed", []string{"query.thread_id"}},
		{"cursor given twice", "/v1/tasks?cursor=a&cursor=b", nil, 422, "validation_failed", []string{"query.cursor"}},
		{"every problem at once", "/v1/tasks?status=x&limit=0&created_after=x", nil, 422, "validation_failed", []string{"query.status", "query.created_after", "query.limit"}},
		{"agent path not an id", "/v1/agents/a%20b/tasks", nil, 404, "agent_not_found", nil},
		{"invalid cursor", "/v1/tasks?cursor=junk", fmt.Errorf("list: %w", task.ErrInvalidCursor), 400, "invalid_cursor", nil},
		{"store down", "/v1/tasks", errors.New("dynamodb: throttled"), 503, "store_unavailable", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t)
			hs.read.listErr = tt.listErr
			r := do(t, hs.h, http.MethodGet, tt.path, "", authed()...)
			wantError(t, r, task.Xpander, tt.status, tt.code)
			if got := problemLocs(r); tt.locs != nil && !slices.Equal(got, tt.locs) {
				t.Errorf("problems at %v, want %v", got, tt.locs)
			}
			if tt.locs != nil && hs.read.calls() != 0 {
				t.Error("an invalid query reached the store")
			}
			if strings.Contains(r.raw, "dynamodb") {
				t.Errorf("answer leaks internals: %s", r.raw)
			}
		})
	}
}

func TestThread(t *testing.T) {
	turn := func(id string, seq int, s task.State, text, result string) *task.Task {
		tk := storedTask(s)
		tk.ID, tk.ThreadID, tk.ThreadSeq, tk.Text, tk.Result = id, "th-1", seq, text, result
		tk.CreatedAt = now.Add(time.Duration(seq) * time.Minute)
		tk.FinishedAt = tk.CreatedAt.Add(10 * time.Second)
		return tk
	}
	hs := newHarness(t)
	for _, tk := range []*task.Task{
		turn("t2", 2, task.Failed, "second", ""),
		turn("t1", 1, task.Succeeded, "first", "first answer"),
		turn("t3", 3, task.Running, "third", ""),
	} {
		hs.read.Put(tk)
	}
	hs.read.threads["org-1#th-1"] = "t3"
	other := turn("t9", 1, task.Succeeded, "not yours", "no")
	other.Tenant = "org-2"
	hs.read.Put(other)

	want := `{"id":"th-1","messages":[` +
		`{"id":"t1:user","role":"user","content":"first","created_at":"2026-02-07T02:14:26Z"},` +
		`{"id":"t1:agent","role":"agent","content":"first answer","created_at":"2026-02-07T02:14:36Z"},` +
		`{"id":"t2:user","role":"user","content":"second","created_at":"2026-02-07T02:15:26Z"},` +
		`{"id":"t3:user","role":"user","content":"third","created_at":"2026-02-07T02:16:26Z"}]}` + "\n"
	for _, id := range []string{"th-1", "t1", "t2"} {
		r := do(t, hs.h, http.MethodGet, "/v1/tasks/"+id+"/thread", "", authed()...)
		if r.status != 200 || r.raw != want {
			t.Errorf("thread of %s = %d %s\nwant %s", id, r.status, r.raw, want)
		}
	}
	wantError(t, do(t, hs.h, http.MethodGet, "/v1/tasks/th-1/thread", "", "X-Api-Key", otherKey), task.Xpander, 404, "task_not_found")
	wantError(t, do(t, hs.h, http.MethodGet, "/v1/tasks/nope/thread", "", authed()...), task.Xpander, 404, "task_not_found")
	hs.read.turnErr = errors.New("dynamodb: throttled")
	wantError(t, do(t, hs.h, http.MethodGet, "/v1/tasks/t1/thread", "", authed()...), task.Xpander, 503, "store_unavailable")
}

func TestThreadEdges(t *testing.T) {
	// A task outside any thread is a conversation of one turn, named by the task.
	hs := newHarness(t)
	unfinished := storedTask(task.Succeeded)
	unfinished.FinishedAt = time.Time{}
	hs.read.Put(unfinished)
	r := do(t, hs.h, http.MethodGet, "/v1/tasks/"+taskID+"/thread", "", authed()...)
	want := `{"id":"` + taskID + `","messages":[{"id":"` + taskID + `:user","role":"user","content":"hello","created_at":"2026-02-07T02:13:26Z"},` +
		`{"id":"` + taskID + `:agent","role":"agent","content":"hi back","created_at":"2026-02-07T02:13:26Z"}]}` + "\n"
	if r.raw != want {
		t.Errorf("thread = %s\nwant     %s", r.raw, want)
	}

	// The turns come from an index that lags: the turn just read wins over its stale copy, and a
	// turn the index has not seen yet is still shown.
	hs = newHarness(t)
	fresh := storedTask(task.Succeeded)
	fresh.ThreadID, fresh.ThreadSeq, fresh.Result = "th-2", 2, "fresh"
	stale := &laggingThreads{fakeReader: hs.read, turns: []*task.Task{{ID: "old", Tenant: "org-1", ThreadID: "th-2", ThreadSeq: 1, State: task.Queued, Text: "before"}}}
	hs.read.Put(fresh)
	h := httpapi.New(httpapi.Config{Reader: hs.read, Resolver: hs.read, Threads: stale, Keys: keys, Now: func() time.Time { return now }})
	r = do(t, h, http.MethodGet, "/v1/tasks/"+taskID+"/thread", "", authed()...)
	msgs, _ := r.body["messages"].([]any)
	if len(msgs) != 3 || msgs[2].(map[string]any)["content"] != "fresh" || msgs[0].(map[string]any)["content"] != "before" {
		t.Errorf("thread = %s", r.raw)
	}

	// Expired: gone.
	hs = newHarness(t)
	hs.read.Put(&task.Task{ID: taskID, Tenant: "org-1", State: task.Succeeded, ExpiresAt: now})
	wantError(t, do(t, hs.h, http.MethodGet, "/v1/tasks/"+taskID+"/thread", "", authed()...), task.Xpander, 410, "task_expired")
}

// laggingThreads answers fixed turns, as an index that has not caught up would.
type laggingThreads struct {
	*fakeReader
	turns []*task.Task
}

func (l *laggingThreads) Turns(context.Context, string, string, int) ([]*task.Task, error) {
	return l.turns, nil
}

// Each function serves its own routes: the invoke function those that create or change work, the
// poll function those that read; a route whose dependencies are missing is not served.
func TestRouteSets(t *testing.T) {
	all := func(c httpapi.Config) httpapi.Config {
		r := newFakeReader()
		r.Put(storedTask(task.Running))
		c.Keys, c.Now = keys, func() time.Time { return now }
		if c.Submitter == nil {
			c.Submitter = &fakeSubmitter{}
		}
		c.Reader, c.Resolver, c.Stopper, c.Lister, c.Threads = r, r, r, r, r
		return c
	}
	invoke := all(httpapi.Config{Routes: httpapi.WriteRoutes})
	poll := all(httpapi.Config{Routes: httpapi.ReadRoutes})
	local := all(httpapi.Config{})
	noReader := local
	noReader.Reader = nil
	only := func(c httpapi.Config, f func(*httpapi.Config)) httpapi.Config { f(&c); return c }
	writes := []string{"xpander invoke", "servicenet invoke", "xpander sync invoke", "xpander stop", "servicenet stop"}
	reads := []string{"xpander task", "servicenet receipt", "xpander thread", "xpander list", "xpander agent list"}
	tests := []struct {
		name   string
		c      httpapi.Config
		served []string
	}{
		{"invoke function", invoke, writes},
		{"poll function", poll, reads},
		{"local runner", local, append(slices.Clone(writes), reads...)},
		{"no reader: no sync invoke, stop, or reads but lists", noReader, []string{"xpander invoke", "servicenet invoke", "xpander list", "xpander agent list"}},
		{"no stopper", only(local, func(c *httpapi.Config) { c.Stopper = nil }), slices.DeleteFunc(append(slices.Clone(writes), reads...), func(s string) bool { return strings.HasSuffix(s, "stop") })},
		{"no lister", only(poll, func(c *httpapi.Config) { c.Lister = nil }), reads[:3]},
		{"no threads", only(poll, func(c *httpapi.Config) { c.Threads = nil }), []string{"xpander task", "servicenet receipt", "xpander list", "xpander agent list"}},
		{"no submitter", only(invoke, func(c *httpapi.Config) { c.Submitter = nil }), []string{"xpander stop", "servicenet stop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := httpapi.New(tt.c)
			for _, rt := range routes {
				r := do(t, h, rt.method, rt.path, rt.body, authed()...)
				got := !(r.status == 404 && strings.Contains(r.raw, "route_not_found"))
				if want := slices.Contains(tt.served, rt.name); got != want {
					t.Errorf("%s served = %v (%d), want %v", rt.name, got, r.status, want)
				}
			}
		})
	}
}

// receiptOf is the signed receipt object of a ServiceNet stored receipt answer.
func receiptOf(body map[string]any) map[string]any {
	r, _ := body["receipt"].(map[string]any)
	return r
}

// statusOf reads an answer's status: the receipt's for a ServiceNet receipt, else the body's.
func statusOf(body map[string]any, receipt bool) any {
	if receipt {
		return receiptOf(body)["status"]
	}
	return body["status"]
}
