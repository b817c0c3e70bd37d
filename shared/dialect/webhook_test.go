package dialect

import (
	"errors"
	"strings"
	"testing"
)

func TestWebhookURL(t *testing.T) {
	decoders := map[string]func(string) (*Invocation, error){
		"xpander": func(extra string) (*Invocation, error) {
			return DecodeXpander([]byte(`{"input":{"text":"hi"}` + extra + `}`))
		},
		"servicenet": func(extra string) (*Invocation, error) {
			return DecodeServiceNet([]byte(`{"message":"hi"` + extra + `}`))
		},
	}
	cases := []struct {
		name, field string
		want        string // the URL decoded, or "" when a problem is expected
		problem     string
	}{
		{"absent", ``, "", ""},
		{"https", `,"webhook_url":"https://hooks.example.com/agentq?k=1"`, "https://hooks.example.com/agentq?k=1", ""},
		{"http loopback", `,"webhook_url":"http://127.0.0.1:9000/hook"`, "http://127.0.0.1:9000/hook", ""},
		{"relative", `,"webhook_url":"/hook"`, "", "url"},
		{"ftp", `,"webhook_url":"ftp://example.com/hook"`, "", "url"},
		{"no host", `,"webhook_url":"https:///hook"`, "", "url"},
		{"credentials", `,"webhook_url":"https://user:pw@example.com/hook"`, "", "url"},
		{"fragment", `,"webhook_url":"https://example.com/hook#x"`, "", "url"},
		{"empty fragment", `,"webhook_url":"https://example.com/hook#"`, "", "url"},
		{"empty port", `,"webhook_url":"https://example.com:/hook"`, "", "url"},
		{"interface zone", `,"webhook_url":"https://[fe80::1%25eth0]/hook"`, "", "url"},
		{"empty", `,"webhook_url":""`, "", "url"},
		{"not a string", `,"webhook_url":5`, "", "type_error"},
		{"too long", `,"webhook_url":"https://example.com/` + strings.Repeat("a", MaxURLBytes) + `"`, "", "too_long"},
	}
	for name, decode := range decoders {
		for _, c := range cases {
			t.Run(name+"/"+c.name, func(t *testing.T) {
				inv, err := decode(c.field)
				if c.problem == "" {
					if err != nil {
						t.Fatalf("decode: %v", err)
					}
					if inv.WebhookURL != c.want {
						t.Errorf("WebhookURL = %q, want %q", inv.WebhookURL, c.want)
					}
					return
				}
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("err = %v, want a validation error", err)
				}
				if p := ve.Problems[0]; strings.Join(p.Loc, ".") != "body.webhook_url" || p.Type != c.problem {
					t.Errorf("problem = %+v, want body.webhook_url %s", p, c.problem)
				}
				if strings.Contains(err.Error(), "pw@") {
					t.Errorf("the error quotes the URL's credentials: %v", err)
				}
			})
		}
	}
}
