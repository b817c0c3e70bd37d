package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/task"
)

// TestRequestTooLargeToKeep: a request the deployment cannot keep (no large-payload storage) is
// 413 body_too_large in both dialects, and says what the limit is.
func TestRequestTooLargeToKeep(t *testing.T) {
	for _, tt := range []struct {
		path, body string
		d          task.Dialect
	}{{xpanderPath, xpanderBody, task.Xpander}, {serviceNetPath, serviceNetBody, task.ServiceNet}} {
		t.Run(string(tt.d), func(t *testing.T) {
			hs := newHarness(t)
			hs.sub.err = fmt.Errorf("submit to agent echo: %w: stage request: payload too large", accept.ErrRequestTooLarge)
			r := do(t, hs.h, http.MethodPost, tt.path, tt.body, authed()...)
			wantError(t, r, tt.d, http.StatusRequestEntityTooLarge, "body_too_large")
			if !strings.Contains(r.raw, "96 KiB") {
				t.Errorf("the answer does not say the limit: %s", r.raw)
			}
		})
	}
}
