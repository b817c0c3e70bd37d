package dialect

import (
	"bytes"
	"encoding/json"

	"github.com/agentq/agentq/shared/receipt"
	"github.com/agentq/agentq/shared/task"
)

// ProviderID is the receipts' provider_id: agentq provides every agent it serves.
const ProviderID = "agentq"

// StoredReceipt is a task as the ServiceNet receipts API shows it (GET /v1/receipts/{id}): the
// reference node's stored receipt (the signed receipt object, the agent's output, its error
// text), with agentq's own facts beside them, outside what is signed.
type StoredReceipt struct {
	Receipt receipt.Receipt `json:"receipt"`
	// Output is the agent's answer: its JSON when it answered JSON, else its text as a string.
	Output json.RawMessage `json:"output,omitempty"`
	// Stderr says why the invocation failed.
	Stderr *string `json:"stderr,omitempty"`

	// agentq's: the task (the same id as the receipt), its conversation, how many times a
	// worker took it up, why it failed, and what the agent asked for while it waits for input.
	TaskID      string          `json:"task_id"`
	ContextID   *string         `json:"context_id,omitempty"`
	Attempts    int             `json:"attempts"`
	Error       *ErrorInfo      `json:"error,omitempty"`
	HITLRequest json.RawMessage `json:"hitl_request,omitempty"`
}

// ServiceNet projects t into the ServiceNet stored receipt, unsigned: receipt.Issuer signs it.
func ServiceNet(t *task.Task) *StoredReceipt {
	status := ServiceNetStatus(t.State)
	r := receipt.Receipt{
		ReceiptID: t.ID, AgentID: t.AgentID, ProviderID: ProviderID,
		CallerAgentID: t.CallerAgentID, CallerPublicID: t.CallerPublicID,
		InvokeMode: receipt.ModeAsync, Status: status, Verification: t.Verification,
		StartedAt: receipt.Time{Time: t.CreatedAt.UTC()},
	}
	if t.Sync {
		r.InvokeMode = receipt.ModeSync
	}
	if r.Verification == "" {
		r.Verification = receipt.NotRequired
	}
	var err error
	if r.RequestDigest, err = receipt.RequestDigest(t.Request); err != nil {
		// A body the accept core took is a JSON object; one that is not digests as if empty.
		r.RequestDigest, _ = receipt.RequestDigest(nil)
	}
	if t.State.Terminal() {
		end := t.FinishedAt
		if end.IsZero() {
			end = t.UpdatedAt
		}
		r.CompletedAt = &receipt.Time{Time: end.UTC()}
	}
	if t.CostUnits > 0 {
		c := uint32(t.CostUnits)
		r.CostUnits = &c
	}
	v := &StoredReceipt{Receipt: r, TaskID: t.ID, ContextID: nonEmpty(t.ThreadID), Attempts: t.Attempts, Error: errorInfo(t), HITLRequest: t.HITL}
	switch status {
	case receipt.StatusSucceeded:
		// An answer kept in the blob store and not loaded is left out rather than shown empty.
		if t.ResultRef == "" || t.Result != "" || len(t.Output) > 0 {
			v.Output = answer(t)
			if d, err := receipt.Digest(v.Output); err == nil {
				v.Receipt.ResultDigest = d
			}
		}
	case receipt.StatusFailed, receipt.StatusRejected:
		msg := t.ReasonMessage
		if msg == "" {
			msg = t.Reason
		}
		if msg != "" {
			v.Stderr = &msg
		}
	}
	return v
}

// answer is the agent's answer as JSON: its JSON output, else its text as a JSON string.
func answer(t *task.Task) json.RawMessage {
	if len(bytes.TrimSpace(t.Output)) > 0 && json.Valid(t.Output) {
		return t.Output
	}
	return json.RawMessage(quote(t.Result))
}

// Invoked is the ServiceNet answer to a sync invocation (POST /v1/agents/{agent_id}/invoke with a
// ServiceNet body), the reference's InvokeAgentResponse, with agentq's error beside it.
type Invoked struct {
	AgentID   string          `json:"agent_id"`
	Status    string          `json:"status"`
	ReceiptID string          `json:"receipt_id,omitempty"`
	TaskID    string          `json:"task_id,omitempty"`
	ContextID *string         `json:"context_id,omitempty"`
	Message   *string         `json:"message,omitempty"`
	Output    json.RawMessage `json:"output,omitempty"`
	Raw       json.RawMessage `json:"raw"`
	Error     *ErrorInfo      `json:"error,omitempty"`
	// HITLRequest says what the agent asked for when it waits for input.
	HITLRequest json.RawMessage `json:"hitl_request,omitempty"`
}

// The A2A task states a settled sync invocation answers, as the reference passes its agent's on.
const (
	StateCompleted     = "TASK_STATE_COMPLETED"
	StateFailed        = "TASK_STATE_FAILED"
	StateCanceled      = "TASK_STATE_CANCELED"
	StateRejected      = "TASK_STATE_REJECTED"
	StateInputRequired = "TASK_STATE_INPUT_REQUIRED"
)

// ServiceNetInvoked projects t into the sync invoke answer. A task that has not settled (ended,
// or waiting for input) answers as an accepted async invocation: status "running", its receipt
// to poll.
func ServiceNetInvoked(t *task.Task) *Invoked {
	v := &Invoked{AgentID: t.AgentID, ReceiptID: t.ID, TaskID: t.ID, ContextID: nonEmpty(t.ThreadID), Raw: emptyObject, Error: errorInfo(t)}
	msg := func(s string) { v.Message = &s }
	switch t.State {
	case task.Succeeded:
		v.Status = StateCompleted
		v.Output = answer(t)
		msg(t.Result)
		if len(t.Output) > 0 && t.Output[0] == '{' {
			v.Raw = t.Output
		} else {
			v.Raw = json.RawMessage(`{"text":` + quote(t.Result) + `}`)
		}
	case task.Paused:
		v.Status = StateInputRequired
		v.HITLRequest = t.HITL
		msg("ServiceNet invocation needs input")
	case task.Failed, task.Error:
		v.Status = StateFailed
		msg(failedMessage(t))
	case task.Canceled:
		v.Status = StateCanceled
		msg(failedMessage(t))
	case task.Rejected:
		v.Status = StateRejected
		msg(failedMessage(t))
	default:
		v.Status = receipt.StatusRunning
		msg(AcceptedMessage)
	}
	return v
}

func failedMessage(t *task.Task) string {
	m := "ServiceNet invocation failed"
	if t.ReasonMessage != "" {
		m += ": " + t.ReasonMessage
	}
	return m
}
