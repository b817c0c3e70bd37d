package outputschema

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const schema = `{"type":"object","required":["total","currency"],"properties":{"total":{"type":"number"},"currency":{"type":"string","enum":["AUD","USD"]}}}`

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		output   string
		wantErr  bool
		problems []string
	}{
		{name: "text conforms", text: `{"total": 15, "currency": "AUD"}`},
		{name: "output conforms", text: "here it is", output: `{"total": 15, "currency": "USD"}`},
		{name: "missing field", text: `{"total": 15}`, wantErr: true, problems: []string{"currency"}},
		// The validator stops at the first problem: one is reported, with where in the schema.
		{name: "wrong type", text: `{"total": "15", "currency": "AUD"}`, wantErr: true, problems: []string{"/properties/total", "type"}},
		{name: "not in enum", text: `{"total": 15, "currency": "EUR"}`, wantErr: true, problems: []string{"/properties/currency", "enum"}},
		{name: "output does not conform", text: "here", output: `{"total": 15}`, wantErr: true, problems: []string{"currency"}},
		{name: "neither is JSON", text: "here", output: `{`, wantErr: true, problems: []string{"not JSON"}},
		{name: "not JSON", text: "fifteen dollars", wantErr: true, problems: []string{"not JSON"}},
	}
	s := Spec{Format: "json", Schema: json.RawMessage(schema)}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Check(context.Background(), tt.text, json.RawMessage(tt.output))
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Check = %v", err)
				}
				return
			}
			var me *MismatchError
			if !errors.As(err, &me) {
				t.Fatalf("Check = %v, want a mismatch", err)
			}
			for _, p := range tt.problems {
				if !strings.Contains(me.Error(), p) {
					t.Errorf("mismatch %q does not mention %q", me.Error(), p)
				}
			}
		})
	}
}

func TestBadSchemaIsRefused(t *testing.T) {
	s := Spec{Format: "json", Schema: json.RawMessage(`{"type": 12}`)}
	var se *SchemaError
	if err := s.Check(context.Background(), `{}`, nil); !errors.As(err, &se) || se.Code != CodeInvalid {
		t.Fatalf("Check with a broken schema = %v", err)
	}
}

func TestFromRequest(t *testing.T) {
	defaults := Spec{Format: "json", Schema: json.RawMessage(`{"type":"object"}`)}
	tests := []struct {
		body    string
		applies bool
		format  string
	}{
		{`{"input":{"text":"x"}}`, true, "json"},
		{`{"output_format":"text"}`, false, "text"},
		{`{"output_format":"json","output_schema":{"type":"string"}}`, true, "json"},
	}
	for _, tt := range tests {
		s := FromRequest(json.RawMessage(tt.body), defaults)
		if s.Applies() != tt.applies || s.Format != tt.format {
			t.Errorf("FromRequest(%s) = %+v", tt.body, s)
		}
	}
	if FromRequest(json.RawMessage(`{}`), Spec{}).Applies() {
		t.Error("no format and no defaults applies")
	}
}
