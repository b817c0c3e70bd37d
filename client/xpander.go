package client

import (
	"context"
	"net/http"

	"github.com/agentq/agentq/client/raw"
)

// xpander's task routes beyond get, stop and thread, generated from the contract.
type (
	// FullThread is a conversation with each turn's full messages, by thread.
	FullThread = raw.FullThread
	// LLMUsage is what a task's agents reported using: tokens, actions, cost.
	LLMUsage = raw.LLMUsage
	// Approval is a person's approval of a paused task.
	Approval = raw.HITLApproval
	// Rejection is a person's rejection of a paused task.
	Rejection = raw.HITLRejection
)

// Delete deletes a task, or a whole conversation named by its thread id
// (DELETE /v1/tasks/{task_id}); a task still running is a 409.
func (c *Client) Delete(ctx context.Context, id string) error {
	resp, err := c.raw.DeleteTask(ctx, id, nil)
	_, _, err = decode[empty](ctx, "delete task "+id, resp, err, http.StatusNoContent)
	return err
}

// FullThread reads a task's conversation with every message (GET /v1/tasks/{task_id}/thread/full).
func (c *Client) FullThread(ctx context.Context, id string) (*FullThread, error) {
	resp, err := c.raw.GetTaskFullThread(ctx, id, nil)
	t, _, err := decode[FullThread](ctx, "read full thread "+id, resp, err, http.StatusOK)
	return t, err
}

// LLMUsage reads what a task's agents reported using (GET /v1/tasks/{task_id}/llm_usage).
func (c *Client) LLMUsage(ctx context.Context, id string) (*LLMUsage, error) {
	resp, err := c.raw.GetTaskLLMUsage(ctx, id, nil)
	u, _, err := decode[LLMUsage](ctx, "read usage of "+id, resp, err, http.StatusOK)
	return u, err
}

// Approve lets a paused task go on (POST /v1/hitl/{task_id}/approve) and answers it as it now
// stands; a task that is not paused is a 409 task_not_paused.
func (c *Client) Approve(ctx context.Context, id string, a Approval) (*Task, error) {
	resp, err := c.raw.ApproveTask(ctx, id, nil, a)
	t, _, err := decode[Task](ctx, "approve task "+id, resp, err, http.StatusOK)
	return t, err
}

// Reject ends a paused task failed, code hitl_rejected (POST /v1/hitl/{task_id}/reject).
func (c *Client) Reject(ctx context.Context, id string, r Rejection) (*Task, error) {
	resp, err := c.raw.RejectTask(ctx, id, nil, r)
	t, _, err := decode[Task](ctx, "reject task "+id, resp, err, http.StatusOK)
	return t, err
}
