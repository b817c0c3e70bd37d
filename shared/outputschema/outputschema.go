// Package outputschema checks an agent's answer against the JSON Schema a caller asked for
// (xpander's output_format "json" with output_schema).
package outputschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
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

// maxProblems bounds how many problems a mismatch reports.
const maxProblems = 10

// Check validates the answer against the schema. The answer is the agent's text parsed as JSON,
// or, when the text is not JSON, the agent's JSON output. It returns a *MismatchError when the
// answer does not conform, or an error when the schema itself is unusable.
func (s Spec) Check(text string, output json.RawMessage) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(s.Schema))
	if err != nil {
		return &MismatchError{Problems: []string{"output_schema is not JSON: " + err.Error()}}
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("output_schema.json", doc); err != nil {
		return &MismatchError{Problems: []string{"output_schema: " + err.Error()}}
	}
	sch, err := c.Compile("output_schema.json")
	if err != nil {
		return &MismatchError{Problems: []string{"output_schema does not compile: " + err.Error()}}
	}
	answer, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		if len(output) == 0 {
			return &MismatchError{Problems: []string{"the answer is not JSON"}}
		}
		if answer, err = jsonschema.UnmarshalJSON(bytes.NewReader(output)); err != nil {
			return &MismatchError{Problems: []string{"the answer is not JSON"}}
		}
	}
	err = sch.Validate(answer)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validate answer: %w", err)
	}
	var problems []string
	collect(ve.DetailedOutput(), &problems)
	if len(problems) == 0 {
		problems = []string{ve.Error()}
	}
	if len(problems) > maxProblems {
		problems = append(problems[:maxProblems], fmt.Sprintf("and %d more", len(problems)-maxProblems))
	}
	return &MismatchError{Problems: problems}
}

// collect gathers the leaf errors of a detailed validation result as "location: message".
func collect(u *jsonschema.OutputUnit, out *[]string) {
	if u == nil {
		return
	}
	if u.Error != nil && len(u.Errors) == 0 {
		loc := u.InstanceLocation
		if loc == "" {
			loc = "/"
		}
		*out = append(*out, loc+": "+u.Error.String())
	}
	for i := range u.Errors {
		collect(&u.Errors[i], out)
	}
}
