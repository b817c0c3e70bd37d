//go:build linux

// Package lambdaruntime_test runs the Lambda functions as Lambda runs them: the built bootstrap
// binaries (GOOS=linux, the host's GOARCH, CGO_ENABLED=0, -tags lambda.norpc), each started by
// @vercel/fun, an implementation of the Lambda Runtime API, with its configuration in environment
// variables, and reaching DynamoDB, SQS and EventBridge through the AWS SDK's
// AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL_EVENTBRIDGE, here the local
// emulators and a local event bus (shared/local/eventbus).
//
// One task goes the whole way: invoke accepts it (with a webhook_url), worker runs it, poll reads
// it, notify gets its changes from the table's real stream and puts its completion event on the
// bus and its webhook delivery on the webhook queue, and deliver posts the signed webhook. The
// trigger turns an EventBridge event into a task, twice (the same task).
//
// It covers what the handler tests cannot: the mains (environment, SDK configuration,
// lambda.Start), the event and response encodings on the wire of the Runtime API, partial batch
// responses and handled errors as Lambda's Invoke API reports them, and warm invocations of one
// process.
//
// Needs Node.js >= 20 with npm (the driver, invoke.mjs, and its pinned @vercel/fun are installed by
// install.sh, which the test runs) and the emulators (make tools). Without them it skips, unless
// CI is set. It is Linux-only: the bootstraps are Linux binaries run on the host.
package lambdaruntime_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/local/demoagent"
	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/local/eventbus"
	"github.com/agentq/agentq/shared/local/system"
	"github.com/agentq/agentq/shared/notify"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/trigger"
	"github.com/agentq/agentq/shared/webhook"
	"github.com/agentq/agentq/shared/webhook/signing"
)

const (
	tenant    = "acme"
	agentID   = "echo"
	region    = "us-east-1"
	tableName = "agentq-rt-tasks"
	// workQueue and webhookQueue are the work and webhook queues' names; queue.Create adds
	// their dead-letter queues. triggerDLQ is the trigger's dead-letter queue, eventBus the bus.
	workQueue    = "agentq-rt-work"
	webhookQueue = "agentq-rt-webhooks"
	triggerDLQ   = "agentq-rt-trigger-dlq"
	eventBus     = "agentq-rt-events"
	// The functions' timeouts, as the stack sets them (infra/construct/api, pipeline, events);
	// the worker's is shorter than its five minutes, notify's and deliver's than their minute, to
	// keep a hang short. The Runtime API hands each invocation its deadline from these. Deliver
	// needs more than webhook.AttemptTimeout + 5 s, or it hands the message back untried.
	apiTimeout     = 29
	workerTimeout  = 30
	triggerTimeout = 30
	notifyTimeout  = 30
	deliverTimeout = 30
	// testTimeout bounds the whole test: build, emulators, seven function runs.
	testTimeout = 3 * time.Minute
)

// functions are built into the test's temporary directory as <dir>/<name>/bootstrap.
var functions = []string{"invoke", "worker", "poll", "trigger", "notify", "deliver"}

// result is what Lambda's Invoke API answers, as invoke.mjs prints it.
type result struct {
	StatusCode      int             `json:"StatusCode"`
	FunctionError   string          `json:"FunctionError"`
	ExecutedVersion string          `json:"ExecutedVersion"`
	Payload         json.RawMessage `json:"Payload"`
}

// httpResponse is the part of an API Gateway proxy response (payload 1.0 or 2.0) checked here.
type httpResponse struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Body              string              `json:"body"`
}

// header reads a response header from either map: a payload 1.0 response may carry its headers
// in multiValueHeaders only.
func (r httpResponse) header(name string) string {
	if v, ok := r.Headers[name]; ok {
		return v
	}
	if v := r.MultiValueHeaders[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// xpanderTask is the part of the xpander task view checked here.
type xpanderTask struct {
	ID      string  `json:"id"`
	TaskID  string  `json:"task_id"`
	Tenant  string  `json:"organization_id"`
	AgentID string  `json:"agent_id"`
	Status  string  `json:"status"`
	Result  *string `json:"result"`
}

func TestBootstrapsUnderRuntimeAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: -short (builds the bootstraps and starts the emulators)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	start := time.Now()

	root := moduleRoot(t)
	here := filepath.Join(root, "test", "lambdaruntime")
	node := requireTool(t, "node")
	requireTool(t, "npm")
	requireTool(t, "bash")
	if err := emulators.CheckInstalled(emulators.Options{}); err != nil {
		missing(t, err.Error())
	}

	// The build, the driver's install and the emulators' start are independent.
	dir := t.TempDir()
	built := make(chan error, 1)
	go func() { built <- buildBootstraps(ctx, root, dir, functions...) }()
	installed := make(chan error, 1)
	go func() { installed <- installDriver(ctx, here) }()

	em, err := emulators.Start(ctx, emulators.Options{})
	if errors.Is(err, emulators.ErrNotInstalled) {
		missing(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := em.Close(); err != nil {
			t.Errorf("stop emulators: %v", err)
		}
	})
	ddb, sq := system.Clients(em.DynamoDBEndpoint, em.SQSEndpoint, 0)
	if err := table.CreateTable(ctx, ddb, tableName); err != nil {
		t.Fatal(err)
	}
	queues, err := queue.Create(ctx, sq, workQueue, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	hookQueues, err := queue.Create(ctx, sq, webhookQueue, webhook.VisibilityTimeout)
	if err != nil {
		t.Fatal(err)
	}
	rejects, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(triggerDLQ)})
	if err != nil {
		t.Fatal(err)
	}
	bus, err := eventbus.Start(ctx, eventbus.Options{Name: eventBus}) // 127.0.0.1
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := bus.Close(); err != nil {
			t.Errorf("stop event bus: %v", err)
		}
	})
	if err := <-installed; err != nil {
		missing(t, "install the Lambda Runtime API driver: "+err.Error())
	}
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	t.Logf("built, installed and started in %v", time.Since(start).Round(time.Millisecond))

	agentSrv := httptest.NewServer(&calls) // 127.0.0.1
	defer agentSrv.Close()
	hooks := newHookReceiver(t) // 127.0.0.1
	hookURL := hooks.URL + "/hooks/agentq"
	key := randomKey(t)
	// The operator's signing secret: the tenant has none of its own.
	secret, err := signing.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	agents, err := json.Marshal([]map[string]any{{
		"id": agentID, "name": "Echo", "protocol": "http", "endpoint": agentSrv.URL + "/", "timeout": "20s", "auth": "none",
	}})
	if err != nil {
		t.Fatal(err)
	}
	// What the stack gives each function, and what Lambda and the test add: the region and
	// credentials (reserved in Lambda: the driver hands them to the Runtime API as the function's
	// own), and the emulators' endpoints, which config.LoadDefaultConfig reads.
	base := map[string]string{
		"AGENTQ_TABLE":     tableName,
		"AGENTQ_TASK_TTL":  "24h",
		"AGENTQ_LOG_LEVEL": "debug",
		// The test's agent is on 127.0.0.1, which a deployed worker may not reach.
		"AGENTQ_ALLOW_LOOPBACK_URLS": "1",
		"AWS_REGION":                 region,
		"AWS_ACCESS_KEY_ID":          "local",
		"AWS_SECRET_ACCESS_KEY":      "local",
		"AWS_ENDPOINT_URL_DYNAMODB":  em.DynamoDBEndpoint,
		"AWS_ENDPOINT_URL_SQS":       em.SQSEndpoint,
		// Nothing may look for credentials or a region in instance metadata (169.254.169.254).
		"AWS_EC2_METADATA_DISABLED": "true",
	}
	env := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	d := &driver{node: node, script: filepath.Join(here, "invoke.mjs"), cache: t.TempDir()}

	// invoke: an HTTP API (payload 2.0) request, then a REST API (payload 1.0) one on the warm
	// process. The first asks for a webhook, which the webhook settings let it take. The first also
	// carries an authorizer's context naming another tenant: there is no gateway authorizer, the
	// function checks the key itself and trusts nothing else in the event.
	v2 := readEvent[events.APIGatewayV2HTTPRequest](t, root, "apigw-v2-invoke-xpander.json")
	v2.Headers["x-api-key"] = key
	v2.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		Lambda: map[string]any{"tenant": "intruder"}}
	// It asks for its outcome on the bus too (completion_event), which notify checks below.
	v2.Body = string(withFields(t, []byte(v2.Body), map[string]any{"webhook_url": hookURL, "completion_event": true}))
	v2.Headers["content-length"] = strconv.Itoa(len(v2.Body))
	v1 := readEvent[events.APIGatewayProxyRequest](t, root, "apigw-v1-invoke-xpander.json")
	v1.Headers["x-api-key"] = key
	v1.MultiValueHeaders["x-api-key"] = []string{key}
	res := d.run(ctx, t, filepath.Join(dir, "invoke"), apiTimeout, env(map[string]string{
		"AGENTQ_QUEUE_URL":         queues.URL,
		"AGENTQ_API_KEYS":          tenant + ":" + apikey.Hash(key),
		"AGENTQ_AGENTS":            string(agents),
		"AGENTQ_WEBHOOK_QUEUE_URL": hookQueues.URL,
		"AGENTQ_WEBHOOK_SECRET":    secret,
	}), v2, v1)
	accepted := make([]xpanderTask, len(res))
	for i, r := range res {
		resp := answered(t, r)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("invoke event %d: statusCode %d, want 200: %s", i+1, resp.StatusCode, resp.Body)
		}
		if ct := resp.header("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("invoke event %d: Content-Type %q, want application/json", i+1, ct)
		}
		if err := json.Unmarshal([]byte(resp.Body), &accepted[i]); err != nil {
			t.Fatalf("invoke event %d: body is not a task: %v: %s", i+1, err, resp.Body)
		}
		if a := accepted[i]; a.Status != "pending" || a.TaskID == "" || a.AgentID != agentID || a.Tenant != tenant {
			t.Fatalf("invoke event %d: task %+v, want a pending task of agent %s for the key's tenant %s", i+1, a, agentID, tenant)
		}
	}
	if accepted[0].TaskID == accepted[1].TaskID {
		t.Fatalf("both invocations answered task %s", accepted[0].TaskID)
	}
	taskID := accepted[0].TaskID

	// worker: the work message invoke sent for the first task, as the event source mapping would
	// deliver it, and a malformed message next to it.
	malformed := "this is not a work message"
	if _, err := sq.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &queues.URL, MessageBody: &malformed}); err != nil {
		t.Fatal(err)
	}
	work, bad := receive(ctx, t, sq, queues.URL, taskID, malformed)
	batch := readEvent[events.SQSEvent](t, root, "sqs-invoke-batch.json")
	batch.Records = []events.SQSMessage{
		sqsRecord(batch.Records[0], work, queues.ARN),
		sqsRecord(batch.Records[1], bad, queues.ARN),
	}
	res = d.run(ctx, t, filepath.Join(dir, "worker"), workerTimeout, env(map[string]string{
		"AGENTQ_QUEUE_URL": queues.URL,
		"AGENTQ_DLQ_ARN":   queues.DLQARN,
	}), batch)
	if res[0].FunctionError != "" {
		t.Fatalf("worker: function error %s: %s", res[0].FunctionError, res[0].Payload)
	}
	var batchResp events.SQSEventResponse
	if err := strictJSON(res[0].Payload, &batchResp); err != nil {
		t.Fatalf("worker: not a partial batch response: %v: %s", err, res[0].Payload)
	}
	if f := batchResp.BatchItemFailures; len(f) != 1 || f[0].ItemIdentifier != aws.ToString(bad.MessageId) {
		t.Errorf("worker: batchItemFailures = %+v, want exactly the malformed record %s", f, aws.ToString(bad.MessageId))
	}
	got, err := store.New(ddb, tableName).Get(ctx, taskID)
	if err != nil {
		t.Fatal(err)
	}
	wantText := "Analyze competitor pricing for Q1 2026" // the sample event's input.text
	if got.State != task.Succeeded || got.Result != wantText {
		t.Errorf("task in DynamoDB: %s with result %q, want succeeded with %q (%s %s)", got.State, got.Result, wantText, got.Reason, got.ReasonMessage)
	}
	if got.WebhookURL != hookURL {
		t.Errorf("task in DynamoDB: webhook URL %q, want %q", got.WebhookURL, hookURL)
	}
	if n := calls.of(taskID); n != 1 {
		t.Errorf("the agent was called %d times for the task, want once", n)
	}

	// poll: the task by id, then an event that is no API Gateway request, which the handler
	// refuses: Lambda reports that as a handled function error, and the process lives on.
	get := readEvent[events.APIGatewayV2HTTPRequest](t, root, "apigw-v2-get-task.json")
	get.Headers["x-api-key"] = key
	get.RawPath = "/v1/tasks/" + taskID
	get.RequestContext.HTTP.Path = get.RawPath
	get.PathParameters["task_id"] = taskID
	res = d.run(ctx, t, filepath.Join(dir, "poll"), apiTimeout, env(map[string]string{
		"AGENTQ_API_KEYS": tenant + ":" + apikey.Hash(key),
	}), get, map[string]string{"hello": "lambda"})
	resp := answered(t, res[0])
	var view xpanderTask
	if err := json.Unmarshal([]byte(resp.Body), &view); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("poll: statusCode %d, body %s (%v), want 200 with the task", resp.StatusCode, resp.Body, err)
	}
	if view.TaskID != taskID || view.Status != "completed" || view.Result == nil || *view.Result != wantText {
		t.Errorf("poll: task %+v, want %s completed with result %q", view, taskID, wantText)
	}
	if res[1].FunctionError != "Handled" {
		t.Errorf("poll of a non-HTTP event: FunctionError %q, want Handled: %s", res[1].FunctionError, res[1].Payload)
	}
	var fnErr struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}
	if err := json.Unmarshal(res[1].Payload, &fnErr); err != nil || fnErr.ErrorMessage == "" {
		t.Errorf("poll of a non-HTTP event: payload %s, want Lambda's {errorMessage, errorType}", res[1].Payload)
	}

	// trigger: an EventBridge event (detail-type "Invoke Agent") for the test's agent, then the
	// same event again on the warm process, as EventBridge may deliver it twice: the event's id
	// is the idempotency key, so both answer the same task.
	ebEvent := readEvent[events.EventBridgeEvent](t, root, "eventbridge-invoke.json")
	ebEvent.Detail = withFields(t, ebEvent.Detail, map[string]any{"agent_id": agentID, "tenant": tenant})
	res = d.run(ctx, t, filepath.Join(dir, "trigger"), triggerTimeout, env(map[string]string{
		"AGENTQ_QUEUE_URL":       queues.URL,
		"AGENTQ_TRIGGER_DLQ_URL": aws.ToString(rejects.QueueUrl),
		"AGENTQ_AGENTS":          string(agents),
	}), ebEvent, ebEvent)
	triggered := make([]trigger.Result, len(res))
	for i, r := range res {
		if r.FunctionError != "" {
			t.Fatalf("trigger event %d: function error %s: %s", i+1, r.FunctionError, r.Payload)
		}
		if err := strictJSON(r.Payload, &triggered[i]); err != nil {
			t.Fatalf("trigger event %d: not a trigger result: %v: %s", i+1, err, r.Payload)
		}
		if tr := triggered[i]; tr.Outcome != trigger.Accepted || tr.Source != trigger.SourceEventBridge || tr.TaskID == "" ||
			tr.EventID != ebEvent.ID || tr.AgentID != agentID || tr.Tenant != tenant {
			t.Fatalf("trigger event %d: %+v, want a task accepted from eventbridge event %s for agent %s of %s", i+1, tr, ebEvent.ID, agentID, tenant)
		}
	}
	if triggered[0].TaskID != triggered[1].TaskID {
		t.Errorf("the same event made two tasks: %s and %s", triggered[0].TaskID, triggered[1].TaskID)
	}
	fromEvent, err := store.New(ddb, tableName).Get(ctx, triggered[0].TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if fromEvent.Source != trigger.SourceEventBridge || fromEvent.Tenant != tenant || fromEvent.AgentID != agentID {
		t.Errorf("triggered task in DynamoDB: source %q, tenant %q, agent %q; want %q, %q, %q",
			fromEvent.Source, fromEvent.Tenant, fromEvent.AgentID, trigger.SourceEventBridge, tenant, agentID)
	}

	// notify: the changes of the task the worker ran, read from the table's stream as the event
	// source mapping reads them (its insert, its start and its end: only the end makes an event).
	streams := dynamodbstreams.NewFromConfig(aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")},
		func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(em.DynamoDBEndpoint) })
	streamARN, changes := taskStream(ctx, t, ddb, streams, taskID, task.Succeeded)
	if len(changes) < 2 || changes[0].EventName != streamtypes.OperationTypeInsert {
		t.Fatalf("stream: %d records of task %s, want its insert first and its later changes", len(changes), taskID)
	}
	res = d.run(ctx, t, filepath.Join(dir, "notify"), notifyTimeout, env(map[string]string{
		"AGENTQ_EVENT_BUS":             bus.Name,
		"AGENTQ_WEBHOOK_QUEUE_URL":     hookQueues.URL,
		"AGENTQ_WEBHOOK_SECRET":        secret,
		"AWS_ENDPOINT_URL_EVENTBRIDGE": bus.URL,
	}), streamEvent(t, streamARN, changes))
	if res[0].FunctionError != "" {
		t.Fatalf("notify: function error %s: %s", res[0].FunctionError, res[0].Payload)
	}
	var streamResp events.DynamoDBEventResponse
	if err := strictJSON(res[0].Payload, &streamResp); err != nil {
		t.Fatalf("notify: not a partial batch response: %v: %s", err, res[0].Payload)
	}
	if f := streamResp.BatchItemFailures; len(f) != 0 {
		t.Errorf("notify: batchItemFailures = %+v, want none (%d records)", f, len(changes))
	}
	var published []eventbus.Event
	for _, e := range bus.Events() {
		var dt notify.Detail
		if json.Unmarshal(e.Detail, &dt) == nil && dt.TaskID == taskID {
			published = append(published, e)
		}
	}
	if len(published) != 1 {
		t.Fatalf("the bus got %d events for task %s, want one: %+v", len(published), taskID, published)
	}
	var detail notify.Detail
	if err := json.Unmarshal(published[0].Detail, &detail); err != nil {
		t.Fatal(err)
	}
	if e := published[0]; e.Source != notify.Source || e.DetailType != notify.DetailCompleted || e.Bus != bus.Name ||
		detail.State != task.Succeeded || detail.Tenant != tenant || detail.AgentID != agentID {
		t.Errorf("event on the bus: %s %q on %s, detail %+v; want %s %q on %s for a succeeded task of %s, agent %s",
			e.Source, e.DetailType, e.Bus, detail, notify.Source, notify.DetailCompleted, bus.Name, tenant, agentID)
	}

	// deliver: the delivery notify scheduled for the task's webhook_url, as the webhook queue's
	// event source mapping would hand it over.
	hookMsg, delivery := receiveDelivery(ctx, t, sq, hookQueues.URL, taskID)
	if delivery.Kind != webhook.MessageKind || delivery.Attempt != 1 || delivery.DeliveryID == "" {
		t.Errorf("webhook queue: message %+v, want the first attempt of a delivery", delivery)
	}
	batch = readEvent[events.SQSEvent](t, root, "sqs-invoke-batch.json")
	batch.Records = []events.SQSMessage{sqsRecord(batch.Records[0], hookMsg, hookQueues.ARN)}
	res = d.run(ctx, t, filepath.Join(dir, "deliver"), deliverTimeout, env(map[string]string{
		"AGENTQ_WEBHOOK_QUEUE_URL": hookQueues.URL,
		"AGENTQ_WEBHOOK_DLQ_URL":   hookQueues.DLQURL,
		"AGENTQ_WEBHOOK_SECRET":    secret,
	}), batch)
	if res[0].FunctionError != "" {
		t.Fatalf("deliver: function error %s: %s", res[0].FunctionError, res[0].Payload)
	}
	batchResp = events.SQSEventResponse{}
	if err := strictJSON(res[0].Payload, &batchResp); err != nil {
		t.Fatalf("deliver: not a partial batch response: %v: %s", err, res[0].Payload)
	}
	if f := batchResp.BatchItemFailures; len(f) != 0 {
		t.Errorf("deliver: batchItemFailures = %+v, want none", f)
	}
	posts := hooks.requests()
	if len(posts) != 1 {
		t.Fatalf("the webhook receiver got %d requests, want one", len(posts))
	}
	post := posts[0]
	if post.method != http.MethodPost || post.path != "/hooks/agentq" {
		t.Errorf("webhook: %s %s, want POST /hooks/agentq", post.method, post.path)
	}
	if err := signing.Verify(secret, post.header, post.body, time.Now(), 0); err != nil {
		t.Errorf("webhook: the delivery does not verify: %v (headers %v)", err, post.header)
	}
	var hookEvent webhook.Event
	var hookDetail notify.Detail
	if err := json.Unmarshal(post.body, &hookEvent); err != nil || json.Unmarshal(hookEvent.Data, &hookDetail) != nil {
		t.Fatalf("webhook: payload %s is not an event", post.body)
	}
	if hookEvent.Type != notify.TypeCompleted || hookDetail.TaskID != taskID || hookDetail.Version != detail.Version {
		t.Errorf("webhook: %s of task %s version %d; want %s of %s version %d", hookEvent.Type, hookDetail.TaskID, hookDetail.Version,
			notify.TypeCompleted, taskID, detail.Version)
	}
	delivered, err := webhook.New(webhook.Config{DB: ddb, Table: tableName}).Deliveries(ctx, tenant, taskID)
	if err != nil {
		t.Fatal(err)
	}
	if len(delivered) != 1 || delivered[0].ID != delivery.DeliveryID || delivered[0].State != webhook.Succeeded || len(delivered[0].Attempts) != 1 {
		t.Errorf("delivery log of task %s: %+v, want delivery %s succeeded at its first attempt", taskID, delivered, delivery.DeliveryID)
	}
	t.Logf("whole test: %v", time.Since(start).Round(time.Millisecond))
}

// driver runs invoke.mjs.
type driver struct {
	node, script string
	// cache is fun's cache directory (XDG_CACHE_HOME), where it keeps its copy of the runtime.
	cache string
}

// run invokes the function in fnDir with env once for each event, in order, in one Runtime API
// session (the second event finds the process warm), and returns Lambda's answers. It fails the
// test unless every event was answered and no process the driver started outlives it.
func (d *driver) run(ctx context.Context, t *testing.T, fnDir string, timeout int, env map[string]string, evs ...any) []result {
	t.Helper()
	name := filepath.Base(fnDir)
	work := t.TempDir()
	write := func(file string, v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(work, file)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	out := filepath.Join(work, "results.jsonl")
	args := []string{d.script, "--timeout=" + strconv.Itoa(timeout), "--out=" + out, fnDir, write("env.json", env)}
	for i, ev := range evs {
		args = append(args, write(fmt.Sprintf("event-%d.json", i+1), ev))
	}

	// The driver gives up by itself after timeout + 30 s; this is the backstop.
	runCtx, cancel := context.WithTimeout(ctx, time.Duration(timeout+40)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(runCtx, d.node, args...)
	cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+d.cache, "DEBUG=")
	var output bytes.Buffer // the driver's messages and the function's logs and metrics
	cmd.Stdout, cmd.Stderr = &output, &output
	// Its own process group, so that whatever it leaves can be found, and killed on a time-out.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	began := time.Now()
	err := cmd.Run()
	took := time.Since(began).Round(time.Millisecond)
	t.Logf("%s (%d events, %v):\n%s", name, len(evs), took, indent(output.String()))
	if cmd.Process != nil {
		checkGroupGone(t, name, cmd.Process.Pid)
	}
	if err != nil {
		t.Fatalf("%s: driver: %v", name, err)
	}

	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var res []result
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64*1024), 8<<20)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: result line %q: %v", name, sc.Text(), err)
		}
		if r.StatusCode != http.StatusOK || r.ExecutedVersion != "$LATEST" {
			t.Errorf("%s: Invoke answered StatusCode %d, version %q; want 200, $LATEST", name, r.StatusCode, r.ExecutedVersion)
		}
		res = append(res, r)
	}
	if len(res) != len(evs) {
		t.Fatalf("%s: %d results for %d events", name, len(res), len(evs))
	}
	return res
}

// checkGroupGone fails the test if any process of the driver's process group is still there a
// moment after the driver exited, and kills them.
func checkGroupGone(t *testing.T, name string, pgid int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: processes of the function were left behind; killing process group %d", name, pgid)
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answered checks that the function answered an API Gateway event (no function error) and decodes
// the proxy response.
func answered(t *testing.T, r result) httpResponse {
	t.Helper()
	if r.FunctionError != "" {
		t.Fatalf("function error %s: %s", r.FunctionError, r.Payload)
	}
	var resp httpResponse
	if err := json.Unmarshal(r.Payload, &resp); err != nil {
		t.Fatalf("not an API Gateway response: %v: %s", err, r.Payload)
	}
	return resp
}

// receive takes, from the work queue, the work message for taskID and the message whose body is
// malformed. Other messages (the second invocation's) are left to become visible again.
func receive(ctx context.Context, t *testing.T, sq *sqs.Client, url, taskID, malformed string) (work, bad sqstypes.Message) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var haveWork, haveBad bool
	for !(haveWork && haveBad) {
		if time.Now().After(deadline) {
			t.Fatalf("work queue: message for task %s found: %v, malformed message found: %v", taskID, haveWork, haveBad)
		}
		out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			body := aws.ToString(m.Body)
			if body == malformed {
				bad, haveBad = m, true
				continue
			}
			msg, err := queue.Decode(body)
			if err != nil {
				t.Fatalf("invoke sent a message the worker cannot read: %v: %s", err, body)
			}
			if msg.TaskID == taskID {
				if msg.Tenant != tenant || msg.Agent.ID != agentID {
					t.Errorf("work message for tenant %q, agent %q; want %q, %q", msg.Tenant, msg.Agent.ID, tenant, agentID)
				}
				work, haveWork = m, true
			}
		}
	}
	return work, bad
}

// sqsRecord is a received message as Lambda's SQS event source delivers it, shaped like the
// sample record tpl.
func sqsRecord(tpl events.SQSMessage, m sqstypes.Message, queueARN string) events.SQSMessage {
	rec := tpl
	rec.MessageId = aws.ToString(m.MessageId)
	rec.ReceiptHandle = aws.ToString(m.ReceiptHandle)
	rec.Body = aws.ToString(m.Body)
	rec.Md5OfBody = aws.ToString(m.MD5OfBody)
	rec.Attributes = m.Attributes
	rec.MessageAttributes = map[string]events.SQSMessageAttribute{}
	rec.EventSource = "aws:sqs"
	rec.EventSourceARN = queueARN
	rec.AWSRegion = region
	return rec
}

// agentCalls is the echo agent, counting its calls per task.
type agentCalls struct {
	mu sync.Mutex
	n  map[string]int
}

var calls agentCalls

func (c *agentCalls) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body bytes.Buffer
	if _, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req struct {
		TaskID string `json:"task_id"`
	}
	_ = json.Unmarshal(body.Bytes(), &req)
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[req.TaskID]++
	c.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body.Bytes()))
	demoagent.Handler().ServeHTTP(w, r)
}

func (c *agentCalls) of(taskID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[taskID]
}

// buildBootstraps builds each function for Linux on the host's architecture into
// dir/<name>/bootstrap, as `make build` does for Lambda's.
func buildBootstraps(ctx context.Context, root, dir string, functions ...string) error {
	bin := filepath.Join(dir, "bin")
	args := []string{"build", "-tags", "lambda.norpc", "-buildvcs=false", "-o", bin + string(filepath.Separator)}
	for _, fn := range functions {
		args = append(args, "./functions/"+fn)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, fn := range functions {
		if err := os.MkdirAll(filepath.Join(dir, fn), 0o755); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(bin, fn), filepath.Join(dir, fn, "bootstrap")); err != nil {
			return err
		}
	}
	return nil
}

// installDriver runs install.sh, which installs the pinned @vercel/fun unless it already is.
func installDriver(ctx context.Context, here string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(here, "install.sh"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	return nil
}

// readEvent decodes a sample event from events/.
func readEvent[T any](t *testing.T, root, name string) *T {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "events", name))
	if err != nil {
		t.Fatal(err)
	}
	ev := new(T)
	if err := strictJSON(raw, ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// moduleRoot is the root module's directory, found from the working directory up.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/agentq/agentq\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod of github.com/agentq/agentq above the working directory")
		}
		dir = parent
	}
}

// requireTool returns the path of a program the test needs.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name+" is not on PATH")
	}
	return p
}

// missing skips the test for a missing tool, or fails it under CI, which must have everything.
func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI installs it: .ci/run, make tools)", why)
	}
	t.Skipf("skipping: %s", why)
}

func randomKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "rt-" + hex.EncodeToString(b)
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (no output)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
