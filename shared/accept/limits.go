package accept

import "regexp"

// The bounds of a submission, the same whichever edge it came through (the HTTP API's request
// body and Idempotency-Key header, an event trigger's invocation object and idempotency_key).
const (
	// MaxBodyBytes bounds a request body (an event's invocation object).
	MaxBodyBytes = 1 << 20
	// MaxIdempotencyKeyBytes bounds an idempotency key.
	MaxIdempotencyKeyBytes = 256
)

var versionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidVersion reports whether v may select an agent version: "latest", "draft" or a number, and
// anything else of 1 to 64 letters, digits, '.', '_' or '-' that the registry then finds or not.
func ValidVersion(v string) bool { return versionPattern.MatchString(v) }
