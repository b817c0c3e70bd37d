package settings

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/netguard"
)

// MaxURLBytes bounds a webhook URL: the dialects' bound for webhook_url.
const MaxURLBytes = dialect.MaxURLBytes

// ValidateURL checks a webhook URL before it is stored (CheckURL with loopback refused): an
// absolute http or https URL with a host, no userinfo, no fragment, at most MaxURLBytes. A host
// that is a literal address netguard's strict policy refuses (private, loopback, link-local,
// metadata), or localhost, is ErrForbiddenURL; anything else wrong is ErrInvalidURL. Host names
// are not resolved here: the deliverer checks the address it dials, on every attempt.
func ValidateURL(raw string) error { return CheckURL(raw, false) }

// CheckURL is ValidateURL, with loopback hosts (127.0.0.0/8, ::1, localhost) accepted when
// allowLoopback is set: for local development and tests (AGENTQ_ALLOW_LOOPBACK_URLS). The
// deliverer must then allow loopback too (Config.AllowLoopback).
func CheckURL(raw string, allowLoopback bool) error {
	u, err := ParseURL(raw, allowLoopback)
	if err != nil {
		return err
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if (host == "localhost" || strings.HasSuffix(host, ".localhost")) && !allowLoopback {
		return fmt.Errorf("%w: %s is this machine", ErrForbiddenURL, host)
	}
	return nil
}

// ParseURL checks raw's shape (dialect.WebhookURLProblem, the same check the invoke bodies get)
// and, when its host is a literal address, the address; host names are left to the dialer's
// guard. Its errors never quote the URL, which may hold a credential in its query.
func ParseURL(raw string, allowLoopback bool) (*url.URL, error) {
	if msg, _ := dialect.WebhookURLProblem(raw); msg != "" {
		return nil, fmt.Errorf("%w: the URL %s", ErrInvalidURL, msg)
	}
	u, err := url.Parse(raw)
	if err != nil { // WebhookURLProblem parsed it
		return nil, fmt.Errorf("%w: the URL does not parse", ErrInvalidURL)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	policy := netguard.Policy{AllowLoopback: allowLoopback}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := policy.Check(ip); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrForbiddenURL, err)
		}
	}
	return u, nil
}

// RedactURL returns u as scheme://host/path: what logs, errors and dead letters may show. The
// query and fragment may hold a credential, and never leave.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<unparsable url>"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}
