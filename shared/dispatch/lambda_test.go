package dispatch_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/task"
)

// invocation is what the Lambda service saw of an Invoke.
type invocation struct {
	function       string
	invocationType string
	clientContext  string
	body           []byte
}

// lambdaService speaks the Lambda Invoke REST API on 127.0.0.1
// (POST /2015-03-31/functions/{FunctionName}/invocations). What the function does depends on its
// name, the ARN's last part:
//
//	echo       answers {"output": "echo: <text>"}
//	text       answers a JSON string
//	fails      fails (X-Amz-Function-Error: Unhandled) with an errorMessage
//	handled    fails with a payload that is not the runtime's error shape
//	throttled  429 TooManyRequestsException
//	broken     500 ServiceException
//	missing    404 ResourceNotFoundException
//	updating   409 ResourceConflictException
//	denied     403 AccessDeniedException
//	big        answers more than MaxResponseBytes
//	sleepy     answers when the request ends
type lambdaService struct {
	srv  *httptest.Server
	mu   sync.Mutex
	last invocation
}

func newLambdaService(t *testing.T) *lambdaService {
	t.Helper()
	ls := &lambdaService{}
	ls.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		name, ok := strings.CutPrefix(r.URL.Path, "/2015-03-31/functions/")
		name, ok2 := strings.CutSuffix(name, "/invocations")
		if r.Method != http.MethodPost || !ok || !ok2 {
			http.Error(w, "not the Invoke API: "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		ls.mu.Lock()
		ls.last = invocation{function: name, invocationType: r.Header.Get("X-Amz-Invocation-Type"),
			clientContext: r.Header.Get("X-Amz-Client-Context"), body: body}
		ls.mu.Unlock()
		serviceError := func(status int, code, msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-ErrorType", code)
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(map[string]string{"Type": "User", "message": msg})
		}
		fn := name[strings.LastIndexByte(name, ':')+1:]
		switch fn {
		case "echo":
			var req dispatch.HTTPRequest
			_ = json.Unmarshal(body, &req)
			w.Header().Set("X-Amz-Executed-Version", "$LATEST")
			_, _ = io.WriteString(w, `{"output":"echo: `+req.Text+`","usage":{"input_tokens":2,"output_tokens":1}}`)
		case "text":
			_, _ = io.WriteString(w, `"just text"`)
		case "fails":
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			_, _ = io.WriteString(w, `{"errorMessage":"card declined","errorType":"PaymentError","stackTrace":["at pay (index.js:1)"]}`)
		case "handled":
			w.Header().Set("X-Amz-Function-Error", "Handled")
			_, _ = io.WriteString(w, `"no"`)
		case "throttled":
			w.Header().Set("Retry-After", "1")
			serviceError(http.StatusTooManyRequests, "TooManyRequestsException", "Rate Exceeded.")
		case "broken":
			serviceError(http.StatusInternalServerError, "ServiceException", "internal failure")
		case "missing":
			serviceError(http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+name)
		case "updating":
			serviceError(http.StatusConflict, "ResourceConflictException", "The operation cannot be performed at this time.")
		case "denied":
			serviceError(http.StatusForbidden, "AccessDeniedException", "not allowed")
		case "big":
			_, _ = io.WriteString(w, `"`+strings.Repeat("a", dispatch.MaxResponseBytes)+`"`)
		case "sleepy":
			select {
			case <-r.Context().Done():
			case <-time.After(wait):
			}
		default:
			serviceError(http.StatusNotFound, "ResourceNotFoundException", "no function "+fn)
		}
	}))
	t.Cleanup(ls.srv.Close)
	return ls
}

func (ls *lambdaService) lastInvocation() invocation {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.last
}

// client returns a Lambda client of the service, as a worker would build it, without SDK retries.
func (ls *lambdaService) client() *lambda.Client {
	return lambda.New(lambda.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "SECRETTEST", ""),
		BaseEndpoint: aws.String(ls.srv.URL),
		HTTPClient:   ls.srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
}

func lambdaAgent(fn string) agent.Agent {
	return agent.Agent{ID: "fn-" + fn, Version: "1", Protocol: agent.Lambda,
		Endpoint: "arn:aws:lambda:us-east-1:123456789012:function:" + fn, Auth: agent.AuthNone}
}

func TestLambdaAnswers(t *testing.T) {
	ls := newLambdaService(t)
	cl := dispatch.New(dispatch.HTTPClient(testGuard), dispatch.WithLambda(ls.client()))
	tests := []struct {
		fn         string
		wantText   string
		wantOutput string
		wantUsage  task.Usage
	}{
		{"echo", "echo: hello", `{"output":"echo: hello","usage":{"input_tokens":2,"output_tokens":1}}`, task.Usage{Tokens: task.Tokens{Prompt: 2, Completion: 1, Total: 3}}},
		{"text", `"just text"`, "", task.Usage{}},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			res, err := cl.Call(testCtx(t), baseCall(lambdaAgent(tt.fn)))
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if res.Text != tt.wantText || string(res.Output) != tt.wantOutput || res.Usage != tt.wantUsage {
				t.Errorf("Result = %q %s %+v, want %q %s %+v", res.Text, res.Output, res.Usage, tt.wantText, tt.wantOutput, tt.wantUsage)
			}
		})
	}
}

func TestLambdaFailures(t *testing.T) {
	ls := newLambdaService(t)
	cl := dispatch.New(dispatch.HTTPClient(testGuard), dispatch.WithLambda(ls.client()))
	tests := []struct {
		fn        string
		reason    string
		retryable bool
		msg       string
	}{
		{"fails", task.ReasonAgentFailed, false, "the function failed (Unhandled): PaymentError: card declined"},
		{"handled", task.ReasonAgentFailed, false, `the function failed (Handled): "no"`},
		{"throttled", task.ReasonAgentUnavailable, true, "the function is throttled: TooManyRequestsException: Rate Exceeded."},
		{"broken", task.ReasonAgentUnavailable, true, "Lambda answered 500: ServiceException: internal failure"},
		{"updating", task.ReasonAgentUnavailable, true, ""},
		{"missing", task.ReasonAgentRejected, false, "Lambda answered 404: ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:************:function:missing"}, // the account id is not the tenant's to see,
		{"denied", task.ReasonAgentRejected, false, ""},
		{"big", task.ReasonInvalidResponse, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			_, err := cl.Call(testCtx(t), baseCall(lambdaAgent(tt.fn)))
			de := wantError(t, err, tt.reason, tt.retryable)
			if tt.msg != "" && de.Message != tt.msg {
				t.Errorf("Message = %q, want %q", de.Message, tt.msg)
			}
		})
	}
}

func TestLambdaRequestSent(t *testing.T) {
	ls := newLambdaService(t)
	cl := dispatch.New(dispatch.HTTPClient(testGuard), dispatch.WithLambda(ls.client()))
	c := baseCall(lambdaAgent("echo"))
	c.Secrets = map[string]json.RawMessage{"user_tokens": json.RawMessage(`{"github":"ghp-SECRET"}`)}
	c.Credentials.AuthToken = "auth-SECRET"
	if _, err := cl.Call(testCtx(t), c); err != nil {
		t.Fatal(err)
	}
	got := ls.lastInvocation()
	if got.function != c.Agent.Endpoint || got.invocationType != "RequestResponse" {
		t.Errorf("invoked %q as %q, want %q as RequestResponse", got.function, got.invocationType, c.Agent.Endpoint)
	}
	var body dispatch.HTTPRequest
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatal(err)
	}
	want := dispatch.HTTPRequest{TaskID: taskID, AgentID: "fn-echo", Tenant: "org-1", ThreadID: dispatch.ConversationID("org-1", "thread-1"), Text: "hello",
		Input: json.RawMessage(`{"text":"hello","delay_ms":0}`), Attempt: 2}
	req := body.Request
	body.Request = nil
	if !reflect.DeepEqual(body, want) {
		t.Errorf("payload = %+v\nwant      %+v", body, want)
	}
	if !strings.Contains(string(req), "ghp-SECRET") {
		t.Errorf("request = %s, want the secrets put back", req)
	}
	if strings.Contains(string(got.body), "auth-SECRET") || got.clientContext != "" {
		t.Errorf("auth token sent to an agent with auth none (client context %q)", got.clientContext)
	}

	// Auth forward: the token travels as the client context, never in the payload.
	c.Agent.Auth = agent.AuthForward
	if _, err := cl.Call(testCtx(t), c); err != nil {
		t.Fatal(err)
	}
	got = ls.lastInvocation()
	cc, err := base64.StdEncoding.DecodeString(got.clientContext)
	if err != nil || string(cc) != `{"custom":{"authorization":"Bearer auth-SECRET"}}` {
		t.Errorf("client context = %q (%s), %v", got.clientContext, cc, err)
	}
	if strings.Contains(string(got.body), "auth-SECRET") {
		t.Error("auth token in the payload")
	}
	c.Credentials.AuthToken = strings.Repeat("t", 3000)
	_, err = cl.Call(testCtx(t), c)
	wantError(t, err, task.ReasonAgentRejected, false)
}

func TestLambdaTimeoutAndUnreachable(t *testing.T) {
	ls := newLambdaService(t)
	cl := dispatch.New(dispatch.HTTPClient(testGuard), dispatch.WithLambda(ls.client()))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := cl.Call(ctx, baseCall(lambdaAgent("sleepy")))
	wantError(t, err, task.ReasonAgentTimeout, true)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("call took %v", d)
	}

	gone := newLambdaService(t)
	api := gone.client()
	gone.srv.Close()
	_, err = dispatch.New(dispatch.HTTPClient(testGuard), dispatch.WithLambda(api)).Call(testCtx(t), baseCall(lambdaAgent("echo")))
	wantError(t, err, task.ReasonAgentUnavailable, true)
}

func TestLambdaWithoutClient(t *testing.T) {
	_, err := dispatch.New(dispatch.HTTPClient(testGuard)).Call(context.Background(), baseCall(lambdaAgent("echo")))
	de := wantError(t, err, task.ReasonAgentFailed, false)
	if !strings.Contains(de.Message, "no Lambda client") {
		t.Errorf("Message = %q", de.Message)
	}
}
