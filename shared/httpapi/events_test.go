package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/a2apush"
	"github.com/agentq/agentq/shared/deadline"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/sse"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tasklog"
	"github.com/agentq/agentq/shared/tasklog/tasklogtest"
)

// streamHarness serves the API, stream routes included, on 127.0.0.1.
type streamHarness struct {
	srv  *httptest.Server
	read *fakeReader
	log  *tasklogtest.Log
	keys *progress.Keys
}

func newStreamHarness(t *testing.T, streamFor time.Duration, ts ...*task.Task) *streamHarness {
	t.Helper()
	for _, tk := range ts {
		tk.ExpiresAt = time.Now().Add(time.Hour) // the stream runs on the clock
	}
	h := &streamHarness{read: newFakeReader(ts...), log: tasklogtest.New(), keys: progress.NewKeys([]byte("0123456789abcdef0123456789abcdef"))}
	h.srv = httptest.NewServer(httpapi.New(httpapi.Config{
		Submitter: &fakeSubmitter{}, Reader: h.read, Keys: keys, Events: h.log,
		Progress: progress.New(h.read, h.log, h.keys, a2apush.Decode), StreamFor: streamFor, Heartbeat: 20 * time.Millisecond,
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// add appends an event of type typ to task id's log.
func (h *streamHarness) add(t *testing.T, id string, typ tasklog.Type, data string) {
	t.Helper()
	e := tasklog.Entry{TaskID: id, Tenant: "org-1", Type: typ, Data: json.RawMessage(data)}
	if _, err := h.log.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

func (h *streamHarness) request(t *testing.T, ctx context.Context, method, path, body string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// readStream reads events until the stream ends.
func readStream(t *testing.T, body io.Reader) []sse.Event {
	t.Helper()
	var out []sse.Event
	r := sse.NewReader(body)
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
}

func ids(evs []sse.Event) []int64 {
	var out []int64
	for _, ev := range evs {
		n, _ := strconv.ParseInt(ev.ID, 10, 64)
		out = append(out, n)
	}
	return out
}

func wantIDs(t *testing.T, got []int64, from, to int64) {
	t.Helper()
	if int64(len(got)) != to-from+1 {
		t.Fatalf("ids %v, want %d..%d", got, from, to)
	}
	for i, id := range got {
		if id != from+int64(i) {
			t.Fatalf("ids %v, want %d..%d", got, from, to)
		}
	}
}

// ended fills task taskID's log with n events, the last one Finished: the first, created, is
// implied by the task.
func ended(t *testing.T, h *streamHarness, n int) {
	for i := 2; i < n; i++ {
		h.add(t, taskID, tasklog.Chunk, fmt.Sprintf(`{"text":"part %d"}`, i))
	}
	h.add(t, taskID, tasklog.Finished, `{"state":"succeeded","result":"hi back"}`)
}

// TestStreamResumesFromEveryPosition: from each position, by ?after and by Last-Event-ID, the
// stream sends exactly the events after it, in order, framed with their sequence as id and their
// type as name, and ends after the Finished event.
func TestStreamResumesFromEveryPosition(t *testing.T) {
	const n = 9
	h := newStreamHarness(t, time.Minute, storedTask(task.Succeeded))
	ended(t, h, n)
	for after := range int64(n + 1) {
		for _, how := range []string{"after", "last-event-id"} {
			path, hdr := "/v1/tasks/"+taskID+"/events", authed()
			if how == "after" {
				path += "?after=" + strconv.FormatInt(after, 10)
			} else {
				hdr = append(hdr, "Last-Event-ID", strconv.FormatInt(after, 10))
			}
			resp := h.request(t, context.Background(), http.MethodGet, path, "", hdr...)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != sse.ContentType {
				t.Fatalf("%s %d: %d %s", how, after, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			evs := readStream(t, resp.Body)
			if after == n {
				if len(evs) != 0 {
					t.Fatalf("after the last event: %v", evs)
				}
				continue
			}
			wantIDs(t, ids(evs), after+1, n)
			last := evs[len(evs)-1]
			var body tasklog.Event
			if err := json.Unmarshal([]byte(last.Data), &body); err != nil || last.Name != "finished" || body.Type != tasklog.Finished || body.Seq != n {
				t.Fatalf("last event %+v (%v)", last, err)
			}
		}
	}
}

// TestStreamDisconnectAndResume: a client drops the connection in the middle of a running task's
// stream and resumes with Last-Event-ID; together the two connections see every event once.
func TestStreamDisconnectAndResume(t *testing.T) {
	h := newStreamHarness(t, time.Minute, storedTask(task.Running))
	const total = 40
	written := make(chan struct{})
	go func() {
		defer close(written)
		for i := 2; i < total; i++ {
			h.add(t, taskID, tasklog.Chunk, fmt.Sprintf(`{"text":"%d"}`, i))
			time.Sleep(time.Millisecond)
		}
		h.read.set(taskID, func(tk *task.Task) { tk.State = task.Succeeded })
		h.add(t, taskID, tasklog.Finished, `{"state":"succeeded"}`)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	resp := h.request(t, ctx, http.MethodGet, "/v1/tasks/"+taskID+"/events", "", authed()...)
	r := sse.NewReader(resp.Body)
	var seen []int64
	for len(seen) < 7 {
		ev, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ids([]sse.Event{ev})...)
	}
	cancel() // the client goes away mid-stream
	resp.Body.Close()
	resp = h.request(t, context.Background(), http.MethodGet, "/v1/tasks/"+taskID+"/events", "", authed("Last-Event-ID", r.LastID())...)
	seen = append(seen, ids(readStream(t, resp.Body))...)
	<-written
	wantIDs(t, seen, 1, total)
}

// TestStreamHeartbeatsAndReconnect: an idle stream sends keep-alive comments, and at its bound
// tells the client where to resume and ends.
func TestStreamHeartbeatsAndReconnect(t *testing.T) {
	h := newStreamHarness(t, 300*time.Millisecond, storedTask(task.Running))
	h.add(t, taskID, tasklog.Attempt, `{"attempt":1}`)
	resp := h.request(t, context.Background(), http.MethodGet, "/v1/tasks/"+taskID+"/events?after=1", "", authed()...)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	if !strings.Contains(s, ": keep-alive\n") || !strings.Contains(s, "retry: ") {
		t.Errorf("no heartbeat or retry advice in %q", s)
	}
	evs := readStream(t, strings.NewReader(s))
	if len(evs) != 2 || evs[0].ID != "2" || evs[1].Name != "reconnect" {
		t.Fatalf("events %+v, want event 2 then reconnect", evs)
	}
	var rc struct {
		After  int64  `json:"after"`
		Resume string `json:"resume"`
	}
	if err := json.Unmarshal([]byte(evs[1].Data), &rc); err != nil || rc.After != 2 || rc.Resume != "/v1/tasks/"+taskID+"/events?after=2" {
		t.Fatalf("reconnect %q (%v)", evs[1].Data, err)
	}
}

// TestEventPages: Accept: application/json answers pages of the log.
func TestEventPages(t *testing.T) {
	h := newStreamHarness(t, time.Minute, storedTask(task.Succeeded))
	ended(t, h, 7)
	var after int64
	var got []int64
	for range 10 {
		resp := h.request(t, context.Background(), http.MethodGet, fmt.Sprintf("/v1/tasks/%s/events?after=%d&limit=3", taskID, after), "", authed("Accept", "application/json")...)
		var page struct {
			Items     []tasklog.Event `json:"items"`
			NextAfter int64           `json:"next_after"`
			Finished  bool            `json:"finished"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %v", resp.StatusCode, err)
		}
		for _, ev := range page.Items {
			got = append(got, ev.Seq)
		}
		after = page.NextAfter
		if page.Finished {
			break
		}
	}
	wantIDs(t, got, 1, 7)
}

// TestStreamMendsAMissingFinished: a task that ended long enough ago without its Finished event
// (its writer stopped between the two writes) gets one, and the stream ends with it.
func TestStreamMendsAMissingFinished(t *testing.T) {
	tk := storedTask(task.Failed)
	tk.Reason, tk.ReasonMessage, tk.UpdatedAt = task.ReasonAgentFailed, "boom", time.Now().Add(-time.Minute)
	h := newStreamHarness(t, time.Minute, tk)
	evs := readStream(t, h.request(t, context.Background(), http.MethodGet, "/v1/tasks/"+taskID+"/events", "", authed()...).Body)
	if len(evs) != 2 || evs[1].Name != "finished" || !strings.Contains(evs[1].Data, `"agent_failed"`) {
		t.Fatalf("events %+v", evs)
	}
}

// TestStreamImpliesTheFirstAttempt: a stream opened on a queued task goes on while a worker
// claims it and it ends: the first attempt, which no writer stores, comes as id 2 from the
// task's record, between created and the stored finished (id 3), even though the stream read the
// log with the record it had before the claim.
func TestStreamImpliesTheFirstAttempt(t *testing.T) {
	h := newStreamHarness(t, time.Minute, storedTask(task.Queued))
	resp := h.request(t, context.Background(), http.MethodGet, "/v1/tasks/"+taskID+"/events", "", authed()...)
	r := sse.NewReader(resp.Body)
	first, err := r.Next()
	if err != nil || first.Name != "created" {
		t.Fatalf("first event %+v, %v", first, err)
	}
	claimedAt := now.Add(time.Second)
	h.read.set(taskID, func(tk *task.Task) {
		tk.State, tk.Attempts, tk.StartedAt, tk.UpdatedAt = task.Succeeded, 1, claimedAt, claimedAt
	})
	e := tasklog.Entry{TaskID: taskID, Tenant: "org-1", Type: tasklog.Finished, Data: json.RawMessage(`{"state":"succeeded"}`), Claimed: true}
	if _, err := h.log.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	rest := readStream(t, resp.Body)
	wantIDs(t, ids(append([]sse.Event{first}, rest...)), 1, 3)
	var attempt tasklog.Event
	if err := json.Unmarshal([]byte(rest[0].Data), &attempt); err != nil || rest[0].Name != "attempt" || !attempt.At.Equal(claimedAt) {
		t.Fatalf("event 2 %+v (%v), want the attempt at the claim's time", rest[0], err)
	}
}

// TestEventsTenantIsolation: another tenant's key finds no log, whichever route it asks.
func TestEventsTenantIsolation(t *testing.T) {
	h := newStreamHarness(t, time.Minute, storedTask(task.Succeeded))
	ended(t, h, 3)
	for _, path := range []string{"/v1/tasks/" + taskID + "/events", "/v1/receipts/" + taskID + "/events"} {
		resp := h.request(t, context.Background(), http.MethodGet, path, "", "X-Api-Key", otherKey)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(string(body), "part") {
			t.Errorf("%s with another tenant's key: %d %s", path, resp.StatusCode, body)
		}
		resp = h.request(t, context.Background(), http.MethodGet, path, "")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without a key: %d", path, resp.StatusCode)
		}
	}
}

func TestEventsBadResumePoint(t *testing.T) {
	h := newStreamHarness(t, time.Minute, storedTask(task.Succeeded))
	for _, q := range []string{"?after=-1", "?after=x", "?names=openai"} {
		resp := h.request(t, context.Background(), http.MethodGet, "/v1/tasks/"+taskID+"/events"+q, "", authed()...)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d", q, resp.StatusCode)
		}
	}
}

// TestInvokeStream: xpander's invoke/stream creates the task and streams its log under xpander's
// event names, {type, task_id, organization_id, time, data}, until task_finished.
func TestInvokeStream(t *testing.T) {
	h := newStreamHarness(t, time.Minute, storedTask(task.Succeeded))
	h.add(t, taskID, tasklog.Attempt, `{"state":"running","attempt":1}`)
	h.add(t, taskID, tasklog.Chunk, `{"text":"hi "}`)
	h.add(t, taskID, tasklog.ToolCallRequest, `{"tool_name":"search","payload":{"q":"x"}}`)
	h.add(t, taskID, tasklog.Finished, `{"state":"succeeded","result":"hi back"}`)
	resp := h.request(t, context.Background(), http.MethodPost, "/v1/agents/echo/invoke/stream", xpanderBody, authed()...)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Location") != "/v1/tasks/"+taskID+"/events?names=xpander" {
		t.Fatalf("%d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	evs := readStream(t, resp.Body)
	want := []string{"task_created", "task_updated", "chunk", "tool_call_request", "task_finished"}
	if len(evs) != len(want) {
		t.Fatalf("events %+v", evs)
	}
	for i, ev := range evs {
		var body map[string]any
		if err := json.Unmarshal([]byte(ev.Data), &body); err != nil {
			t.Fatal(err)
		}
		if ev.Name != want[i] || body["type"] != want[i] || body["task_id"] != taskID || body["organization_id"] != "org-1" || ev.ID != strconv.Itoa(i+1) {
			t.Errorf("event %d: %s %s", i, ev.Name, ev.Data)
		}
		switch want[i] {
		case "chunk":
			if body["data"] != "hi " {
				t.Errorf("chunk data %v, want the text", body["data"])
			}
		case "task_finished":
			if d, _ := body["data"].(map[string]any); d["result"] != "hi back" || d["status"] != "completed" {
				t.Errorf("task_finished data %v, want the task as xpander shows it", body["data"])
			}
		}
	}
}

// plainWriter is a ResponseWriter that cannot flush, as Lambda's response stream (lambdaurl)
// writes through at once.
type plainWriter struct {
	mu   sync.Mutex
	h    http.Header
	body strings.Builder
}

func (p *plainWriter) Header() http.Header { return p.h }
func (p *plainWriter) WriteHeader(int)     {}
func (p *plainWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.body.Write(b)
}

// TestStreamWithoutFlusher: a writer that cannot flush still gets the whole stream, events
// written after the stream began included.
func TestStreamWithoutFlusher(t *testing.T) {
	h := newStreamHarness(t, time.Minute, storedTask(task.Running))
	handler := httpapi.New(httpapi.Config{Reader: h.read, Keys: keys, Events: h.log, Routes: httpapi.StreamRoutes})
	req, _ := http.NewRequest(http.MethodGet, "/v1/tasks/"+taskID+"/events", nil)
	req.Header.Set("X-Api-Key", apiKey)
	w := &plainWriter{h: http.Header{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		handler.ServeHTTP(w, req)
	}()
	time.Sleep(50 * time.Millisecond) // the stream has sent event 1 and waits for more
	h.add(t, taskID, tasklog.Chunk, `{"text":"x"}`)
	h.read.set(taskID, func(tk *task.Task) { tk.State = task.Succeeded })
	h.add(t, taskID, tasklog.Finished, `{"state":"succeeded"}`)
	<-done
	w.mu.Lock()
	defer w.mu.Unlock()
	wantIDs(t, ids(readStream(t, strings.NewReader(w.body.String()))), 1, 3)
}

// TestStreamOutlivesTheRequestBudget: a stream lasts its own bound, not the request budget of an
// ordinary request, and still ends with where to resume.
func TestStreamOutlivesTheRequestBudget(t *testing.T) {
	h := newStreamHarness(t, time.Minute, storedTask(task.Running))
	budget := deadline.Default()
	budget.Request, budget.Answer = 100*time.Millisecond, 10*time.Millisecond
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Reader: h.read, Keys: keys, Events: h.log, Routes: httpapi.StreamRoutes,
		StreamFor: 600 * time.Millisecond, Heartbeat: 50 * time.Millisecond, Budget: budget}))
	defer srv.Close()
	go func() {
		time.Sleep(300 * time.Millisecond) // well past the request budget
		h.add(t, taskID, tasklog.Chunk, `{"text":"late"}`)
	}()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/tasks/"+taskID+"/events", nil)
	req.Header.Set("X-Api-Key", apiKey)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	evs := readStream(t, resp.Body)
	if len(evs) != 3 || evs[1].ID != "2" || evs[2].Name != "reconnect" {
		t.Fatalf("events %+v, want 1, 2 and reconnect", evs)
	}
}

// mustToken answers the token of the task id of tenant under k.
func mustToken(t testing.TB, k *progress.Keys, tenant, id string) string {
	t.Helper()
	tok, err := k.Token(context.Background(), tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
