package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/receipt"
	"github.com/agentq/agentq/shared/task"
)

// ReceiptIssuer signs receipts and lists the keys it signs and signed with.
type ReceiptIssuer interface {
	Issue(ctx context.Context, r *receipt.Receipt) error
	Keys(ctx context.Context) ([]receipt.Key, error)
}

var _ ReceiptIssuer = (*receipt.Issuer)(nil)

// ReceiptStore keeps a verifier's verdict beside its task.
type ReceiptStore interface {
	SetVerification(ctx context.Context, id, verdict string) (*task.Task, error)
}

// signedReceipt projects t into its ServiceNet receipt and signs it. The issuer reuses the
// signature it made while what the receipt says is unchanged; nothing is written (DESIGN.md,
// "Receipts": a write per change cost more than the signature it saved).
func (a *api) signedReceipt(ctx context.Context, t *task.Task) (*dialect.StoredReceipt, error) {
	v := dialect.ServiceNet(t)
	if a.Receipts == nil {
		return v, nil
	}
	if err := a.Receipts.Issue(ctx, &v.Receipt); err != nil {
		return nil, err
	}
	return v, nil
}

// ReceiptList is a page of receipts as GET /v1/receipts answers it: the reference's items, and
// agentq's cursor to the next page when there is one.
type ReceiptList struct {
	Items      []*dialect.StoredReceipt `json:"items"`
	NextCursor *string                  `json:"next_cursor,omitempty"`
}

// listReceipts answers the caller's receipts, newest first, with the reference's filters.
func (a *api) listReceipts(w http.ResponseWriter, r *http.Request, tenant string) error {
	p := newParams(r)
	q := task.ListQuery{Tenant: tenant, Now: a.Now()}
	if q.AgentID = p.text("agent_id"); q.AgentID != "" && !agent.ValidID(q.AgentID) {
		p.add("query", "agent_id", "must be 1 to 128 letters, digits, '.', '_' or '-'", "pattern")
	}
	provider := p.text("provider_id")
	q.CallerAgentID = p.text("caller_agent_id")
	q.CallerPublicID = p.text("caller_public_id")
	if q.InvokeMode = p.text("invoke_mode"); q.InvokeMode != "" && q.InvokeMode != receipt.ModeSync && q.InvokeMode != receipt.ModeAsync {
		p.add("query", "invoke_mode", "must be sync or async", "enum")
	}
	if q.Verification = p.text("verification"); q.Verification != "" && !receipt.ValidVerdict(q.Verification) {
		p.add("query", "verification", "must be one of "+strings.Join(receipt.Verdicts, ", "), "enum")
	}
	q.Limit = p.whole("limit", task.DefaultListLimit, 1, task.MaxListLimit)
	q.Cursor, _ = p.get("cursor")
	if err := p.err(); err != nil {
		return err
	}
	page := ReceiptList{Items: []*dialect.StoredReceipt{}}
	if provider != "" && provider != dialect.ProviderID {
		writeJSON(w, http.StatusOK, page) // agentq provides every receipt it issues
		return nil
	}
	items, next, err := a.Lister.List(r.Context(), q)
	if err != nil {
		return err
	}
	for _, t := range items {
		if t.Tenant != tenant { // the index is the tenant's partition; this only makes sure
			continue
		}
		if offloaded(t) && a.Reader != nil {
			// A list does not load payloads kept in the blob store, but the receipt's digests
			// cover the request and the answer: read the task whole.
			if t, err = a.Reader.Get(r.Context(), t.ID); err != nil {
				return err
			}
		}
		v, err := a.signedReceipt(r.Context(), t)
		if err != nil {
			return err
		}
		page.Items = append(page.Items, v)
	}
	if next != "" {
		page.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

// offloaded reports whether a listed task lacks a payload its receipt digests: a request or an
// answer kept in the blob store, which lists do not load.
func offloaded(t *task.Task) bool {
	answer := t.State == task.Succeeded && t.ResultRef != "" && t.Result == "" && len(t.Output) == 0
	return answer || (t.RequestRef != "" && len(t.Request) == 0)
}

// VerifyRequest is the body of POST /v1/receipts/{receipt_id}/verify, the reference's.
type VerifyRequest struct {
	VerifierID string  `json:"verifier_id"`
	Verdict    string  `json:"verdict"`
	Automated  bool    `json:"automated"`
	Reason     *string `json:"reason"`
}

const verifyShape = `{"verifier_id": "<non-empty>", "verdict": "not_required" | "pending" | "verified" | "failed", "automated"?: <bool>, "reason"?: "<text>"}`

// verifyReceipt records a verifier's verdict on a receipt, as the reference does, and answers the
// receipt as it now stands, signed anew (its verification is part of what is signed).
func (a *api) verifyReceipt(w http.ResponseWriter, r *http.Request, tenant string) error {
	t, err := a.find(r.Context(), w, tenant, r.PathValue("receipt_id"), false)
	if err != nil {
		return err
	}
	var req VerifyRequest
	if err := decodeStrict(w, r, &req, false, verifyShape); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusUnprocessableEntity {
			ae.status = http.StatusBadRequest // ServiceNet answers a bad body 400
		}
		return err
	}
	var p params
	if strings.TrimSpace(req.VerifierID) == "" || len(req.VerifierID) > maxIDBytes {
		p.add("body", "verifier_id", "must be 1 to 256 characters, not blank", "missing")
	}
	if !receipt.ValidVerdict(req.Verdict) {
		p.add("body", "verdict", "must be one of "+strings.Join(receipt.Verdicts, ", "), "enum")
	}
	if req.Reason != nil && len(*req.Reason) > maxTextReason {
		p.add("body", "reason", "must be at most 4096 bytes", "too_long")
	}
	if err := p.err(); err != nil {
		return err
	}
	if t, err = a.ReceiptStore.SetVerification(r.Context(), t.ID, req.Verdict); err != nil {
		return err
	}
	a.Logger.Info("receipt verdict recorded", "task_id", t.ID, "tenant", tenant, "verdict", req.Verdict,
		"verifier_id", req.VerifierID, "automated", req.Automated)
	v, err := a.signedReceipt(r.Context(), t)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// maxTextReason bounds a verdict's reason.
const maxTextReason = 4096

// IssuerKeys is the answer of GET /v1/receipt-issuer: the DID receipts are signed with now, and
// every key agentq signs or signed receipts with, the current one first.
type IssuerKeys struct {
	DID  string        `json:"did"`
	Keys []receipt.Key `json:"keys"`
}

// receiptIssuer publishes the receipt signing keys, so that a client can tell that a receipt's
// receipt_issuer_did is agentq's, before or after a rotation.
func (a *api) receiptIssuer(w http.ResponseWriter, r *http.Request, _ string) error {
	keys, err := a.Receipts.Keys(r.Context())
	if err != nil {
		return err
	}
	cur := slices.IndexFunc(keys, func(k receipt.Key) bool { return k.Status == "current" })
	ans := IssuerKeys{Keys: keys}
	if cur >= 0 {
		ans.DID = keys[cur].DID
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}
