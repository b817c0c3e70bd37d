package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/local/system"
)

// memoryTasks is how many tasks each function is fed in the memory run: two worker batches.
const memoryTasks = 20

// memory runs the built function binaries (Config.Functions) one after another, each as Lambda
// would run it (RunFunction: a fake Runtime API, the environment the stack gives it, the run's
// emulators), on representative events: invoke accepts memoryTasks tasks in both dialects, poll
// reads each, the worker works them in batches of ten as the event source mapping would hand
// them over. It prints each function's peak resident memory beside its configured memory, and
// the worker's CPU time per batch, which is what its memory size buys.
func (b *Bench) memory() error {
	if len(b.cfg.Functions) == 0 {
		return nil
	}
	env, err := b.functionEnv()
	if err != nil {
		return err
	}
	inv, err := b.memoryOf("invoke", append(env, "AGENTQ_QUEUE_URL="+b.sys.Queues.URL), invokeEvents(memoryTasks, b.api.key()))
	if err != nil {
		return err
	}
	ids := inv.IDs
	if _, err := b.memoryOf("poll", env, pollEvents(ids, b.api.key())); err != nil {
		return err
	}
	batches, err := b.workBatches(len(ids))
	if err != nil {
		return err
	}
	p, err := b.memoryOf("worker", append(env, "AGENTQ_QUEUE_URL="+b.sys.Queues.URL, "AGENTQ_DLQ_ARN="+b.sys.Queues.DLQARN), batches)
	if err != nil {
		return err
	}
	tasks := 0
	for _, ev := range batches {
		var e events.SQSEvent
		_ = json.Unmarshal(ev, &e)
		tasks += len(e.Records)
	}
	cpu := float64(p.CPU.Milliseconds()) / float64(tasks)
	var parts []string
	for _, mb := range []float64{128, 256, 512, 1024} {
		parts = append(parts, fmt.Sprintf("mb%.0f=%.1f", mb, WorkerBilledAt(mb, b.batchMsPerTask, cpu)))
	}
	fmt.Fprintf(b.w, "worker: memory_choice est_billed_ms_per_task %s cpu_ms_per_task=%.1f handler_ms_per_task=%.1f\n",
		strings.Join(parts, " "), cpu, b.batchMsPerTask)
	return nil
}

// FullCPUMB is the memory size at which Lambda gives a function one full vCPU; below it a
// function gets that share of a vCPU.
const FullCPUMB = 1769

// WorkerBilledAt estimates the worker's billed milliseconds per task (times memory in GB) at
// memory mb, from its handler time per task measured with a full CPU and the CPU time that
// took: the wait on agents does not change with memory, the CPU time stretches by the share of
// a vCPU mb buys.
func WorkerBilledAt(mb, handlerMs, cpuMs float64) float64 {
	share := min(mb/FullCPUMB, 1)
	return (handlerMs - cpuMs + cpuMs/share) * mb / 1024
}

// functionEnv is what every function is given: the stack's settings for this run's table, key
// and agents, and the emulators' endpoints.
func (b *Bench) functionEnv() ([]string, error) {
	agents, err := json.Marshal([]agent.Agent{{ID: "echo", Name: "Echo", Protocol: agent.HTTP, Endpoint: b.sys.EchoURL, Auth: agent.AuthNone}})
	if err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
		"AGENTQ_TABLE=" + b.sys.Table, "AGENTQ_API_KEYS=default:" + apikey.Hash(b.api.key()), "AGENTQ_AGENTS=" + string(agents),
		"AGENTQ_ALLOW_LOOPBACK_URLS=1", "AGENTQ_LOG_LEVEL=error",
		// Unbounded, as the run's own API: the events come faster than a tenant's default rate.
		"AGENTQ_TENANT_RATE=0", "AGENTQ_TENANT_MAX_IN_FLIGHT=0",
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ENDPOINT_URL_DYNAMODB=" + b.sys.DynamoDBEndpoint, "AWS_ENDPOINT_URL_SQS=" + b.sys.SQSEndpoint,
	}, nil
}

// memoryOf runs function fn on evs, prints its memory line and answers what it measured, with the
// task ids its answers name (invoke's).
func (b *Bench) memoryOf(fn string, env []string, evs [][]byte) (Peak, error) {
	env = append(slices.Clone(env), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(int(MemoryMB[fn])))
	p, err := RunFunction(b.ctx, fn, b.cfg.Functions[fn], env, evs)
	if err != nil {
		return Peak{}, fmt.Errorf("memory: %w", err)
	}
	for _, a := range p.Answers {
		var resp struct {
			StatusCode int    `json:"statusCode"`
			Body       string `json:"body"`
		}
		if json.Unmarshal(a, &resp) != nil || resp.StatusCode == 0 {
			continue
		}
		if resp.StatusCode >= 300 {
			return Peak{}, fmt.Errorf("memory: %s answered %d: %s", fn, resp.StatusCode, resp.Body)
		}
		var t map[string]any
		_ = json.Unmarshal([]byte(resp.Body), &t)
		for _, k := range []string{"task_id", "receipt_id"} {
			if id, _ := t[k].(string); id != "" {
				p.IDs = append(p.IDs, id)
				break
			}
		}
	}
	fmt.Fprintf(b.w, "memory: fn=%s configured_mb=%.0f peak_mb=%.1f events=%d errors=%d cpu_ms_per_event=%.1f\n",
		fn, MemoryMB[fn], p.PeakMB, len(evs), p.Errors, float64(p.CPU.Milliseconds())/float64(len(evs)))
	return p, nil
}

// invokeEvents are n HTTP API (payload 2.0) invocations of echo, half in each dialect.
func invokeEvents(n int, key string) [][]byte {
	var evs [][]byte
	for i := range n {
		path, body := "/v1/agents/echo/invoke/async", `{"input":{"text":"bench","delay_ms":1000}}`
		if i%2 == 1 {
			path, body = "/v1/agents/echo/invoke-async", `{"message":"bench","input":{"text":"bench","delay_ms":1000}}`
		}
		evs = append(evs, httpEvent("POST", path, body, key))
	}
	return evs
}

// pollEvents read each task once, in the dialect it was accepted in (as invokeEvents alternate).
func pollEvents(ids []string, key string) [][]byte {
	var evs [][]byte
	for i, id := range ids {
		path := "/v1/tasks/" + id
		if i%2 == 1 {
			path = "/v1/receipts/" + id
		}
		evs = append(evs, httpEvent("GET", path, "", key))
	}
	return evs
}

// httpEvent is an HTTP API request as API Gateway hands it to a function, with the run's key.
func httpEvent(method, path, body, key string) []byte {
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: path, Body: body,
		Headers: map[string]string{"content-type": "application/json", "x-api-key": key},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			Stage: "$default", RequestID: "bench", HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: method, Path: path, Protocol: "HTTP/1.1", SourceIP: "127.0.0.1"}},
	}
	b, _ := json.Marshal(ev)
	return b
}

// workBatches receives up to n work messages (those on the queue within ten receives) and answers
// them as SQS events of ten records at most.
func (b *Bench) workBatches(n int) ([][]byte, error) {
	_, sq := system.Clients(b.sys.DynamoDBEndpoint, b.sys.SQSEndpoint, 0)
	var msgs []sqstypes.Message
	for tries := 0; len(msgs) < n && tries < 10; tries++ {
		out, err := sq.ReceiveMessage(b.ctx, &sqs.ReceiveMessageInput{QueueUrl: &b.sys.Queues.URL, MaxNumberOfMessages: 10,
			WaitTimeSeconds: 1, VisibilityTimeout: 120,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			return nil, fmt.Errorf("memory: receive work: %w", err)
		}
		msgs = append(msgs, out.Messages...)
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("memory: no work message of %d", n)
	}
	var evs [][]byte
	for batch := range slices.Chunk(msgs, 10) {
		var ev events.SQSEvent
		for _, m := range batch {
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
				Body: aws.ToString(m.Body), Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: m.Attributes,
				EventSource: "aws:sqs", EventSourceARN: b.sys.Queues.ARN, AWSRegion: "us-east-1"})
		}
		raw, _ := json.Marshal(ev)
		evs = append(evs, raw)
	}
	return evs, nil
}
