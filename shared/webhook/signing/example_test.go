package signing_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/agentq/agentq/shared/webhook/signing"
)

// A receiver verifies every delivery before it trusts it: over the raw body, before decoding
// it. The secret is the whsec_ value the API answered when the tenant's webhook settings were
// created (or its secret rotated). The webhook-id is the same on every retry of a delivery: a
// receiver that has seen it before can answer 2xx and do nothing.
func ExampleVerify() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := signing.Verify(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		// Handle the event (decode body as a signing.Event), then answer 2xx quickly: anything
		// else, or no answer within 10 seconds, is retried.
		w.WriteHeader(http.StatusNoContent)
	})

	// What agentq sends, signed with the same secret.
	const body = `{"type":"task.completed","timestamp":"2026-01-02T03:04:05Z","data":{"task_id":"t1"}}`
	key, _ := signing.ParseSecret(secret)
	now := time.Now()
	// send posts sent, with the headers of body.
	send := func(sent string) int {
		req := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(sent))
		req.Header.Set("webhook-id", "msg_2Lm6T9bQ")
		req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		req.Header.Set("webhook-signature", signing.Sign(key, "msg_2Lm6T9bQ", now, []byte(body)))
		rec := httptest.NewRecorder()
		receiver.ServeHTTP(rec, req)
		return rec.Code
	}
	fmt.Println("genuine:", send(body))
	fmt.Println("tampered:", send(strings.Replace(body, "completed", "failed", 1)))
	// Output:
	// genuine: 204
	// tampered: 401
}
