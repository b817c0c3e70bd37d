package dialect_test

import (
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/dialect"
)

// TestServiceNetAuthContextID checks that auth_context_id reaches the invocation in the one form
// the auth context store keys by, and stays in the body (it is a reference, not a secret).
func TestServiceNetAuthContextID(t *testing.T) {
	const id = "3f1c2a9e-6a47-4a59-9a47-0d2f6c1b9e10"
	for name, body := range map[string]string{
		"lower case": `{"message":"m","auth_context_id":"` + id + `"}`,
		"upper case": `{"message":"m","auth_context_id":"3F1C2A9E-6A47-4A59-9A47-0D2F6C1B9E10"}`,
		"urn":        `{"message":"m","auth_context_id":"urn:uuid:` + id + `"}`,
	} {
		t.Run(name, func(t *testing.T) {
			inv, err := dialect.DecodeServiceNet([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if inv.AuthContextID != id {
				t.Errorf("AuthContextID = %q, want %q", inv.AuthContextID, id)
			}
			if !strings.Contains(string(inv.Body), `"auth_context_id"`) {
				t.Errorf("Body = %s, want it to keep auth_context_id", inv.Body)
			}
		})
	}
	for name, body := range map[string]string{"absent": `{"message":"m"}`, "null": `{"message":"m","auth_context_id":null}`} {
		inv, err := dialect.DecodeServiceNet([]byte(body))
		if err != nil || inv.AuthContextID != "" {
			t.Errorf("%s: AuthContextID = %q, %v; want none", name, inv.AuthContextID, err)
		}
	}
}
