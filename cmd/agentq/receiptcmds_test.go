package main

import (
	"testing"

	"github.com/agentq/agentq/client"
	"github.com/agentq/agentq/client/raw"
)

// A waited receipt is an error unless it succeeded or waits for input (running with a
// hitl_request), as a waited task is unless it completed or paused.
func TestReceiptEnded(t *testing.T) {
	hitl := &raw.HumanInTheLoopRequest{}
	for _, tt := range []struct {
		status  raw.ExecutionReceiptStatus
		hitl    *raw.HumanInTheLoopRequest
		wantErr bool
	}{
		{"succeeded", nil, false},
		{"running", hitl, false},
		{"running", nil, true},
		{"failed", nil, true},
		{"rejected", hitl, true},
	} {
		r := &client.Receipt{HitlRequest: tt.hitl}
		r.Receipt.Status = tt.status
		if err := receiptEnded(r); (err != nil) != tt.wantErr {
			t.Errorf("%s (hitl %v): %v, want error %v", tt.status, tt.hitl != nil, err, tt.wantErr)
		}
	}
}
