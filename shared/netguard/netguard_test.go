package netguard

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	open := Policy{AllowLoopback: true, AllowPrivate: true}
	strict := Policy{}
	tests := []struct {
		ip           string
		strict, open bool // allowed under each policy
	}{
		{"93.184.216.34", true, true},
		{"2606:2800:220:1:248:1893:25c8:1946", true, true},
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"10.0.0.8", false, true},
		{"172.16.3.4", false, true},
		{"192.168.1.1", false, true},
		{"100.64.0.1", false, true},
		{"fd12:3456::1", false, true},
		{"169.254.169.254", false, false}, // metadata, link-local
		{"fd00:ec2::254", false, false},   // metadata over IPv6
		{"fe80::1", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"::ffff:169.254.169.254", false, false}, // IPv4-mapped
		{"::ffff:127.0.0.1", false, true},
	}
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.ip)
		if got := strict.Check(ip) == nil; got != tt.strict {
			t.Errorf("strict Check(%s) allowed = %v, want %v", tt.ip, got, tt.strict)
		}
		if got := open.Check(ip) == nil; got != tt.open {
			t.Errorf("open Check(%s) allowed = %v, want %v", tt.ip, got, tt.open)
		}
	}
}

// TestDialRefused shows the guard at work in an HTTP client: a server on loopback is refused under
// a strict policy and reached under one that allows loopback.
func TestDialRefused(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	client := func(p Policy) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			DialContext: (&net.Dialer{Control: p.Control}).DialContext,
		}}
	}
	if _, err := (Policy{}).HTTPClient().Get(srv.URL); !errors.Is(err, ErrBlocked) {
		t.Fatalf("Policy.HTTPClient: strict dial to loopback = %v, want ErrBlocked", err)
	}
	if _, err := client(Policy{}).Get(srv.URL); !errors.Is(err, ErrBlocked) {
		t.Fatalf("strict dial to loopback = %v, want ErrBlocked", err)
	}
	resp, err := client(Policy{AllowLoopback: true}).Get(srv.URL)
	if err != nil {
		t.Fatalf("loopback allowed = %v", err)
	}
	resp.Body.Close()
	if err := (Policy{}).Control("tcp", "not-an-address", nil); !errors.Is(err, ErrBlocked) {
		t.Errorf("Control(garbage) = %v", err)
	}
}

// Policy.HTTPClient answers a redirect as it is: following it would be a second, unchecked choice
// of where to go.
func TestHTTPClientFollowsNoRedirect(t *testing.T) {
	srv := httptest.NewServer(http.RedirectHandler("http://169.254.169.254/latest/meta-data/", http.StatusFound))
	defer srv.Close()
	resp, err := (Policy{AllowLoopback: true}).HTTPClient().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status = %d, want the 302 itself", resp.StatusCode)
	}
}
