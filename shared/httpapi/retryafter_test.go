package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/task"
)

// TestRetryAfterFollowsTheExpectedDuration checks the Retry-After of every answer about a task
// that has not ended: the async invokes (200), the sync invokes' fallback (202) and the polls, in
// both dialects. It is the time left of the agent's expected duration, rounded up; unknown or
// passed, the async invoke sends none (read at once, as before) and the others today's 2 s; a
// paused task waits for its caller, not its agent. The bodies are the same as without it.
func TestRetryAfterFollowsTheExpectedDuration(t *testing.T) {
	tests := []struct {
		name     string
		expected time.Duration
		age      time.Duration // how long before now the task was accepted
		state    task.State    // of the polled task (the invokes answer it queued)
		// Retry-After of the async invokes, the sync invokes' 202 and the polls.
		async, sync, poll string
	}{
		{"unknown", 0, 0, task.Running, "", "2", "2"},
		{"one second", time.Second, 0, task.Queued, "1", "1", "1"},
		{"rounded up", 1200 * time.Millisecond, 0, task.Running, "2", "2", "2"},
		{"time left", 3 * time.Second, 700 * time.Millisecond, task.Running, "3", "3", "3"},
		{"last second", 3 * time.Second, 2500 * time.Millisecond, task.Running, "1", "1", "1"},
		{"just passed", 3 * time.Second, 3 * time.Second, task.Running, "", "2", "2"},
		{"long passed", 3 * time.Second, time.Minute, task.Running, "", "2", "2"},
		{"paused", 10 * time.Second, 0, task.Paused, "10", "10", "2"},
		{"clock behind the accept's", 2 * time.Second, -5 * time.Second, task.Running, "2", "2", "2"},
	}
	requests := []struct {
		name, method, path, body string
		status                   int
		want                     func(async, sync, poll string) string
	}{
		{"xpander async", http.MethodPost, xpanderPath, xpanderBody, http.StatusOK, func(a, _, _ string) string { return a }},
		{"servicenet async", http.MethodPost, "/v1/agents/echo/invoke-async", `{"message":"hello"}`, http.StatusOK, func(a, _, _ string) string { return a }},
		{"xpander sync fallback", http.MethodPost, "/v1/agents/echo/invoke?wait=0", xpanderBody, http.StatusAccepted, func(_, s, _ string) string { return s }},
		{"servicenet sync fallback", http.MethodPost, "/v1/agents/echo/invoke?wait=0", `{"message":"hello"}`, http.StatusAccepted, func(_, s, _ string) string { return s }},
		{"xpander poll", http.MethodGet, "/v1/tasks/" + taskID, "", http.StatusOK, func(_, _, p string) string { return p }},
		{"servicenet poll", http.MethodGet, "/v1/receipts/" + taskID, "", http.StatusOK, func(_, _, p string) string { return p }},
	}
	for _, tt := range tests {
		for _, rq := range requests {
			t.Run(tt.name+"/"+rq.name, func(t *testing.T) {
				answer := func(expected time.Duration) response {
					hs := newHarness(t)
					created := now.Add(-tt.age)
					hs.sub.submit = func(sub accept.Submission) (*task.Task, error) {
						return &task.Task{ID: taskID, Tenant: sub.Tenant, AgentID: sub.AgentID, Dialect: sub.Invocation.Dialect,
							Source: sub.Source, ThreadID: sub.Invocation.ThreadID, State: task.Queued, Version: 1, Sync: sub.Invocation.Sync,
							Request: sub.Invocation.Body, Text: sub.Invocation.Text, Expected: expected, CreatedAt: created, UpdatedAt: created}, nil
					}
					stored := storedTask(tt.state)
					stored.Expected, stored.CreatedAt = expected, created
					hs.read.Put(stored)
					return do(t, hs.h, rq.method, rq.path, rq.body, authed()...)
				}
				r := answer(tt.expected)
				if r.status != rq.status {
					t.Fatalf("status = %d, want %d: %s", r.status, rq.status, r.raw)
				}
				if got, want := r.header.Get("Retry-After"), rq.want(tt.async, tt.sync, tt.poll); got != want {
					t.Errorf("Retry-After = %q, want %q", got, want)
				}
				if without := answer(0); without.raw != r.raw {
					t.Errorf("body = %s\nwithout an expected duration %s", r.raw, without.raw)
				}
			})
		}
	}
}

// TestRetryAfterOnlyWhileRunning checks that an ended task carries no Retry-After, whatever its
// agent expected.
func TestRetryAfterOnlyWhileRunning(t *testing.T) {
	for _, path := range []string{"/v1/tasks/" + taskID, "/v1/receipts/" + taskID} {
		hs := newHarness(t)
		stored := storedTask(task.Succeeded)
		stored.Expected = time.Minute
		hs.read.Put(stored)
		if r := do(t, hs.h, http.MethodGet, path, "", authed()...); r.header.Get("Retry-After") != "" {
			t.Errorf("GET %s: Retry-After = %q on an ended task", path, r.header.Get("Retry-After"))
		}
	}
	// An async invoke answered with a task that has ended (an Idempotency-Key's replay) says
	// nothing of coming back: its answer is final.
	for _, rq := range []struct{ path, body string }{
		{xpanderPath, xpanderBody}, {"/v1/agents/echo/invoke-async", `{"message":"hello"}`},
	} {
		hs := newHarness(t)
		hs.sub.submit = func(sub accept.Submission) (*task.Task, error) {
			done := storedTask(task.Succeeded)
			done.Expected, done.CreatedAt, done.Dialect = time.Minute, now, sub.Invocation.Dialect
			return done, nil
		}
		if r := do(t, hs.h, http.MethodPost, rq.path, rq.body, authed()...); r.header.Get("Retry-After") != "" {
			t.Errorf("POST %s replayed an ended task: Retry-After = %q", rq.path, r.header.Get("Retry-After"))
		}
	}
}

// TestAgentExpectedDuration checks expected_duration in an agent definition: a duration from 0
// to the agent's deadline is stored; anything else is a 422 validation_failed and stores nothing.
func TestAgentExpectedDuration(t *testing.T) {
	tests := []struct {
		name, fields string
		status       int
		want         time.Duration
	}{
		{"absent", ``, http.StatusOK, 0},
		{"zero", `,"expected_duration":"0s"`, http.StatusOK, 0},
		{"within the timeout", `,"timeout":"30s","expected_duration":"1.5s"`, http.StatusOK, 1500 * time.Millisecond},
		{"the whole default timeout", `,"expected_duration":"60s"`, http.StatusOK, time.Minute},
		{"negative", `,"expected_duration":"-1s"`, http.StatusUnprocessableEntity, 0},
		{"past the timeout", `,"timeout":"10s","expected_duration":"11s"`, http.StatusUnprocessableEntity, 0},
		{"a number", `,"expected_duration":1000`, http.StatusUnprocessableEntity, 0},
		{"not a duration", `,"expected_duration":"soon"`, http.StatusUnprocessableEntity, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := &drafts{}
			h := httpapi.New(httpapi.Config{Keys: keys, Agents: reg, AdminKeys: fakeKeys{"admin": "org-1"}})
			r := do(t, h, http.MethodPut, "/v1/agents/echo", `{"protocol":"http","endpoint":"https://agent.example.com"`+tt.fields+`}`, "X-Api-Key", "admin")
			if tt.status != http.StatusOK {
				wantError(t, r, task.Xpander, tt.status, "validation_failed")
				if len(reg.put) != 0 {
					t.Errorf("stored %+v", reg.put)
				}
				return
			}
			if r.status != http.StatusOK || len(reg.put) != 1 {
				t.Fatalf("define = %d %s (%d stored)", r.status, r.raw, len(reg.put))
			}
			if got := time.Duration(reg.put[0].ExpectedDuration); got != tt.want {
				t.Errorf("expected_duration = %v, want %v", got, tt.want)
			}
		})
	}
}
