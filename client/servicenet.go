package client

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/agentq/agentq/client/raw"
)

// The ServiceNet dialect's types, generated from the contract.
type (
	// Receipt is a task as the ServiceNet dialect answers it: the signed receipt object, with the
	// output beside it.
	Receipt = raw.StoredReceipt
	// ReceiptStatus is a receipt's status: running, succeeded, failed or rejected.
	ReceiptStatus = raw.ExecutionReceiptStatus
	// ReceiptList is one page of a receipt list.
	ReceiptList = raw.ReceiptList
	// VerificationVerdict is the body of RecordVerification: a verifier's verdict.
	VerificationVerdict = raw.VerifyReceiptRequest
	// IssuerKeys are the keys the service signs receipts with, as did:key.
	IssuerKeys = raw.IssuerKeys
	// ServiceNetRequest is the body of a ServiceNet invocation.
	ServiceNetRequest = raw.ServiceNetRequest
	// Accepted is the answer to a ServiceNet invocation: the receipt id to read.
	Accepted = raw.Accepted
)

// InvokeServiceNet submits a ServiceNet invocation (POST /v1/agents/{agent_id}/invoke-async) and
// answers the receipt id at once.
func (c *Client) InvokeServiceNet(ctx context.Context, agentID string, req ServiceNetRequest, o InvokeOptions) (*Accepted, error) {
	resp, err := c.raw.InvokeAgentAsyncServiceNet(ctx, agentID, &raw.InvokeAgentAsyncServiceNetParams{Version: ptr(o.Version), IdempotencyKey: ptr(o.IdempotencyKey)}, req)
	a, httpResp, err := decode[Accepted](ctx, "invoke "+agentID, resp, err, http.StatusAccepted, http.StatusOK)
	if err != nil {
		return nil, err
	}
	c.back.note(a.ReceiptId.String(), httpResp)
	return a, nil
}

// Receipt reads a receipt (GET /v1/receipts/{receipt_id}).
func (c *Client) Receipt(ctx context.Context, id string) (*Receipt, error) {
	r, _, err := c.receipt(ctx, id, 0)
	return r, err
}

func (c *Client) receipt(ctx context.Context, id string, wait int) (*Receipt, *http.Response, error) {
	rid, err := parseUUID("get receipt", id)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.raw.GetReceipt(ctx, rid, &raw.GetReceiptParams{Wait: ptr(wait)})
	return decode[Receipt](ctx, "get receipt "+id, resp, err, http.StatusOK)
}

// WaitReceipt answers the receipt once it is no longer running, or once it waits for input
// (status running with a hitl_request: the task paused), long-polling as Wait does (a receipt
// this client accepted with InvokeServiceNet is first read when the accept's Retry-After said).
func (c *Client) WaitReceipt(ctx context.Context, id string, progress func(*Receipt)) (*Receipt, error) {
	fetch := func(ctx context.Context) (*Receipt, *http.Response, error) { return c.receipt(ctx, id, c.waitS) }
	status := func(r *Receipt) string { return string(r.Receipt.Status) }
	done := func(r *Receipt) bool {
		return r.Receipt.Status != raw.ExecutionReceiptStatusRunning || r.HitlRequest != nil
	}
	return poll(ctx, c, "wait for receipt "+id, "", c.back.take(id), fetch, status, done, progress)
}

// StopReceipt cancels the receipt's task (POST /v1/receipts/{receipt_id}/stop) and answers the
// receipt as it now stands.
func (c *Client) StopReceipt(ctx context.Context, id string) (*Receipt, error) {
	rid, err := parseUUID("stop receipt", id)
	if err != nil {
		return nil, err
	}
	resp, err := c.raw.StopReceipt(ctx, rid, nil)
	r, _, err := decode[Receipt](ctx, "stop receipt "+id, resp, err, http.StatusOK)
	return r, err
}

// parseUUID reads an id the contract types as a UUID; a malformed one fails before any request.
func parseUUID(op, id string) (uuid.UUID, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return uuid.UUID{}, fmt.Errorf("%s: %q is not an id: %w", op, id, err)
	}
	return u, nil
}
