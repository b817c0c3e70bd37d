package accept_test

import (
	"context"
	"testing"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/dialect"
)

// TestSubmitRecordsCompletionEvents: the task records whether its outcome goes to the bus, from
// the body (completion_event, progress events, both dialects) and who submitted it (an event
// trigger by default).
func TestSubmitRecordsCompletionEvents(t *testing.T) {
	tests := []struct {
		name        string
		decode      func([]byte) (*dialect.Invocation, error)
		body        string
		eventDriven bool
		want        bool
	}{
		{"xpander over HTTP, silent", dialect.DecodeXpander, `{"input":{"text":"hi"}}`, false, false},
		{"xpander asks", dialect.DecodeXpander, `{"input":{"text":"hi"},"completion_event":true}`, false, true},
		{"xpander events_streaming", dialect.DecodeXpander, `{"input":{"text":"hi"},"events_streaming":true}`, false, true},
		{"xpander says no", dialect.DecodeXpander, `{"input":{"text":"hi"},"completion_event":false}`, false, false},
		{"servicenet over HTTP, silent", dialect.DecodeServiceNet, `{"message":"hi"}`, false, false},
		{"servicenet asks", dialect.DecodeServiceNet, `{"message":"hi","completion_event":true}`, false, true},
		{"servicenet progress_events", dialect.DecodeServiceNet, `{"message":"hi","progress_events":true}`, false, true},
		{"trigger, silent", dialect.DecodeServiceNet, `{"message":"hi"}`, true, true},
		{"trigger declines", dialect.DecodeXpander, `{"input":{"text":"hi"},"completion_event":false}`, true, false},
		// Progress events on the bus without the outcome would leave the listener hanging.
		{"progress events win over a no", dialect.DecodeServiceNet, `{"message":"hi","progress_events":true,"completion_event":false}`, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			inv := decode(t, tc.decode, tc.body)
			got, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo", Source: "api",
				EventDriven: tc.eventDriven, Invocation: inv})
			if err != nil {
				t.Fatal(err)
			}
			if got.CompletionEvents != tc.want || h.store.created[0].CompletionEvents != tc.want {
				t.Errorf("CompletionEvents: answered %v, recorded %v; want %v", got.CompletionEvents, h.store.created[0].CompletionEvents, tc.want)
			}
		})
	}
}
