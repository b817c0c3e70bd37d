package dialect_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode"

	"github.com/agentq/agentq/shared/dialect"
)

// caseVariants returns every spelling of name that encoding/json matches to it: each rune
// replaced by every member of its simple case-folding orbit (for 's' that includes U+017F ſ,
// for 'k' the Kelvin sign U+212A).
func caseVariants(name string) []string {
	out := []string{""}
	for _, r := range name {
		orbit := []rune{r}
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			orbit = append(orbit, f)
		}
		next := make([]string, 0, len(out)*len(orbit))
		for _, prefix := range out {
			for _, v := range orbit {
				next = append(next, prefix+string(v))
			}
		}
		out = next
	}
	return out
}

func TestCaseVariantsIncludeTheUnicodeFolds(t *testing.T) {
	vs := caseVariants("user_tokens")
	for _, want := range []string{"uſer_tokens", "user_to\u212Aens", "USER_TOKENS"} {
		found := false
		for _, v := range vs {
			found = found || v == want
		}
		if !found {
			t.Errorf("variants of user_tokens miss %q", want)
		}
	}
}

// TestEverySecretSpellingIsRemoved sends every case variant of every secret field name that
// encoding/json would decode as that field: each must leave the stored body, and the xpander
// ones must reach the agent's secrets.
func TestEverySecretSpellingIsRemoved(t *testing.T) {
	const secret = "s3cret-value"
	tests := []struct {
		field  string
		decode func([]byte) (*dialect.Invocation, error)
		body   func(key string) string
		reach  bool
	}{
		{"user_tokens", dialect.DecodeXpander, func(k string) string {
			return `{"input":{"text":"hi"},` + quote(k) + `:{"gh":"` + secret + `"}}`
		}, true},
		{"user_oidc_token", dialect.DecodeXpander, func(k string) string { return `{"input":{"text":"hi"},` + quote(k) + `:"` + secret + `"}` }, true},
		{"auth_token", dialect.DecodeServiceNet, func(k string) string { return `{"message":"hi",` + quote(k) + `:"` + secret + `"}` }, false},
	}
	for _, tt := range tests {
		n := 0
		for _, k := range caseVariants(tt.field) {
			n++
			inv, err := tt.decode([]byte(tt.body(k)))
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			if bytes.Contains(inv.Body, []byte(secret)) {
				t.Fatalf("%q: the stored body keeps the secret: %s", k, inv.Body)
			}
			if tt.reach && !bytes.Contains(inv.Secrets[tt.field], []byte(secret)) {
				t.Fatalf("%q: the secret does not reach the agent: %v", k, inv.Secrets)
			}
			if !tt.reach && inv.AuthToken != secret {
				t.Fatalf("%q: auth token = %q", k, inv.AuthToken)
			}
		}
		if n < 256 {
			t.Errorf("%s: only %d variants", tt.field, n)
		}
	}
}

func TestFoldNameMatchesEncodingJSON(t *testing.T) {
	for _, k := range append(caseVariants("auth_token"), "auth_tokens", "authtoken", "auth\u0131token") {
		var v struct {
			AuthToken string `json:"auth_token"`
		}
		_ = json.Unmarshal([]byte(`{`+quote(k)+`:"x"}`), &v)
		if got, want := dialect.FoldName(k) == dialect.FoldName("auth_token"), v.AuthToken == "x"; got != want {
			t.Errorf("FoldName(%q) matches = %v, encoding/json matches = %v", k, got, want)
		}
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return strings.TrimSpace(string(b))
}
