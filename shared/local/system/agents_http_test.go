package system

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/queue"
)

// fakeLambda speaks the Lambda Invoke REST API: POST /2015-03-31/functions/{name}/invocations.
// A function named "fails" answers with a function error, one named "metered" reports its usage;
// any other echoes the request's text.
type fakeLambda struct{}

func (fakeLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/2015-03-31/functions/")
	if !ok || r.Method != http.MethodPost {
		http.Error(w, `{"message":"unknown route"}`, http.StatusNotFound)
		return
	}
	name, _ = url.PathUnescape(strings.TrimSuffix(name, "/invocations"))
	var req dispatch.HTTPRequest
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &req)
	if strings.HasSuffix(name, ":function:fails") {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		fmt.Fprint(w, `{"errorMessage":"card declined","errorType":"PaymentError"}`)
		return
	}
	if strings.HasSuffix(name, ":function:metered") {
		fmt.Fprintf(w, `{"output":%q,"usage":{"input_tokens":7,"output_tokens":2,"actions":1,"cost":0.0009}}`, "lambda: "+req.Text)
		return
	}
	fmt.Fprintf(w, `{"output":%q}`, "lambda: "+req.Text)
}

func publishAgent(t *testing.T, id, def string) {
	t.Helper()
	if code, got := request(t, http.MethodPut, "/v1/agents/"+id, testAdminKey, def); code != http.StatusOK {
		t.Fatalf("publish %s = %d %v", id, code, got)
	}
}

func TestLambdaAgent(t *testing.T) {
	publishAgent(t, "fn-echo", `{"protocol":"lambda","endpoint":"arn:aws:lambda:us-east-1:000000000000:function:echo","publish":true}`)
	publishAgent(t, "fn-fails", `{"protocol":"lambda","endpoint":"arn:aws:lambda:us-east-1:000000000000:function:fails","publish":true}`)
	_, ok := post(t, "/v1/agents/fn-echo/invoke-async", `{"message":"hi"}`)
	if done := waitFor(t, "/v1/receipts/"+ok["receipt_id"].(string), "succeeded", "failed"); answerOf(done) != "lambda: hi" {
		t.Fatalf("receipt = %v", done)
	}
	_, bad := post(t, "/v1/agents/fn-fails/invoke-async", `{"message":"hi"}`)
	done := waitFor(t, "/v1/receipts/"+bad["receipt_id"].(string), "succeeded", "failed")
	if e, _ := done["error"].(map[string]any); statusOf(done) != "failed" || !strings.Contains(fmt.Sprint(e["message"]), "card declined") {
		t.Fatalf("receipt of a failing function = %v", done)
	}
}

// TestFlakyHTTPAgentRecovers: an agent that answers 503 twice, then 200, completes the task on the
// third attempt.
func TestFlakyHTTPAgentRecovers(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"output":"third time lucky"}`)
	}))
	defer srv.Close()
	publishAgent(t, "flaky", fmt.Sprintf(`{"protocol":"http","endpoint":%q,"publish":true}`, srv.URL))
	_, body := post(t, "/v1/agents/flaky/invoke/async", `{"input":{"text":"x"}}`)
	done := waitFor(t, "/v1/tasks/"+body["task_id"].(string), "completed", "failed", "error")
	if done["status"] != "completed" || done["result"] != "third time lucky" || done["execution_attempts"] != float64(3) {
		t.Fatalf("task = %v", done)
	}
}

// TestTooSlowHTTPAgent: an agent slower than its timeout is cut off on every attempt, and the task
// ends failed once the message is dead-lettered, with the timeout as the last error.
func TestTooSlowHTTPAgent(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	publishAgent(t, "sluggish", fmt.Sprintf(`{"protocol":"http","endpoint":%q,"timeout":"300ms","publish":true}`, srv.URL))
	_, body := post(t, "/v1/agents/sluggish/invoke/async", `{"input":{"text":"x"}}`)
	done := waitFor(t, "/v1/tasks/"+body["task_id"].(string), "completed", "failed", "error")
	e, _ := done["error"].(map[string]any)
	if done["status"] != "failed" || e["code"] != "dead_lettered" || !strings.Contains(fmt.Sprint(e["message"]), "did not answer in time") ||
		done["execution_attempts"] != float64(queue.MaxReceiveCount) {
		t.Fatalf("task = %v", done)
	}
}
