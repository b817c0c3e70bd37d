package dispatch_test

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/dispatch/a2atest"
	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/tasklog"
)

// listener collects the events a streaming call hands over.
type listener struct {
	mu  sync.Mutex
	evs []progress.Report
}

func (l *listener) on(e progress.Report) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, e)
}

func (l *listener) texts() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.evs {
		var d map[string]any
		_ = json.Unmarshal(e.Data, &d)
		s, _ := d["message"].(string)
		if e.Type == tasklog.Artifact {
			s, _ = d["text"].(string)
		}
		out = append(out, string(e.Type)+":"+s)
	}
	return strings.Join(out, " ")
}

func TestProgressTargets(t *testing.T) {
	keys := progress.NewKeys([]byte("0123456789abcdef0123456789abcdef"))
	target := dispatch.ProgressTargets(keys, "https://s.example/")("acme", "t1")
	if target.URL != "https://s.example/v1/tasks/t1/progress" || target.PushURL != "https://s.example/v1/tasks/t1/push" || target.Token != keys.Token("acme", "t1") {
		t.Errorf("targets %+v", target)
	}
}

// TestA2AStreamingCall: an agent whose card declares streaming is called with
// SendStreamingMessage when the caller listens; its updates reach the listener as they come and
// its answer is the call's result.
func TestA2AStreamingCall(t *testing.T) {
	ag := a2atest.New(t, 1, a2atest.Streams())
	var l listener
	c := a2aCall(a2aAgent{ag}.agent(), "stream please")
	c.OnEvent = l.on
	res, err := dispatch.New(dispatch.HTTPClient(testGuard), dispatch.WithA2AWait(wait)).Call(testCtx(t), c)
	if err != nil || res.Text != "stream result" {
		t.Fatalf("Call = %q, %v", res.Text, err)
	}
	if got := l.texts(); !strings.Contains(got, "status:step 1 status:step 2 artifact:draft") {
		t.Fatalf("events %q", got)
	}
	if n := ag.Count("SendStreamingMessage"); n != 1 || ag.Count("SendMessage") != 0 {
		t.Fatalf("methods: %d streaming, %d plain", n, ag.Count("SendMessage"))
	}

	// Without a listener, or to an agent that does not stream, the call is a plain SendMessage.
	plain := a2atest.New(t, 1)
	c = a2aCall(a2aAgent{plain}.agent(), "stream please")
	c.OnEvent = l.on
	if res, err := dispatch.New(dispatch.HTTPClient(testGuard), dispatch.WithA2AWait(wait)).Call(testCtx(t), c); err != nil || res.Text != "stream result" {
		t.Fatalf("plain Call = %q, %v", res.Text, err)
	}
	if plain.Count("SendStreamingMessage") != 0 {
		t.Fatal("streamed to an agent whose card does not say it streams")
	}
}

// TestA2AStreamingCallOutlivesTheWait: the stream is read for the wait only; the agent's task
// goes on (pending), and is checked later as any.
func TestA2AStreamingCallOutlivesTheWait(t *testing.T) {
	ag := a2atest.New(t, 1, a2atest.Streams())
	var l listener
	c := a2aCall(a2aAgent{ag}.agent(), "progress please")
	c.OnEvent = l.on
	cl := dispatch.New(dispatch.HTTPClient(testGuard), dispatch.WithA2AWait(300*time.Millisecond))
	_, err := cl.Call(testCtx(t), c)
	p := pending(t, err)
	ag.Proceed()
	deadline := time.Now().Add(wait)
	for {
		res, err := cl.Check(testCtx(t), c.Agent, p.RemoteTaskID, dispatch.Credentials{})
		if err == nil {
			if res.Text != "progress result" {
				t.Fatalf("checked result %q", res.Text)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := l.texts(); !strings.HasPrefix(got, "status:on it") {
		t.Fatalf("events %q", got)
	}
}
