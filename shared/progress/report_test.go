package progress_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/tasklog"
)

func TestTokens(t *testing.T) {
	k := progress.NewKeys([]byte("0123456789abcdef0123456789abcdef"))
	other := progress.NewKeys([]byte("fedcba9876543210fedcba9876543210"))
	a := k.Token("acme", "t1")
	for name, tok := range map[string]string{
		"another task":   k.Token("acme", "t2"),
		"another tenant": k.Token("globex", "t1"),
		"another key":    other.Token("acme", "t1"),
		// The separators keep a tenant and an id from sliding into each other.
		"shifted": k.Token("acme\x00t", "1"),
	} {
		if tok == a {
			t.Errorf("%s: the same token", name)
		}
	}
	if a != k.Token("acme", "t1") {
		t.Error("a token is not derived the same way twice")
	}
}

// FuzzDecodeReport: whatever an agent sends, the decoder answers a bounded, compact report of an
// agent's type, or an *InvalidError; it never panics.
func FuzzDecodeReport(f *testing.F) {
	for _, s := range []string{`{"type":"chunk","data":{"text":"hi"}}`, `{"type":"status","data":{"message":"x"},"id":"r1"}`,
		`{"type":"finished","data":{}}`, `{"type":"usage","data":{"total_tokens":3}}`, `[]`, `{"type":"chunk","data":null}`, "\xff"} {
		f.Add([]byte(s))
	}
	agentTypes := []tasklog.Type{tasklog.Status, tasklog.Chunk, tasklog.Artifact, tasklog.ToolCallRequest, tasklog.ToolCallResult, tasklog.Usage}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := progress.DecodeReport(body)
		if err != nil {
			var ie *progress.InvalidError
			if !errors.As(err, &ie) || bytes.Contains([]byte(ie.Message), body) && len(body) > 8 {
				t.Fatalf("err %v", err)
			}
			return
		}
		if !slices.Contains(agentTypes, r.Type) || len(r.Data) > progress.MaxReportBytes || !json.Valid(r.Data) || r.Data[0] != '{' {
			t.Fatalf("report %+v", r)
		}
	})
}
