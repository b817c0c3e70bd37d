package a2apush_test

import (
	"encoding/json"
	"testing"

	"github.com/agentq/agentq/shared/a2apush"
)

// FuzzDecode: whatever is pushed, the decoder answers events whose data is a JSON object, or
// an error; it never panics.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"statusUpdate":{"taskId":"r","contextId":"c","status":{"state":"TASK_STATE_WORKING","message":{"messageId":"m","role":"ROLE_AGENT","parts":[{"text":"hi"}]}}}}`,
		`{"artifactUpdate":{"taskId":"r","artifact":{"artifactId":"a","parts":[{"data":{"k":1}}]}}}`,
		`{"task":{"id":"r","status":{"state":"TASK_STATE_COMPLETED"}}}`, `{"message":{"messageId":"m","parts":[]}}`,
		`{"artifactUpdate":{"taskId":"r"}}`, `{}`, `null`,
		`{"kind":"task","id":"r","contextId":"c","status":{"state":"working","message":{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"text","text":"hi"}]}}}`,
		`{"kind":"artifact-update","taskId":"r","artifact":{"artifactId":"a","parts":[{"kind":"file","file":{"bytes":"%%%"}}]}}`,
		`{"kind":"status-update","taskId":"r","status":{"state":"unknown"}}`, `{"kind":7}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, reports, err := a2apush.Decode(body)
		if err != nil {
			return
		}
		if len(reports) == 0 {
			t.Fatal("a push that makes no event")
		}
		for _, e := range reports {
			var m map[string]any
			if json.Unmarshal(e.Data, &m) != nil {
				t.Fatalf("event data %s", e.Data)
			}
		}
	})
}
