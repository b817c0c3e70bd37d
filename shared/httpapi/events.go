package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/sse"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tasklog"
)

// EventLog reads task logs, and appends the Finished event a log of an ended task lacks.
type EventLog interface {
	Read(ctx context.Context, taskID string, after int64, limit int) ([]tasklog.Event, error)
	Append(ctx context.Context, e tasklog.Entry) (tasklog.Event, error)
}

// Progress takes agents' reports and A2A pushes into their task's log.
type Progress interface {
	Report(ctx context.Context, id, token string, body []byte) (tasklog.Event, error)
	Push(ctx context.Context, id, token string, body []byte) ([]tasklog.Event, error)
}

var _ Progress = (*progress.Service)(nil)

// Stream bounds, defaults of Config.StreamFor and Config.Heartbeat.
const (
	// DefaultStreamFor is how long one stream connection stays open; the client then resumes.
	DefaultStreamFor = 5 * time.Minute
	// DefaultHeartbeat is how often an idle stream sends a comment, so proxies keep it open.
	DefaultHeartbeat = 15 * time.Second
	// pollMin and pollMax bound the wait between two reads of the log while a stream is idle.
	pollMin = 200 * time.Millisecond
	pollMax = 2 * time.Second
	// repairAfter is how long a task may have ended without its Finished event before a reader
	// appends it: the writer's own append is normally a few milliseconds behind.
	repairAfter = 3 * time.Second
	// reconnectMS is the reconnection delay the stream advises.
	reconnectMS = 1000
)

// eventNames says which names a stream gives its events: agentq's log types, or xpander's.
type eventNames int

const (
	namesAgentq eventNames = iota
	namesXpander
)

// getTaskEvents answers a task's log: Server-Sent Events, or JSON pages with Accept: application/json.
func (a *api) getTaskEvents(w http.ResponseWriter, r *http.Request, tenant string) error {
	return a.events(w, r, tenant, r.PathValue("task_id"))
}

// getReceiptEvents is the receipts dialect's name for the same log.
func (a *api) getReceiptEvents(w http.ResponseWriter, r *http.Request, tenant string) error {
	return a.events(w, r, tenant, r.PathValue("receipt_id"))
}

func (a *api) events(w http.ResponseWriter, r *http.Request, tenant, id string) error {
	p := newParams(r)
	after, names := streamParams(p, r)
	limit := p.whole("limit", tasklog.PageLimit, 1, tasklog.PageLimit)
	if err := p.err(); err != nil {
		return err
	}
	t, err := a.find(r.Context(), w, tenant, id, false)
	if err != nil {
		return err
	}
	if wantsJSON(r) {
		return a.eventPage(w, r, t, after, limit)
	}
	return a.stream(w, r, t, after, names)
}

// streamParams reads where to resume (Last-Event-ID, else ?after, else the start) and ?names.
func streamParams(p *params, r *http.Request) (after int64, names eventNames) {
	where, name, raw := "header", "Last-Event-ID", r.Header.Get("Last-Event-ID")
	if raw == "" {
		where, name = "query", "after"
		raw, _ = p.get("after")
	}
	if raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			p.add(where, name, "must be an event's sequence number, 0 or more", "range")
		}
		after = max(n, 0)
	}
	switch v, _ := p.get("names"); v {
	case "", "agentq":
	case "xpander":
		names = namesXpander
	default:
		p.add("query", "names", "must be agentq or xpander", "enum")
	}
	return after, names
}

// isStream reports whether r asks for an event stream: its connection lasts up to StreamFor.
func isStream(r *http.Request) bool {
	switch {
	case r.Method == http.MethodPost:
		return strings.HasSuffix(r.URL.Path, "/invoke/stream")
	case r.Method == http.MethodGet:
		return strings.HasSuffix(r.URL.Path, "/events") && !wantsJSON(r)
	}
	return false
}

func wantsJSON(r *http.Request) bool {
	acc := r.Header.Get("Accept")
	return strings.Contains(acc, "application/json") && !strings.Contains(acc, sse.ContentType)
}

// eventPage answers one page of the log: {items, next_after, finished}.
func (a *api) eventPage(w http.ResponseWriter, r *http.Request, t *task.Task, after int64, limit int) error {
	evs, done, err := a.readLog(r.Context(), t, after, limit)
	if err != nil {
		return err
	}
	next, finished := after, done
	if n := len(evs); n > 0 {
		next, finished = evs[n-1].Seq, evs[n-1].Type.Final()
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": evs, "next_after": next, "finished": finished})
	return nil
}

// readLog reads a page of t's log, its implied created event included. When it answers nothing new and t has ended long enough ago,
// it makes sure the log ends with its Finished event, appending it when the writer stopped
// between the task write and the append: every log of an ended task ends with Finished. done
// then says the reader has read it already (after is at or past it): nothing more will come.
func (a *api) readLog(ctx context.Context, t *task.Task, after int64, limit int) (evs []tasklog.Event, done bool, err error) {
	evs, err = tasklog.ReadTask(ctx, a.Events, t, after, limit)
	if err != nil || len(evs) > 0 || !t.State.Terminal() || a.Now().Sub(t.UpdatedAt) < repairAfter {
		return evs, false, err
	}
	e, _ := tasklog.Missing(t)
	_, err = a.Events.Append(ctx, e)
	if errors.Is(err, tasklog.ErrDuplicate) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	evs, err = tasklog.ReadTask(ctx, a.Events, t, after, limit)
	return evs, false, err
}

// stream sends t's log from after as Server-Sent Events until its Finished event, the client
// leaves, or the connection has been open for StreamFor; then it sends a reconnect event naming
// where to resume, and the client's EventSource resumes by itself with Last-Event-ID.
func (a *api) stream(w http.ResponseWriter, r *http.Request, t *task.Task, after int64, names eventNames) error {
	out, flush := openStream(w)
	ctx := r.Context()
	deadline := a.streamDeadline(ctx)
	beat := time.NewTicker(a.Heartbeat)
	defer beat.Stop()
	wait := pollMin
	for {
		evs, done, err := a.readLog(ctx, t, after, tasklog.PageLimit)
		if err != nil {
			a.Logger.Error("read task events", "task_id", t.ID, "err", err)
			return nil // the stream has begun: the client resumes from its last event
		}
		if done {
			return nil
		}
		for _, ev := range evs {
			if err := out.Event(a.sseEvent(ctx, t, ev, names)); err != nil {
				return nil
			}
			after = ev.Seq
			if ev.Type.Final() {
				_ = flush()
				return nil
			}
		}
		if err := flush(); err != nil {
			return nil
		}
		if len(evs) == tasklog.PageLimit {
			continue
		}
		if len(evs) > 0 {
			wait = pollMin
		} else {
			wait = min(2*wait, pollMax)
			if nt, err := a.Reader.Get(ctx, t.ID); err == nil {
				t = nt
			}
		}
		if !time.Now().Before(deadline) {
			data, _ := json.Marshal(map[string]any{"after": after, "resume": r.URL.Path + "?after=" + strconv.FormatInt(after, 10)})
			_ = out.Event(sse.Event{Name: "reconnect", Data: string(data)})
			_ = flush()
			return nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-beat.C:
			timer.Stop()
			if out.Comment("keep-alive") != nil || flush() != nil {
				return nil
			}
		case <-timer.C:
		}
	}
}

// openStream answers 200 with an event stream's headers and its reconnection delay, and returns
// the stream and its flush. A writer that cannot flush writes through at once (Lambda's response
// stream): that is no reason to end the stream.
func openStream(w http.ResponseWriter) (*sse.Writer, func() error) {
	rc := http.NewResponseController(w)
	flush := func() error {
		if err := rc.Flush(); !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}
	h := w.Header()
	h.Set("Content-Type", sse.ContentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := sse.NewWriter(w)
	_ = out.Retry(reconnectMS)
	_ = flush()
	return out, flush
}

// streamDeadline bounds a connection by the wall clock (Now is the tasks' time), ending it before
// the request's own deadline, so the client hears where to resume rather than a cut.
func (a *api) streamDeadline(ctx context.Context) time.Time {
	deadline := time.Now().Add(a.StreamFor)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-a.Budget.Answer).Before(deadline) {
		deadline = dl.Add(-a.Budget.Answer)
	}
	return deadline
}

// sseEvent frames a log event: its sequence number as the id, its type (or xpander's name for it)
// as the event name, and the event as JSON as the data.
func (a *api) sseEvent(ctx context.Context, t *task.Task, ev tasklog.Event, names eventNames) sse.Event {
	id := strconv.FormatInt(ev.Seq, 10)
	if names == namesAgentq {
		b, _ := json.Marshal(ev)
		return sse.Event{ID: id, Name: string(ev.Type), Data: string(b)}
	}
	name, data := xpanderEvent(ev)
	if ev.Type == tasklog.Created || ev.Type.Final() {
		// xpander's task_created and task_finished carry the task as its API shows it.
		if cur, err := a.Reader.Get(ctx, t.ID); err == nil {
			t = cur
		}
		if ev.Type == tasklog.Created {
			// The task as it was created, not as it is now.
			c := *t
			c.State, c.Result, c.Output = task.Queued, "", nil
			t = &c
		}
		data, _ = json.Marshal(dialect.Xpander(t))
	}
	b, _ := json.Marshal(map[string]any{
		"type": name, "task_id": t.ID, "organization_id": t.Tenant, "time": ev.At, "seq": ev.Seq, "data": data,
	})
	return sse.Event{ID: id, Name: name, Data: string(b)}
}

// XpanderName maps a log event type to xpander's stream event name.
func XpanderName(t tasklog.Type) string {
	switch t {
	case tasklog.Created:
		return "task_created"
	case tasklog.Finished:
		return "task_finished"
	case tasklog.Chunk:
		return "chunk"
	case tasklog.ToolCallRequest, tasklog.ToolCallResult:
		return string(t)
	}
	return "task_updated"
}

// xpanderEvent answers an event's xpander name and data: a chunk's data is its text, as
// xpander's; task_updated carries agentq's event (type and data) so nothing is lost.
func xpanderEvent(ev tasklog.Event) (string, json.RawMessage) {
	name := XpanderName(ev.Type)
	switch name {
	case "chunk":
		var c struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(ev.Data, &c)
		b, _ := json.Marshal(c.Text)
		return name, b
	case "task_updated":
		b, _ := json.Marshal(map[string]any{"event": ev.Type, "data": ev.Data})
		return name, b
	}
	return name, ev.Data
}

// invokeStream is xpander's invoke/stream: it submits like invoke/async, then streams the task's
// events under xpander's names until it finishes. A client that loses the connection resumes
// with GET /v1/tasks/{task_id}/events?names=xpander and Last-Event-ID.
func (a *api) invokeStream(w http.ResponseWriter, r *http.Request, tenant string) error {
	p := newParams(r)
	t, err := a.submit(w, r, p, tenant, dialect.DecodeXpander)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/tasks/"+t.ID+"/events?names=xpander")
	return a.stream(w, r, t, 0, namesXpander)
}

// postProgress takes a report of the agent working on a task (progress_url), authenticated by
// the task's token as Authorization: Bearer.
func (a *api) postProgress(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	ev, err := a.Progress.Report(r.Context(), r.PathValue("task_id"), token, body)
	if err != nil {
		return progressError(err)
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"seq": ev.Seq})
	return nil
}

// postPush takes an A2A 1.0 push notification for a task, authenticated by the task's token in
// A2A-Notification-Token (X-A2A-Notification-Token from 0.3 senders).
func (a *api) postPush(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	token := r.Header.Get("A2A-Notification-Token")
	if token == "" {
		token = r.Header.Get("X-A2A-Notification-Token")
	}
	evs, err := a.Progress.Push(r.Context(), r.PathValue("task_id"), token, body)
	if err != nil {
		return progressError(err)
	}
	seqs := make([]int64, len(evs))
	for i, ev := range evs {
		seqs[i] = ev.Seq
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"seqs": seqs})
	return nil
}

// progressError answers the refusals of the progress routes.
func progressError(err error) error {
	var ie *progress.InvalidError
	switch {
	case errors.As(err, &ie):
		return &apiError{http.StatusUnprocessableEntity, "invalid_progress_report", ie.Message}
	case errors.Is(err, progress.ErrToken):
		return &apiError{http.StatusUnauthorized, "invalid_progress_token", "the token does not open this task's log"}
	case errors.Is(err, progress.ErrEnded), errors.Is(err, tasklog.ErrEnded):
		// The task ended between the token's check and the append, which the log refused.
		return &apiError{http.StatusConflict, "task_ended", "the task has ended; its log takes no more reports"}
	case errors.Is(err, progress.ErrRemoteTask):
		return &apiError{http.StatusForbidden, "remote_task_mismatch", "the push is about another task than the one this task runs"}
	case errors.Is(err, tasklog.ErrDuplicate):
		return &apiError{http.StatusConflict, "duplicate_report", "this report is in the log already"}
	case errors.Is(err, tasklog.ErrRateLimited):
		return &apiError{http.StatusTooManyRequests, "rate_limited", "too many events for this task; slow down"}
	case errors.Is(err, tasklog.ErrFull):
		return &apiError{http.StatusTooManyRequests, "event_log_full", "the task's event log is full"}
	}
	return err
}
