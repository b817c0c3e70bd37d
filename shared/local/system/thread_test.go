package system

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/store"
)

// historian is an agent that answers with the conversation it was given, after a short pause so
// that turns overlap when posted together.
type historian struct{}

func (historian) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req dispatch.HTTPRequest
	_ = json.NewDecoder(r.Body).Decode(&req)
	time.Sleep(400 * time.Millisecond)
	var parts []string
	for _, m := range req.History {
		parts = append(parts, m.Role+":"+m.Content)
	}
	fmt.Fprintf(w, `{"output": %q}`, strings.Join(append(parts, "user:"+req.Text), " | "))
}

// post sends an invocation with optional headers and returns status and body.
func post(t *testing.T, path, body string, headers ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, sys.APIURL+path, strings.NewReader(body))
	req.Header.Set("x-api-key", testKey)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestThreadTurnsSeeTheirHistory(t *testing.T) {
	code, first := post(t, "/v1/agents/historian/invoke/async", `{"input":{"text":"one"}}`)
	if code != http.StatusOK || first["id"] != first["task_id"] {
		t.Fatalf("first turn = %d %v", code, first)
	}
	thread := first["id"].(string)
	waitFor(t, "/v1/tasks/"+thread, "completed")

	code, second := post(t, "/v1/agents/historian/invoke/async", `{"input":{"text":"two"},"id":"`+thread+`"}`)
	if code != http.StatusOK || second["id"] != thread || second["task_id"] == thread {
		t.Fatalf("second turn = %d %v; want id %s and a new task_id", code, second, thread)
	}
	// The thread id now reads as the conversation's latest turn.
	done := waitFor(t, "/v1/tasks/"+thread, "completed")
	if done["task_id"] != second["task_id"] {
		t.Fatalf("GET thread id answered turn %v, want the latest %v", done["task_id"], second["task_id"])
	}
	if want := "user:one | agent:user:one | user:two"; done["result"] != want {
		t.Fatalf("second turn result = %q, want %q", done["result"], want)
	}
}

func TestConcurrentTurnsEnqueueInOrder(t *testing.T) {
	thread := "enqueue-" + uuid.NewString()
	ids := make([]string, 3)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := post(t, "/v1/agents/historian/invoke-async", fmt.Sprintf(`{"message":"m%d","context_id":%q}`, i, thread))
			if code != http.StatusOK {
				t.Errorf("turn %d = %d %v", i, code, body)
				return
			}
			ids[i] = body["receipt_id"].(string)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	tasks := store.New(sys.DynamoDB, sys.Table)
	for _, id := range ids {
		waitFor(t, "/v1/receipts/"+id, "succeeded")
	}
	// Order by turn number, then check that each started after the previous one finished and
	// heard everything said before it.
	byseq := map[int]string{}
	for _, id := range ids {
		tk, err := tasks.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		byseq[tk.ThreadSeq] = id
	}
	if len(byseq) != 3 {
		t.Fatalf("turn numbers = %v, want 1, 2 and 3", byseq)
	}
	var prevFinished time.Time
	var said []string
	for seq := 1; seq <= 3; seq++ {
		tk, _ := tasks.Get(context.Background(), byseq[seq])
		if !prevFinished.IsZero() && tk.StartedAt.Before(prevFinished) {
			t.Errorf("turn %d started %v, before turn %d finished %v", seq, tk.StartedAt, seq-1, prevFinished)
		}
		want := strings.Join(append(append([]string{}, said...), "user:"+tk.Text), " | ")
		if tk.Result != want {
			t.Errorf("turn %d result = %q, want %q", seq, tk.Result, want)
		}
		said = append(said, "user:"+tk.Text, "agent:"+tk.Result)
		prevFinished = tk.FinishedAt
	}
}

func TestRejectStrategy(t *testing.T) {
	thread := "reject-" + uuid.NewString()
	body := func(text string) string {
		return fmt.Sprintf(`{"input":{"text":%q,"delay_ms":800},"id":%q,"multitask_strategy":"reject"}`, text, thread)
	}
	// Two turns at once on a new thread: exactly one is accepted.
	codes := make([]int, 2)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func() { defer wg.Done(); codes[i], _ = post(t, "/v1/agents/echo/invoke/async", body("first")) }()
	}
	wg.Wait()
	if !(codes[0] == 200 && codes[1] == 409 || codes[0] == 409 && codes[1] == 200) {
		t.Fatalf("concurrent turns under reject = %v, want one 200 and one 409", codes)
	}
	code, got := post(t, "/v1/agents/echo/invoke/async", body("while busy"))
	if code != http.StatusConflict || got["code"] != "thread_busy" {
		t.Fatalf("turn while busy = %d %v, want 409 thread_busy", code, got)
	}
	waitFor(t, "/v1/tasks/"+thread, "completed")
	if code, got := post(t, "/v1/agents/echo/invoke/async", body("after")); code != http.StatusOK {
		t.Fatalf("turn after the first ended = %d %v", code, got)
	}
}

func TestIdempotencyKey(t *testing.T) {
	key := "key-" + uuid.NewString()
	const body = `{"message":"pay once"}`
	code, first := post(t, "/v1/agents/counter/invoke-async", body, "Idempotency-Key", key)
	if code != http.StatusOK {
		t.Fatalf("first = %d %v", code, first)
	}
	code, again := post(t, "/v1/agents/counter/invoke-async", body, "Idempotency-Key", key)
	if code != http.StatusOK || again["receipt_id"] != first["receipt_id"] {
		t.Fatalf("replay = %d %v, want receipt %v", code, again, first["receipt_id"])
	}
	code, other := post(t, "/v1/agents/counter/invoke-async", `{"message":"pay twice"}`, "Idempotency-Key", key)
	if e, _ := other["error"].(map[string]any); code != http.StatusConflict || e["code"] != "idempotency_key_reused" {
		t.Fatalf("same key, other body = %d %v, want 409 idempotency_key_reused", code, other)
	}
	waitFor(t, "/v1/receipts/"+first["receipt_id"].(string), "succeeded")
	if n := counter.callsFor(first["receipt_id"].(string)); n != 1 {
		t.Errorf("agent called %d times for one idempotent request", n)
	}
}

func TestIdempotencyRace(t *testing.T) {
	key := "race-" + uuid.NewString()
	ids := make([]string, 6)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := post(t, "/v1/agents/counter/invoke/async", `{"input":{"text":"race once"}}`, "Idempotency-Key", key)
			if code != http.StatusOK {
				t.Errorf("request %d = %d %v", i, code, body)
				return
			}
			ids[i], _ = body["task_id"].(string)
		}()
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("concurrent requests with one key got tasks %v, want one", ids)
		}
	}
	waitFor(t, "/v1/tasks/"+ids[0], "completed")
	if n := counter.callsFor(ids[0]); n != 1 {
		t.Errorf("agent called %d times", n)
	}
}
