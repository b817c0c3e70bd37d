package client

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"

	"github.com/agentq/agentq/client/raw"
	"github.com/agentq/agentq/shared/receipt"
)

// ReceiptQuery filters a receipt list. Zero fields do not filter.
type ReceiptQuery struct {
	AgentID, ProviderID, CallerAgentID, CallerPublicID string
	// InvokeMode is sync or async; Verification a verdict (not_required, pending, verified, failed).
	InvokeMode, Verification string
	// Limit is the page size; Cursor the previous page's next cursor.
	Limit  int
	Cursor string
}

// ListReceipts reads one page of the caller's receipts (GET /v1/receipts).
func (c *Client) ListReceipts(ctx context.Context, q ReceiptQuery) (*ReceiptList, error) {
	p := &raw.ListReceiptsParams{AgentId: ptr(q.AgentID), ProviderId: ptr(q.ProviderID), CallerAgentId: ptr(q.CallerAgentID),
		CallerPublicId: ptr(q.CallerPublicID), Limit: ptr(q.Limit), Cursor: ptr(q.Cursor)}
	if q.InvokeMode != "" {
		m := raw.ListReceiptsParamsInvokeMode(q.InvokeMode)
		p.InvokeMode = &m
	}
	if q.Verification != "" {
		v := raw.ListReceiptsParamsVerification(q.Verification)
		p.Verification = &v
	}
	resp, err := c.raw.ListReceipts(ctx, p)
	l, _, err := decode[ReceiptList](ctx, "list receipts", resp, err, http.StatusOK)
	return l, err
}

// Receipts iterates over every receipt the query selects, page after page.
func (c *Client) Receipts(ctx context.Context, q ReceiptQuery) iter.Seq2[*Receipt, error] {
	return pages(func(cursor string) ([]Receipt, *string, error) {
		q.Cursor = cursor
		l, err := c.ListReceipts(ctx, q)
		if err != nil {
			return nil, nil, err
		}
		return l.Items, l.NextCursor, nil
	}, q.Cursor)
}

// RecordVerification records a verifier's verdict on a receipt (POST /v1/receipts/{id}/verify)
// and answers the receipt, signed again with the verdict.
func (c *Client) RecordVerification(ctx context.Context, id string, v VerificationVerdict) (*Receipt, error) {
	rid, err := parseUUID("record verification", id)
	if err != nil {
		return nil, err
	}
	resp, err := c.raw.VerifyReceipt(ctx, rid, nil, v)
	r, _, err := decode[Receipt](ctx, "record verification of "+id, resp, err, http.StatusOK)
	return r, err
}

// ReceiptIssuer reads the keys the service signs receipts with (GET /v1/receipt-issuer).
func (c *Client) ReceiptIssuer(ctx context.Context) (*IssuerKeys, error) {
	resp, err := c.raw.GetReceiptIssuer(ctx, nil)
	k, _, err := decode[IssuerKeys](ctx, "read receipt issuer", resp, err, http.StatusOK)
	return k, err
}

// ErrUnknownIssuer is a receipt whose signature holds but whose issuer is none of the service's
// published keys.
var ErrUnknownIssuer = errors.New("the receipt's issuer is not one of the service's keys")

// VerifyReceipt reads a receipt and checks it here, as any third party can: its Ed25519
// signature over the receipt object's canonical (RFC 8785) JSON, with the key its
// receipt_issuer_did names, and that this DID is one of the keys the service publishes. It
// answers the signed receipt object.
func (c *Client) VerifyReceipt(ctx context.Context, id string) (*receipt.Receipt, error) {
	rid, err := parseUUID("verify receipt", id)
	if err != nil {
		return nil, err
	}
	resp, err := c.raw.GetReceipt(ctx, rid, nil)
	stored, _, err := decode[struct {
		Receipt receipt.Receipt `json:"receipt"`
	}](ctx, "verify receipt "+id, resp, err, http.StatusOK)
	if err != nil {
		return nil, err
	}
	if err := receipt.Verify(stored.Receipt); err != nil {
		return &stored.Receipt, fmt.Errorf("verify receipt %s: %w", id, err)
	}
	keys, err := c.ReceiptIssuer(ctx)
	if err != nil {
		return &stored.Receipt, err
	}
	known := false
	for _, k := range keys.Keys {
		known = known || k.Did == stored.Receipt.IssuerDID
	}
	if !known {
		return &stored.Receipt, fmt.Errorf("verify receipt %s: %s: %w", id, stored.Receipt.IssuerDID, ErrUnknownIssuer)
	}
	return &stored.Receipt, nil
}

// ServiceNetInvoked is the sync route's answer to a ServiceNet body.
type ServiceNetInvoked = raw.ServiceNetInvoked

// InvokeServiceNetSync submits a ServiceNet invocation through the sync route
// (POST /v1/agents/{agent_id}/invoke) and answers once the task has ended, or, when the server's
// hold ran out first (202), with the receipt still running: WaitReceipt(ReceiptId) waits on,
// first reading when the 202's Retry-After said.
func (c *Client) InvokeServiceNetSync(ctx context.Context, agentID string, req ServiceNetRequest, o InvokeOptions) (*ServiceNetInvoked, error) {
	resp, err := c.invokeSync(ctx, agentID, req, o)
	r, httpResp, err := decode[ServiceNetInvoked](ctx, "invoke "+agentID, resp, err, http.StatusOK, http.StatusAccepted)
	if err != nil {
		return nil, err
	}
	if httpResp.StatusCode == http.StatusAccepted && r.ReceiptId != nil {
		c.back.note(r.ReceiptId.String(), httpResp)
	}
	return r, nil
}
