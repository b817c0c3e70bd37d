package client_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/agentq/agentq/client"
)

// cutter is a transport that ends the first event stream it carries right after its first event,
// as a dropped connection would, and records the Last-Event-ID of every stream request.
type cutter struct {
	mu      sync.Mutex
	cut     bool
	resumes []string
}

func (c *cutter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := routes.RoundTrip(r)
	if err != nil || !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		return resp, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resumes = append(c.resumes, r.Header.Get("Last-Event-ID"))
	if c.cut {
		return resp, nil
	}
	c.cut = true
	var first bytes.Buffer
	buf := make([]byte, 1)
	for !bytes.HasSuffix(first.Bytes(), []byte("\n\n")) || !bytes.Contains(first.Bytes(), []byte("data:")) {
		if _, err := resp.Body.Read(buf); err != nil {
			break
		}
		first.Write(buf)
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(&first)
	return resp, nil
}

func TestEventsResumeAfterADroppedConnection(t *testing.T) {
	ctx := testCtx(t)
	cut := &cutter{}
	c := newClient(t, apiKey, client.WithHTTPClient(&http.Client{Transport: cut}))
	task, err := c.Invoke(ctx, "echo", echo("events", map[string]any{"delay_ms": 200}), client.InvokeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for ev, err := range c.Events(ctx, task.TaskId.String(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Seq != len(types)+1 {
			t.Fatalf("event %d has seq %d: want every event once, in order", len(types)+1, ev.Seq)
		}
		types = append(types, string(ev.Type))
	}
	if types[0] != "created" || types[len(types)-1] != "finished" {
		t.Fatalf("events %v: want created first, finished last", types)
	}
	if len(cut.resumes) < 2 || cut.resumes[0] != "" || cut.resumes[1] != "1" {
		t.Fatalf("stream requests carried Last-Event-ID %q: want none, then 1 after the drop", cut.resumes)
	}

	page, err := c.EventPage(ctx, task.TaskId.String(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if !page.Finished || len(page.Items) != len(types)-1 || page.Items[0].Seq != 2 {
		t.Fatalf("page after 1 = %+v, want the %d later events", page, len(types)-1)
	}
}

func TestInvokeStreamAndReceiptEvents(t *testing.T) {
	ctx := testCtx(t)
	c := newClient(t, apiKey)
	var names []string
	var result any
	for ev, err := range c.InvokeStream(ctx, "echo", echo("streamed", nil), client.InvokeOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, string(ev.Type))
		if ev.Type == "task_finished" {
			result = ev.Data.(map[string]any)["result"]
		}
	}
	if names[0] != "task_created" || names[len(names)-1] != "task_finished" || result != "streamed" {
		t.Fatalf("stream %v ended with result %v", names, result)
	}
	for _, err := range c.InvokeStream(ctx, "no-such-agent", echo("x", nil), client.InvokeOptions{}) {
		if client.ErrorCode(err) != "agent_not_found" {
			t.Fatalf("streaming an unknown agent = %v, want agent_not_found", err)
		}
	}

	acc, err := c.InvokeServiceNet(ctx, "echo", client.ServiceNetRequest{Message: p("receipt events")}, client.InvokeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var last *client.Event
	for ev, err := range c.ReceiptEvents(ctx, acc.ReceiptId.String(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		last = ev
	}
	if last == nil || last.Type != "finished" {
		t.Fatalf("the receipt's log ended with %+v", last)
	}
	for _, err := range c.Events(ctx, "not-an-id", 0) {
		if err == nil || client.ErrorCode(err) != "" {
			t.Fatalf("a malformed id = %v, want a local error", err)
		}
	}
}
