package dialect_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/outputschema"
)

// checked decodes as the accept path does: output_schema compiled by outputschema.
var checked = dialect.Decoder{Schemas: outputschema.Checker{}}

// opaque refuses every schema with an error that has no code.
type opaque struct{}

func (opaque) CheckSchema(json.RawMessage) error { return errors.New("no") }

// TestDecoderSchemas: a Decoder compiles output_schema with the checker it is given and reports
// the checker's code and message as the problem; without one (the functions that do not accept
// work) the schema is left to the worker.
func TestDecoderSchemas(t *testing.T) {
	body := []byte(`{"input":{"text":"x"},"output_format":"json","output_schema":{"$ref":"file:///etc/passwd"}}`)
	if _, err := dialect.DecodeXpander(body); err != nil {
		t.Fatalf("DecodeXpander without a checker = %v, want the schema left to the worker", err)
	}
	tests := []struct {
		name string
		d    dialect.Decoder
		typ  string
		msg  string
	}{
		{"outputschema", checked, outputschema.CodeRef, "references must point into the schema itself (#...)"},
		{"a checker without codes", dialect.Decoder{Schemas: opaque{}}, outputschema.CodeInvalid, "is not a usable schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.d.Xpander(body)
			var ve *dialect.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 {
				t.Fatalf("Xpander = %v, want one problem", err)
			}
			if p := ve.Problems[0]; p.Type != tt.typ || p.Msg != tt.msg {
				t.Errorf("problem = %+v, want %s %q", p, tt.typ, tt.msg)
			}
		})
	}
	if _, err := checked.Xpander([]byte(`{"input":{"text":"x"},"output_schema":{"type":"object"}}`)); err != nil {
		t.Errorf("a usable schema = %v", err)
	}
}
