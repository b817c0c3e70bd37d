package settings

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/dialect"
)

func TestValidateURL(t *testing.T) {
	tests := []struct {
		url      string
		want     error // with loopback refused
		loopback error // with loopback allowed
	}{
		{"https://hooks.example.com/agentq", nil, nil},
		{"http://hooks.example.com:8080/x?token=abc", nil, nil},
		{"HTTPS://Hooks.Example.com/", nil, nil},
		{"https://8.8.8.8/hook", nil, nil},
		{"https://[2001:4860:4860::8888]/hook", nil, nil},
		{"", ErrInvalidURL, ErrInvalidURL},
		{"hooks.example.com/x", ErrInvalidURL, ErrInvalidURL},
		{"/relative", ErrInvalidURL, ErrInvalidURL},
		{"ftp://hooks.example.com/", ErrInvalidURL, ErrInvalidURL},
		{"javascript:alert(1)", ErrInvalidURL, ErrInvalidURL},
		{"http:opaque", ErrInvalidURL, ErrInvalidURL},
		{"https:///nohost", ErrInvalidURL, ErrInvalidURL},
		{"https://user:pass@hooks.example.com/", ErrInvalidURL, ErrInvalidURL},
		{"https://user@hooks.example.com/", ErrInvalidURL, ErrInvalidURL},
		{"https://hooks.example.com/#frag", ErrInvalidURL, ErrInvalidURL},
		{"https://hooks.example.com/#", ErrInvalidURL, ErrInvalidURL},
		{"https://hooks.example.com/\x00", ErrInvalidURL, ErrInvalidURL},
		{"https://hooks example.com/", ErrInvalidURL, ErrInvalidURL},
		{"https://hooks.example.com/" + strings.Repeat("a", MaxURLBytes), ErrInvalidURL, ErrInvalidURL},
		{"https://[fe80::1%25eth0]/", ErrInvalidURL, ErrInvalidURL},
		{"http://127.0.0.1:8080/hook", ErrForbiddenURL, nil},
		{"http://127.9.9.9/", ErrForbiddenURL, nil},
		{"http://[::1]/", ErrForbiddenURL, nil},
		{"http://localhost:3000/", ErrForbiddenURL, nil},
		{"http://api.localhost./", ErrForbiddenURL, nil},
		{"http://10.0.0.5/", ErrForbiddenURL, ErrForbiddenURL},
		{"http://192.168.1.1/", ErrForbiddenURL, ErrForbiddenURL},
		{"http://172.16.0.1/", ErrForbiddenURL, ErrForbiddenURL},
		{"http://100.64.0.1/", ErrForbiddenURL, ErrForbiddenURL},
		{"http://[fd00::1]/", ErrForbiddenURL, ErrForbiddenURL},
		{"http://169.254.169.254/latest/meta-data/", ErrForbiddenURL, ErrForbiddenURL},
		{"http://[fd00:ec2::254]/", ErrForbiddenURL, ErrForbiddenURL},
		{"http://[::ffff:169.254.169.254]/", ErrForbiddenURL, ErrForbiddenURL},
		{"http://0.0.0.0/", ErrForbiddenURL, ErrForbiddenURL},
		{"http://224.0.0.1/", ErrForbiddenURL, ErrForbiddenURL},
	}
	for _, tt := range tests {
		name := tt.url
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			if err := ValidateURL(tt.url); !sameErr(err, tt.want) {
				t.Errorf("ValidateURL = %v, want %v", err, tt.want)
			}
			if err := CheckURL(tt.url, true); !sameErr(err, tt.loopback) {
				t.Errorf("CheckURL(loopback allowed) = %v, want %v", err, tt.loopback)
			}
			if err := ValidateURL(tt.url); err != nil && strings.Contains(tt.url, "token") && strings.Contains(err.Error(), "token") {
				t.Errorf("the error quotes the URL: %v", err)
			}
		})
	}
}

func sameErr(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"https://hooks.example.com/a/b?token=secret#x": "https://hooks.example.com/a/b",
		"http://127.0.0.1:8080/hook":                   "http://127.0.0.1:8080/hook",
		"https://u:p@example.com/x?y":                  "https://example.com/x",
		"::not a url":                                  "<unparsable url>",
	}
	for in, want := range tests {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzValidateURL(f *testing.F) {
	for _, s := range []string{"https://hooks.example.com/x?token=abc", "http://127.0.0.1/", "http://[::1]:80/", "http:opaque", "https://u@h/#f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := CheckURL(raw, false)
		// The invoke bodies' check and this one agree on shape: a webhook_url the decoder took is
		// never refused here as malformed, only (perhaps) as forbidden.
		if msg, _ := dialect.WebhookURLProblem(raw); (msg == "") == errors.Is(CheckURL(raw, true), ErrInvalidURL) {
			t.Fatalf("%q: the dialect's check says %q, CheckURL says %v", raw, msg, CheckURL(raw, true))
		}
		if err == nil {
			if CheckURL(raw, true) != nil {
				t.Fatalf("%q passes strictly but not with loopback allowed", raw)
			}
			return
		}
		if !errors.Is(err, ErrInvalidURL) && !errors.Is(err, ErrForbiddenURL) {
			t.Fatalf("CheckURL(%q) = %v", raw, err)
		}
		if u, perr := url.Parse(raw); perr == nil && len(u.RawQuery) > 8 && strings.Contains(err.Error(), u.RawQuery) {
			t.Fatalf("the error quotes the query: %v", err)
		}
	})
}
