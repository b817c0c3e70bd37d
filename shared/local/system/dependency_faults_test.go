package system

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/deadline"
	"github.com/agentq/agentq/shared/local/eventbus"
	"github.com/agentq/agentq/shared/local/faults"
	"github.com/agentq/agentq/shared/notify"
)

// faultBudget is a production-shaped budget, short enough that a test waits seconds: a request
// gets 5 s, of which 2 s are kept for recording a failure; an AWS attempt 1.5 s (fauxqs's long
// poll takes 1 s), twice; the worker retries an outcome for 2 s inside a 5 s lease margin.
var faultBudget = deadline.Budget{
	Request: 5 * time.Second, Reserve: 2 * time.Second, Answer: time.Second,
	Attempt: 1500 * time.Millisecond, Attempts: 2, MaxBackoff: 100 * time.Millisecond,
	LeaseMargin: 5 * time.Second, Outcome: 2 * time.Second, OutcomeBackoff: 50 * time.Millisecond,
	Invocation: 3 * time.Second,
}

// faultRig is a local system of its own (table, queues, bucket) on the package's emulators, each
// dependency behind a fault-injection proxy: DynamoDB, fauxqs (SQS and S3) and the event bus the
// notifier publishes to. Its agent counts calls per task and runs a test's hook first.
type faultRig struct {
	sys           *System
	logs          syncBuffer
	ddb, sqs, bus *faults.Proxy
	calls         sync.Map // task id -> *atomic.Int64
	hook          atomic.Pointer[func(taskID string) (status int)]
}

func newFaultRig(t *testing.T, name string) *faultRig {
	t.Helper()
	if testing.Short() {
		t.Skip("fault injection runs a system of its own")
	}
	r := &faultRig{}
	r.ddb, r.sqs = proxyTo(t, sys.DynamoDBEndpoint), proxyTo(t, sys.SQSEndpoint)
	agentSrv := httptest.NewServer(http.HandlerFunc(r.serveAgent))
	t.Cleanup(agentSrv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	r.sys, err = Start(ctx, Options{
		Addr: "127.0.0.1:0", APIKey: testKey, Budget: faultBudget,
		Logger:           slog.New(slog.NewJSONHandler(&r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		DynamoDBEndpoint: r.ddb.URL(), SQSEndpoint: r.sqs.URL(),
		Table: "agentq-" + name + "-tasks", Queue: "agentq-" + name + "-work", Bucket: "agentq-" + name + "-results",
		Visibility: 3 * time.Second, Backoff: func(int) time.Duration { return 500 * time.Millisecond },
		Agents: []agent.Agent{{ID: "flaky", Protocol: agent.HTTP, Endpoint: agentSrv.URL, Timeout: agent.Duration(5 * time.Second)}},
		NotifyVia: func(busURL string) string {
			r.bus = proxyTo(t, busURL)
			return r.bus.URL()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("system logs:\n%s", r.logs.String())
		}
		for _, p := range []*faults.Proxy{r.ddb, r.sqs, r.bus} {
			p.Set(faults.Pass, 0) // let what was held go, so that Close does not wait on it
		}
		_ = r.sys.Close()
	})
	return r
}

func proxyTo(t *testing.T, endpoint string) *faults.Proxy {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p, err := faults.NewProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// serveAgent counts the call, runs the test's hook, and answers with the text it was sent (or the
// hook's error status).
func (r *faultRig) serveAgent(w http.ResponseWriter, req *http.Request) {
	var body struct {
		TaskID string `json:"task_id"`
		Text   string `json:"text"`
	}
	_ = json.NewDecoder(req.Body).Decode(&body)
	n, _ := r.calls.LoadOrStore(body.TaskID, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	if h := r.hook.Load(); h != nil {
		if status := (*h)(body.TaskID); status != 0 {
			w.WriteHeader(status)
			fmt.Fprint(w, `{"error":"try later"}`)
			return
		}
	}
	fmt.Fprintf(w, `{"output":%q}`, "done: "+body.Text)
}

// logged reports whether the system logged msg about task id.
func (r *faultRig) logged(msg, id string) bool {
	for line := range strings.SplitSeq(r.logs.String(), "\n") {
		if strings.Contains(line, `"msg":"`+msg+`"`) && strings.Contains(line, `"task_id":"`+id+`"`) {
			return true
		}
	}
	return false
}

func (r *faultRig) onCall(h func(taskID string) int) { r.hook.Store(&h) }

func (r *faultRig) callsFor(id string) int64 {
	if n, ok := r.calls.Load(id); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

func (r *faultRig) totalCalls() int64 {
	var total int64
	r.calls.Range(func(_, n any) bool { total += n.(*atomic.Int64).Load(); return true })
	return total
}

// do sends a request with a client that gives up long after the budget: a hang fails the test.
func (r *faultRig) do(t *testing.T, method, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, r.sys.APIURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", testKey)
	req.Header.Set("content-type", "application/json")
	client := &http.Client{Timeout: 3 * faultBudget.Request}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: no answer within three budgets: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
	}
	return resp.StatusCode, resp.Header, out
}

// await polls the task until it ends, and returns it.
func (r *faultRig) await(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		code, _, body := r.do(t, http.MethodGet, "/v1/tasks/"+id, "")
		if code == http.StatusOK {
			switch body["status"] {
			case "completed", "failed", "error", "stopped":
				return body
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s did not end: %d %v", id, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// settle waits for the work queue to drain: every message left by a fault is handled.
func (r *faultRig) settle(t *testing.T) {
	t.Helper()
	eventually(t, "the work queue to drain", func() bool {
		n, err := queueDepth(r.sys, r.sys.Queues.URL)
		return err == nil && n == 0
	})
	time.Sleep(faultBudget.Request) // a message in flight that would call the agent has by now
}

func idOf(body map[string]any) string {
	if e, ok := body["error"].(map[string]any); ok {
		body = e
	}
	for _, k := range []string{"task_id", "receipt_id", "id"} {
		if id, _ := body[k].(string); id != "" {
			return id
		}
	}
	return ""
}

// truthful checks an accept's answer against what became of its task: a 5xx names a task that
// never runs, or none; a 2xx names a task that ends, its agent called at most once.
func (r *faultRig) truthful(t *testing.T, code int, body map[string]any) {
	t.Helper()
	id := idOf(body)
	switch {
	case code >= 500:
		r.settle(t)
		if id != "" {
			if got := r.await(t, id); got["status"] != "failed" {
				t.Errorf("a 5xx named task %s, which is %v", id, got["status"])
			}
		}
		if n := r.totalCalls(); n != 0 {
			t.Errorf("answered %d %s, and the agent was called %d times", code, errorCode(body), n)
		}
	case code == http.StatusOK && id != "":
		r.await(t, id)
		r.settle(t)
		if n := r.callsFor(id); n > 1 {
			t.Errorf("the agent was called %d times for task %s", n, id)
		}
	default:
		t.Fatalf("answer %d %v", code, body)
	}
}

// SQS frozen at accept: the send hangs, the budget's reserve records the task failed, and the
// answer (within the budget), 503 queue_unavailable, names it; the message that reaches SQS once it thaws does not run.
func TestQueueFrozenAtAccept(t *testing.T) {
	r := newFaultRig(t, "sqsfrozen")
	r.sqs.Set(faults.Hang, 0)
	for _, tc := range []struct{ path, body string }{
		{"/v1/agents/flaky/invoke/async", `{"input":{"text":"queue frozen"}}`},
		{"/v1/agents/flaky/invoke-async", `{"message":"queue frozen"}`},
	} {
		code, header, body := r.do(t, http.MethodPost, tc.path, tc.body)
		if code != http.StatusServiceUnavailable || errorCode(body) != "queue_unavailable" || idOf(body) == "" || header.Get("Retry-After") == "" {
			t.Fatalf("%s = %d %v; want 503 queue_unavailable naming the task, with Retry-After", tc.path, code, body)
		}
		if e, ok := body["error"].(map[string]any); ok {
			body = e
		}
		if body["status"] != "failed" {
			t.Errorf("%s: the answer says the task is %v, want failed", tc.path, body["status"])
		}
		if _, _, got := r.do(t, http.MethodGet, "/v1/tasks/"+idOf(body), ""); got["status"] != "failed" {
			t.Errorf("task %s = %v, want failed", idOf(body), got["status"])
		}
	}
	r.sqs.Set(faults.Pass, 0)
	r.truthful(t, http.StatusServiceUnavailable, map[string]any{})
}

// DynamoDB frozen at accept: nothing is recorded or runs, and the caller hears 503
// store_unavailable with Retry-After within the budget.
func TestStoreFrozenAtAccept(t *testing.T) {
	r := newFaultRig(t, "ddbfrozen")
	r.ddb.Set(faults.Hang, 0)
	code, header, body := r.do(t, http.MethodPost, "/v1/agents/flaky/invoke-async", `{"message":"store frozen"}`)
	if code != http.StatusServiceUnavailable || errorCode(body) != "store_unavailable" || header.Get("Retry-After") == "" {
		t.Fatalf("invoke = %d %v; want 503 store_unavailable with Retry-After", code, body)
	}
	r.ddb.Set(faults.Pass, 0)
	r.truthful(t, code, body)
}

// DynamoDB frozen at a read: 503 store_unavailable with Retry-After within the budget, for a
// plain read and a long poll alike.
func TestStoreFrozenAtRead(t *testing.T) {
	r := newFaultRig(t, "ddbread")
	code, _, body := r.do(t, http.MethodPost, "/v1/agents/flaky/invoke/async", `{"input":{"text":"read me"}}`)
	if code != http.StatusOK {
		t.Fatalf("invoke = %d %v", code, body)
	}
	id := idOf(body)
	r.await(t, id)
	r.ddb.Set(faults.Hang, 0)
	for _, path := range []string{"/v1/tasks/" + id, "/v1/receipts/" + id, "/v1/tasks/" + id + "?wait=1", "/v1/tasks"} {
		code, header, body := r.do(t, http.MethodGet, path, "")
		if code != http.StatusServiceUnavailable || errorCode(body) != "store_unavailable" || header.Get("Retry-After") == "" {
			t.Errorf("GET %s = %d %v; want 503 store_unavailable with Retry-After", path, code, body)
		}
	}
}

// DynamoDB frozen between the agent's answer and the outcome write, for less than the worker's
// outcome window (its retries get through) and for longer (the outcome is kept in a message and
// recorded once the store thaws): the agent is called exactly once either way.
func TestStoreFrozenBetweenAnswerAndOutcome(t *testing.T) {
	r := newFaultRig(t, "ddboutcome")
	for _, frozen := range []time.Duration{faultBudget.Outcome / 2, 3 * faultBudget.Outcome} {
		t.Run(frozen.String(), func(t *testing.T) {
			var once sync.Once
			r.onCall(func(string) int {
				once.Do(func() {
					r.ddb.Set(faults.Hang, 0)
					time.AfterFunc(frozen, func() { r.ddb.Set(faults.Pass, 0) })
				})
				return 0
			})
			code, _, body := r.do(t, http.MethodPost, "/v1/agents/flaky/invoke/async", `{"input":{"text":"answer once"}}`)
			if code != http.StatusOK {
				t.Fatalf("invoke = %d %v", code, body)
			}
			id := idOf(body)
			got := r.await(t, id)
			r.settle(t)
			if got["status"] != "completed" || r.callsFor(id) != 1 {
				t.Errorf("task %v after %d agent calls; want completed after exactly one", got["status"], r.callsFor(id))
			}
			// Past the window the answer travelled in a message; within it, the retries sufficed.
			kept := r.logged("kept outcome recorded", id)
			if kept != (frozen > faultBudget.Outcome) {
				t.Errorf("outcome kept in a message: %v, frozen %v with a window of %v", kept, frozen, faultBudget.Outcome)
			}
		})
	}
}

// SQS frozen when the worker postpones a message after a retryable agent failure: the batch ends
// within its budget, the message comes back after its visibility timeout, and the agent is called
// again only for the recorded retry.
func TestQueueFrozenAtPostpone(t *testing.T) {
	r := newFaultRig(t, "sqspostpone")
	var first sync.Once
	r.onCall(func(string) int {
		status := 0
		first.Do(func() {
			r.sqs.Set(faults.Hang, 0)
			time.AfterFunc(2*faultBudget.Attempt, func() { r.sqs.Set(faults.Pass, 0) })
			status = http.StatusServiceUnavailable
		})
		return status
	})
	code, _, body := r.do(t, http.MethodPost, "/v1/agents/flaky/invoke/async", `{"input":{"text":"retry me"}}`)
	if code != http.StatusOK {
		t.Fatalf("invoke = %d %v", code, body)
	}
	id := idOf(body)
	got := r.await(t, id)
	r.settle(t)
	if got["status"] != "completed" || r.callsFor(id) != 2 || got["execution_attempts"] != float64(2) {
		t.Errorf("task %v, attempts %v, agent calls %d; want completed on the second attempt, two calls", got["status"], got["execution_attempts"], r.callsFor(id))
	}
}

// S3 (served by fauxqs) frozen while a large request is staged: 503 store_unavailable within the
// budget, and nothing runs.
func TestBlobStoreFrozenForALargeRequest(t *testing.T) {
	r := newFaultRig(t, "s3frozen")
	r.sqs.Set(faults.Hang, 0)
	big := strings.Repeat("x", 200<<10)
	code, header, body := r.do(t, http.MethodPost, "/v1/agents/flaky/invoke/async", `{"input":{"text":"`+big+`"}}`)
	if code != http.StatusServiceUnavailable || errorCode(body) != "store_unavailable" || header.Get("Retry-After") == "" {
		t.Fatalf("invoke = %d %v; want 503 store_unavailable with Retry-After", code, idOf(body))
	}
	r.sqs.Set(faults.Pass, 0)
	r.truthful(t, code, body)
}

// EventBridge failing for the notifier: the stream is held back, not skipped, and the event is
// published once the bus answers again.
func TestEventBusFailingForTheNotifier(t *testing.T) {
	r := newFaultRig(t, "busdown")
	r.bus.Set(faults.Refuse, 0)
	code, _, body := r.do(t, http.MethodPost, "/v1/agents/flaky/invoke/async", `{"input":{"text":"tell the world"},"completion_event":true}`)
	if code != http.StatusOK {
		t.Fatalf("invoke = %d %v", code, body)
	}
	id := idOf(body)
	r.await(t, id)
	time.Sleep(time.Second) // the notifier tries, and fails, meanwhile
	for _, e := range r.sys.Bus.Events() {
		if strings.Contains(string(e.Detail), id) {
			t.Fatalf("an event reached the bus while it refused connections: %s", e.Detail)
		}
	}
	r.bus.Set(faults.Pass, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.sys.Bus.Wait(ctx, func(e eventbus.Event) bool {
		var d notify.Detail
		return json.Unmarshal(e.Detail, &d) == nil && d.TaskID == id && e.DetailType == notify.DetailCompleted
	}); err != nil {
		t.Fatalf("no completion event once the bus answered again: %v", err)
	}
	if r.callsFor(id) != 1 {
		t.Errorf("agent calls = %d, want 1", r.callsFor(id))
	}
}

// queueDepth is how many messages a queue holds, visible or in flight.
func queueDepth(s *System, queueURL string) (int, error) {
	out, err := s.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(queueURL),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed},
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, v := range out.Attributes {
		var k int
		_, _ = fmt.Sscan(v, &k)
		n += k
	}
	return n, nil
}
