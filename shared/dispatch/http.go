package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/agentq/agentq/shared/netguard"
	"github.com/agentq/agentq/shared/task"
)

// HTTPRequest is the JSON body an HTTP agent receives.
type HTTPRequest struct {
	TaskID  string `json:"task_id"`
	AgentID string `json:"agent_id"`
	// Tenant is the caller's tenant (also in the TenantHeader header).
	Tenant string `json:"tenant"`
	// ThreadID is the conversation: ConversationID of the tenant and the caller's thread id, never
	// the caller's id itself.
	ThreadID string `json:"thread_id,omitempty"`
	// Text is the instruction (xpander input.text, ServiceNet message).
	Text string `json:"text"`
	// Input is the request's structured input, if any.
	Input json.RawMessage `json:"input,omitempty"`
	// Request is the caller's whole request body.
	Request json.RawMessage `json:"request,omitempty"`
	Attempt int             `json:"attempt"`
	// History is the thread's earlier turns, oldest first.
	History []Message `json:"history,omitempty"`
	// ProgressURL is where the agent may POST progress reports on this task while it works,
	// with ProgressToken as "Authorization: Bearer" (see the README, "Streaming").
	ProgressURL   string `json:"progress_url,omitempty"`
	ProgressToken string `json:"progress_token,omitempty"`
}

// agentRequest is what HTTP and Lambda agents receive for c.
func agentRequest(c Call) HTTPRequest {
	r := HTTPRequest{
		TaskID: c.TaskID, AgentID: c.Agent.ID, Tenant: c.Tenant, ThreadID: ConversationID(c.Tenant, c.ThreadID), Text: c.Text,
		Input: field(c.Request, "input"), Request: withSecrets(c.Request, c.Secrets), Attempt: c.Attempt,
		History: c.History,
	}
	if c.Progress != nil {
		r.ProgressURL, r.ProgressToken = c.Progress.URL, c.Progress.Token
	}
	return r
}

// callHTTP POSTs an HTTPRequest to the agent. A 2xx answer is the result; 408, 429 and 5xx
// answers, timeouts and connection failures are retryable; other 4xx answers are not.
func (cl *Client) callHTTP(ctx context.Context, c Call) (Result, error) {
	body, err := json.Marshal(agentRequest(c))
	if err != nil {
		return Result{}, fmt.Errorf("encode request for agent %s: %w", c.Agent.ID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Agent.Endpoint, bytes.NewReader(body))
	if err != nil {
		return Result{}, &Error{Reason: task.ReasonAgentFailed, Message: "bad agent endpoint: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/plain")
	// Agents may use it to recognise a retried call.
	req.Header.Set("Idempotency-Key", c.TaskID)
	c.Credentials.apply(c.Agent, req.Header)
	resp, err := cl.http.Do(req)
	if err != nil {
		if errors.Is(err, netguard.ErrBlocked) {
			return Result{}, blocked(err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return Result{}, &Error{Reason: task.ReasonAgentTimeout, Message: "the agent did not answer in time", Retryable: true}
		}
		return Result{}, &Error{Reason: task.ReasonAgentUnavailable, Message: "could not reach the agent: " + Redact(err.Error()), Retryable: true}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return Result{}, &Error{Reason: task.ReasonAgentUnavailable, Message: "reading the agent's answer: " + err.Error(), Retryable: true}
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
	case retryableStatus(code):
		return Result{}, &Error{Reason: task.ReasonAgentUnavailable, Message: "agent answered " + strconv.Itoa(code) + errorDetail(raw), Retryable: true}
	default:
		return Result{}, &Error{Reason: task.ReasonAgentRejected, Message: "agent answered " + strconv.Itoa(code) + errorDetail(raw)}
	}
	if len(raw) > MaxResponseBytes {
		return Result{}, &Error{Reason: task.ReasonInvalidResponse, Message: fmt.Sprintf("the agent's answer is larger than %d bytes", MaxResponseBytes)}
	}
	return parseAnswer(raw), nil
}

// blocked fails a call whose endpoint resolves to an address agents may not reach: retrying
// cannot mend it.
func blocked(error) error {
	return &Error{Reason: task.ReasonAgentFailed, Message: "the agent's endpoint resolves to an address agents may not reach (this machine, link-local or the metadata service)"}
}

// parseAnswer reads an agent's answer: a JSON object's "output", "result", "text" or "message"
// string is the text; any other body is text as it stands.
func parseAnswer(raw []byte) Result {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		return Result{Text: string(raw)}
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(trimmed, &fields)
	res := Result{Output: json.RawMessage(trimmed), Usage: usage(fields)}
	for _, k := range []string{"output", "result", "text", "message"} {
		var s string
		if json.Unmarshal(fields[k], &s) == nil && s != "" {
			res.Text = s
			return res
		}
	}
	res.Text = string(trimmed)
	return res
}

// errorDetail quotes the start of an error answer, so the task's reason says what the agent said.
func errorDetail(raw []byte) string {
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return ": " + s
}

func field(obj json.RawMessage, name string) json.RawMessage {
	var fields map[string]json.RawMessage
	if json.Unmarshal(obj, &fields) != nil {
		return nil
	}
	return fields[name]
}

func withSecrets(obj json.RawMessage, secrets map[string]json.RawMessage) json.RawMessage {
	if len(secrets) == 0 {
		return obj
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(obj, &fields) != nil {
		return obj
	}
	for k, v := range secrets {
		fields[k] = v
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return obj
	}
	return out
}
