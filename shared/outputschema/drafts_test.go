package outputschema

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestCompileDrafts: draft 2020-12 (the default) and draft-07 are accepted in their usual
// spellings; other drafts get CodeDraft, so a schema is never checked by rules its author did not
// mean; and what the validator would silently ignore or mis-read is refused.
func TestCompileDrafts(t *testing.T) {
	tests := []struct {
		name, schema, code string
	}{
		{"2020-12", `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"string"}`, ""},
		{"2020-12 with #", `{"$schema":"https://json-schema.org/draft/2020-12/schema#","type":"string"}`, ""},
		{"draft-07", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"string"}`, ""},
		{"draft-07 without #", `{"$schema":"http://json-schema.org/draft-07/schema","type":"string"}`, ""},
		{"draft-07 over https", `{"$schema":"https://json-schema.org/draft-07/schema#","type":"string"}`, ""},
		{"draft-04", `{"$schema":"http://json-schema.org/draft-04/schema#","type":"string"}`, CodeDraft},
		{"draft-06", `{"$schema":"http://json-schema.org/draft-06/schema#","type":"string"}`, CodeDraft},
		{"2019-09", `{"$schema":"https://json-schema.org/draft/2019-09/schema","type":"string"}`, CodeDraft},
		{"unknown URI", `{"$schema":"https://example.com/my-schema","type":"string"}`, CodeInvalid},
		{"nested $schema", `{"properties":{"a":{"$schema":"http://json-schema.org/draft-07/schema#"}}}`, CodeInvalid},
		{"nested $id", `{"properties":{"a":{"$id":"https://example.com/a","$ref":"#/x"}}}`, CodeRef},
		{"unknown type name", `{"type":"strnig"}`, CodeInvalid},
		{"unknown type in a list", `{"type":["string","nul"]}`, CodeInvalid},
		{"items list in 2020-12", `{"items":[{"type":"string"}]}`, CodeInvalid},
		{"items list in draft-07", `{"$schema":"http://json-schema.org/draft-07/schema#","items":[{"type":"string"}]}`, ""},
		{"bad pattern", `{"pattern":"(?<=a)b"}`, CodeInvalid},
		{"minimum not a number", `{"minimum":"1"}`, CodeInvalid},
		{"anchor", `{"$ref":"#a","$defs":{"x":{"$anchor":"a","type":"string"}}}`, ""},
		{"draft-07 anchor", `{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"x":{"$id":"#a","type":"string"}},"properties":{"p":{"$ref":"#a"}}}`, ""},
		{"missing anchor", `{"$ref":"#nowhere"}`, CodeInvalid},
		{"escaped pointer", `{"$ref":"#/$defs/a~1b","$defs":{"a/b":{"type":"string"}}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(json.RawMessage(tt.schema))
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Compile = %v, want it accepted", err)
				}
				return
			}
			var se *SchemaError
			if !errors.As(err, &se) || se.Code != tt.code {
				t.Fatalf("Compile = %v, want code %s", err, tt.code)
			}
		})
	}
}

// TestDraftRules: each draft's schema is checked by its own rules.
func TestDraftRules(t *testing.T) {
	tests := []struct {
		name, schema, answer string
		match                bool
	}{
		// draft-07: $ref's siblings are ignored.
		{"draft-07 ref siblings", `{"$schema":"http://json-schema.org/draft-07/schema#","definitions":{"s":{"type":"string"}},"$ref":"#/definitions/s","minLength":5}`, `"ab"`, true},
		{"2020-12 ref siblings", `{"$defs":{"s":{"type":"string"}},"$ref":"#/$defs/s","minLength":5}`, `"ab"`, false},
		{"draft-07 items list", `{"$schema":"http://json-schema.org/draft-07/schema#","items":[{"type":"string"}],"additionalItems":false}`, `["a",1]`, false},
		{"2020-12 prefixItems", `{"prefixItems":[{"type":"string"}],"items":false}`, `["a"]`, true},
		{"anchor", `{"$ref":"#a","$defs":{"x":{"$anchor":"a","type":"string"}}}`, `1`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sch, err := Compile(json.RawMessage(tt.schema))
			if err != nil {
				t.Fatal(err)
			}
			err = sch.Check(context.Background(), tt.answer, nil)
			var me *MismatchError
			if tt.match && err != nil || !tt.match && !errors.As(err, &me) {
				t.Fatalf("Check(%s) = %v, want match=%v", tt.answer, err, tt.match)
			}
		})
	}
}

// TestCompileRefusesLoops: references that come back to the same schema without moving into the
// answer would recurse until the worker's stack runs out (a fatal error, not a panic).
func TestCompileRefusesLoops(t *testing.T) {
	for _, s := range []string{
		`{"$ref":"#"}`,
		`{"anyOf":[{"type":"string"},{"$ref":"#"}]}`,
		`{"$ref":"#/$defs/a","$defs":{"a":{"allOf":[{"$ref":"#/$defs/b"}]},"b":{"not":{"$ref":"#/$defs/a"}}}}`,
		`{"if":{"$ref":"#"}}`,
		`{"dependentSchemas":{"x":{"$ref":"#"}}}`,
	} {
		var se *SchemaError
		if _, err := Compile(json.RawMessage(s)); !errors.As(err, &se) || se.Code != CodeRef {
			t.Errorf("Compile(%s) = %v, want %s", s, err, CodeRef)
		}
	}
	// Recursion through the answer's members is fine.
	if _, err := Compile(json.RawMessage(`{"properties":{"next":{"$ref":"#"}},"items":{"$ref":"#"}}`)); err != nil {
		t.Errorf("a recursive schema = %v", err)
	}
}

// TestCheckCountsErrorText: the validator writes an error for every failed branch, quoting a
// string whose length or pattern failed; a large answer under a wide anyOf is refused from the
// estimate, and the same schema checks a small answer.
func TestCheckCountsErrorText(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"anyOf":[`)
	for i := range MaxFanOut {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"$ref":"#/$defs/s"}`)
	}
	b.WriteString(`],"$defs":{"s":{"anyOf":[` + strings.TrimSuffix(strings.Repeat(`{"maxLength":3},`, MaxFanOut), ",") + `]}}}`)
	sch, err := Compile(json.RawMessage(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	big, _ := json.Marshal(strings.Repeat("x", 64<<10))
	if err := sch.Check(context.Background(), string(big), nil); !errors.Is(err, ErrBudget) {
		t.Fatalf("Check of a long string = %v, want ErrBudget", err)
	}
	var me *MismatchError
	if err := sch.Check(context.Background(), `"abcd"`, nil); !errors.As(err, &me) {
		t.Fatalf("Check of a short string = %v, want a mismatch", err)
	}
}

// TestMismatchDoesNotQuoteTheAnswer: a problem names where the schema failed, not the answer's
// contents, and stays short however large the answer.
func TestMismatchDoesNotQuoteTheAnswer(t *testing.T) {
	sch, err := Compile(json.RawMessage(`{"type":"array","properties":{"a":{"type":"string"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	answer := `{"a":"` + strings.Repeat("secret", 10000) + `"}`
	err = sch.Check(context.Background(), answer, nil)
	var me *MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("Check = %v, want a mismatch", err)
	}
	if len(me.Error()) > maxProblemBytes+64 || strings.Contains(me.Error(), "secretsecret") {
		t.Errorf("mismatch quotes the answer: %.200s", me.Error())
	}
}
