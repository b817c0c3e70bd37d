package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// client calls the API as a caller of either dialect does.
type client struct {
	url, key string
	hc       *http.Client
	// refused, when set, counts the requests answered 429, which are tried again after their
	// Retry-After.
	refused *atomic.Int64
}

func newClient(url, key string) *client {
	return &client{url: url, key: key, hc: &http.Client{Timeout: 40 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
}

// submission is one invocation: its dialect, and what it adds to a plain one.
type submission struct {
	servicenet bool
	// idempotencyKey, when set, is sent as the Idempotency-Key header.
	idempotencyKey string
	// thread, when set, continues that conversation (xpander's id, ServiceNet's context_id).
	thread string
	agent  time.Duration
	// agentID is the agent invoked; default echo. text is the input's text; default "bench".
	agentID, text string
}

// accepted is what a submission answered.
type accepted struct {
	id, thread string
	took       time.Duration
	// readAt is when the answer's Retry-After (the agent's expected duration) said to read the
	// task; zero when it had none.
	readAt time.Time
}

// submit posts s and answers the task's id and how long the API took to accept it.
func (c *client) submit(ctx context.Context, s submission) (accepted, error) {
	text := s.text
	if text == "" {
		text = "bench"
	}
	input := map[string]any{"text": text, "delay_ms": s.agent.Milliseconds()}
	id := s.agentID
	if id == "" {
		id = "echo"
	}
	path, body := "/v1/agents/"+id+"/invoke/async", map[string]any{"input": input}
	if s.servicenet {
		path, body = "/v1/agents/"+id+"/invoke-async", map[string]any{"message": text, "input": input}
		if s.thread != "" {
			body["context_id"] = s.thread
		}
	} else if s.thread != "" {
		body["id"] = s.thread
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+path, bytes.NewReader(b))
	if err != nil {
		return accepted{}, err
	}
	if s.idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", s.idempotencyKey)
	}
	start := time.Now()
	out, h, err := c.do(req)
	took := time.Since(start)
	if err != nil {
		return accepted{}, fmt.Errorf("submit: %w", err)
	}
	a := accepted{took: took}
	if d := retryAfter(h); d > 0 {
		a.readAt = start.Add(took + d)
	}
	for _, k := range []string{"task_id", "receipt_id", "id"} {
		if id, _ := out[k].(string); id != "" && a.id == "" {
			a.id = id
		}
	}
	a.thread, _ = out["id"].(string)
	if v, _ := out["context_id"].(string); v != "" {
		a.thread = v
	}
	if a.id == "" {
		return a, fmt.Errorf("submit: no task id in %v", out)
	}
	return a, nil
}

// status reads task id, waiting up to wait for it to end, and answers whether it has ended and
// the answer's Retry-After (zero when it has none).
func (c *client) status(ctx context.Context, id string, servicenet bool, wait time.Duration) (bool, time.Duration, error) {
	path := "/v1/tasks/" + id
	if servicenet {
		path = "/v1/receipts/" + id
	}
	if wait > 0 {
		path += "?wait=" + strconv.Itoa(int(wait/time.Second))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url+path, nil)
	if err != nil {
		return false, 0, err
	}
	out, h, err := c.do(req)
	if err != nil {
		return false, 0, fmt.Errorf("read task: %w", err)
	}
	status := out["status"]
	if r, ok := out["receipt"].(map[string]any); ok { // a stored receipt keeps it in its receipt object
		status = r["status"]
	}
	switch status {
	case "completed", "failed", "error", "stopped", "succeeded", "rejected":
		return true, 0, nil
	}
	return false, retryAfter(h), nil
}

// retryAfter reads Retry-After's whole seconds; zero when absent or not a number.
func retryAfter(h http.Header) time.Duration {
	s, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || s <= 0 {
		return 0
	}
	return time.Duration(s) * time.Second
}

func (c *client) do(req *http.Request) (map[string]any, http.Header, error) {
	req.Header.Set("x-api-key", c.key)
	req.Header.Set("content-type", "application/json")
	resp, err := c.hc.Do(req)
	for err == nil && resp.StatusCode == http.StatusTooManyRequests && c.refused != nil {
		// Over a tenant limit: counted, and tried again when the answer says.
		c.refused.Add(1)
		resp.Body.Close()
		wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		select {
		case <-time.After(time.Duration(max(wait, 1)) * time.Second):
		case <-req.Context().Done():
			return nil, nil, req.Context().Err()
		}
		if req.GetBody != nil {
			if req.Body, err = req.GetBody(); err != nil {
				return nil, nil, err
			}
		}
		resp, err = c.hc.Do(req)
	}
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusCreated {
		return nil, nil, fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	return out, resp.Header, nil
}
