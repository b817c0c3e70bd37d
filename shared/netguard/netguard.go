// Package netguard keeps outbound calls to configured or caller-supplied URLs away from addresses
// they must never reach. The check runs when a connection is made, on the address actually
// dialed, so it holds for every address a name resolves to, for names that change what they
// resolve to (DNS rebinding), and for every hop of a redirect.
package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Policy says which kinds of address outbound calls may reach. Link-local addresses, which
// include the cloud metadata service (169.254.169.254, fd00:ec2::254), and unspecified or
// multicast addresses are never allowed.
type Policy struct {
	// AllowLoopback lets calls reach this machine (local development and tests).
	AllowLoopback bool
	// AllowPrivate lets calls reach private networks (RFC 1918, unique-local IPv6): agents in
	// the same VPC.
	AllowPrivate bool
}

// ErrBlocked is wrapped by every refusal.
var ErrBlocked = errors.New("address not allowed")

// metadata are the cloud metadata endpoints that are not link-local.
var metadata = []netip.Prefix{
	netip.MustParsePrefix("fd00:ec2::254/128"), // AWS IMDS over IPv6
}

// cgnat is the shared address space (RFC 6598): carrier networks, treated as private.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// Check reports whether an address may be reached.
func (p Policy) Check(ip netip.Addr) error {
	ip = ip.Unmap()
	for _, m := range metadata {
		if m.Contains(ip) {
			return fmt.Errorf("%w: %s is a metadata endpoint", ErrBlocked, ip)
		}
	}
	switch {
	case !ip.IsValid(), ip.IsUnspecified(), ip.IsMulticast(), ip.IsInterfaceLocalMulticast():
		return fmt.Errorf("%w: %s", ErrBlocked, ip)
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return fmt.Errorf("%w: %s is link-local", ErrBlocked, ip)
	case ip.IsLoopback() && !p.AllowLoopback:
		return fmt.Errorf("%w: %s is loopback", ErrBlocked, ip)
	case (ip.IsPrivate() || cgnat.Contains(ip)) && !p.AllowPrivate:
		return fmt.Errorf("%w: %s is private", ErrBlocked, ip)
	}
	return nil
}

// Control is a net.Dialer Control function that refuses connections the policy does not allow.
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrBlocked, address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %q is not an address", ErrBlocked, host)
	}
	return p.Check(ip)
}

// HTTPClient returns an HTTP client whose every connection is checked against p when it is
// made: no proxy (the guard would check the proxy's address instead), redirects not followed (a
// configured URL is not a discovered one), connections reused, and each phase before the answer
// bounded. The answer itself is bounded by the request's context or the caller's Timeout.
func (p Policy) HTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: p.Control}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			MaxIdleConns:          100,
			MaxIdleConnsPerHost:   20,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
