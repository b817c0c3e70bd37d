//go:build linux

package lambdaruntime_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/local/system"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/sse"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tasklog"
)

// The Runtime API's paths (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
const (
	runtimePrefix = "/2018-06-01/runtime/"
	nextPath      = runtimePrefix + "invocation/next"
	initErrorPath = runtimePrefix + "init/error"
	// streamContentType is what a function URL's streaming response is sent as: a JSON prelude
	// (status, headers, cookies), eight NUL bytes, then the body as the handler writes it.
	streamContentType = "application/vnd.awslambda.http-integration-response"
	// streamTimeout is the stream function's timeout, as the stack sets it (330 s).
	streamTimeout = 330
)

// streamingRuntime is the smallest faithful Runtime API for a response-streaming function:
// @vercel/fun, which runs the other functions, answers only buffered responses. It hands out
// queued events on GET next, with the request id, deadline and function ARN headers, and passes a
// response POSTed in chunks on to the test as its chunks arrive, so the test sees what a function
// URL client sees, when it sees it. It records what the runtime sent with the response: its
// headers, transfer encoding and trailers (an error mid-stream is reported in the trailers
// Lambda-Runtime-Function-Error-Type and -Body).
type streamingRuntime struct {
	*httptest.Server
	queue chan *streamInvocation
	mu    sync.Mutex
	byID  map[string]*streamInvocation
	seq   int
	// initErr receives what the runtime reported on init/error.
	initErr chan string
}

// streamInvocation is one event and the response the runtime streams back.
type streamInvocation struct {
	id    string
	event []byte
	// body is the response as it arrives (prelude, separator, body); posted is closed once the
	// response POST has begun, done once it has ended.
	body   *io.PipeReader
	w      *io.PipeWriter
	posted chan struct{}
	done   chan struct{}
	// What the runtime sent: the POST's headers, transfer encoding and trailers, or an error.
	header           http.Header
	transferEncoding []string
	trailer          http.Header
	errorBody        string
}

func newStreamingRuntime(t *testing.T) *streamingRuntime {
	rt := &streamingRuntime{queue: make(chan *streamInvocation, 4), byID: map[string]*streamInvocation{}, initErr: make(chan string, 1)}
	rt.Server = httptest.NewServer(http.HandlerFunc(rt.serve)) // 127.0.0.1
	t.Cleanup(rt.Close)
	return rt
}

func (rt *streamingRuntime) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == nextPath:
		rt.next(w, r)
	case r.Method == http.MethodPost && r.URL.Path == initErrorPath:
		b, _ := io.ReadAll(r.Body)
		rt.initErr <- string(b)
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, runtimePrefix+"invocation/"):
		id, what, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, runtimePrefix+"invocation/"), "/")
		rt.mu.Lock()
		inv := rt.byID[id]
		rt.mu.Unlock()
		if inv == nil {
			http.Error(w, `{"errorType":"InvalidRequestID"}`, http.StatusBadRequest)
			return
		}
		rt.respond(w, r, inv, what)
	default:
		http.NotFound(w, r)
	}
}

// next hands out the next queued event, waiting for one as Lambda's runtime API does.
func (rt *streamingRuntime) next(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
		return
	case inv := <-rt.queue:
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(streamTimeout*time.Second).UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:"+region+":000000000000:function:agentq-stream")
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(inv.event)
	}
}

// respond takes an invocation's response (what = "response") or error ("error"), passing the
// body on as it arrives.
func (rt *streamingRuntime) respond(w http.ResponseWriter, r *http.Request, inv *streamInvocation, what string) {
	inv.header, inv.transferEncoding = r.Header.Clone(), r.TransferEncoding
	close(inv.posted)
	defer close(inv.done)
	if what == "error" {
		b, _ := io.ReadAll(r.Body)
		inv.errorBody = string(b)
		inv.w.CloseWithError(fmt.Errorf("function error: %s", b))
		w.WriteHeader(http.StatusAccepted)
		return
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Body.Read(buf)
		if n > 0 {
			if _, werr := inv.w.Write(buf[:n]); werr != nil {
				break // the client went away: Lambda drops the rest
			}
		}
		if err != nil {
			break
		}
	}
	inv.trailer = r.Trailer.Clone()
	inv.w.Close()
	w.WriteHeader(http.StatusAccepted)
}

// invoke queues a function URL request for the function.
func (rt *streamingRuntime) invoke(t *testing.T, req events.LambdaFunctionURLRequest) *streamInvocation {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	rt.mu.Lock()
	rt.seq++
	inv := &streamInvocation{id: fmt.Sprintf("req-%d", rt.seq), event: b, posted: make(chan struct{}), done: make(chan struct{})}
	inv.body, inv.w = io.Pipe()
	rt.byID[inv.id] = inv
	rt.mu.Unlock()
	rt.queue <- inv
	return inv
}

// prelude is the head of a function URL's streaming response.
type prelude struct {
	StatusCode int               `json:"statusCode"`
	Headers    map[string]string `json:"headers"`
}

// open reads the response's prelude, up to the eight NUL bytes, and answers a reader of its body.
func (inv *streamInvocation) open(t *testing.T) (prelude, *bufio.Reader) {
	t.Helper()
	r := bufio.NewReader(inv.body)
	var head []byte
	for !bytes.HasSuffix(head, make([]byte, 8)) {
		c, err := r.ReadByte()
		if err != nil {
			t.Fatalf("invocation %s: the response ended in its prelude (%q): %v", inv.id, head, err)
		}
		head = append(head, c)
	}
	var p prelude
	if err := json.Unmarshal(head[:len(head)-8], &p); err != nil {
		t.Fatalf("invocation %s: prelude %q: %v", inv.id, head, err)
	}
	return p, r
}

// checkStreamed checks that the response came as a stream and ended without a function error.
func (inv *streamInvocation) checkStreamed(t *testing.T) {
	t.Helper()
	select {
	case <-inv.done:
	case <-time.After(time.Minute):
		t.Fatalf("invocation %s: the response never ended", inv.id)
	}
	if inv.errorBody != "" {
		t.Fatalf("invocation %s: function error %s", inv.id, inv.errorBody)
	}
	if ct := inv.header.Get("Content-Type"); ct != streamContentType {
		t.Errorf("invocation %s: response Content-Type %q, want %q", inv.id, ct, streamContentType)
	}
	if len(inv.transferEncoding) != 1 || inv.transferEncoding[0] != "chunked" {
		t.Errorf("invocation %s: transfer encoding %v, want chunked", inv.id, inv.transferEncoding)
	}
	if e := inv.trailer.Get("Lambda-Runtime-Function-Error-Type"); e != "" {
		t.Errorf("invocation %s: the stream ended with error %s: %s", inv.id, e, inv.trailer.Get("Lambda-Runtime-Function-Error-Body"))
	}
	t.Logf("invocation %s: Lambda-Runtime-Function-Response-Mode %q", inv.id, inv.header.Get("Lambda-Runtime-Function-Response-Mode"))
}

// urlRequest is a function URL event for GET path.
func urlRequest(path, query string, headers map[string]string) events.LambdaFunctionURLRequest {
	h := map[string]string{"host": "abc123.lambda-url." + region + ".on.aws", "user-agent": "curl/8.5.0"}
	for k, v := range headers {
		h[k] = v
	}
	return events.LambdaFunctionURLRequest{
		Version: "2.0", RawPath: path, RawQueryString: query, Headers: h,
		RequestContext: events.LambdaFunctionURLRequestContext{
			AccountID: "anonymous", DomainName: h["host"], DomainPrefix: "abc123", RequestID: "url-" + path, APIID: "abc123",
			HTTP: events.LambdaFunctionURLRequestContextHTTPDescription{Method: http.MethodGet, Path: path, Protocol: "HTTP/1.1", SourceIP: "127.0.0.1", UserAgent: "curl/8.5.0"},
		},
	}
}

// TestStreamBootstrapStreamsEvents runs the built stream bootstrap under a Runtime API that takes
// streamed responses, with function URL events in: a task's event stream arrives as its events are
// written (the events written after the response began reach the client on the same response),
// each with its sequence number as id:, and ends after finished; a second invocation, on the warm
// process, resumes after Last-Event-ID; one without an API key is refused.
func TestStreamBootstrapStreamsEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: -short (builds the bootstrap and starts the emulators)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	root := moduleRoot(t)
	if err := emulators.CheckInstalled(emulators.Options{}); err != nil {
		missing(t, err.Error())
	}
	dir := t.TempDir()
	built := make(chan error, 1)
	go func() { built <- buildBootstraps(ctx, root, dir, "stream") }()
	em, err := emulators.Start(ctx, emulators.Options{})
	if errors.Is(err, emulators.ErrNotInstalled) {
		missing(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = em.Close() })
	ddb, sq := system.Clients(em.DynamoDBEndpoint, em.SQSEndpoint, 0)
	const streamTable = "agentq-rt-stream-tasks"
	if err := table.CreateTable(ctx, ddb, streamTable); err != nil {
		t.Fatal(err)
	}
	queues, err := queue.Create(ctx, sq, "agentq-rt-stream-work", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-built; err != nil {
		t.Fatal(err)
	}

	// A running task with three events in its log: its creation, its attempt (both implied by the
	// task record) and an agent's status.
	log := tasklog.New(ddb, streamTable)
	tasks := store.New(ddb, streamTable).WithEvents(tasklog.NewRecorder(log, nil))
	now := time.Now().UTC()
	tk := &task.Task{ID: uuid.NewString(), Tenant: tenant, AgentID: agentID, Dialect: task.Xpander, Source: "api", State: task.Queued, Version: 1,
		Text: "stream me", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
	if err := tasks.Create(ctx, tk); err != nil {
		t.Fatal(err)
	}
	progress := func(typ tasklog.Type, data string) {
		t.Helper()
		// The agent reports on its claimed task, as the progress route appends (Claimed).
		if _, err := log.Append(ctx, tasklog.Entry{TaskID: tk.ID, Tenant: tenant, ExpiresAt: tk.ExpiresAt, Type: typ, Data: json.RawMessage(data), Claimed: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tasks.Claim(ctx, tk.ID, now, time.Minute); err != nil { // running: its attempt is implied
		t.Fatal(err)
	}
	progress(tasklog.Status, `{"message":"thinking"}`)

	rt := newStreamingRuntime(t)
	key := randomKey(t)
	stopFn := startBootstrap(t, filepath.Join(dir, "stream", "bootstrap"), rt, map[string]string{
		"AGENTQ_TABLE": streamTable, "AGENTQ_QUEUE_URL": queues.URL, "AGENTQ_API_KEYS": tenant + ":" + apikey.Hash(key),
		"AGENTQ_TASK_TTL": "24h", "AWS_ENDPOINT_URL_DYNAMODB": em.DynamoDBEndpoint, "AWS_ENDPOINT_URL_SQS": em.SQSEndpoint,
	})
	defer stopFn()

	path := "/v1/tasks/" + tk.ID + "/events"
	inv := rt.invoke(t, urlRequest(path, "", map[string]string{"x-api-key": key, "accept": "text/event-stream"}))
	p, body := inv.open(t)
	if p.StatusCode != http.StatusOK || !strings.HasPrefix(p.Headers["Content-Type"], "text/event-stream") {
		b, _ := io.ReadAll(body)
		t.Fatalf("prelude %+v (%s), want 200 text/event-stream", p, b)
	}
	stream := sse.NewReader(body)
	want := func(id int, name string) {
		t.Helper()
		ev, err := stream.Next()
		if err != nil {
			t.Fatalf("event %d (%s): %v", id, name, err)
		}
		var e tasklog.Event
		if err := json.Unmarshal([]byte(ev.Data), &e); err != nil || ev.ID != strconv.Itoa(id) || ev.Name != name || e.Seq != int64(id) {
			t.Fatalf("event %+v (%v), want id %d %s", ev, err, id, name)
		}
	}
	want(1, "created")
	want(2, "attempt")
	want(3, "status")
	// Read while the response goes on: what is written now reaches the same response.
	progress(tasklog.Chunk, `{"text":"part"}`)
	want(4, "chunk")
	if _, err := tasks.Transition(ctx, tk.ID, task.Change{To: task.Succeeded, Now: time.Now(), Result: "done"}); err != nil {
		t.Fatal(err)
	}
	want(5, "finished")
	if ev, err := stream.Next(); err != io.EOF {
		t.Fatalf("after finished: %+v, %v; want the end of the stream", ev, err)
	}
	inv.checkStreamed(t)

	// Resume on the warm process after the third event.
	inv = rt.invoke(t, urlRequest(path, "", map[string]string{"x-api-key": key, "accept": "text/event-stream", "last-event-id": "3"}))
	if p, body = inv.open(t); p.StatusCode != http.StatusOK {
		t.Fatalf("resume: prelude %+v", p)
	}
	stream = sse.NewReader(body)
	want(4, "chunk")
	want(5, "finished")
	if _, err := stream.Next(); err != io.EOF {
		t.Fatalf("resume: the stream goes on after finished: %v", err)
	}
	inv.checkStreamed(t)

	// No key: refused, and the refusal names no task.
	inv = rt.invoke(t, urlRequest(path, "", map[string]string{"accept": "text/event-stream"}))
	p, body = inv.open(t)
	refusal, _ := io.ReadAll(body)
	if p.StatusCode != http.StatusUnauthorized || strings.Contains(string(refusal), "stream me") {
		t.Errorf("without a key: %d %s, want 401", p.StatusCode, refusal)
	}
	inv.checkStreamed(t)
}

// startBootstrap starts the bootstrap as Lambda's provided runtime does, pointed at rt, with env
// besides what Lambda sets; stop ends it and its process group.
func startBootstrap(t *testing.T, bootstrap string, rt *streamingRuntime, env map[string]string) (stop func()) {
	t.Helper()
	cmd := exec.Command(bootstrap)
	cmd.Env = []string{
		"PATH=/usr/bin:/bin", "AWS_LAMBDA_RUNTIME_API=" + strings.TrimPrefix(rt.URL, "http://"), "_HANDLER=bootstrap",
		"AWS_LAMBDA_FUNCTION_NAME=agentq-stream", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
		"LAMBDA_TASK_ROOT=" + filepath.Dir(bootstrap), "AWS_REGION=" + region, "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_EC2_METADATA_DISABLED=true", "AGENTQ_ALLOW_LOOPBACK_URLS=1",
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		select {
		case e := <-rt.initErr:
			t.Errorf("the function failed to start: %s", e)
		default:
		}
		if t.Failed() {
			t.Logf("stream function output:\n%s", indent(out.String()))
		}
	}
}
