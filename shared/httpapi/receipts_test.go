package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/receipt"
	"github.com/agentq/agentq/shared/task"
)

// fakeReceipts keeps verdicts in the in-memory task store, recording them.
type fakeReceipts struct {
	r        *fakeReader
	mu       sync.Mutex
	verdicts []string
}

func (f *fakeReceipts) SetVerification(ctx context.Context, id, verdict string) (*task.Task, error) {
	f.mu.Lock()
	f.verdicts = append(f.verdicts, verdict)
	f.mu.Unlock()
	return f.r.Store.SetVerification(ctx, id, verdict)
}

type receiptHarness struct {
	h     http.Handler
	read  *fakeReader
	sub   *fakeSubmitter
	store *fakeReceipts
	iss   *receipt.Issuer

	mu     sync.Mutex
	signed int // signatures made
}

func (rh *receiptHarness) signs() int {
	rh.mu.Lock()
	defer rh.mu.Unlock()
	return rh.signed
}

func newReceiptHarness(t *testing.T) *receiptHarness {
	t.Helper()
	rh := &receiptHarness{read: newFakeReader(), sub: &fakeSubmitter{}}
	rh.iss = receipt.NewEphemeral().OnSign(func(context.Context) { rh.mu.Lock(); rh.signed++; rh.mu.Unlock() })
	rh.store = &fakeReceipts{r: rh.read}
	rh.h = httpapi.New(httpapi.Config{
		Submitter: rh.sub, Reader: rh.read, Resolver: rh.read, Stopper: rh.read, Lister: rh.read,
		Receipts: rh.iss, ReceiptStore: rh.store, Keys: keys, Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return now }, SyncWait: 2 * time.Second,
	})
	return rh
}

func (rh *receiptHarness) did(t *testing.T) string {
	t.Helper()
	did, err := rh.iss.DID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return did
}

// decodeReceipt reads the receipt object of an answer back into its type.
func decodeReceipt(t *testing.T, raw string) receipt.Receipt {
	t.Helper()
	var v struct {
		Receipt receipt.Receipt `json:"receipt"`
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		t.Fatalf("not a stored receipt: %v: %s", err, raw)
	}
	return v.Receipt
}

// Every state's receipt is signed, and the signature holds over exactly what was answered.
func TestReceiptsAreSigned(t *testing.T) {
	for _, s := range []task.State{task.Queued, task.Running, task.Paused, task.Succeeded, task.Failed, task.Error, task.Canceled, task.Rejected} {
		t.Run(string(s), func(t *testing.T) {
			rh := newReceiptHarness(t)
			rh.read.Put(storedTask(s))
			r := do(t, rh.h, http.MethodGet, "/v1/receipts/"+taskID, "", authed()...)
			if r.status != 200 {
				t.Fatalf("status = %d: %s", r.status, r.raw)
			}
			rc := decodeReceipt(t, r.raw)
			if rc.IssuerDID != rh.did(t) || rc.SignedAtMs == nil {
				t.Fatalf("receipt not signed by the issuer: %s", r.raw)
			}
			if err := receipt.Verify(rc); err != nil {
				t.Fatalf("signature does not hold: %v: %s", err, r.raw)
			}
		})
	}
}

// A receipt is signed once per change of what it says, and the signature is not written: the
// issuer keeps it, so reads write nothing to the task.
func TestReceiptSignatureIsReusedUntilTheReceiptChanges(t *testing.T) {
	rh := newReceiptHarness(t)
	rh.read.Put(storedTask(task.Running))
	before, _ := rh.read.Get(context.Background(), taskID)
	first := decodeReceipt(t, do(t, rh.h, http.MethodGet, "/v1/receipts/"+taskID, "", authed()...).raw)
	second := decodeReceipt(t, do(t, rh.h, http.MethodGet, "/v1/receipts/"+taskID, "", authed()...).raw)
	if rh.signs() != 1 || first.Signature != second.Signature {
		t.Fatalf("an unchanged receipt was signed %d times", rh.signs())
	}
	if after, _ := rh.read.Get(context.Background(), taskID); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("reading a receipt wrote its task: %+v, was %+v", after, before)
	}
	rh.read.set(taskID, func(tk *task.Task) { tk.State, tk.FinishedAt = task.Succeeded, now })
	third := decodeReceipt(t, do(t, rh.h, http.MethodGet, "/v1/receipts/"+taskID, "", authed()...).raw)
	if rh.signs() != 2 || third.Status != receipt.StatusSucceeded || receipt.Verify(third) != nil {
		t.Fatalf("a changed receipt was not signed anew: %d signatures, %+v", rh.signs(), third)
	}
}

func TestListReceipts(t *testing.T) {
	rh := newReceiptHarness(t)
	a, b := storedTask(task.Succeeded), storedTask(task.Running)
	b.ID = "9d0b4d0e-0000-4000-8000-000000000002"
	other := storedTask(task.Running)
	other.Tenant = "org-2"
	rh.read.listed, rh.read.next = []*task.Task{a, b, other}, "c2"
	r := do(t, rh.h, http.MethodGet, "/v1/receipts?agent_id=echo&provider_id=agentq&caller_agent_id=ca&caller_public_id=cp&invoke_mode=sync&verification=pending&limit=7&cursor=c1", "", authed()...)
	if r.status != 200 {
		t.Fatalf("status = %d: %s", r.status, r.raw)
	}
	want := task.ListQuery{Tenant: "org-1", AgentID: "echo", CallerAgentID: "ca", CallerPublicID: "cp", InvokeMode: "sync",
		Verification: "pending", Limit: 7, Cursor: "c1", Now: now}
	if got := rh.read.lists[0]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("query = %+v, want %+v", got, want)
	}
	var page struct {
		Items []struct {
			Receipt receipt.Receipt `json:"receipt"`
		} `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	if err := json.Unmarshal([]byte(r.raw), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 || page.Items[0].Receipt.ReceiptID != a.ID || page.Items[1].Receipt.ReceiptID != b.ID || page.NextCursor != "c2" {
		t.Fatalf("page = %s", r.raw)
	}
	for _, it := range page.Items {
		if err := receipt.Verify(it.Receipt); err != nil {
			t.Errorf("listed receipt %s: %v", it.Receipt.ReceiptID, err)
		}
	}

	// Another provider's receipts: agentq has none.
	r = do(t, rh.h, http.MethodGet, "/v1/receipts?provider_id=someone-else", "", authed()...)
	if r.status != 200 || r.raw != `{"items":[]}`+"\n" || len(rh.read.lists) != 1 {
		t.Errorf("another provider = %d %s after %d lists", r.status, r.raw, len(rh.read.lists))
	}
	for _, q := range []string{"invoke_mode=both", "verification=maybe", "limit=0", "limit=101", "agent_id=a%20b"} {
		wantError(t, do(t, rh.h, http.MethodGet, "/v1/receipts?"+q, "", authed()...), task.ServiceNet, 400, "validation_failed")
	}
}

func TestListReceiptsLoadsOffloadedPayloads(t *testing.T) {
	rh := newReceiptHarness(t)
	full := storedTask(task.Succeeded)
	full.ResultRef, full.RequestRef = "results/"+taskID, "requests/"+taskID
	full.Request = json.RawMessage(`{"message":"a large request"}`)
	rh.read.Put(full)
	slim := clone(full)
	slim.Result, slim.Request = "", nil
	rh.read.listed = []*task.Task{slim}
	// Only the request kept elsewhere: loaded too, for request_digest.
	req := storedTask(task.Running)
	req.ID, req.RequestRef, req.Request = "9d0b4d0e-0000-4000-8000-000000000003", "requests/x", json.RawMessage(`{"message":"another"}`)
	rh.read.Put(req)
	slimReq := clone(req)
	slimReq.Request = nil
	rh.read.listed = append(rh.read.listed, slimReq)
	r := do(t, rh.h, http.MethodGet, "/v1/receipts", "", authed()...)
	var page struct {
		Items []dialect.StoredReceipt `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.raw), &page); err != nil || len(page.Items) != 2 {
		t.Fatalf("%v: %s", err, r.raw)
	}
	want, _ := receipt.Digest(json.RawMessage(`"hi back"`))
	if page.Items[0].Receipt.ResultDigest != want || string(page.Items[0].Output) != `"hi back"` {
		t.Errorf("listed receipt without its answer: %s", r.raw)
	}
	for i, body := range []string{`{"message":"a large request"}`, `{"message":"another"}`} {
		if want, _ := receipt.RequestDigest(json.RawMessage(body)); page.Items[i].Receipt.RequestDigest != want {
			t.Errorf("item %d: request_digest of a request not loaded: %s", i, r.raw)
		}
	}
}

func TestVerifyReceipt(t *testing.T) {
	rh := newReceiptHarness(t)
	rh.read.Put(storedTask(task.Succeeded))
	path := "/v1/receipts/" + taskID + "/verify"
	before := decodeReceipt(t, do(t, rh.h, http.MethodGet, "/v1/receipts/"+taskID, "", authed()...).raw)
	r := do(t, rh.h, http.MethodPost, path, `{"verifier_id":"auditor-1","verdict":"verified","automated":true,"reason":"output checked"}`, authed()...)
	if r.status != 200 {
		t.Fatalf("status = %d: %s", r.status, r.raw)
	}
	after := decodeReceipt(t, r.raw)
	if after.Verification != receipt.Verified || after.Signature == before.Signature || receipt.Verify(after) != nil {
		t.Fatalf("verdict not recorded and signed: %s", r.raw)
	}
	if got := decodeReceipt(t, do(t, rh.h, http.MethodGet, "/v1/receipts/"+taskID, "", authed()...).raw); got.Verification != receipt.Verified {
		t.Errorf("the verdict did not stay: %+v", got)
	}
	bad := []string{
		``, `[]`, `{"verdict":"verified"}`, `{"verifier_id":"  ","verdict":"verified"}`, `{"verifier_id":"v","verdict":"great"}`,
		`{"verifier_id":"v","verdict":"verified","extra":1}`, `{"verifier_id":"v","verdict":"verified","automated":"yes"}`,
	}
	for _, body := range bad {
		wantError(t, do(t, rh.h, http.MethodPost, path, body, authed()...), task.ServiceNet, 400, "validation_failed")
	}
	if len(rh.store.verdicts) != 1 {
		t.Errorf("%d verdicts recorded, want 1", len(rh.store.verdicts))
	}
	// Another tenant's receipt, or none: not found.
	wantError(t, do(t, rh.h, http.MethodPost, path, `{"verifier_id":"v","verdict":"failed"}`, "X-Api-Key", otherKey), task.ServiceNet, 404, "receipt_not_found")
	wantError(t, do(t, rh.h, http.MethodPost, "/v1/receipts/not-a-uuid/verify", `{"verifier_id":"v","verdict":"failed"}`, authed()...), task.ServiceNet, 404, "receipt_not_found")
}

func TestReceiptIssuerRoute(t *testing.T) {
	rh := newReceiptHarness(t)
	r := do(t, rh.h, http.MethodGet, "/v1/receipt-issuer", "", authed()...)
	if r.status != 200 || r.body["did"] != rh.did(t) {
		t.Fatalf("= %d %s", r.status, r.raw)
	}
	ks, _ := r.body["keys"].([]any)
	k, _ := ks[0].(map[string]any)
	if len(ks) != 1 || k["did"] != rh.did(t) || k["status"] != "current" || k["algorithm"] != "Ed25519" {
		t.Errorf("keys = %v", r.body["keys"])
	}
	wantError(t, do(t, rh.h, http.MethodGet, "/v1/receipt-issuer", ""), task.ServiceNet, 401, "missing_api_key")
}

// POST /v1/agents/{agent_id}/invoke answers a ServiceNet body in ServiceNet's sync shape, and falls
// back to the async answer when the agent outlasts the wait.
func TestServiceNetSyncInvoke(t *testing.T) {
	t.Run("ended", func(t *testing.T) {
		rh := newReceiptHarness(t)
		rh.sub.submit = func(sub accept.Submission) (*task.Task, error) {
			tk := storedTask(task.Succeeded)
			tk.Dialect, tk.Request = task.ServiceNet, sub.Invocation.Body
			rh.read.mu.Lock()
			rh.read.Put(clone(tk))
			rh.read.mu.Unlock()
			return tk, nil
		}
		r := do(t, rh.h, http.MethodPost, "/v1/agents/echo/invoke", `{"message":"hello","context_id":"c-1"}`, authed()...)
		if r.status != 200 || r.body["status"] != dialect.StateCompleted || r.body["receipt_id"] != taskID || r.body["message"] != "hi back" || r.body["output"] != "hi back" {
			t.Fatalf("= %d %s", r.status, r.raw)
		}
		if inv := rh.sub.subs[0].Invocation; !inv.Sync || inv.Dialect != task.ServiceNet {
			t.Errorf("invocation = %+v, want a sync ServiceNet one", inv)
		}
	})
	t.Run("outlasts the wait", func(t *testing.T) {
		rh := newReceiptHarness(t)
		rh.read.Put(storedTask(task.Running))
		r := do(t, rh.h, http.MethodPost, "/v1/agents/echo/invoke?wait=1", `{"message":"hello"}`, authed()...)
		if r.status != 202 || r.body["status"] != "running" || r.body["receipt_id"] != taskID || r.body["message"] != dialect.AcceptedMessage {
			t.Fatalf("= %d %s", r.status, r.raw)
		}
		if r.header.Get("Location") != "/v1/receipts/"+taskID || r.header.Get("Retry-After") != "2" {
			t.Errorf("headers = %v", r.header)
		}
	})
	t.Run("return_immediately", func(t *testing.T) {
		rh := newReceiptHarness(t)
		rh.read.Put(storedTask(task.Running))
		before := rh.read.calls()
		r := do(t, rh.h, http.MethodPost, "/v1/agents/echo/invoke", `{"message":"hello","return_immediately":true}`, authed()...)
		if r.status != 202 || r.body["status"] != "running" || rh.read.calls() != before {
			t.Fatalf("= %d %s after %d reads", r.status, r.raw, rh.read.calls()-before)
		}
	})
	t.Run("an xpander body stays xpander's", func(t *testing.T) {
		rh := newReceiptHarness(t)
		rh.read.Put(storedTask(task.Succeeded))
		r := do(t, rh.h, http.MethodPost, "/v1/agents/echo/invoke", xpanderBody, authed()...)
		if r.status != 200 || r.body["status"] != "completed" || r.body["id"] != taskID {
			t.Fatalf("= %d %s", r.status, r.raw)
		}
		if inv := rh.sub.subs[0].Invocation; !inv.Sync || inv.Dialect != task.Xpander {
			t.Errorf("invocation = %+v, want a sync xpander one", inv)
		}
	})
}
