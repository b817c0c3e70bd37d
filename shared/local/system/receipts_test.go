package system

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/agentq/agentq/shared/receipt"
)

// The ServiceNet receipts end to end on the emulators: an async invocation is polled through
// .receipt.status to succeeded, its signature is checked knowing nothing but the DID the issuer
// route publishes, and the receipt is listed with the reference's filters.

// receiptOf reads the signed receipt object of a stored receipt answer.
func receiptOf(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	rc, ok := body["receipt"].(map[string]any)
	if !ok {
		t.Fatalf("not a stored receipt: %v", body)
	}
	return rc
}

// verifyWithDID checks a receipt object's signature the way a third party would: the Ed25519 key
// from the did:key (multicodec 0xed 0x01, base58btc) and the RFC 8785 canonical JSON of the
// object without receipt_signature, made by Node's JSON (node), or else by package receipt.
func verifyWithDID(t *testing.T, rc map[string]any, did string) bool {
	t.Helper()
	if rc["receipt_issuer_did"] != did {
		t.Fatalf("receipt_issuer_did = %v, want the published %s", rc["receipt_issuer_did"], did)
	}
	raw, err := base58.Decode(did[len("did:key:z"):])
	if err != nil || len(raw) != 34 || raw[0] != 0xed || raw[1] != 0x01 {
		t.Fatalf("the DID %s is not an Ed25519 did:key", did)
	}
	sig, err := base64.StdEncoding.DecodeString(rc["receipt_signature"].(string))
	if err != nil {
		t.Fatalf("receipt_signature is not standard base64: %v", err)
	}
	unsigned := map[string]any{}
	for k, v := range rc {
		if k != "receipt_signature" {
			unsigned[k] = v
		}
	}
	// Go's encoding/json sorts object keys and writes these values (strings and integers below
	// 2^53) as RFC 8785 does; a receipt holds no other kind of value.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(unsigned); err != nil {
		t.Fatal(err)
	}
	ok := ed25519.Verify(ed25519.PublicKey(raw[2:]), bytes.TrimSuffix(buf.Bytes(), []byte("\n")), sig)
	if node, err := exec.LookPath("node"); err == nil {
		in, _ := json.Marshal(map[string]any{"receipt": rc, "did": did})
		cmd := exec.Command(node, "../../receipt/testdata/verify.mjs")
		cmd.Stdin = bytes.NewReader(in)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("node: %v: %s", err, out)
		}
		if (string(out) == "ok") != ok {
			t.Fatalf("node says %s, Go says %v", out, ok)
		}
	}
	return ok
}

// receiptKeyOpens counts the openings of the test system's sealed receipt key (a KMS Decrypt on
// AWS).
var receiptKeyOpens atomic.Int32

func TestServiceNetReceiptsSignedAndListed(t *testing.T) {
	// However many receipts this instance signs, it opens the sealed key once.
	defer func() {
		if n := receiptKeyOpens.Load(); n != 1 {
			t.Errorf("the sealed receipt key was opened %d times, want once", n)
		}
	}()
	code, _, issuer := call(t, http.MethodGet, "/v1/receipt-issuer", "")
	did, _ := issuer["did"].(string)
	if code != http.StatusOK || did == "" {
		t.Fatalf("issuer = %d %v", code, issuer)
	}

	caller := "caller-" + t.Name()
	code, _, accepted := call(t, http.MethodPost, "/v1/agents/echo/invoke-async",
		`{"message":"sign this","input":{"delay_ms":300},"agent_envelope":{"source_agent_id":"`+caller+`","extensions":{"caller_public_id":"pub-1"}}}`)
	id, _ := accepted["receipt_id"].(string)
	if code != http.StatusOK || id == "" {
		t.Fatalf("invoke-async = %d %v", code, accepted)
	}
	// A running receipt is signed too.
	_, _, first := call(t, http.MethodGet, "/v1/receipts/"+id, "")
	if rc := receiptOf(t, first); rc["status"] == "running" && !verifyWithDID(t, rc, did) {
		t.Fatalf("the running receipt's signature does not verify: %v", rc)
	}

	done := waitFor(t, "/v1/receipts/"+id, "succeeded", "failed")
	rc := receiptOf(t, done)
	if rc["status"] != "succeeded" || rc["invoke_mode"] != "async" || rc["caller_agent_id"] != caller || rc["caller_public_id"] != "pub-1" ||
		rc["provider_id"] != "agentq" || rc["verification"] != "not_required" || rc["completed_at"] == nil {
		t.Fatalf("receipt = %v", rc)
	}
	if !verifyWithDID(t, rc, did) {
		t.Fatalf("the signature does not verify with the published DID: %v", rc)
	}
	tampered := map[string]any{}
	for k, v := range rc {
		tampered[k] = v
	}
	tampered["status"] = "failed"
	if verifyWithDID(t, tampered, did) {
		t.Fatal("a tampered receipt verifies")
	}
	// The digests are what DESIGN.md says: of the request's covered fields, and of output.
	out, _ := json.Marshal(done["output"])
	if want, _ := receipt.Digest(out); rc["result_digest"] != want {
		t.Errorf("result_digest = %v, want %s", rc["result_digest"], want)
	}
	reqDigest, _ := receipt.RequestDigest(json.RawMessage(`{"message":"sign this","input":{"delay_ms":300}}`))
	if rc["request_digest"] != reqDigest {
		t.Errorf("request_digest = %v, want %s", rc["request_digest"], reqDigest)
	}
	// Read again, unchanged: the same signature (kept on the task, not made per read).
	_, _, again := call(t, http.MethodGet, "/v1/receipts/"+id, "")
	if receiptOf(t, again)["receipt_signature"] != rc["receipt_signature"] {
		t.Error("an unchanged receipt was signed anew")
	}

	// A verifier's verdict: recorded, signed anew, and a filter finds it.
	code, _, verified := call(t, http.MethodPost, "/v1/receipts/"+id+"/verify", `{"verifier_id":"auditor","verdict":"verified"}`)
	if vr := receiptOf(t, verified); code != http.StatusOK || vr["verification"] != "verified" || !verifyWithDID(t, vr, did) {
		t.Fatalf("verify = %d %v", code, verified)
	}

	// A sync invocation with a ServiceNet body, for the invoke_mode filter.
	code, _, synced := call(t, http.MethodPost, "/v1/agents/echo/invoke", `{"message":"sync receipt","agent_envelope":{"source_agent_id":"`+caller+`"}}`)
	syncID, _ := synced["receipt_id"].(string)
	if code != http.StatusOK || synced["status"] != "TASK_STATE_COMPLETED" || syncID == "" {
		t.Fatalf("sync invoke = %d %v", code, synced)
	}

	// The list reads an index that lags the table a little: ask until it shows what was written.
	list := func(q url.Values, want ...string) []string {
		t.Helper()
		var ids []string
		for range 50 {
			code, _, page := call(t, http.MethodGet, "/v1/receipts?"+q.Encode(), "")
			if code != http.StatusOK {
				t.Fatalf("list %v = %d %v", q, code, page)
			}
			ids = []string{}
			items, _ := page["items"].([]any)
			for _, it := range items {
				rc := receiptOf(t, it.(map[string]any))
				if !verifyWithDID(t, rc, did) {
					t.Fatalf("listed receipt %v does not verify", rc["receipt_id"])
				}
				ids = append(ids, rc["receipt_id"].(string))
			}
			if slices.Equal(ids, want) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		return ids
	}
	for _, tt := range []struct {
		q    url.Values
		want []string
	}{
		{url.Values{"caller_agent_id": {caller}}, []string{syncID, id}}, // newest first
		{url.Values{"caller_agent_id": {caller}, "invoke_mode": {"sync"}}, []string{syncID}},
		{url.Values{"caller_agent_id": {caller}, "invoke_mode": {"async"}}, []string{id}},
		{url.Values{"caller_agent_id": {caller}, "verification": {"verified"}}, []string{id}},
		{url.Values{"caller_agent_id": {caller}, "verification": {"not_required"}}, []string{syncID}},
		{url.Values{"caller_public_id": {"pub-1"}, "agent_id": {"echo"}}, []string{id}},
		{url.Values{"caller_agent_id": {caller}, "provider_id": {"someone-else"}}, []string{}},
	} {
		if ids := list(tt.q, tt.want...); !slices.Equal(ids, tt.want) {
			t.Errorf("receipts %v = %v, want %v", tt.q, ids, tt.want)
		}
	}

	// The issuer's key is recognised through the system's own issuer too.
	var rec receipt.Receipt
	b, _ := json.Marshal(rc)
	if err := json.Unmarshal(b, &rec); err != nil || sys.Receipts.Issued(context.Background(), rec) != nil {
		t.Errorf("the system does not recognise its own receipt: %v", err)
	}
}
