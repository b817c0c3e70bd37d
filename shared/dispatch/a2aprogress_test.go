package dispatch_test

import (
	"context"
	"encoding/json"
	"fmt"
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
	target, err := dispatch.ProgressTargets(keys, "https://s.example/")(context.Background(), "acme", "t1")
	if err != nil {
		t.Fatal(err)
	}
	if target.URL != "https://s.example/v1/tasks/t1/progress" || target.PushURL != "https://s.example/v1/tasks/t1/push" || target.Token != mustToken(t, keys, "acme", "t1") {
		t.Errorf("targets %+v", target)
	}
}

// a2aVersions are the A2A versions agentq speaks: the methods it sends in each, and the test
// agent's options for it.
var a2aVersions = []struct {
	name              string
	send, stream, get string
	opts              []a2atest.Option
}{
	{"1.0", "SendMessage", "SendStreamingMessage", "GetTask", nil},
	{"0.3", "message/send", "message/stream", "tasks/get", []a2atest.Option{a2atest.Legacy()}},
}

// TestA2AStreamingCall: an agent whose card declares streaming is called with
// SendStreamingMessage (message/stream in 0.3) when the caller listens; its updates reach the
// listener as they come and its answer is the call's result.
func TestA2AStreamingCall(t *testing.T) {
	for _, v := range a2aVersions {
		t.Run(v.name, func(t *testing.T) {
			ag := a2atest.New(t, 1, append([]a2atest.Option{a2atest.Streams()}, v.opts...)...)
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
			if n := ag.Count(v.stream); n != 1 || ag.Count(v.send) != 0 {
				t.Fatalf("methods: %d streaming, %d plain", n, ag.Count(v.send))
			}

			// Without a listener, or to an agent that does not stream, the call is a plain send.
			plain := a2atest.New(t, 1, v.opts...)
			c = a2aCall(a2aAgent{plain}.agent(), "stream please")
			c.OnEvent = l.on
			if res, err := dispatch.New(dispatch.HTTPClient(testGuard), dispatch.WithA2AWait(wait)).Call(testCtx(t), c); err != nil || res.Text != "stream result" {
				t.Fatalf("plain Call = %q, %v", res.Text, err)
			}
			if plain.Count(v.stream) != 0 {
				t.Fatal("streamed to an agent whose card does not say it streams")
			}
		})
	}
}

// TestA2APushConfiguration: an agent whose card declares push notifications is asked to push to
// the call's push route with the task's token, in the shape of the version it speaks (1.0
// configuration.taskPushNotificationConfig, 0.3 configuration.pushNotificationConfig); an agent
// that does not push is asked nothing.
func TestA2APushConfiguration(t *testing.T) {
	for _, v := range a2aVersions {
		for _, pushes := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s push=%v", v.name, pushes), func(t *testing.T) {
				opts := v.opts
				if pushes {
					opts = append([]a2atest.Option{a2atest.Pushes()}, opts...)
				}
				ag := a2atest.New(t, 1, opts...)
				c := a2aCall(a2aAgent{ag}.agent(), "hello")
				c.Progress = &dispatch.Progress{PushURL: "https://aq.example/v1/tasks/t1/push", Token: "aqp_secret"}
				if _, err := dispatch.New(dispatch.HTTPClient(testGuard)).Call(testCtx(t), c); err != nil {
					t.Fatal(err)
				}
				bodies := ag.Bodies()
				var req struct {
					Method string `json:"method"`
					Params struct {
						Configuration map[string]json.RawMessage `json:"configuration"`
					} `json:"params"`
				}
				if len(bodies) != 1 || json.Unmarshal(bodies[0], &req) != nil || req.Method != v.send {
					t.Fatalf("requests %q", bodies)
				}
				field := map[string]string{"1.0": "taskPushNotificationConfig", "0.3": "pushNotificationConfig"}[v.name]
				var cfg struct{ URL, Token string }
				raw, asked := req.Params.Configuration[field]
				if asked != pushes || (pushes && (json.Unmarshal(raw, &cfg) != nil || cfg.URL != c.Progress.PushURL || cfg.Token != "aqp_secret")) {
					t.Fatalf("configuration %s", bodies[0])
				}
			})
		}
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

// mustToken answers the token of the task id of tenant under k.
func mustToken(t testing.TB, k *progress.Keys, tenant, id string) string {
	t.Helper()
	tok, err := k.Token(context.Background(), tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
