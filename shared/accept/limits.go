package accept

import "github.com/agentq/agentq/shared/agent"

// The bounds of a submission, the same whichever edge it came through (the HTTP API's request
// body and Idempotency-Key header, an event trigger's invocation object and idempotency_key).
const (
	// MaxBodyBytes bounds a request body (an event's invocation object).
	MaxBodyBytes = 1 << 20
	// MaxIdempotencyKeyBytes bounds an idempotency key.
	MaxIdempotencyKeyBytes = 256
)

// ValidVersion reports whether v may select an agent version: "latest", "draft" or a number, and
// anything else of 1 to 64 letters, digits, '.', '_' or '-' that the registry then finds or not.
func ValidVersion(v string) bool { return agent.ValidName(v, 64) }
