package dispatch_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/dispatch/a2atest"
	"github.com/agentq/agentq/shared/task"
)

// a2aPeer is an A2A agent built with an official SDK, as these tests drive it.
type a2aPeer interface {
	agent() agent.Agent
	// requests returns the JSON-RPC method and the HTTP headers of every request, in order.
	requests(t *testing.T) ([]string, []http.Header)
}

func (ag a2aAgent) requests(*testing.T) ([]string, []http.Header) { return ag.Requests() }

// pinnedPeer is a peer whose registry entry pins the A2A version.
type pinnedPeer struct {
	a2aPeer
	version string
}

func (p pinnedPeer) agent() agent.Agent {
	a := p.a2aPeer.agent()
	a.A2AVersion = p.version
	return a
}

// a2aPeers are the agents every A2A flow is checked against, and the version agentq must speak
// to each: the Go SDK's server in 1.0 and 0.3, found from the card, from no card, or pinned; and
// the JavaScript SDK's server in 1.0 (from its card) and 0.3 (pinned: its card offers both).
var a2aPeers = []struct {
	name    string
	version string
	start   func(t *testing.T, slowChecks int32) a2aPeer
}{
	{"go-sdk 1.0 card", agent.A2AVersion1, goPeer("")},
	{"go-sdk 0.3 card", agent.A2AVersion03, goPeer("", a2atest.Legacy())},
	{"go-sdk 0.3 no card", agent.A2AVersion03, goPeer("", a2atest.Legacy(), a2atest.NoCard())},
	{"go-sdk 1.0 pinned", agent.A2AVersion1, goPeer(agent.A2AVersion1, a2atest.NoCard())},
	{"js-sdk 1.0 card", agent.A2AVersion1, jsPeer("", false)},
	{"js-sdk 0.3 pinned", agent.A2AVersion03, jsPeer(agent.A2AVersion03, true)},
}

func goPeer(pin string, opts ...a2atest.Option) func(*testing.T, int32) a2aPeer {
	return func(t *testing.T, slowChecks int32) a2aPeer {
		var p a2aPeer = a2aAgent{a2atest.New(t, slowChecks, opts...)}
		if pin != "" {
			p = pinnedPeer{p, pin}
		}
		return p
	}
}

func jsPeer(pin string, legacy bool) func(*testing.T, int32) a2aPeer {
	return func(t *testing.T, slowChecks int32) a2aPeer {
		var p a2aPeer = startJSAgent(t, slowChecks, legacy)
		if pin != "" {
			p = pinnedPeer{p, pin}
		}
		return p
	}
}

// methodsOf are the JSON-RPC methods of each version, in the order send, get, cancel.
var methodsOf = map[string][]string{
	agent.A2AVersion1:  {"SendMessage", "GetTask", "CancelTask"},
	agent.A2AVersion03: {"message/send", "tasks/get", "tasks/cancel"},
}

// TestA2APeers runs every flow agentq has with an A2A agent against real SDK servers of either
// version: a message reply, a long-running task checked until it completes, a failure, a task
// that asks for input and is resumed, and a canceled task.
func TestA2APeers(t *testing.T) {
	for _, pc := range a2aPeers {
		t.Run(pc.name, func(t *testing.T) {
			const slowChecks = 2
			p := pc.start(t, slowChecks)
			a := p.agent()
			cl := dispatch.New(dispatch.HTTPClient(testGuard))
			ctx := testCtx(t)
			// checkUntilDone checks the agent's task until it is no longer pending.
			checkUntilDone := func(t *testing.T, remote string) (dispatch.Result, error, int) {
				t.Helper()
				pendings := 0
				for {
					res, err := cl.Check(ctx, a, remote, dispatch.Credentials{})
					if _, ok := errors.AsType[*dispatch.Pending](err); !ok || ctx.Err() != nil {
						return res, err, pendings
					}
					pendings++
					time.Sleep(10 * time.Millisecond)
				}
			}

			t.Run("message reply", func(t *testing.T) {
				res, err := cl.Call(ctx, a2aCall(a, "hello"))
				if err != nil || res.Text != "hi there" || res.Usage != (task.Usage{Tokens: task.Tokens{Prompt: 1, Completion: 2, Total: 3}}) {
					t.Fatalf("Call = %q %+v, %v; want the agent's message", res.Text, res.Usage, err)
				}
				// What agentq keeps is the message as the agent's version writes it.
				want := map[string]string{agent.A2AVersion1: `"role":"ROLE_AGENT"`, agent.A2AVersion03: `"kind":"message"`}[pc.version]
				if !strings.Contains(string(res.Output), want) {
					t.Errorf("Output = %s, want %s", res.Output, want)
				}
			})

			t.Run("long-running task", func(t *testing.T) {
				_, err := cl.Call(ctx, a2aCall(a, "slow"))
				pend := pending(t, err)
				res, err, pendings := checkUntilDone(t, pend.RemoteTaskID)
				if err != nil || res.Text != "slow result" || res.Usage.Total != 7 {
					t.Fatalf("Check = %q %+v, %v; want the task's artifact and usage", res.Text, res.Usage, err)
				}
				if pendings < 1 {
					t.Errorf("no check answered pending; the task should have been working after the first")
				}
			})

			t.Run("failure", func(t *testing.T) {
				_, err := cl.Call(ctx, a2aCall(a, "fail"))
				if de := wantError(t, err, task.ReasonAgentFailed, false); de.Message != "the agent's task ended failed: card declined" {
					t.Errorf("Message = %q", de.Message)
				}
			})

			t.Run("input required, then resumed", func(t *testing.T) {
				_, err := cl.Call(ctx, a2aCall(a, "ask"))
				ni, ok := errors.AsType[*dispatch.NeedsInput](err)
				if !ok {
					t.Fatalf("err = %v (%T), want *NeedsInput", err, err)
				}
				if ni.State != "input-required" || ni.Message != "which currency?" || ni.RemoteTaskID == "" {
					t.Fatalf("NeedsInput = %+v", ni)
				}
				var raw map[string]any
				if json.Unmarshal(ni.Raw, &raw) != nil || raw["id"] != ni.RemoteTaskID {
					t.Errorf("Raw = %s, want the agent's task", ni.Raw)
				}
				answer := a2aCall(a, "EUR")
				answer.TaskID = "next-turn"
				answer.ResumeTaskID = ni.RemoteTaskID
				// The Go SDK's server refuses (internal error) a message for the task while the
				// execution that asked is still winding down, just after it answered.
				res, err := cl.Call(ctx, answer)
				for err != nil && ctx.Err() == nil && strings.Contains(err.Error(), "internal error") {
					time.Sleep(10 * time.Millisecond)
					res, err = cl.Call(ctx, answer)
				}
				if _, ok := errors.AsType[*dispatch.Pending](err); ok {
					res, err, _ = checkUntilDone(t, ni.RemoteTaskID)
				}
				if err != nil || res.Text != "paid in EUR" {
					t.Fatalf("answer = %q, %v; want the resumed task completed", res.Text, err)
				}
			})

			t.Run("cancel", func(t *testing.T) {
				_, err := cl.Call(ctx, a2aCall(a, "hold"))
				pend := pending(t, err)
				if err := cl.Cancel(ctx, a, pend.RemoteTaskID, dispatch.Credentials{}); err != nil {
					t.Fatalf("Cancel: %v", err)
				}
				_, err, _ = checkUntilDone(t, pend.RemoteTaskID)
				if de := wantError(t, err, task.ReasonAgentFailed, false); de.Message != "the agent's task ended canceled" {
					t.Errorf("Check after Cancel: %q", de.Message)
				}
			})

			t.Run("speaks "+pc.version, func(t *testing.T) {
				methods, headers := p.requests(t)
				used := map[string]bool{}
				for i, m := range methods {
					used[m] = true
					if v := headers[i].Get("A2A-Version"); v != pc.version {
						t.Errorf("%s: A2A-Version = %q, want %q", m, v, pc.version)
					}
				}
				got, want := slices.Sorted(maps.Keys(used)), slices.Sorted(slices.Values(methodsOf[pc.version]))
				if !slices.Equal(got, want) {
					t.Errorf("methods used = %v, want %v", got, want)
				}
			})
		})
	}
}

// jsAgent is the JavaScript SDK's test agent (testdata/a2a-js/agent.mjs), running.
type jsAgent struct{ url string }

func (j *jsAgent) agent() agent.Agent {
	return agent.Agent{ID: "a2a-js", Version: "1", Protocol: agent.A2A, Endpoint: j.url, Auth: agent.AuthNone}
}

func (j *jsAgent) requests(t *testing.T) ([]string, []http.Header) {
	t.Helper()
	resp, err := http.Get(j.url + "_test/requests")
	if err != nil {
		t.Fatalf("asking the JavaScript agent what it received: %v", err)
	}
	defer resp.Body.Close()
	var seen struct {
		Methods []string            `json:"methods"`
		Headers []map[string]string `json:"headers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&seen); err != nil {
		t.Fatalf("reading what the JavaScript agent received: %v", err)
	}
	headers := make([]http.Header, len(seen.Headers))
	for i, h := range seen.Headers {
		headers[i] = http.Header{}
		for k, v := range h {
			headers[i].Set(k, v)
		}
	}
	return seen.Methods, headers
}

// startJSAgent starts the JavaScript SDK's agent on 127.0.0.1, on a port the system picks, after
// installing the SDK if it is not yet (testdata/a2a-js/install.sh). Without node on PATH the test
// is skipped. The agent exits when its standard input closes; the test's cleanup closes it and
// kills the process.
func startJSAgent(t *testing.T, slowChecks int32, legacy bool) *jsAgent {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not on PATH: the JavaScript SDK's A2A agent cannot run here (CI installs Node.js)")
	}
	dir := filepath.Join("testdata", "a2a-js")
	if out, err := exec.Command("bash", filepath.Join(dir, "install.sh")).CombinedOutput(); err != nil {
		t.Fatalf("installing the JavaScript A2A SDK: %v\n%s", err, out)
	}
	args := []string{"agent.mjs", "--slow-checks", strconv.Itoa(int(slowChecks))}
	if legacy {
		args = append(args, "--legacy")
	}
	cmd := exec.Command("node", args...)
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	// logged tells what the agent wrote to its standard error.
	logged := func() string {
		b, _ := os.ReadFile(stderr.Name())
		return string(b)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the JavaScript agent: %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = stderr.Close()
		if t.Failed() {
			t.Logf("JavaScript agent's stderr:\n%s", logged())
		}
	})
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var line string
	select {
	case line = <-first:
	case <-time.After(wait):
		t.Fatalf("the JavaScript agent did not start within %v; stderr:\n%s", wait, logged())
	}
	port, ok := strings.CutPrefix(line, "listening ")
	if _, err := strconv.Atoi(port); !ok || err != nil {
		t.Fatalf("the JavaScript agent said %q, want \"listening <port>\"; stderr:\n%s", line, logged())
	}
	return &jsAgent{url: fmt.Sprintf("http://127.0.0.1:%s/", port)}
}
