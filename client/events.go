package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentq/agentq/client/raw"
	"github.com/agentq/agentq/shared/sse"
)

// The event log's types, generated from the contract.
type (
	// Event is one event of a task's log: created, attempt, retry, state, paused, resumed, the
	// agent's status, chunk, artifact and tool calls, usage, and finished, always last.
	Event = raw.TaskEvent
	// EventPage is a page of a task's log.
	EventPage = raw.EventPage
	// StreamEvent is an event of invoke/stream, in xpander's names and shape.
	StreamEvent = raw.XpanderStreamEvent
)

// maxQuietResumes bounds how many connections in a row may end without an event before a
// follow gives up: a stream that keeps failing at once is reported, not retried for ever.
const maxQuietResumes = 5

// EventPage reads the task's log after the event numbered after, as a JSON page
// (GET /v1/tasks/{task_id}/events with Accept: application/json).
func (c *Client) EventPage(ctx context.Context, taskID string, after int) (*EventPage, error) {
	id, err := parseUUID("read events", taskID)
	if err != nil {
		return nil, err
	}
	resp, err := c.raw.GetTaskEvents(ctx, id, &raw.GetTaskEventsParams{After: ptr(after)}, accept("application/json"))
	p, _, err := decode[EventPage](ctx, "read events of "+taskID, resp, err, http.StatusOK)
	return p, err
}

// Events follows the task's log (GET /v1/tasks/{task_id}/events, Server-Sent Events) from the
// event after the one numbered after, until its finished event. When a connection ends first
// (the server bounds each one, or the network drops it) it reconnects with Last-Event-ID, so
// every event is yielded once and in order. An API error, or connections that keep ending
// without an event, end the sequence with the error.
func (c *Client) Events(ctx context.Context, taskID string, after int) iter.Seq2[*Event, error] {
	id, err := parseUUID("follow events", taskID)
	if err != nil {
		return failed[Event](err)
	}
	open := func(ctx context.Context, last string) (*http.Response, error) {
		return c.raw.GetTaskEvents(ctx, id, &raw.GetTaskEventsParams{After: ptr(after), LastEventID: ptr(last)}, accept(sse.ContentType))
	}
	return follow[Event](ctx, c, "follow events of "+taskID, open, "finished")
}

// ReceiptEvents follows a receipt's log (GET /v1/receipts/{receipt_id}/events) as Events does.
func (c *Client) ReceiptEvents(ctx context.Context, receiptID string, after int) iter.Seq2[*Event, error] {
	id, err := parseUUID("follow receipt events", receiptID)
	if err != nil {
		return failed[Event](err)
	}
	open := func(ctx context.Context, last string) (*http.Response, error) {
		return c.raw.GetReceiptEvents(ctx, id, &raw.GetReceiptEventsParams{After: ptr(after), LastEventID: ptr(last)}, accept(sse.ContentType))
	}
	return follow[Event](ctx, c, "follow events of receipt "+receiptID, open, "finished")
}

// InvokeStream submits an invocation and streams its events in xpander's names
// (POST /v1/agents/{agent_id}/invoke/stream) until task_finished. A dropped stream resumes on the
// task's event route with Last-Event-ID; the invocation itself is never sent twice.
func (c *Client) InvokeStream(ctx context.Context, agentID string, req InvokeRequest, o InvokeOptions) iter.Seq2[*StreamEvent, error] {
	var taskID string
	open := func(ctx context.Context, last string) (*http.Response, error) {
		if taskID == "" {
			// Until the invocation is accepted nothing is retried: a request whose answer was lost
			// may have created the task.
			resp, err := c.raw.InvokeAgentStream(ctx, agentID, &raw.InvokeAgentStreamParams{Version: ptr(o.Version), IdempotencyKey: ptr(o.IdempotencyKey)}, req, accept(sse.ContentType))
			if err != nil {
				return nil, &finalError{transportError(ctx, "stream invoke of "+agentID, err)}
			}
			if resp.StatusCode != http.StatusOK {
				defer resp.Body.Close()
				body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
				return nil, apiError("stream invoke of "+agentID, resp, body)
			}
			taskID = taskFromLocation(resp.Header.Get("Location"))
			return resp, nil
		}
		id, err := parseUUID("resume stream", taskID)
		if err != nil {
			return nil, &finalError{err}
		}
		names := raw.GetTaskEventsParamsNames("xpander")
		return c.raw.GetTaskEvents(ctx, id, &raw.GetTaskEventsParams{Names: &names, LastEventID: ptr(last)}, accept(sse.ContentType))
	}
	return follow[StreamEvent](ctx, c, "stream invoke of "+agentID, open, "task_finished")
}

// failed is a sequence of one error.
func failed[T any](err error) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) { yield(nil, err) }
}

// taskFromLocation reads the task id out of invoke/stream's Location (/v1/tasks/{id}/events).
func taskFromLocation(loc string) string {
	loc, _, _ = strings.Cut(loc, "?")
	_, rest, ok := strings.Cut(loc, "/v1/tasks/")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}

func accept(mediaType string) raw.RequestEditorFn {
	return func(_ context.Context, r *http.Request) error {
		r.Header.Set("Accept", mediaType)
		return nil
	}
}

// follow reads an event stream, reconnecting after every connection that ends before the final
// event with the last event id seen, and yields each event's data decoded as a T.
func follow[T any](ctx context.Context, c *Client, op string, open func(context.Context, string) (*http.Response, error), final string) iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		last, quiet := "", 0
		for {
			got, done, err := readStream(ctx, op, open, &last, final, yield)
			if done {
				return
			}
			if got {
				quiet = 0
			} else if quiet++; quiet > maxQuietResumes || !resumable(ctx, err) {
				if err == nil {
					err = errors.New("the stream keeps ending without events")
				}
				yield(nil, fmt.Errorf("%s: %w", op, err))
				return
			}
			if err := c.sleep(ctx, time.Duration(quiet)*500*time.Millisecond); err != nil {
				yield(nil, fmt.Errorf("%s: %w", op, err))
				return
			}
		}
	}
}

// resumable reports whether a connection's failure is worth another: the network or a temporary
// answer, not a refusal or the caller's context.
func resumable(ctx context.Context, err error) bool {
	if err == nil {
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary()
	}
	var u *UnreachableError
	return errors.As(err, &u) || errors.Is(err, io.ErrUnexpectedEOF)
}

// readStream reads one connection: got says it yielded an event, done that the sequence is over
// (the final event was yielded, the caller stopped, or an error was yielded).
func readStream[T any](ctx context.Context, op string, open func(context.Context, string) (*http.Response, error), last *string,
	final string, yield func(*T, error) bool) (got, done bool, err error) {
	resp, err := open(ctx, *last)
	if err != nil {
		var e *Error
		var f *finalError
		switch {
		case errors.As(err, &f):
			yield(nil, f.err)
			return false, true, f.err
		case errors.As(err, &e) || ctx.Err() != nil:
			yield(nil, err)
			return false, true, err
		}
		return false, false, transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		return false, false, apiError(op, resp, body)
	}
	r := sse.NewReader(resp.Body)
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return got, false, err
		}
		if ev.Name == "reconnect" || !after(ev.ID, *last) {
			continue // the connection's bound (resumed from last), or an event seen already
		}
		v := new(T)
		if err := json.Unmarshal([]byte(ev.Data), v); err != nil {
			yield(nil, fmt.Errorf("%s: event %s: %w", op, ev.ID, err))
			return got, true, nil
		}
		*last, got = ev.ID, true
		if !yield(v, nil) || ev.Name == final {
			return got, true, nil
		}
	}
}

// finalError is an error a follow must not retry.
type finalError struct{ err error }

func (f *finalError) Error() string { return f.err.Error() }

// after reports whether the event id comes after last: ids are sequence numbers.
func after(id, last string) bool {
	n, err := strconv.Atoi(id)
	if err != nil {
		return false
	}
	l, err := strconv.Atoi(last)
	return err != nil || n > l
}
