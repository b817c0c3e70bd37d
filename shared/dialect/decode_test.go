package dialect_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/dialect"
)

// decoders are both dialects' decoders, for the rules they share.
var decoders = []struct {
	name   string
	decode func([]byte) (*dialect.Invocation, error)
	// valid is a minimal valid body, as a JSON object's members without the braces, so tests can
	// add to it.
	valid string
}{
	{"xpander", dialect.DecodeXpander, `"input":{"text":"hi"}`},
	{"servicenet", dialect.DecodeServiceNet, `"message":"hi"`},
}

// problems returns the problems of a *dialect.ValidationError, failing the test for any other error.
func problems(t *testing.T, err error) []dialect.Problem {
	t.Helper()
	var ve *dialect.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v (%T), want a *dialect.ValidationError", err, err)
	}
	if len(ve.Problems) == 0 {
		t.Fatal("ValidationError without problems")
	}
	return ve.Problems
}

// wantProblem fails the test unless ps holds a problem at loc (dotted, "body.input.text") of type typ.
func wantProblem(t *testing.T, ps []dialect.Problem, loc, typ string) {
	t.Helper()
	for _, p := range ps {
		if strings.Join(p.Loc, ".") == loc && p.Type == typ {
			if p.Msg == "" {
				t.Errorf("problem at %s has no message", loc)
			}
			return
		}
	}
	t.Errorf("problems = %+v, want one at %s of type %s", ps, loc, typ)
}

// jsonEqual reports whether two JSON texts hold the same value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("unmarshal %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

// nest returns n nested JSON objects: nest(1) is {}, nest(2) is {"a":{}}.
func nest(n int) string {
	return strings.Repeat(`{"a":`, n-1) + `{}` + strings.Repeat(`}`, n-1)
}

func TestDecodeShape(t *testing.T) {
	for _, d := range decoders {
		valid := "{" + d.valid + "}"
		tests := []struct {
			name string
			body string
			// want is nil for success, dialect.ErrMalformed, or "too_deep" for a ValidationError.
			want any
		}{
			{"minimal", valid, nil},
			{"trailing newline", valid + "\n", nil},
			{"leading whitespace", " \t\n" + valid, nil},
			{"empty body", "", dialect.ErrMalformed},
			{"only whitespace", "  \n", dialect.ErrMalformed},
			{"null", "null", dialect.ErrMalformed},
			{"array", "[" + valid + "]", dialect.ErrMalformed},
			{"empty array", "[]", dialect.ErrMalformed},
			{"string", `"hi"`, dialect.ErrMalformed},
			{"number", "42", dialect.ErrMalformed},
			{"boolean", "true", dialect.ErrMalformed},
			{"truncated", `{"input":`, dialect.ErrMalformed},
			{"unclosed", "{" + d.valid, dialect.ErrMalformed},
			{"second object", valid + " {}", dialect.ErrMalformed},
			{"trailing garbage", valid + "garbage", dialect.ErrMalformed},
			{"trailing number", valid + "1", dialect.ErrMalformed},
			{"not json", "hello", dialect.ErrMalformed},
			{"single quotes", `{'message':'hi'}`, dialect.ErrMalformed},
			{"trailing comma", "{" + d.valid + ",}", dialect.ErrMalformed},
			{"depth at limit", "{" + d.valid + `,"x":` + nest(dialect.MaxDepth-1) + "}", nil},
			{"depth over limit", "{" + d.valid + `,"x":` + nest(dialect.MaxDepth) + "}", "too_deep"},
			{"arrays count as depth", "{" + d.valid + `,"x":` + strings.Repeat("[", dialect.MaxDepth) + strings.Repeat("]", dialect.MaxDepth) + "}", "too_deep"},
			{"deep then trailing data", "{" + d.valid + `,"x":` + nest(dialect.MaxDepth+5) + "}x", "too_deep"},
		}
		for _, tt := range tests {
			t.Run(d.name+"/"+tt.name, func(t *testing.T) {
				inv, err := d.decode([]byte(tt.body))
				switch want := tt.want.(type) {
				case nil:
					if err != nil {
						t.Fatalf("decode(%.80q) = %v, want success", tt.body, err)
					}
					if inv == nil || inv.Text != "hi" {
						t.Fatalf("decode(%.80q) = %+v, want an invocation with text hi", tt.body, inv)
					}
				case error:
					if !errors.Is(err, want) {
						t.Fatalf("decode(%.80q) = %v, want %v", tt.body, err, want)
					}
					if inv != nil {
						t.Errorf("decode returned an invocation with an error")
					}
				case string:
					wantProblem(t, problems(t, err), "body", want)
				}
			})
		}
	}
}

func TestValidationErrorMessage(t *testing.T) {
	err := &dialect.ValidationError{Problems: []dialect.Problem{
		{Loc: []string{"body", "input", "text"}, Msg: "field required", Type: "missing"},
		{Loc: []string{"body", "think_mode"}, Msg: "must be one of default, harder", Type: "enum"},
	}}
	want := "invalid request: body.input.text: field required; body.think_mode: must be one of default, harder"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestSecretsRemovedWhateverTheirCase: encoding/json matches keys case-insensitively, so a
// secret sent as "AUTH_TOKEN" is read as the token; it must leave the stored body all the same.
func TestSecretsRemovedWhateverTheirCase(t *testing.T) {
	tests := []struct {
		name   string
		decode func([]byte) (*dialect.Invocation, error)
		body   string
	}{
		{"servicenet AUTH_TOKEN", dialect.DecodeServiceNet, `{"message":"hi","AUTH_TOKEN":"s3cret-value"}`},
		{"xpander User_Oidc_Token", dialect.DecodeXpander, `{"input":{"text":"hi"},"User_Oidc_Token":"s3cret-value"}`},
		{"xpander USER_TOKENS", dialect.DecodeXpander, `{"input":{"text":"hi"},"USER_TOKENS":{"gh":"s3cret-value"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := tt.decode([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(inv.Body, []byte("s3cret-value")) {
				t.Errorf("Body = %s, still holds the secret", inv.Body)
			}
		})
	}
}

func TestStrategy(t *testing.T) {
	for _, d := range decoders {
		for _, tt := range []struct {
			field string
			want  dialect.Strategy
		}{
			{``, dialect.Enqueue},
			{`,"multitask_strategy":null`, dialect.Enqueue},
			{`,"multitask_strategy":"enqueue"`, dialect.Enqueue},
			{`,"multitask_strategy":"reject"`, dialect.Reject},
		} {
			t.Run(d.name+tt.field, func(t *testing.T) {
				inv, err := d.decode([]byte("{" + d.valid + tt.field + "}"))
				if err != nil {
					t.Fatal(err)
				}
				if inv.Strategy != tt.want {
					t.Errorf("Strategy = %q, want %q", inv.Strategy, tt.want)
				}
			})
		}
	}
}
