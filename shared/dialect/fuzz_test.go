package dialect_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/task"
)

// seedBodies adds the request bodies of the sample API Gateway events in events/.
func seedBodies(f *testing.F) {
	f.Helper()
	files, err := filepath.Glob("../../events/apigw-*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no sample events found (%v)", err)
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var ev struct {
			Body string `json:"body"`
		}
		if err := json.Unmarshal(raw, &ev); err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		if ev.Body != "" {
			f.Add([]byte(ev.Body))
		}
	}
}

// hostileBodies are requests a tenant may send to reach past its own: each must be refused (the
// type of the problem given) or, with "", accepted with its secrets gone. The fuzz targets start
// from them too.
var hostileBodies = []struct {
	name   string
	decode func([]byte) (*dialect.Invocation, error)
	body   string
	refuse string
}{
	{"schema reads a file", checked.Xpander, `{"input":{"text":"x"},"output_format":"json","output_schema":{"$ref":"file:///etc/passwd"}}`, "output_schema_ref"},
	{"schema too branching", checked.Xpander, `{"input":{"text":"x"},"output_schema":{"anyOf":[` + strings.Repeat(`{},`, 16) + `{}]}}`, "output_schema_fan_out"},
	{"secret with a long s", dialect.DecodeXpander, `{"input":{"text":"x"},"u\u017fer_tokens":{"gh":"SECRET"}}`, ""},
	{"secret with a Kelvin sign", dialect.DecodeXpander, `{"input":{"text":"x"},"user_to\u212aens":{"gh":"SECRET"}}`, ""},
	{"thread id too long for a key", dialect.DecodeServiceNet, `{"message":"x","context_id":"` + strings.Repeat("c", 8<<10) + `"}`, "too_long"},
	{"token that breaks headers", dialect.DecodeServiceNet, `{"message":"x","auth_token":"t\r\nX-Evil: 1"}`, "header_value"},
	{"envelope names a conversation", dialect.DecodeServiceNet, `{"agent_envelope":{"parts":[{"kind":"text","text":"x"}],"contextId":"victim"}}`, "reserved"},
	{"envelope asks for pushes", dialect.DecodeServiceNet, `{"agent_envelope":{"message":{"parts":[]},"configuration":{"pushNotificationConfig":{"url":"http://127.0.0.1:1"}}}}`, "reserved"},
}

func TestHostileBodies(t *testing.T) {
	for _, tt := range hostileBodies {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := tt.decode([]byte(tt.body))
			if tt.refuse == "" {
				if err != nil || strings.Contains(string(inv.Body), "SECRET") {
					t.Fatalf("decode = %v, body %s: want accepted without the secret", err, inv.Body)
				}
				return
			}
			var ve *dialect.ValidationError
			if !errors.As(err, &ve) || !slices.ContainsFunc(ve.Problems, func(p dialect.Problem) bool { return p.Type == tt.refuse }) {
				t.Fatalf("decode = %v, want a %s problem", err, tt.refuse)
			}
		})
	}
}

func seedCommon(f *testing.F) {
	f.Helper()
	seedBodies(f)
	for _, tt := range hostileBodies {
		f.Add([]byte(tt.body))
	}
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"input":{"text":"hi"}} {}`, `{"a":` + nest(40) + `}`,
		`{"input":{"text":"x"},"INPUT":null}`, `{"max_cost_units":1e400}`, `{"input":{"text":"\ud800"}}`,
	} {
		f.Add([]byte(s))
	}
}

// checkDecoded holds for every body a decoder accepts or refuses.
func checkDecoded(t *testing.T, inv *dialect.Invocation, err error, secrets ...string) {
	t.Helper()
	if err != nil {
		var ve *dialect.ValidationError
		if !errors.As(err, &ve) && !errors.Is(err, dialect.ErrMalformed) {
			t.Fatalf("error %v (%T) is neither ErrMalformed nor a ValidationError", err, err)
		}
		if inv != nil {
			t.Fatal("an invocation came with an error")
		}
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(inv.Body, &fields); err != nil {
		t.Fatalf("accepted body %q is not a JSON object: %v", inv.Body, err)
	}
	for k := range fields {
		for _, s := range secrets {
			if dialect.FoldName(k) == dialect.FoldName(s) {
				t.Fatalf("accepted body keeps secret field %s as %q: %s", s, k, inv.Body)
			}
		}
	}
	// A task made of it must project into both dialects.
	tk := &task.Task{ID: "81250b20-e9d7-4b3b-9995-07dc72b4bb59", Tenant: "t", AgentID: "a", Dialect: inv.Dialect,
		ThreadID: inv.ThreadID, State: task.Succeeded, Request: inv.Body, Text: inv.Text, Result: inv.Text,
		Output: inv.Body, CreatedAt: time.Unix(0, 0)}
	for _, v := range []any{dialect.Xpander(tk), dialect.ServiceNet(tk), dialect.ServiceNetAccepted(tk)} {
		if _, err := json.Marshal(v); err != nil {
			t.Fatalf("projection of an accepted body does not marshal: %v", err)
		}
	}
}

func FuzzDecodeXpander(f *testing.F) {
	seedCommon(f)
	f.Add([]byte(xpanderFull))
	f.Add([]byte(`{"input": {"text": "Analyze competitor pricing for Q1 2026"}}`))
	f.Add([]byte(`{"input":{"text":"t","user":{"id":"u","email":"a@b"}},"mcp_servers":[{},1],"user_tokens":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		inv, err := dialect.DecodeXpander(body)
		checkDecoded(t, inv, err, "user_tokens", "user_oidc_token")
		if err == nil && strings.TrimSpace(inv.Text) == "" {
			t.Fatalf("accepted an xpander body without input.text: %s", body)
		}
	})
}

func FuzzDecodeServiceNet(f *testing.F) {
	seedCommon(f)
	f.Add([]byte(serviceNetExample))
	f.Add([]byte(serviceNetFull))
	f.Add([]byte(`{"agent_envelope":{"x":1},"region":"zz","max_cost_units":-0}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		inv, err := dialect.DecodeServiceNet(body)
		checkDecoded(t, inv, err, "auth_token")
		if err == nil && inv.Ask.MaxCostUnits != nil && *inv.Ask.MaxCostUnits < 0 {
			t.Fatalf("accepted a negative max_cost_units: %s", body)
		}
	})
}

// FuzzIsServiceNet: telling the dialects apart never panics, only ever picks ServiceNet for a JSON
// object, and a body it picks decodes as ServiceNet's (or fails validation with a clear error).
func FuzzIsServiceNet(f *testing.F) {
	seedCommon(f)
	f.Add([]byte(serviceNetExample))
	f.Add([]byte(`{"input":{"text":"x"},"message":"y","id":"z"}`))
	f.Add([]byte(`{"return_immediately":true,"input":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !dialect.IsServiceNet(body) {
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(body, &obj) != nil {
			t.Fatalf("picked ServiceNet for a body that is not a JSON object: %q", body)
		}
		inv, err := dialect.DecodeServiceNet(body)
		checkDecoded(t, inv, err, "auth_token")
	})
}
