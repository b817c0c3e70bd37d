// Package outputschema checks an agent's answer against the JSON Schema a caller asked for
// (xpander's output_format "json" with output_schema).
package outputschema

import (
	"encoding/json"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// Spec is what a request asks of the answer's shape.
type Spec struct {
	Format string          `json:"output_format"`
	Schema json.RawMessage `json:"output_schema"`
}

// FromRequest reads output_format and output_schema from a request body, filling what the request
// leaves out from the agent's defaults.
func FromRequest(body json.RawMessage, defaults Spec) Spec {
	var s Spec
	_ = json.Unmarshal(body, &s) // bodies were validated on the way in
	if s.Format == "" {
		s.Format = defaults.Format
	}
	if len(s.Schema) == 0 || string(s.Schema) == "null" {
		s.Schema = defaults.Schema
	}
	return s
}

// Applies reports whether the answer must be checked: a JSON answer with a schema.
func (s Spec) Applies() bool {
	return s.Format == "json" && len(s.Schema) > 0 && string(s.Schema) != "null"
}

// MismatchError lists how an answer fails its schema.
type MismatchError struct {
	Problems []string
}

func (e *MismatchError) Error() string {
	return "the answer does not match output_schema: " + strings.Join(e.Problems, "; ")
}

// Check validates the answer against the schema (JSON Schema draft 2020-12 or draft-07). The
// answer is the agent's text parsed as JSON, or, when the text is not JSON, the agent's JSON
// output. It returns a *MismatchError naming the first problem found when the answer does not
// conform or the schema is unusable.
//
// The validator is github.com/google/jsonschema-go: it compiles nothing when the package is
// initialised, where a validator that compiles every draft's metaschema at init added several
// times a bare function's whole cold start to the worker's (DESIGN.md, "Cold starts").
func (s Spec) Check(text string, output json.RawMessage) error {
	var sch jsonschema.Schema
	if err := json.Unmarshal(s.Schema, &sch); err != nil {
		return &MismatchError{Problems: []string{"output_schema is not a JSON Schema: " + err.Error()}}
	}
	resolved, err := sch.Resolve(nil)
	if err != nil {
		return &MismatchError{Problems: []string{"output_schema does not compile: " + err.Error()}}
	}
	var answer any
	if err := json.Unmarshal([]byte(text), &answer); err != nil {
		if len(output) == 0 {
			return &MismatchError{Problems: []string{"the answer is not JSON"}}
		}
		if err := json.Unmarshal(output, &answer); err != nil {
			return &MismatchError{Problems: []string{"the answer is not JSON"}}
		}
	}
	if err := resolved.Validate(answer); err != nil {
		return &MismatchError{Problems: []string{strings.TrimPrefix(err.Error(), "validating root: ")}}
	}
	return nil
}
