package system

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/local/demoagent"
	"github.com/agentq/agentq/shared/local/faults"
)

// TestWorkerKilledMidCall runs the worker as an `agentq worker` process, kills it with SIGKILL
// while it is calling an agent, starts another, and checks that the task still completes: the
// message comes back after the visibility timeout, and the new worker calls the agent again once
// the dead worker's lease has lapsed, and only then.
func TestWorkerKilledMidCall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the agentq binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "agentq")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/agentq/agentq/cmd/agentq").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	// The echo agent, counting its calls; its timeout makes a lease of 2 s + 15 s.
	var mu sync.Mutex
	calls := map[string]int{}
	echo := demoagent.Handler()
	agentSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req dispatch.HTTPRequest
		_ = json.Unmarshal(body, &req)
		mu.Lock()
		calls[req.TaskID]++
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		echo.ServeHTTP(w, r)
	}))
	t.Cleanup(agentSrv.Close)
	callsFor := func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return calls[id]
	}

	// A second system on the package's emulators, with its own table and queues, and no worker.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sealKey := bytes.Repeat([]byte{7}, 32)
	fault, err := Start(ctx, Options{
		Addr: "127.0.0.1:0", APIKey: testKey, NoWorker: true, Visibility: 3 * time.Second, SealKey: sealKey,
		DynamoDBEndpoint: sys.DynamoDBEndpoint, SQSEndpoint: sys.SQSEndpoint,
		Table: "agentq-fault-tasks", Queue: "agentq-fault-work", Bucket: "agentq-fault-results",
		Agents: []agent.Agent{{ID: "slow", Protocol: agent.HTTP, Endpoint: agentSrv.URL, Timeout: agent.Duration(2 * time.Second)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fault.Close() })
	state := filepath.Join(dir, "local.json")
	if err := WriteState(state, fault.WorkerOptions(sealKey)); err != nil {
		t.Fatal(err)
	}

	var logs syncBuffer
	startWorker := func() *exec.Cmd {
		cmd := exec.Command(bin, "worker", "-state", state, "-log-level", "debug")
		cmd.Stdout, cmd.Stderr = &logs, &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		return cmd
	}
	get := func(id string) map[string]any {
		req, _ := http.NewRequest(http.MethodGet, fault.APIURL+"/v1/tasks/"+id, nil)
		req.Header.Set("x-api-key", testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return out
	}
	defer func() {
		if t.Failed() {
			t.Logf("worker logs:\n%s", logs.String())
		}
	}()

	first := startWorker()
	req, _ := http.NewRequest(http.MethodPost, fault.APIURL+"/v1/agents/slow/invoke/async",
		strings.NewReader(`{"input":{"text":"survive","delay_ms":1500}}`))
	req.Header.Set("x-api-key", testKey)
	req.Header.Set("content-type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var accepted map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&accepted)
	resp.Body.Close()
	id, _ := accepted["id"].(string)
	if resp.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("invoke = %d %v", resp.StatusCode, accepted)
	}

	// Kill the worker while the agent is working on the task.
	deadline := time.Now().Add(30 * time.Second)
	for callsFor(id) == 0 || get(id)["status"] != "executing" {
		if time.Now().After(deadline) {
			t.Fatalf("the task never started executing: %v", get(id))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := faults.NewProcess("agentq worker", first.Process.Pid).Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	killed := time.Now()
	startWorker()

	var done map[string]any
	deadline = time.Now().Add(60 * time.Second)
	for {
		done = get(id)
		if s := done["status"]; s == "completed" || s == "failed" || s == "error" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task did not end after the worker was killed: %v", done)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if done["status"] != "completed" || done["result"] != "survive" {
		t.Fatalf("task = %v", done)
	}
	if done["execution_attempts"] != float64(2) || callsFor(id) != 2 {
		t.Fatalf("execution_attempts = %v, agent calls = %d; want 2 and 2", done["execution_attempts"], callsFor(id))
	}
	// The second call waited for the first lease (2 s + 15 s from the claim) to lapse.
	if waited := time.Since(killed); waited < 12*time.Second {
		t.Errorf("the task completed %s after the kill: before the lease lapsed", waited)
	}
}
