package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"time"

	"github.com/agentq/agentq/client/raw"
)

// The xpander dialect's types, generated from the contract.
type (
	// Task is a task as the xpander dialect answers it.
	Task = raw.XpanderTask
	// TaskStatus is a Task's status: pending, executing, paused, completed, failed, error, stopped.
	TaskStatus = raw.XpanderTaskStatus
	// InvokeRequest is the body of an xpander invocation; its Input takes any extra fields in
	// AdditionalProperties.
	InvokeRequest = raw.XpanderRequest
	// Input is an xpander invocation's input.
	Input = raw.XpanderInput
	// TaskPage is one page of a task list.
	TaskPage = raw.TaskList
	// Thread is a conversation as messages, oldest first.
	Thread = raw.Thread
	// Delivery is one webhook delivery of a task's outcome, with its attempts.
	Delivery = raw.Delivery
	// DeliveryList is a task's webhook deliveries.
	DeliveryList = raw.DeliveryList
)

// Ended reports whether a task in status s has ended: completed, failed, error or stopped.
func Ended(s TaskStatus) bool {
	switch s {
	case raw.XpanderTaskStatusCompleted, raw.XpanderTaskStatusFailed, raw.XpanderTaskStatusError, raw.XpanderTaskStatusStopped:
		return true
	}
	return false
}

// settled reports whether waiting on a task in status s is over: it ended, or it is paused,
// which waits for the conversation's next turn rather than for time.
func settled(s TaskStatus) bool { return Ended(s) || s == raw.XpanderTaskStatusPaused }

// InvokeOptions are the query and header options of the invoke routes.
type InvokeOptions struct {
	// Version of the agent to run: "latest" (the default), "draft" or a published version.
	Version string
	// IdempotencyKey makes a repeated request answer the first request's task.
	IdempotencyKey string
}

// Invoke submits an xpander invocation (POST /v1/agents/{agent_id}/invoke/async) and answers
// the task at once, pending.
func (c *Client) Invoke(ctx context.Context, agentID string, req InvokeRequest, o InvokeOptions) (*Task, error) {
	resp, err := c.raw.InvokeAgentAsync(ctx, agentID, &raw.InvokeAgentAsyncParams{Version: ptr(o.Version), IdempotencyKey: ptr(o.IdempotencyKey)}, req)
	t, httpResp, err := decode[Task](ctx, "invoke "+agentID, resp, err, http.StatusOK)
	if err != nil {
		return nil, err
	}
	c.back.note(t.TaskId.String(), httpResp)
	return t, nil
}

// InvokeSync submits an invocation through the sync route (POST /v1/agents/{agent_id}/invoke)
// and answers the task once it has settled. The server holds the request up to its limit; a task
// still running then (202) is waited on with Wait, after the 202's Retry-After (the time left of
// the agent's expected duration, else 2 s), so a long task still answers its outcome.
// progress, when not nil, sees the task each time its status changes.
func (c *Client) InvokeSync(ctx context.Context, agentID string, req InvokeRequest, o InvokeOptions, progress func(*Task)) (*Task, error) {
	resp, err := c.invokeSync(ctx, agentID, req, o)
	t, httpResp, err := decode[Task](ctx, "invoke "+agentID, resp, err, http.StatusOK, http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	if progress != nil {
		progress(t)
	}
	if httpResp.StatusCode == http.StatusOK || settled(t.Status) {
		return t, nil
	}
	c.back.note(t.TaskId.String(), httpResp)
	return c.wait(ctx, t.TaskId.String(), t.Status, progress)
}

// invokeSync posts either dialect's body to the sync route, which tells them apart by their
// fields. (The generated union body does not marshal itself, so the body is sent as JSON here.)
func (c *Client) invokeSync(ctx context.Context, agentID string, body any, o InvokeOptions) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", agentID, err)
	}
	return c.raw.InvokeAgentSyncWithBody(ctx, agentID, &raw.InvokeAgentSyncParams{Version: ptr(o.Version), IdempotencyKey: ptr(o.IdempotencyKey), Wait: ptr(c.waitS)},
		"application/json", bytes.NewReader(b))
}

// Get reads a task (GET /v1/tasks/{task_id}) by its task id or its conversation's id.
func (c *Client) Get(ctx context.Context, id string) (*Task, error) {
	t, _, err := c.get(ctx, id, 0)
	return t, err
}

func (c *Client) get(ctx context.Context, id string, wait int) (*Task, *http.Response, error) {
	resp, err := c.raw.GetTask(ctx, id, &raw.GetTaskParams{Wait: ptr(wait)})
	return decode[Task](ctx, "get task "+id, resp, err, http.StatusOK)
}

// Wait answers the task once it has ended or paused. It long-polls GET /v1/tasks/{id}?wait=N:
// the server holds each request until the task ends or pauses, or N seconds pass, so a task
// that ends within N seconds of the first request takes one request more than the submit; an
// answer that is neither is asked again at once. An answer that shows no change and came
// sooner than the server's Retry-After (a server that does not hold) has the next request wait
// out the rest of it; a 429 or 503 is retried after its Retry-After. A task this client
// accepted (Invoke, InvokeSync) is first read when the accept's Retry-After said, the agent's
// expected duration, so that the first read does not hold through the agent's run. ctx bounds
// the whole wait.
// progress, when not nil, sees the task each time a request finds its status changed: with a
// holding server, the status it had at the first request and the one it ends or pauses in.
func (c *Client) Wait(ctx context.Context, id string, progress func(*Task)) (*Task, error) {
	return c.wait(ctx, id, "", progress)
}

func (c *Client) wait(ctx context.Context, id string, last TaskStatus, progress func(*Task)) (*Task, error) {
	fetch := func(ctx context.Context) (*Task, *http.Response, error) { return c.get(ctx, id, c.waitS) }
	status := func(t *Task) string { return string(t.Status) }
	done := func(t *Task) bool { return settled(t.Status) }
	return poll(ctx, c, "wait for task "+id, string(last), c.back.take(id), fetch, status, done, progress)
}

// poll long-polls with fetch until done: the loop behind Wait and WaitReceipt. The first request
// waits first (the accept's Retry-After, when positive). When an answer shows no change sooner
// than the server's Retry-After, the next request waits out the rest of it; a temporary error
// (429, 503, …) is retried after its Retry-After.
func poll[T any](ctx context.Context, c *Client, op, last string, first time.Duration, fetch func(context.Context) (*T, *http.Response, error),
	status func(*T) string, done func(*T) bool, progress func(*T)) (*T, error) {
	if first > 0 {
		if err := c.sleep(ctx, first); err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	for {
		start := time.Now()
		v, resp, err := fetch(ctx)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || !e.Temporary() {
				return nil, err
			}
			if err := c.sleep(ctx, max(e.RetryAfter, time.Second)); err != nil {
				return nil, fmt.Errorf("%s: %w", op, err)
			}
			continue
		}
		s := status(v)
		if s != last && progress != nil {
			progress(v)
		}
		if done(v) {
			return v, nil
		}
		if s == last {
			if rest := retryAfter(resp.Header) - time.Since(start); rest > 0 {
				if err := c.sleep(ctx, rest); err != nil {
					return nil, fmt.Errorf("%s: %w", op, err)
				}
			}
		}
		last = s
	}
}

// Stop cancels a task that has not ended (POST /v1/tasks/{task_id}/stop) and answers it as it
// now stands; on an ended task it changes nothing.
func (c *Client) Stop(ctx context.Context, id string) (*Task, error) {
	resp, err := c.raw.StopTask(ctx, id, nil)
	t, _, err := decode[Task](ctx, "stop task "+id, resp, err, http.StatusOK)
	return t, err
}

// Thread reads a task's conversation (GET /v1/tasks/{task_id}/thread).
func (c *Client) Thread(ctx context.Context, id string) (*Thread, error) {
	resp, err := c.raw.GetTaskThread(ctx, id, nil)
	t, _, err := decode[Thread](ctx, "read thread "+id, resp, err, http.StatusOK)
	return t, err
}

// ListQuery filters a task list. Zero fields do not filter.
type ListQuery struct {
	// Status keeps tasks in any of these xpander statuses.
	Status []string
	// AgentID keeps one agent's tasks.
	AgentID string
	// ThreadID keeps one conversation's turns.
	ThreadID string
	// UserID keeps one end user's tasks (input.user.id); ParentTaskID the sub-tasks of a task;
	// TriggeringAgentID the tasks an agent delegated.
	UserID, ParentTaskID, TriggeringAgentID string
	// CreatedAfter and CreatedBefore bound the creation time, both exclusive.
	CreatedAfter, CreatedBefore time.Time
	// Limit is the page size, 1 to 100 (server default 20).
	Limit int
	// Cursor is the previous page's next cursor.
	Cursor string
}

// List reads one page of the caller's tasks, newest first (GET /v1/tasks).
func (c *Client) List(ctx context.Context, q ListQuery) (*TaskPage, error) {
	f := q.filters()
	resp, err := c.raw.ListTasks(ctx, &raw.ListTasksParams{AgentId: ptr(q.AgentID), ThreadId: ptr(q.ThreadID), Limit: ptr(q.Limit), Cursor: ptr(q.Cursor),
		Status: f.status, CreatedAfter: f.after, CreatedBefore: f.before, UserId: ptr(q.UserID), ParentTaskId: ptr(q.ParentTaskID), TriggeringAgentId: ptr(q.TriggeringAgentID)})
	page, _, err := decode[TaskPage](ctx, "list tasks", resp, err, http.StatusOK)
	return page, err
}

// listFilters are a query's filters as the generated parameters take them: nil when unset.
type listFilters struct {
	status        *[]string
	after, before *time.Time
}

func (q ListQuery) filters() listFilters {
	var f listFilters
	if len(q.Status) > 0 {
		f.status = &q.Status
	}
	if !q.CreatedAfter.IsZero() {
		f.after = &q.CreatedAfter
	}
	if !q.CreatedBefore.IsZero() {
		f.before = &q.CreatedBefore
	}
	return f
}

// Tasks iterates over every task the query selects, page after page, until the list ends, the
// loop breaks, or a page fails (the error is the last value yielded).
func (c *Client) Tasks(ctx context.Context, q ListQuery) iter.Seq2[*Task, error] {
	return pages(func(cursor string) ([]Task, *string, error) {
		q.Cursor = cursor
		page, err := c.List(ctx, q)
		if err != nil {
			return nil, nil, err
		}
		return page.Items, page.NextCursor, nil
	}, q.Cursor)
}

// pages iterates over the items of a list's pages: read answers a page's items and the cursor of
// the next, nil or empty on the last.
func pages[T any](read func(cursor string) ([]T, *string, error), cursor string) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for {
			items, next, err := read(cursor)
			if err != nil {
				yield(nil, err)
				return
			}
			for i := range items {
				if !yield(&items[i], nil) {
					return
				}
			}
			if next == nil || *next == "" {
				return
			}
			cursor = *next
		}
	}
}

// AgentTasks reads one page of one agent's tasks (GET /v1/agents/{agent_id}/tasks); q.AgentID is
// ignored, the path names the agent.
func (c *Client) AgentTasks(ctx context.Context, agentID string, q ListQuery) (*TaskPage, error) {
	f := q.filters()
	resp, err := c.raw.ListAgentTasks(ctx, agentID, &raw.ListAgentTasksParams{ThreadId: ptr(q.ThreadID), Limit: ptr(q.Limit), Cursor: ptr(q.Cursor),
		Status: f.status, CreatedAfter: f.after, CreatedBefore: f.before, UserId: ptr(q.UserID), ParentTaskId: ptr(q.ParentTaskID), TriggeringAgentId: ptr(q.TriggeringAgentID)})
	page, _, err := decode[TaskPage](ctx, "list tasks of "+agentID, resp, err, http.StatusOK)
	return page, err
}

// Deliveries lists a task's webhook deliveries and their attempts
// (GET /v1/tasks/{task_id}/deliveries).
func (c *Client) Deliveries(ctx context.Context, taskID string) (*DeliveryList, error) {
	id, err := parseUUID("list deliveries", taskID)
	if err != nil {
		return nil, err
	}
	resp, err := c.raw.ListTaskDeliveries(ctx, id, nil)
	l, _, err := decode[DeliveryList](ctx, "list deliveries of "+taskID, resp, err, http.StatusOK)
	return l, err
}

// Replay sends a delivery again as a new delivery
// (POST /v1/tasks/{task_id}/deliveries/{delivery_id}/replay).
func (c *Client) Replay(ctx context.Context, taskID, deliveryID string) (*Delivery, error) {
	id, err := parseUUID("replay delivery", taskID)
	if err != nil {
		return nil, err
	}
	resp, err := c.raw.ReplayTaskDelivery(ctx, id, deliveryID, nil)
	d, _, err := decode[Delivery](ctx, "replay delivery "+deliveryID, resp, err, http.StatusAccepted)
	return d, err
}
