package authctx_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/agentq/agentq/shared/authctx"
)

// A local key seals a secret for one record; opening it takes the same binding.
func ExampleLocalKey() {
	key := make([]byte, authctx.KeySize) // from AGENTQ_SEAL_KEY; all zeros only in an example
	sealer, err := authctx.NewLocalKey(key)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	sealed, _ := sealer.Seal(ctx, []byte("sk-live-123"), authctx.Binding("acme", "3f1c2a9e-6a47-4a59-9a47-0d2f6c1b9e10"))

	secret, err := sealer.Open(ctx, sealed, authctx.Binding("acme", "3f1c2a9e-6a47-4a59-9a47-0d2f6c1b9e10"))
	fmt.Println(string(secret), err)
	_, err = sealer.Open(ctx, sealed, authctx.Binding("acme", "f1e2d3c4-0000-4000-8000-000000000002"))
	fmt.Println(err != nil)
	// Output:
	// sk-live-123 <nil>
	// true
}

// The worker presents a resolved credential on its request to the agent; printing it is safe.
func ExampleCredential_Apply() {
	cred := authctx.Credential{Kind: authctx.Header, Header: "X-Api-Key", Secret: "sk-live-123"}
	req, _ := http.NewRequest(http.MethodPost, "https://agent.example.com/", nil)
	cred.Apply(req.Header)
	fmt.Println(req.Header.Get("X-Api-Key"))
	fmt.Println(cred)
	// Output:
	// sk-live-123
	// authctx.Credential{Kind:"header" Header:"X-Api-Key" Secret:<redacted>}
}
