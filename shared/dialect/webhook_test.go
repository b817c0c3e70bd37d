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

// TestProgressEventsOptIn: xpander's events_streaming and ServiceNet's progress_events (agentq's)
// are the opt-in to progress events, off unless true; a value that is no boolean is refused.
func TestProgressEventsOptIn(t *testing.T) {
	cases := []struct {
		name, body string
		decode     func([]byte) (*Invocation, error)
		want       bool
		problem    string // the refused field, or ""
	}{
		{"xpander absent", `{"input":{"text":"hi"}}`, DecodeXpander, false, ""},
		{"xpander true", `{"input":{"text":"hi"},"events_streaming":true}`, DecodeXpander, true, ""},
		{"xpander false", `{"input":{"text":"hi"},"events_streaming":false}`, DecodeXpander, false, ""},
		{"xpander null", `{"input":{"text":"hi"},"events_streaming":null}`, DecodeXpander, false, ""},
		{"xpander string", `{"input":{"text":"hi"},"events_streaming":"yes"}`, DecodeXpander, false, "body.events_streaming"},
		{"servicenet absent", `{"message":"hi"}`, DecodeServiceNet, false, ""},
		{"servicenet true", `{"message":"hi","progress_events":true}`, DecodeServiceNet, true, ""},
		{"servicenet number", `{"message":"hi","progress_events":1}`, DecodeServiceNet, false, "body.progress_events"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv, err := c.decode([]byte(c.body))
			if c.problem != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || strings.Join(ve.Problems[0].Loc, ".") != c.problem {
					t.Fatalf("err = %v, want a problem at %s", err, c.problem)
				}
				return
			}
			if err != nil || inv.ProgressEvents != c.want {
				t.Fatalf("ProgressEvents = %v (%v), want %v", inv != nil && inv.ProgressEvents, err, c.want)
			}
		})
	}
}

// TestCompletionEventField: completion_event (agentq's, in both dialects) is kept as said, nil
// when the body does not say (the accept core then decides by who submitted); a value that is no
// boolean is refused; a body with it and only xpander's fields stays xpander's on the shared path.
func TestCompletionEventField(t *testing.T) {
	yes, no := true, false
	cases := []struct {
		name, body string
		decode     func([]byte) (*Invocation, error)
		want       *bool
		problem    string
	}{
		{"xpander absent", `{"input":{"text":"hi"}}`, DecodeXpander, nil, ""},
		{"xpander true", `{"input":{"text":"hi"},"completion_event":true}`, DecodeXpander, &yes, ""},
		{"xpander false", `{"input":{"text":"hi"},"completion_event":false}`, DecodeXpander, &no, ""},
		{"xpander null", `{"input":{"text":"hi"},"completion_event":null}`, DecodeXpander, nil, ""},
		{"xpander string", `{"input":{"text":"hi"},"completion_event":"yes"}`, DecodeXpander, nil, "body.completion_event"},
		{"servicenet absent", `{"message":"hi"}`, DecodeServiceNet, nil, ""},
		{"servicenet true", `{"message":"hi","completion_event":true}`, DecodeServiceNet, &yes, ""},
		{"servicenet false", `{"message":"hi","completion_event":false}`, DecodeServiceNet, &no, ""},
		{"servicenet number", `{"message":"hi","completion_event":1}`, DecodeServiceNet, nil, "body.completion_event"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inv, err := c.decode([]byte(c.body))
			if c.problem != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || strings.Join(ve.Problems[0].Loc, ".") != c.problem {
					t.Fatalf("err = %v, want a problem at %s", err, c.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (inv.CompletionEvent == nil) != (c.want == nil) || c.want != nil && *inv.CompletionEvent != *c.want {
				t.Errorf("CompletionEvent = %v, want %v", inv.CompletionEvent, c.want)
			}
		})
	}
	if IsServiceNet([]byte(`{"input":{"text":"hi"},"completion_event":true}`)) {
		t.Error("an xpander body asking for the event reads as ServiceNet's")
	}
	if !IsServiceNet([]byte(`{"message":"hi","completion_event":true}`)) {
		t.Error("a ServiceNet body asking for the event reads as xpander's")
	}
}
