package system

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/task"
)

const (
	testKey      = "aq_test_key"
	testAdminKey = "aq_test_admin_key"
	// testWebhookSecret signs webhook deliveries (the operator's default secret).
	testWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// testWebhookSchedule makes five delivery attempts in all, quickly.
var testWebhookSchedule = []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}

// The whole package shares one running system: starting the emulators is the slow part.
var (
	sys          *System
	logs         syncBuffer
	counter      countingAgent
	counterAgent agent.Agent
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// countingAgent is an HTTP agent that counts its calls per task and answers after a short delay.
type countingAgent struct {
	mu    sync.Mutex
	calls map[string]int
	total atomic.Int64
}

func (c *countingAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TaskID string `json:"task_id"`
		Text   string `json:"text"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	c.mu.Lock()
	c.calls[req.TaskID]++
	c.mu.Unlock()
	c.total.Add(1)
	time.Sleep(300 * time.Millisecond)
	fmt.Fprintf(w, `{"output":"counted %s"}`, req.Text)
}

func (c *countingAgent) callsFor(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if err := emulators.CheckInstalled(emulators.Options{}); err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("skipping local system integration tests:", err)
		return 0
	}
	counter.calls = map[string]int{}
	agentSrv := httptest.NewServer(&counter) // listens on 127.0.0.1
	defer agentSrv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	counterAgent = agent.Agent{ID: "counter", Version: "1", Protocol: agent.HTTP, Endpoint: agentSrv.URL, Timeout: agent.Duration(5 * time.Second)}
	historySrv := httptest.NewServer(historian{})
	defer historySrv.Close()
	lambdaSrv := httptest.NewServer(fakeLambda{})
	defer lambdaSrv.Close()
	bulkSrv := httptest.NewServer(bulkAgent{}) // blob_test.go
	defer bulkSrv.Close()
	var err error
	sys, err = Start(ctx, Options{
		Addr:     "127.0.0.1:0",
		APIKey:   testKey,
		AdminKey: testAdminKey,
		Agents: []agent.Agent{counterAgent, {ID: "historian", Protocol: agent.HTTP, Endpoint: historySrv.URL, Timeout: agent.Duration(5 * time.Second)},
			{ID: "bulk", Protocol: agent.HTTP, Endpoint: bulkSrv.URL, Timeout: agent.Duration(30 * time.Second)}},
		// Retries come at once, so that a message reaches the dead-letter queue within a test.
		Backoff: func(int) time.Duration { return 0 },
		// Checks on agents that work asynchronously come at once too.
		CheckBackoff: func(int) time.Duration { return 0 },
		// Lambda agents are invoked at a server that speaks the Lambda Invoke API.
		LambdaEndpoint: lambdaSrv.URL,
		// Webhooks: signed with the operator's secret, to receivers on this machine, retried at
		// once (events_test.go).
		WebhookSecret: testWebhookSecret, AllowLoopbackWebhooks: true, WebhookSchedule: testWebhookSchedule,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		// Receipts are signed as on AWS by default: by the sealed key in the table, opened once
		// (receipts_test.go verifies them from their DID alone and counts the openings).
		SealedReceiptKey: true, ReceiptKeyOpened: func(context.Context) { receiptKeyOpens.Add(1) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start local system:", err)
		return 1
	}
	defer sys.Close()
	return m.Run()
}

// call sends a request to the API and decodes the JSON answer.
func call(t *testing.T, method, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, sys.APIURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", testKey)
	req.Header.Set("content-type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
	}
	return resp.StatusCode, resp.Header, out
}

// waitFor polls path until the status field is one of want, and returns the last answer.
func waitFor(t *testing.T, path string, want ...string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var body map[string]any
	for time.Now().Before(deadline) {
		var code int
		code, _, body = call(t, http.MethodGet, path, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d %v", path, code, body)
		}
		for _, w := range want {
			if statusOf(body) == w {
				return body
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: status stayed %v, want one of %v", path, statusOf(body), want)
	return nil
}

// statusOf is an answer's status: a ServiceNet receipt's receipt.status, else its status.
func statusOf(body map[string]any) any {
	if rc, ok := body["receipt"].(map[string]any); ok {
		return rc["status"]
	}
	return body["status"]
}

// answerOf is a receipt's output as text: the text itself, or the "output" of a JSON answer.
func answerOf(body map[string]any) string {
	switch o := body["output"].(type) {
	case string:
		return o
	case map[string]any:
		s, _ := o["output"].(string)
		return s
	}
	return ""
}

func TestXpanderFlow(t *testing.T) {
	code, _, body := call(t, http.MethodPost, "/v1/agents/echo/invoke/async", `{"input": {"text": "Analyze competitor pricing for Q1 2026"}}`)
	if code != http.StatusOK {
		t.Fatalf("invoke = %d %v", code, body)
	}
	id, _ := body["id"].(string)
	if id == "" || body["agent_id"] != "echo" || body["status"] != "pending" || body["result"] != nil || body["created_at"] == nil {
		t.Fatalf("invoke answer = %v", body)
	}
	if in, _ := body["input"].(map[string]any); in["text"] != "Analyze competitor pricing for Q1 2026" {
		t.Errorf("input not echoed: %v", body["input"])
	}
	done := waitFor(t, "/v1/tasks/"+id, "completed", "failed", "error")
	if done["status"] != "completed" || done["result"] != "Analyze competitor pricing for Q1 2026" ||
		done["started_at"] == nil || done["finished_at"] == nil || done["execution_attempts"] != float64(1) {
		t.Fatalf("completed task = %v", done)
	}
}

func TestXpanderShowsExecuting(t *testing.T) {
	_, _, body := call(t, http.MethodPost, "/v1/agents/echo/invoke/async", `{"input": {"text": "slow", "delay_ms": 1500}}`)
	id := body["id"].(string)
	_, hdr, got := call(t, http.MethodGet, "/v1/tasks/"+id, "")
	if got["status"] != "pending" && got["status"] != "executing" {
		t.Fatalf("status = %v", got["status"])
	}
	if hdr.Get("Retry-After") == "" {
		t.Error("no Retry-After on a non-terminal task")
	}
	waitFor(t, "/v1/tasks/"+id, "executing")
	done := waitFor(t, "/v1/tasks/"+id, "completed")
	if done["result"] != "slow" {
		t.Errorf("result = %v", done["result"])
	}
}

func TestServiceNetFlow(t *testing.T) {
	code, _, body := call(t, http.MethodPost, "/v1/agents/echo/invoke-async",
		`{"message": "Create a payment link for 15 AUD", "auth_token": "secret-token", "region": "AU"}`)
	if code != http.StatusOK {
		t.Fatalf("invoke = %d %v", code, body)
	}
	if len(body) != 5 || body["agent_id"] != "echo" || body["status"] != "running" ||
		body["message"] != "ServiceNet invocation accepted" || fmt.Sprint(body["raw"]) != "map[]" {
		t.Fatalf("invoke answer = %v", body)
	}
	id, _ := body["receipt_id"].(string)
	done := waitFor(t, "/v1/receipts/"+id, "succeeded", "failed")
	if statusOf(done) != "succeeded" || answerOf(done) != "Create a payment link for 15 AUD" {
		t.Fatalf("receipt = %v", done)
	}
	// The same task reads through the other dialect too.
	if _, _, x := call(t, http.MethodGet, "/v1/tasks/"+id, ""); x["status"] != "completed" {
		t.Errorf("xpander view of a ServiceNet task = %v", x["status"])
	}
}

func TestUnknownAgentAndBadBodies(t *testing.T) {
	tests := []struct {
		path, body string
		want       int
		code       string
	}{
		{"/v1/agents/nope/invoke/async", `{"input":{"text":"x"}}`, 404, "agent_not_found"},
		{"/v1/agents/nope/invoke-async", `{"message":"x"}`, 404, "agent_not_found"},
		{"/v1/agents/echo/invoke/async", `{"input":`, 400, "malformed_json"},
		{"/v1/agents/echo/invoke/async", `{"input":{}}`, 422, "validation_failed"},
		{"/v1/agents/echo/invoke-async", `[1]`, 400, "malformed_json"},
		{"/v1/agents/echo/invoke-async", `{"message":5}`, 400, "validation_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.body, func(t *testing.T) {
			code, _, body := call(t, http.MethodPost, tt.path, tt.body)
			got := body["code"]
			if e, ok := body["error"].(map[string]any); ok {
				got = e["code"]
			}
			if code != tt.want || got != tt.code {
				t.Fatalf("= %d %v, want %d %s", code, body, tt.want, tt.code)
			}
		})
	}
}

func TestFailingAgentEndsFailed(t *testing.T) {
	_, _, body := call(t, http.MethodPost, "/v1/agents/echo/invoke/async", `{"input":{"text":"no","fail":"permanent"}}`)
	done := waitFor(t, "/v1/tasks/"+body["id"].(string), "completed", "failed", "error")
	e, _ := done["error"].(map[string]any)
	if done["status"] != "failed" || e["code"] != task.ReasonAgentRejected || e["message"] == "" || done["result"] != nil {
		t.Fatalf("task = %v", done)
	}
}

func TestKeepsFailingReachesDeadLetterQueue(t *testing.T) {
	_, _, body := call(t, http.MethodPost, "/v1/agents/echo/invoke-async", `{"input":{"text":"flaky","fail":"transient"}}`)
	id := body["receipt_id"].(string)
	done := waitFor(t, "/v1/receipts/"+id, "succeeded", "failed")
	e, _ := done["error"].(map[string]any)
	if statusOf(done) != "failed" || e["code"] != task.ReasonDeadLettered {
		t.Fatalf("receipt = %v", done)
	}
	if done["attempts"] != float64(queue.MaxReceiveCount) {
		t.Errorf("attempts = %v, want %d", done["attempts"], queue.MaxReceiveCount)
	}
	if !strings.Contains(e["message"].(string), "503") {
		t.Errorf("reason message does not carry the last error: %v", e["message"])
	}
}

func TestDuplicateDeliveryCallsAgentOnce(t *testing.T) {
	_, _, body := call(t, http.MethodPost, "/v1/agents/counter/invoke/async", `{"input":{"text":"once"}}`)
	id := body["id"].(string)
	// A second copy of the message arrives while the first is being worked on.
	dup := messageFor(t, id)
	send(t, dup)
	waitFor(t, "/v1/tasks/"+id, "completed")
	// And a third after the task has finished.
	send(t, dup)
	waitDrained(t)
	if n := counter.callsFor(id); n != 1 {
		t.Fatalf("agent called %d times, want 1", n)
	}
}

// messageFor rebuilds the work message of a recorded task, as a redelivery would carry it.
func messageFor(t *testing.T, id string) *queue.Message {
	t.Helper()
	tk, err := store.New(sys.DynamoDB, sys.Table).Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return &queue.Message{Kind: queue.KindInvoke, TaskID: id, Tenant: tk.Tenant, Agent: counterAgent,
		Text: tk.Text, Request: tk.Request, AcceptedAt: tk.CreatedAt}
}

func send(t *testing.T, m *queue.Message) {
	t.Helper()
	if err := queue.NewClient(sys.SQS, sys.Queues.URL).Send(context.Background(), m, 0); err != nil {
		t.Fatal(err)
	}
}

// waitDrained waits until the work queue holds no message, visible or in flight.
func waitDrained(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		out, err := sys.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(sys.Queues.URL),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
		})
		if err != nil {
			t.Fatal(err)
		}
		if out.Attributes["ApproximateNumberOfMessages"] == "0" && out.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("work queue did not drain")
}

func TestConcurrentDuplicatesCallAgentOnce(t *testing.T) {
	_, _, body := call(t, http.MethodPost, "/v1/agents/counter/invoke/async", `{"input":{"text":"race"}}`)
	id := body["id"].(string)
	dup := messageFor(t, id)
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); send(t, dup) }()
	}
	wg.Wait()
	waitFor(t, "/v1/tasks/"+id, "completed")
	time.Sleep(500 * time.Millisecond) // any duplicate still in flight would have called by now
	if n := counter.callsFor(id); n != 1 {
		t.Fatalf("agent called %d times, want 1", n)
	}
}

// TestQueueUnavailableAtAccept points the accept path at an SQS endpoint that refuses
// connections: the caller gets 503 queue_unavailable with Retry-After naming the task, which is
// recorded failed (its reason dispatch_failed), never pending.
func TestQueueUnavailableAtAccept(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more
	ddb, deadSQS := Clients(sys.DynamoDBEndpoint, dead, 1)
	tasks := store.New(ddb, sys.Table)
	reg, err := agent.NewStatic([]agent.Agent{{ID: "echo", Protocol: agent.HTTP, Endpoint: sys.EchoURL}})
	if err != nil {
		t.Fatal(err)
	}
	keys := &apikey.Keys{}
	if err := keys.Add("default", apikey.Hash(testKey)); err != nil {
		t.Fatal(err)
	}
	h := httpapi.New(httpapi.Config{
		Submitter: accept.New(accept.Config{Store: tasks, Queue: queue.NewClient(deadSQS, dead+"/000000000000/agentq-work"), Registry: reg}),
		Reader:    tasks, Keys: keys,
	})
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, tt := range []struct{ path, body, idField string }{
		{"/v1/agents/echo/invoke/async", `{"input":{"text":"lost?"}}`, "task_id"},
		{"/v1/agents/echo/invoke-async", `{"message":"lost?"}`, "receipt_id"},
	} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+tt.path, strings.NewReader(tt.body))
		req.Header.Set("x-api-key", testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%s = %d (Retry-After %q) %v", tt.path, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if e, ok := body["error"].(map[string]any); ok {
			body = e
		}
		if body["code"] != "queue_unavailable" || body["status"] != "failed" {
			t.Errorf("code = %v, status %v; want queue_unavailable, failed", body["code"], body["status"])
		}
		id, _ := body[tt.idField].(string)
		tk, err := tasks.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("task %q of the failed dispatch: %v", id, err)
		}
		if tk.State != task.Failed || tk.Reason != task.ReasonDispatchFailed {
			t.Errorf("task = %s %s, want failed %s", tk.State, tk.Reason, task.ReasonDispatchFailed)
		}
	}

	// Submitted again with the same Idempotency-Key once the queue is back, the answer is the same
	// task, failed: a key never runs work twice. Under a new key the work runs.
	key := "retry-after-503-" + uuid.NewString()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/agents/echo/invoke/async", strings.NewReader(`{"input":{"text":"again"}}`))
	req.Header.Set("x-api-key", testKey)
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var failed map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&failed)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || failed["code"] != "queue_unavailable" {
		t.Fatalf("first submission = %d %v", resp.StatusCode, failed)
	}
	code, again := post(t, "/v1/agents/echo/invoke/async", `{"input":{"text":"again"}}`, "Idempotency-Key", key)
	if code != http.StatusOK || again["task_id"] != failed["task_id"] || again["status"] != "failed" {
		t.Fatalf("retry with the same key = %d %v; want the failed task %v", code, again, failed["task_id"])
	}
	code, fresh := post(t, "/v1/agents/echo/invoke/async", `{"input":{"text":"again"}}`, "Idempotency-Key", key+"-new")
	if code != http.StatusOK || fresh["task_id"] == failed["task_id"] {
		t.Fatalf("retry under a new key = %d %v", code, fresh)
	}
	waitFor(t, "/v1/tasks/"+fresh["task_id"].(string), "completed")
}

// TestNoSecretAtRest scans the whole table and every log line for the secrets the tests sent.
func TestNoSecretAtRest(t *testing.T) {
	_, _, body := call(t, http.MethodPost, "/v1/agents/echo/invoke-async", `{"message":"hush","auth_token":"tok-s3cr3t-42"}`)
	waitFor(t, "/v1/receipts/"+body["receipt_id"].(string), "succeeded")
	_, _, body = call(t, http.MethodPost, "/v1/agents/echo/invoke/async", `{"input":{"text":"hush"},"user_oidc_token":"oidc-s3cr3t-42","user_tokens":{"github":"gh-s3cr3t-42"}}`)
	got := waitFor(t, "/v1/tasks/"+body["id"].(string), "completed")
	if b, _ := json.Marshal(got); strings.Contains(string(b), "s3cr3t") {
		t.Errorf("a secret is in a response: %s", b)
	}

	dump := scanTable(t) // authctx_test.go
	for _, secret := range []string{"tok-s3cr3t-42", "oidc-s3cr3t-42", "gh-s3cr3t-42", "secret-token", testKey, testWebhookSecret, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"} {
		if strings.Contains(dump, secret) {
			t.Errorf("secret %q is stored in DynamoDB", secret)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("secret %q is in the logs", secret)
		}
	}
	if !strings.Contains(dump, "hush") {
		t.Fatal("the table dump does not hold the tasks; the scan proves nothing")
	}
}

// TestReferencePollingLoop runs the xpander reference's own shell loop (curl + jq) against the API.
func TestReferencePollingLoop(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing; .ci/run installs it", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	script := `
TASK_ID=$(curl -s -X POST "$API/v1/agents/echo/invoke/async"   -H "Content-Type: application/json"   -H "x-api-key: $KEY"   -d '{"input": {"text": "Generate a market report"}}' | jq -r '.id')

echo "Task started: $TASK_ID"

while true; do
  RESPONSE=$(curl -s "$API/v1/tasks/$TASK_ID"     -H "x-api-key: $KEY")

  STATUS=$(echo "$RESPONSE" | jq -r '.status')
  echo "Status: $STATUS"

  if [ "$STATUS" = "completed" ] || [ "$STATUS" = "failed" ] || [ "$STATUS" = "error" ]; then
    echo "$RESPONSE" | jq -r '.result'
    break
  fi

  sleep 2
done
`
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Env = append(os.Environ(), "API="+sys.APIURL, "KEY="+testKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("loop failed: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if last := lines[len(lines)-1]; last != "Generate a market report" {
		t.Fatalf("loop ended with %q, want the result; output:\n%s", last, out)
	}
}
