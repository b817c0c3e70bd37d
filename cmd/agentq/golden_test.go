package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/client"
	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/local/system"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the commands' output")

const (
	cliKey   = "aq_cli_test_key"
	cliAdmin = "aq_cli_test_admin"
)

// The golden tests share one local system, started on first use and stopped after the tests.
var (
	localOnce sync.Once
	localSys  *system.System
	localErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if localSys != nil {
		_ = localSys.Close()
	}
	os.Exit(code)
}

// localAPI answers the URL of the shared local system, or skips the test when the emulators are
// not installed (`make tools`).
func localAPI(t *testing.T) string {
	t.Helper()
	if err := emulators.CheckInstalled(emulators.Options{}); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip("emulators not installed:", err)
	}
	localOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		localSys, localErr = system.Start(ctx, system.Options{Addr: "127.0.0.1:0", APIKey: cliKey, AdminKey: cliAdmin,
			Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	})
	if localErr != nil {
		t.Fatal(localErr)
	}
	return localSys.APIURL
}

// scrubs replace what differs from run to run: ids, instants, elapsed times, the API's port.
var scrubs = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "<uuid>"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`), "<time>"},
	{regexp.MustCompile(`\b\d+\.\ds\b`), "<elapsed>"},
	{regexp.MustCompile(`"(worker_id|duration_ms)": [^,\n]+`), `"$1": <varies>`},
	{regexp.MustCompile(`/\S+/agent\.json`), "<tmp>/agent.json"},
	{regexp.MustCompile(`did:key:z[1-9A-HJ-NP-Za-km-z]+`), "<did>"},
}

// cli runs one agentq command line as main does and answers what it printed, scrubbed, with
// its exit code.
func cli(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := report(run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr), &stderr)
	out := fmt.Sprintf("$ agentq %s\n%s", strings.Join(args, " "), stdout.String())
	if stderr.Len() > 0 {
		out += "--- stderr\n" + stderr.String()
	}
	out += fmt.Sprintf("--- exit %d\n", code)
	if localSys != nil {
		out = strings.ReplaceAll(out, localSys.APIURL, "<api>")
	}
	for _, s := range scrubs {
		out = s.re.ReplaceAllString(out, s.with)
	}
	return out
}

// golden compares got with testdata/NAME.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run with -update to accept)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestGoldenOffline covers the commands that need no API: help, completion, usage errors, an
// unreachable API.
func TestGoldenOffline(t *testing.T) {
	none := map[string]string{}
	dead := map[string]string{"AGENTQ_API_URL": "http://127.0.0.1:1", "AGENTQ_API_KEY": "k"}
	cases := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"help", none, []string{"help"}},
		{"help-invoke", none, []string{"help", "invoke"}},
		{"help-unknown", none, []string{"help", "nope"}},
		{"completion-bash", none, []string{"completion", "bash"}},
		{"completion-zsh", none, []string{"completion", "zsh"}},
		{"invoke-no-agent", dead, []string{"invoke"}},
		{"invoke-bad-input", dead, []string{"invoke", "echo", "--input", "{not json"}},
		{"invoke-no-key", none, []string{"invoke", "echo", "hi"}},
		{"get-bad-output", dead, []string{"get", "abc", "-o", "yaml"}},
		{"get-unreachable", dead, []string{"get", "abc"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { golden(t, tc.name, cli(t, tc.env, tc.args...)) })
	}
}

// TestGoldenTasks runs the task commands on the local system.
func TestGoldenTasks(t *testing.T) {
	api := localAPI(t)
	env := map[string]string{"AGENTQ_API_URL": api, "AGENTQ_API_KEY": cliKey, "AGENTQ_ADMIN_KEY": cliAdmin}
	c, err := client.New(api, client.WithAPIKey(cliKey))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	golden(t, "invoke", cli(t, env, "invoke", "echo", "hello there", "--idempotency-key", "golden-1"))
	first, err := c.Invoke(ctx, "echo", client.InvokeRequest{Input: client.Input{Text: "hello there"}}, client.InvokeOptions{IdempotencyKey: "golden-1"})
	if err != nil {
		t.Fatal(err)
	}
	id := first.TaskId.String()
	if _, err := c.Wait(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "get", cli(t, env, "get", id))
	golden(t, "get-json", cli(t, env, "get", id, "-o", "json"))
	golden(t, "thread", cli(t, env, "thread", first.Id))
	// The list reads an index that lags the task records by a moment.
	for i := 0; ; i++ {
		page, err := c.List(ctx, client.ListQuery{ThreadID: first.Id, Status: []string{"completed"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) == 1 {
			break
		}
		if i == 200 {
			t.Fatal("the list never shows the completed task")
		}
		time.Sleep(25 * time.Millisecond)
	}
	golden(t, "list", cli(t, env, "list", "--thread", first.Id, "--status", "completed"))

	// --wait: the answer on stdout; the progress on stderr is checked apart (progress_test.go),
	// its lines depend on when the worker takes the task.
	waited := cli(t, env, "invoke", "echo", "--input", `{"text": "ready", "delay_ms": 200}`, "--wait", "-o", "text")
	golden(t, "invoke-wait", dropStderr(waited))
	golden(t, "invoke-follow", dropStderr(cli(t, env, "invoke", "echo", "followed", "--follow", "-o", "json")))
	golden(t, "events", cli(t, env, "events", id))
	golden(t, "events-follow-after", cli(t, env, "events", id, "--follow", "--after", "2"))
	failed := cli(t, env, "invoke", "echo", "--input", `{"text": "no", "fail": "permanent"}`, "--wait")
	golden(t, "invoke-wait-failed", dropStderr(failed))

	slow, err := c.Invoke(ctx, "echo", client.InvokeRequest{Input: client.Input{Text: "slow", AdditionalProperties: map[string]any{"delay_ms": 20000}}}, client.InvokeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "stop", cli(t, env, "stop", slow.TaskId.String()))
	golden(t, "get-unknown", cli(t, env, "get", "no-such-task"))
	if _, err := c.Wait(ctx, slow.TaskId.String(), nil); err != nil {
		t.Fatal(err)
	}
	golden(t, "delete", cli(t, env, "delete", slow.TaskId.String()))
	golden(t, "get-deleted", cli(t, env, "get", slow.TaskId.String()))

	acc, err := c.InvokeServiceNet(ctx, "echo", client.ServiceNetRequest{Message: ptrTo("Create a payment link")}, client.InvokeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "receipts-get", dropStderr(cli(t, env, "receipts", "get", acc.ReceiptId.String(), "--wait")))
	golden(t, "receipts-verify", cli(t, env, "receipts", "verify", acc.ReceiptId.String()))
	for i := 0; ; i++ { // the list's index lags the records by a moment
		l, err := c.ListReceipts(ctx, client.ReceiptQuery{AgentID: "echo", InvokeMode: "async", Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) == 1 && l.Items[0].Receipt.ReceiptId == acc.ReceiptId && l.Items[0].Receipt.Status == "succeeded" {
			break
		}
		if i == 200 {
			t.Fatal("the receipt list never shows the receipt succeeded")
		}
		time.Sleep(25 * time.Millisecond)
	}
	golden(t, "receipts-list", cli(t, env, "receipts", "list", "--agent", "echo", "--mode", "async", "--limit", "1"))
}

// TestGoldenAgents runs the registry commands on the local system.
func TestGoldenAgents(t *testing.T) {
	api := localAPI(t)
	env := map[string]string{"AGENTQ_API_URL": api, "AGENTQ_API_KEY": cliKey, "AGENTQ_ADMIN_KEY": cliAdmin}
	def := filepath.Join(t.TempDir(), "agent.json")
	if err := os.WriteFile(def, []byte(fmt.Sprintf(`{"name": "Echo again", "protocol": "http", "endpoint": %q, "timeout": "10s"}`, localSys.EchoURL)), 0o600); err != nil {
		t.Fatal(err)
	}
	golden(t, "agents-put", cli(t, env, "agents", "put", "echo-again", "--file", def))
	golden(t, "agents-publish", cli(t, env, "agents", "publish", "echo-again"))
	golden(t, "agents-get", cli(t, env, "agents", "get", "echo-again"))
	golden(t, "agents-list", cli(t, env, "agents", "list"))
	tenantOnly := map[string]string{"AGENTQ_API_URL": api, "AGENTQ_API_KEY": cliKey}
	golden(t, "agents-publish-no-admin", cli(t, tenantOnly, "agents", "publish", "echo-again"))
}

// dropStderr removes the stderr section (progress whose lines depend on timing), keeping stdout
// and the exit code.
func dropStderr(out string) string {
	before, after, ok := strings.Cut(out, "--- stderr\n")
	if !ok {
		return out
	}
	_, exit, _ := strings.Cut(after, "--- exit")
	return before + "--- exit" + exit
}

func ptrTo[T any](v T) *T { return &v }
