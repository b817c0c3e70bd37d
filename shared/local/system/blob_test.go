package system

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/table"
)

// bulkAgent answers "big <bytes> <seed>" with bigText(bytes, seed), and anything else with the
// SHA-256 of the agent answers in its history, so that a test can tell the worker handed it every
// byte of an earlier, offloaded answer.
type bulkAgent struct{}

func (bulkAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req dispatch.HTTPRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var answer string
	var n int
	var seed string
	if _, err := fmt.Sscanf(req.Text, "big %d %s", &n, &seed); err == nil {
		answer = bigText(n, seed)
	} else {
		h := sha256.New()
		for _, m := range req.History {
			if m.Role == "agent" {
				io.WriteString(h, m.Content)
			}
		}
		answer = "history " + hex.EncodeToString(h.Sum(nil))
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"output": answer})
}

// bigText is at least n bytes of valid UTF-8 full of what JSON escapes or HTML-escapes, so that a
// byte lost or changed on the way through the table, the bucket and the API shows.
func bigText(n int, seed string) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%s line %06d: ünïcødé «quoted» \"q\" <tag> & back\\slash\ttab \u2028 end\n", seed, i)
	}
	return b.String()
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// rawItem reads a task's DynamoDB item as it is stored.
func rawItem(t *testing.T, id string) map[string]ddbtypes.AttributeValue {
	t.Helper()
	out, err := sys.DynamoDB.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(sys.Table), ConsistentRead: aws.Bool(true),
		Key: map[string]ddbtypes.AttributeValue{
			table.AttrPK: &ddbtypes.AttributeValueMemberS{Value: "TASK#" + id},
			table.AttrSK: &ddbtypes.AttributeValueMemberS{Value: "TASK"},
		},
	})
	if err != nil || len(out.Item) == 0 {
		t.Fatalf("read item of task %s: %v (%d attributes)", id, err, len(out.Item))
	}
	return out.Item
}

// wantOffloaded checks that the item names a blob in ref and holds none of inline, and that the
// blob is in the bucket. It returns the blob.
func wantOffloaded(t *testing.T, item map[string]ddbtypes.AttributeValue, ref string, inline ...string) string {
	t.Helper()
	for _, attr := range inline {
		if v, ok := item[attr]; ok {
			t.Errorf("the item holds %s inline (%T) besides %s", attr, v, ref)
		}
	}
	key, _ := item[ref].(*ddbtypes.AttributeValueMemberS)
	if key == nil || key.Value == "" {
		t.Fatalf("the item has no %s", ref)
	}
	obj, err := sys.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(sys.Bucket), Key: aws.String(key.Value)})
	if err != nil {
		t.Fatalf("%s %s is not in the bucket: %v", ref, key.Value, err)
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLargeAnswerServedWhole: a ~600 KB answer, too large for the task's item, is kept in the
// bucket and served byte for byte through both dialects.
func TestLargeAnswerServedWhole(t *testing.T) {
	const size = 600_000
	tests := []struct {
		dialect, path, body, idField, poll, done string
		check                                    func(t *testing.T, got map[string]any, want string)
	}{
		// The seed is the dialect's first two letters.
		{"xpander", "/v1/agents/bulk/invoke/async", `{"input":{"text":"big 600000 xp"}}`, "task_id", "/v1/tasks/", "completed",
			func(t *testing.T, got map[string]any, want string) {
				if r, _ := got["result"].(string); r != want {
					t.Errorf("result: %d bytes (sha %s), want %d (sha %s)", len(r), sha(r), len(want), sha(want))
				}
			}},
		{"servicenet", "/v1/agents/bulk/invoke-async", `{"message":"big 600000 se"}`, "receipt_id", "/v1/receipts/", "succeeded",
			func(t *testing.T, got map[string]any, want string) {
				if o := answerOf(got); o != want {
					t.Errorf("output: %d bytes (sha %s), want %d (sha %s)", len(o), sha(o), len(want), sha(want))
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.dialect, func(t *testing.T) {
			code, _, body := call(t, http.MethodPost, tt.path, tt.body)
			if code != http.StatusOK {
				t.Fatalf("invoke = %d %v", code, body)
			}
			id, _ := body[tt.idField].(string)
			got := waitFor(t, tt.poll+id, tt.done, "failed", "error")
			if statusOf(got) != tt.done {
				t.Fatalf("task = %v", got)
			}
			want := bigText(size, tt.dialect[:2])
			tt.check(t, got, want)

			blob := wantOffloaded(t, rawItem(t, id), "result_ref", "result", "output")
			if !strings.Contains(blob, "line 000000") || len(blob) < size {
				t.Errorf("the blob holds %d bytes, want the answer", len(blob))
			}
		})
	}
}

// TestLargeAnswerInHistoryAndLists: the next turn's agent gets the offloaded answer whole in its
// history, the thread view shows it whole, and a list shows it as null rather than empty.
func TestLargeAnswerInHistoryAndLists(t *testing.T) {
	_, _, first := call(t, http.MethodPost, "/v1/agents/bulk/invoke/async", `{"input":{"text":"big 300000 th"}}`)
	thread, _ := first["id"].(string)
	waitFor(t, "/v1/tasks/"+thread, "completed")
	want := bigText(300_000, "th")

	code, _, second := call(t, http.MethodPost, "/v1/agents/bulk/invoke/async", `{"input":{"text":"what did you say?"},"id":"`+thread+`"}`)
	if code != http.StatusOK {
		t.Fatalf("second turn = %d %v", code, second)
	}
	done := waitFor(t, "/v1/tasks/"+second["task_id"].(string), "completed", "failed")
	if done["result"] != "history "+sha(want) {
		t.Errorf("the second turn's agent got a history of %v, want the whole first answer (sha %s)", done["result"], sha(want))
	}

	_, _, conv := call(t, http.MethodGet, "/v1/tasks/"+thread+"/thread", "")
	msgs, _ := conv["messages"].([]any)
	if len(msgs) != 4 {
		t.Fatalf("thread = %d messages, want 4: %.300v", len(msgs), conv)
	}
	if m, _ := msgs[1].(map[string]any); m["role"] != "agent" || m["content"] != want {
		t.Errorf("the thread shows the first answer as %d bytes, want %d", len(fmt.Sprint(m["content"])), len(want))
	}

	// The index behind lists may lag a moment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, page := call(t, http.MethodGet, "/v1/agents/bulk/tasks?limit=100", "")
		items, _ := page["items"].([]any)
		for _, it := range items {
			if it := it.(map[string]any); it["task_id"] == thread && it["status"] == "completed" {
				if it["result"] != nil {
					t.Errorf("a list shows an offloaded answer as %.40q, want null", it["result"])
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first turn is not listed as completed: %.500v", page)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLargeRequestRoundTrip: a ~500 KB request body, too large for the task's item and for the
// work message, is kept in the bucket; the agent gets it whole, and the task reads back whole,
// through both dialects. Its secrets are in neither the item nor the bucket.
func TestLargeRequestRoundTrip(t *testing.T) {
	text := bigText(200_000, "rq")
	doc := bigText(300_000, "doc")
	enc := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	tests := []struct {
		dialect, path, body, idField, poll, done, secret string
		check                                            func(t *testing.T, got map[string]any)
	}{
		{"xpander", "/v1/agents/echo/invoke/async",
			`{"input":{"text":` + enc(text) + `},"payload_extension":{"doc":` + enc(doc) + `},"user_tokens":{"gh":"gh-bl0b-s3cr3t"}}`,
			"task_id", "/v1/tasks/", "completed", "gh-bl0b-s3cr3t",
			func(t *testing.T, got map[string]any) {
				if r, _ := got["result"].(string); r != text {
					t.Errorf("result: %d bytes (sha %s), want the text, %d (sha %s)", len(r), sha(r), len(text), sha(text))
				}
				if in, _ := got["input"].(map[string]any); in["text"] != text {
					t.Errorf("input.text is not the text sent")
				}
				if ext, _ := got["payload_extension"].(map[string]any); ext["doc"] != doc {
					t.Errorf("payload_extension.doc is not the one sent")
				}
			}},
		{"servicenet", "/v1/agents/echo/invoke-async",
			`{"message":` + enc(text) + `,"input":{"doc":` + enc(doc) + `},"auth_token":"sn-bl0b-s3cr3t"}`,
			"receipt_id", "/v1/receipts/", "succeeded", "sn-bl0b-s3cr3t",
			func(t *testing.T, got map[string]any) {
				if o := answerOf(got); o != text {
					t.Errorf("output: %d bytes (sha %s), want the text, %d (sha %s)", len(o), sha(o), len(text), sha(text))
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.dialect, func(t *testing.T) {
			if len(tt.body) < 500_000 {
				t.Fatalf("the body is only %d bytes", len(tt.body))
			}
			code, _, body := call(t, http.MethodPost, tt.path, tt.body)
			if code != http.StatusOK {
				t.Fatalf("invoke = %d %.300v", code, body)
			}
			id, _ := body[tt.idField].(string)
			got := waitFor(t, tt.poll+id, tt.done, "failed", "error")
			if statusOf(got) != tt.done {
				t.Fatalf("task = %.500v", got)
			}
			tt.check(t, got)

			item := rawItem(t, id)
			// The text is larger than the inline limit too, so it goes with the body.
			request := wantOffloaded(t, item, "request_ref", "request", "text")
			answer := wantOffloaded(t, item, "result_ref", "result", "output")
			for what, s := range map[string]string{"request blob": request, "answer blob": answer} {
				if strings.Contains(s, tt.secret) {
					t.Errorf("the %s holds the secret", what)
				}
			}
			if !strings.Contains(request, "doc line 000000") {
				t.Errorf("the request blob does not hold the body")
			}
		})
	}
}
