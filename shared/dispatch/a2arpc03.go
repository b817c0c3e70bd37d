package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strconv"
	"sync/atomic"

	legacy "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentq/agentq/shared/a2a03"
	"github.com/agentq/agentq/shared/sse"
)

// a2aConn is an A2A agent's JSON-RPC endpoint, spoken to in the version the agent speaks: the
// SDK's client for 1.0 (*a2aclient.Client), rpc03 for 0.3.
type a2aConn interface {
	SendMessage(ctx context.Context, req *a2a.SendMessageRequest) (a2a.SendMessageResult, error)
	SendStreamingMessage(ctx context.Context, req *a2a.SendMessageRequest) iter.Seq2[a2a.Event, error]
	GetTask(ctx context.Context, req *a2a.GetTaskRequest) (*a2a.Task, error)
	CancelTask(ctx context.Context, req *a2a.CancelTaskRequest) (*a2a.Task, error)
}

// rpc03 speaks A2A 0.3 JSON-RPC 2.0 over HTTP to one agent: message/send, message/stream,
// tasks/get and tasks/cancel, in 0.3's wire shapes (package a2a03), and nothing else agentq
// does not use. It replaces the SDK's 0.3 compatibility client (a2acompat/a2av0), which links
// the a2a-go v0.3 client with its gRPC transport: this one is net/http and encoding/json. Its
// answers are bounded and its HTTP errors classified by the client it is given (boundedClient).
type rpc03 struct {
	hc     *http.Client
	url    string
	header http.Header
	id     atomic.Int64
}

// rpcError is a JSON-RPC error answer.
type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *rpcError) Error() string {
	if e.Message == "" {
		return "JSON-RPC error " + strconv.Itoa(e.Code)
	}
	return e.Message
}

// rpcResponse is a JSON-RPC response: a result or an error.
type rpcResponse struct {
	Result json.RawMessage `json:"result"`
	Error  *rpcError       `json:"error"`
}

// errNotA2A wraps the failures to read an answer as A2A 0.3.
var errNotA2A = errors.New("not an A2A 0.3 answer")

func (c *rpc03) request(ctx context.Context, method string, params any, stream bool) (*http.Response, error) {
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.id.Add(1), "method": method, "params": params})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("A2A-Version", string(a2a03.Version))
	if stream {
		req.Header.Set("Accept", sse.ContentType)
	}
	return c.hc.Do(req)
}

// call sends one request and answers its result.
func (c *rpc03) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	resp, err := c.request(ctx, method, params, false)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return result(body)
}

// result reads a JSON-RPC response: its result, or its error.
func result(body []byte) (json.RawMessage, error) {
	var r rpcResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: %w", errNotA2A, err)
	}
	if r.Error != nil {
		return nil, r.Error
	}
	if len(r.Result) == 0 || bytes.Equal(r.Result, []byte("null")) {
		return nil, fmt.Errorf("%w: a JSON-RPC response with neither result nor error", errNotA2A)
	}
	return r.Result, nil
}

// SendMessage sends message/send.
func (c *rpc03) SendMessage(ctx context.Context, req *a2a.SendMessageRequest) (a2a.SendMessageResult, error) {
	raw, err := c.call(ctx, "message/send", a2a03.FromSendParams(req))
	if err != nil {
		return nil, err
	}
	res, err := a2a03.DecodeResult(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotA2A, err)
	}
	return res, nil
}

// GetTask sends tasks/get.
func (c *rpc03) GetTask(ctx context.Context, req *a2a.GetTaskRequest) (*a2a.Task, error) {
	return c.task(ctx, "tasks/get", legacy.TaskQueryParams{ID: legacy.TaskID(req.ID), HistoryLength: req.HistoryLength})
}

// CancelTask sends tasks/cancel.
func (c *rpc03) CancelTask(ctx context.Context, req *a2a.CancelTaskRequest) (*a2a.Task, error) {
	return c.task(ctx, "tasks/cancel", legacy.TaskIDParams{ID: legacy.TaskID(req.ID)})
}

// task sends a request whose result is a task.
func (c *rpc03) task(ctx context.Context, method string, params any) (*a2a.Task, error) {
	raw, err := c.call(ctx, method, params)
	if err != nil {
		return nil, err
	}
	var t legacy.Task
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("%w: %s answered no task: %w", errNotA2A, method, err)
	}
	out, err := a2a03.ToTask(&t)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNotA2A, err)
	}
	return out, nil
}

// SendStreamingMessage sends message/stream and yields the events of the answer's stream, each
// a JSON-RPC response in an SSE data field, until the stream ends, fails or the consumer stops.
func (c *rpc03) SendStreamingMessage(ctx context.Context, req *a2a.SendMessageRequest) iter.Seq2[a2a.Event, error] {
	return func(yield func(a2a.Event, error) bool) {
		resp, err := c.request(ctx, "message/stream", a2a03.FromSendParams(req), true)
		if err != nil {
			yield(nil, err)
			return
		}
		defer resp.Body.Close()
		r := sse.NewReader(resp.Body)
		for {
			ev, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if ev.Data == "" {
				continue
			}
			raw, err := result([]byte(ev.Data))
			if err != nil {
				yield(nil, err)
				return
			}
			event, err := a2a03.DecodeEvent(raw)
			if err != nil {
				yield(nil, fmt.Errorf("%w: %w", errNotA2A, err))
				return
			}
			if !yield(event, nil) {
				return
			}
		}
	}
}
