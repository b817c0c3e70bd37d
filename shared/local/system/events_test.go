package system

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/local/eventbus"
	"github.com/agentq/agentq/shared/notify"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/trigger"
	"github.com/agentq/agentq/shared/webhook"
	"github.com/agentq/agentq/shared/webhook/signing"
)

// receiver is a webhook endpoint on 127.0.0.1 that fails its first failFirst requests (or all,
// when failFirst < 0) with 500, and records every request.
type receiver struct {
	*httptest.Server
	mu        sync.Mutex
	failFirst int
	got       []delivered
}

type delivered struct {
	header http.Header
	body   []byte
	status int
}

func newReceiver(t *testing.T, failFirst int) *receiver {
	r := &receiver{failFirst: failFirst}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		status := http.StatusNoContent
		if r.failFirst < 0 || len(r.got) < r.failFirst {
			status = http.StatusInternalServerError
		}
		r.got = append(r.got, delivered{header: req.Header.Clone(), body: body, status: status})
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) heal() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failFirst = 0
}

func (r *receiver) requests() []delivered {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivered(nil), r.got...)
}

// eventually polls cond until it holds or 30 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// busEvent waits for the completion event of a task on the local bus.
func busEvent(t *testing.T, taskID, detailType string) (eventbus.Event, notify.Detail) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var d notify.Detail
	ev, err := sys.Bus.Wait(ctx, func(e eventbus.Event) bool {
		var got notify.Detail
		return e.DetailType == detailType && json.Unmarshal(e.Detail, &got) == nil && got.TaskID == taskID
	})
	if err != nil {
		t.Fatalf("no %q event for task %s: %v", detailType, taskID, err)
	}
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		t.Fatal(err)
	}
	return ev, d
}

func deliveries(t *testing.T, taskID string) []map[string]any {
	t.Helper()
	code, _, body := call(t, http.MethodGet, "/v1/tasks/"+taskID+"/deliveries", "")
	if code != http.StatusOK {
		t.Fatalf("GET deliveries = %d %v", code, body)
	}
	var out []map[string]any
	for _, it := range body["items"].([]any) {
		out = append(out, it.(map[string]any))
	}
	return out
}

// TestCompletionEventOnTheBus: a task that asks (completion_event, in either dialect) has its
// outcome put on the bus; one that does not is delivered to its webhook and never reaches the bus.
func TestCompletionEventOnTheBus(t *testing.T) {
	_, _, body := call(t, http.MethodPost, "/v1/agents/echo/invoke/async", `{"input":{"text":"tell the bus"},"completion_event":true}`)
	id := body["id"].(string)
	ev, d := busEvent(t, id, notify.DetailCompleted)
	if ev.Source != notify.Source || d.State != "succeeded" || d.Status != "completed" || d.Tenant != "default" || d.AgentID != "echo" || d.Version == 0 {
		t.Errorf("event %+v detail %+v", ev, d)
	}
	task, _ := d.Task.(map[string]any)
	if task["result"] != "tell the bus" || task["id"] != id {
		t.Errorf("detail's task = %v", d.Task)
	}
	_, _, body = call(t, http.MethodPost, "/v1/agents/echo/invoke-async", `{"message":"tell the bus too","completion_event":true}`)
	if _, d := busEvent(t, body["receipt_id"].(string), notify.DetailCompleted); d.Dialect != "servicenet" {
		t.Errorf("ServiceNet task's detail = %+v", d)
	}

	rcv := newReceiver(t, 0)
	_, _, body = call(t, http.MethodPost, "/v1/agents/echo/invoke/async", fmt.Sprintf(`{"input":{"text":"keep it quiet"},"webhook_url":%q}`, rcv.URL))
	quiet := body["id"].(string)
	// Its webhook delivery says the notifier has handled its outcome.
	eventually(t, "the quiet task's webhook", func() bool { g, _ := hookEvents(t, rcv, quiet); return len(g) > 0 })
	for _, e := range sys.Bus.Events() {
		if strings.Contains(string(e.Detail), quiet) {
			t.Errorf("a task that did not ask put an event on the bus: %s %s", e.DetailType, e.Detail)
		}
	}
}

func TestStoppedTaskPublishesStopped(t *testing.T) {
	_, _, body := call(t, http.MethodPost, "/v1/agents/echo/invoke/async", `{"input":{"text":"slow","delay_ms":1200},"completion_event":true}`)
	id := body["id"].(string)
	waitFor(t, "/v1/tasks/"+id, "executing")
	if code, _, got := call(t, http.MethodPost, "/v1/tasks/"+id+"/stop", ""); code != http.StatusOK || got["status"] != "stopped" {
		t.Fatalf("stop = %d %v", code, got)
	}
	if _, d := busEvent(t, id, notify.DetailStopped); d.State != "canceled" || d.Status != "stopped" {
		t.Errorf("stopped detail = %+v", d)
	}
}

func TestEventBridgeInvokeBecomesATaskAndCompletes(t *testing.T) {
	client := eventbridge.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("l", "l", "")},
		func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(sys.Bus.URL) })
	text := "from a rule " + uuid.NewString()
	out, err := client.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String("billing.app"), DetailType: aws.String(trigger.DetailTypeInvoke), EventBusName: aws.String(sys.Bus.Name),
		Detail: aws.String(`{"agent_id":"echo","input":{"text":"` + text + `"}}`),
	}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents = %+v, %v", out, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev, err := sys.Bus.Wait(ctx, func(e eventbus.Event) bool {
		return e.DetailType == notify.DetailCompleted && strings.Contains(string(e.Detail), text)
	})
	if err != nil {
		t.Fatalf("the triggered task never completed: %v", err)
	}
	var d notify.Detail
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		t.Fatal(err)
	}
	if d.Source != trigger.SourceEventBridge {
		t.Errorf("source = %q, want %q", d.Source, trigger.SourceEventBridge)
	}
	got := waitFor(t, "/v1/tasks/"+d.TaskID, "completed")
	if got["result"] != text {
		t.Errorf("task = %v", got)
	}
}

func TestDuplicateEventYieldsOneTask(t *testing.T) {
	eventID := uuid.NewString()
	payload := json.RawMessage(`{"version":"0","id":"` + eventID + `","detail-type":"Invoke Agent","source":"billing.app","account":"000000000000",
		"time":"2026-11-22T10:00:00Z","region":"us-east-1","resources":[],"detail":{"agent_id":"echo","dialect":"servicenet","message":"once only"}}`)
	var ids []string
	for range 2 {
		res, err := sys.Trigger.HandleVerbose(context.Background(), payload)
		if err != nil {
			t.Fatal(err)
		}
		rep := res.(trigger.Report)
		if len(rep.Results) != 1 || rep.Results[0].Outcome != trigger.Accepted {
			t.Fatalf("report = %+v", rep)
		}
		ids = append(ids, rep.Results[0].TaskID)
	}
	if ids[0] == "" || ids[0] != ids[1] {
		t.Fatalf("the same event made tasks %v, want one", ids)
	}
	waitFor(t, "/v1/receipts/"+ids[0], "succeeded")
	tk, err := store.New(sys.DynamoDB, sys.Table).Get(context.Background(), ids[0])
	if err != nil || tk.Source != trigger.SourceEventBridge || tk.Tenant != "default" {
		t.Fatalf("task = %+v, %v", tk, err)
	}
}

func TestIngestQueueInvocation(t *testing.T) {
	text := "via the ingest queue " + uuid.NewString()
	if _, err := sys.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(sys.Events.Ingest.URL), MessageBody: aws.String(`{"agent_id":"echo","dialect":"servicenet","message":"` + text + `"}`),
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ev, err := sys.Bus.Wait(ctx, func(e eventbus.Event) bool {
		return e.DetailType == notify.DetailCompleted && strings.Contains(string(e.Detail), text)
	})
	if err != nil {
		t.Fatalf("the queued invocation never completed: %v", err)
	}
	var d notify.Detail
	_ = json.Unmarshal(ev.Detail, &d)
	if d.Source != trigger.SourceSQS || d.Dialect != "servicenet" {
		t.Errorf("detail = %+v", d)
	}
}

func TestRejectedEventIsDeadLetteredWithItsReason(t *testing.T) {
	eventID := uuid.NewString()
	res, err := sys.Trigger.HandleVerbose(context.Background(), json.RawMessage(`{"version":"0","id":"`+eventID+`","detail-type":"Invoke Agent","source":"billing.app",
		"detail":{"agent_id":"echo","input":{},"user_oidc_token":"oidc-rejected-s3cr3t"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := res.(trigger.Report).Results[0]; r.Outcome != trigger.Rejected || r.Reason != "validation_failed" {
		t.Fatalf("result = %+v", r)
	}
	var found string
	eventually(t, "the rejection in the trigger's dead-letter queue", func() bool {
		out, err := sys.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(sys.Events.TriggerDLQURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		})
		if err != nil {
			return false
		}
		for _, m := range out.Messages {
			if strings.Contains(aws.ToString(m.Body), eventID) {
				found = aws.ToString(m.Body)
			}
		}
		return found != ""
	})
	var rej map[string]any
	if err := json.Unmarshal([]byte(found), &rej); err != nil || rej["reason"] != "validation_failed" || rej["source"] != trigger.SourceEventBridge {
		t.Errorf("dead letter = %s", found)
	}
	if strings.Contains(found, "oidc-rejected-s3cr3t") {
		t.Errorf("the dead letter carries a secret: %s", found)
	}
}

func TestWebhookSignedDelivery(t *testing.T) {
	rcv := newReceiver(t, 0)
	_, _, body := call(t, http.MethodPost, "/v1/agents/echo/invoke/async", fmt.Sprintf(`{"input":{"text":"hook me"},"webhook_url":%q}`, rcv.URL+"/hooks?k=1"))
	id := body["id"].(string)
	eventually(t, "a delivery", func() bool { return len(rcv.requests()) > 0 })
	got := rcv.requests()[0]
	if err := signing.Verify(testWebhookSecret, got.header, got.body, time.Now(), 0); err != nil {
		t.Fatalf("the delivery does not verify: %v (headers %v)", err, got.header)
	}
	var ev webhook.Event
	if err := json.Unmarshal(got.body, &ev); err != nil || ev.Type != notify.TypeCompleted {
		t.Fatalf("payload = %s", got.body)
	}
	var d notify.Detail
	if err := json.Unmarshal(ev.Data, &d); err != nil || d.TaskID != id || d.State != "succeeded" {
		t.Errorf("data = %s", ev.Data)
	}
	eventually(t, "the delivery logged as succeeded", func() bool {
		ds := deliveries(t, id)
		return len(ds) == 1 && ds[0]["state"] == "succeeded" && len(ds[0]["attempts"].([]any)) == 1
	})
	if len(rcv.requests()) != 1 {
		t.Errorf("receiver got %d requests, want 1", len(rcv.requests()))
	}
}

func TestWebhookRetriedUntilItSucceeds(t *testing.T) {
	rcv := newReceiver(t, 3)
	_, _, body := call(t, http.MethodPost, "/v1/agents/echo/invoke-async", fmt.Sprintf(`{"message":"retry me","webhook_url":%q}`, rcv.URL))
	id := body["receipt_id"].(string)
	eventually(t, "the delivery logged as succeeded", func() bool {
		ds := deliveries(t, id)
		return len(ds) == 1 && ds[0]["state"] == "succeeded"
	})
	reqs := rcv.requests()
	ok := 0
	for _, r := range reqs {
		if r.status < 300 {
			ok++
		}
		if r.header.Get("webhook-id") != reqs[0].header.Get("webhook-id") {
			t.Errorf("webhook-id changed between attempts: %q, %q", reqs[0].header.Get("webhook-id"), r.header.Get("webhook-id"))
		}
	}
	if len(reqs) != 4 || ok != 1 {
		t.Errorf("receiver got %d requests, %d successful; want 4 and exactly 1", len(reqs), ok)
	}
	attempts := deliveries(t, id)[0]["attempts"].([]any)
	if len(attempts) != 4 {
		t.Errorf("log shows %d attempts, want 4: %v", len(attempts), attempts)
	}
}

func TestWebhookDeadLetteredThenReplayed(t *testing.T) {
	rcv := newReceiver(t, -1)
	_, _, body := call(t, http.MethodPost, "/v1/agents/echo/invoke/async", fmt.Sprintf(`{"input":{"text":"never heard"},"webhook_url":%q}`, rcv.URL))
	id := body["id"].(string)
	var failed map[string]any
	eventually(t, "the delivery to fail", func() bool {
		ds := deliveries(t, id)
		if len(ds) == 1 && ds[0]["state"] == "failed" {
			failed = ds[0]
			return true
		}
		return false
	})
	if n := len(failed["attempts"].([]any)); n != len(testWebhookSchedule)+1 {
		t.Errorf("log shows %d attempts, want %d (every attempt)", n, len(testWebhookSchedule)+1)
	}
	dlvID := failed["delivery_id"].(string)
	eventually(t, "the delivery in the webhook dead-letter queue", func() bool {
		out, err := sys.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(sys.Events.Webhooks.DLQURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		})
		if err != nil {
			return false
		}
		for _, m := range out.Messages {
			if strings.Contains(aws.ToString(m.Body), dlvID) {
				return true
			}
		}
		return false
	})

	rcv.heal()
	code, _, replay := call(t, http.MethodPost, "/v1/tasks/"+id+"/deliveries/"+dlvID+"/replay", "")
	if code != http.StatusAccepted || replay["replay_of"] != dlvID || replay["message_id"] != failed["message_id"] {
		t.Fatalf("replay = %d %v", code, replay)
	}
	eventually(t, "the replay to succeed", func() bool {
		for _, d := range deliveries(t, id) {
			if d["delivery_id"] == replay["delivery_id"] && d["state"] == "succeeded" {
				return true
			}
		}
		return false
	})
	if code, _, body := call(t, http.MethodPost, "/v1/tasks/"+id+"/deliveries/dlv_nope/replay", ""); code != http.StatusNotFound || body["code"] != "delivery_not_found" {
		t.Errorf("replay of an unknown delivery = %d %v", code, body)
	}
}

func TestTenantDefaultWebhookWithItsOwnSecret(t *testing.T) {
	// Another tenant, so that its own secret does not replace the operator's for the others.
	_, _, created := callAs(t, testAdminKey, http.MethodPost, "/v1/api-keys", `{"tenant":"hooked","name":"webhook test"}`)
	key, _ := created["key"].(string)
	if key == "" {
		t.Fatalf("create key = %v", created)
	}
	rcv := newReceiver(t, 0)
	code, hdr, settings := callAs(t, key, http.MethodPut, "/v1/webhooks", fmt.Sprintf(`{"urls":[%q]}`, rcv.URL))
	secret, _ := settings["secret"].(string)
	if code != http.StatusOK || !strings.HasPrefix(secret, "whsec_") || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("PUT /v1/webhooks = %d %v", code, settings)
	}
	if code, _, again := callAs(t, key, http.MethodGet, "/v1/webhooks", ""); code != http.StatusOK || again["secret"] != nil || len(again["secrets"].([]any)) != 1 {
		t.Errorf("GET /v1/webhooks = %d %v", code, again)
	}
	_, _, body := callAs(t, key, http.MethodPost, "/v1/agents/echo/invoke/async", `{"input":{"text":"tenant default"}}`)
	id := body["id"].(string)
	eventually(t, "a delivery to the tenant's default URL", func() bool { return len(rcv.requests()) > 0 })
	got := rcv.requests()[0]
	if err := signing.Verify(secret, got.header, got.body, time.Now(), 0); err != nil {
		t.Errorf("the delivery does not verify with the tenant's secret: %v", err)
	}
	if err := signing.Verify(testWebhookSecret, got.header, got.body, time.Now(), 0); err == nil {
		t.Errorf("the delivery verifies with the operator's secret: the tenant's own should sign alone")
	}
	if !strings.Contains(string(got.body), id) {
		t.Errorf("delivery body = %s", got.body)
	}
	if strings.Contains(scanTable(t), strings.TrimPrefix(secret, "whsec_")) {
		t.Error("the tenant's webhook secret is in the table in plaintext")
	}
	if strings.Contains(logs.String(), strings.TrimPrefix(secret, "whsec_")) {
		t.Error("the tenant's webhook secret is in the logs")
	}
}

func TestWebhookURLRefusedAtAccept(t *testing.T) {
	for _, tc := range []struct{ url, code string }{
		{"http://169.254.169.254/latest/meta-data", "webhook_url_forbidden"},
		{"ftp://example.com/hook", "validation_failed"},
	} {
		code, _, body := call(t, http.MethodPost, "/v1/agents/echo/invoke/async", fmt.Sprintf(`{"input":{"text":"x"},"webhook_url":%q}`, tc.url))
		if code != http.StatusUnprocessableEntity || body["code"] != tc.code {
			t.Errorf("webhook_url %s: %d %v, want 422 %s", tc.url, code, body, tc.code)
		}
	}
}

// callAs is call with another API key.
func callAs(t *testing.T, key, method, path, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, sys.APIURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-api-key", key)
	req.Header.Set("content-type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
	}
	return resp.StatusCode, resp.Header, out
}

// TestLocalStackSmokeScript runs localstack/smoke.sh, which checks a LocalStack deployment, against
// the local system: the same API, and a bus that speaks EventBridge's protocol as LocalStack's
// does, so the script's every step (both dialects, and an Invoke Agent event put on the bus) is
// exercised where no Docker runs.
func TestLocalStackSmokeScript(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "node"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing; .ci/run installs it", tool)
			}
			t.Skipf("%s is not installed", tool)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "..", "localstack", "smoke.sh"))
	cmd.Env = append(os.Environ(), "API_URL="+sys.APIURL, "API_KEY="+testKey, "EVENT_BUS="+sys.Bus.Name,
		"AWS_ENDPOINT="+sys.Bus.URL, "SMOKE_TIMEOUT=60")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "smoke: PASS (xpander, ServiceNet and EventBridge flows)") {
		t.Fatalf("smoke.sh: %v\n%s", err, out)
	}
}
