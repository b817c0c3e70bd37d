// Package outputschema checks an agent's answer against the JSON Schema a caller asked for
// (xpander's output_format "json" with output_schema).
//
// A schema comes from a tenant, so it is hostile input: it is compiled with a loader that loads
// nothing (only references into the schema itself resolve), within bounds on its size, its
// references, its nesting and its combinators' fan-out, and every check runs within a step
// budget computed before the validator starts, so no schema and answer can hold a worker.
package outputschema

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Bounds on a schema, checked when it is compiled.
const (
	// MaxBytes bounds a schema's JSON text.
	MaxBytes = 16 << 10
	// MaxRefs bounds the $ref keywords in a schema.
	MaxRefs = 32
	// MaxFanOut bounds the subschemas of one allOf, anyOf or oneOf.
	MaxFanOut = 16
	// MaxDepth bounds how deeply a schema's JSON nests.
	MaxDepth = 32
	// MaxSteps bounds the subschema evaluations (plus array-uniqueness and enum comparisons) one
	// check may take. It is computed from the compiled schema and the answer before the validator
	// runs, and an answer over it is refused without being validated.
	MaxSteps = 200_000
)

// Codes of a refused schema (SchemaError.Code), stable for callers.
const (
	CodeInvalid  = "output_schema_invalid"
	CodeTooLarge = "output_schema_too_large"
	CodeRef      = "output_schema_ref"
	CodeFanOut   = "output_schema_fan_out"
	CodeTooDeep  = "output_schema_too_deep"
)

// SchemaError says why a schema is refused. Its message never quotes the schema or a file.
type SchemaError struct {
	Code string
	Msg  string
}

func (e *SchemaError) Error() string { return "output_schema: " + e.Msg }

// ErrBudget means checking the answer would take more than MaxSteps steps (or the check's
// context ended): the answer is refused unchecked.
var ErrBudget = errors.New("checking the answer against output_schema exceeds its budget")

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

// Schema is a compiled output_schema.
type Schema struct {
	s *jsonschema.Schema
}

// schemaURL names the schema inside the compiler; it is never fetched.
const schemaURL = "urn:agentq:output_schema"

// noLoader loads nothing: a reference outside the schema (a file, a URL) is refused, not read.
type noLoader struct{}

func (noLoader) Load(string) (any, error) {
	return nil, &SchemaError{Code: CodeRef, Msg: "references must point into the schema itself (#...)"}
}

// Compile checks raw against the bounds and compiles it. It returns a *SchemaError when the
// schema is refused.
func Compile(raw json.RawMessage) (*Schema, error) {
	if len(raw) > MaxBytes {
		return nil, &SchemaError{Code: CodeTooLarge, Msg: fmt.Sprintf("must be at most %d bytes (is %d)", MaxBytes, len(raw))}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, &SchemaError{Code: CodeInvalid, Msg: "is not JSON"}
	}
	if err := checkBounds(doc); err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, &SchemaError{Code: CodeInvalid, Msg: "is not a usable schema"}
	}
	sch, err := compile(c)
	if err != nil {
		var se *SchemaError
		if errors.As(err, &se) {
			return nil, se
		}
		return nil, &SchemaError{Code: CodeInvalid, Msg: "does not compile: " + compileProblem(err)}
	}
	return &Schema{s: sch}, nil
}

// compile runs the compiler, turning a panic of it into an error.
func compile(c *jsonschema.Compiler) (s *jsonschema.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, &SchemaError{Code: CodeInvalid, Msg: "is not a schema this service can use"}
		}
	}()
	return c.Compile(schemaURL)
}

// compileProblem says what is wrong with a schema that does not compile, without the file
// system's or the library's words about anything outside it.
func compileProblem(err error) string {
	var se *jsonschema.SchemaValidationError
	if errors.As(err, &se) {
		var problems []string
		if ve, ok := se.Err.(*jsonschema.ValidationError); ok {
			collect(ve.DetailedOutput(), &problems)
		}
		if len(problems) > 0 {
			if len(problems) > 3 {
				problems = problems[:3]
			}
			return "it breaks the JSON Schema metaschema at " + strings.Join(problems, "; ")
		}
		return "it breaks the JSON Schema metaschema"
	}
	var ref *jsonschema.InvalidJsonPointerError
	var anchor *jsonschema.AnchorNotFoundError
	switch {
	case errors.As(err, &ref), errors.As(err, &anchor):
		return "a reference points at nothing in the schema"
	}
	return "it is not a schema this service can use"
}

// checkBounds refuses a schema over MaxDepth, MaxRefs or MaxFanOut, or with a reference that does
// not start with "#" or is dynamic.
func checkBounds(doc any) error {
	refs := 0
	var walk func(v any, depth int) error
	walk = func(v any, depth int) error {
		if depth > MaxDepth {
			return &SchemaError{Code: CodeTooDeep, Msg: fmt.Sprintf("must nest at most %d levels", MaxDepth)}
		}
		switch v := v.(type) {
		case json.Number:
			if !finite(v) {
				return &SchemaError{Code: CodeInvalid, Msg: "numbers must be within the range of a 64-bit float"}
			}
		case map[string]any:
			for k, x := range v {
				switch k {
				case "$dynamicRef", "$recursiveRef":
					// Resolved by where evaluation came from, not by where they stand: the step
					// budget could not bound them.
					return &SchemaError{Code: CodeRef, Msg: k + " is not supported; use $ref"}
				case "$ref":
					refs++
					if refs > MaxRefs {
						return &SchemaError{Code: CodeRef, Msg: fmt.Sprintf("must have at most %d references", MaxRefs)}
					}
					if s, ok := x.(string); !ok || !strings.HasPrefix(s, "#") {
						return &SchemaError{Code: CodeRef, Msg: "references must point into the schema itself (#...)"}
					}
				case "allOf", "anyOf", "oneOf":
					if a, ok := x.([]any); ok && len(a) > MaxFanOut {
						return &SchemaError{Code: CodeFanOut, Msg: fmt.Sprintf("%s must have at most %d subschemas", k, MaxFanOut)}
					}
				}
				if err := walk(x, depth+1); err != nil {
					return err
				}
			}
		case []any:
			for _, x := range v {
				if err := walk(x, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(doc, 0)
}

// Compile compiles the spec's schema (see Compile).
func (s Spec) Compile() (*Schema, error) { return Compile(s.Schema) }

// Check compiles the spec's schema and checks the answer against it (see Schema.Check).
func (s Spec) Check(ctx context.Context, text string, output json.RawMessage) error {
	sch, err := s.Compile()
	if err != nil {
		return err
	}
	return sch.Check(ctx, text, output)
}

// Check validates the answer against the schema. The answer is the agent's text parsed as JSON,
// or, when the text is not JSON, the agent's JSON output. It returns a *MismatchError when the
// answer does not conform, an error wrapping ErrBudget when checking it would take more than
// MaxSteps steps or ctx ends first, or another error when the validator fails.
func (sch *Schema) Check(ctx context.Context, text string, output json.RawMessage) error {
	answer, err := jsonschema.UnmarshalJSON(strings.NewReader(text))
	if err != nil {
		if len(output) == 0 {
			return &MismatchError{Problems: []string{"the answer is not JSON"}}
		}
		if answer, err = jsonschema.UnmarshalJSON(bytes.NewReader(output)); err != nil {
			return &MismatchError{Problems: []string{"the answer is not JSON"}}
		}
	}
	if !numbersFinite(answer) {
		// The validator's arbitrary-precision arithmetic fails (or takes ages) on such numbers.
		return &MismatchError{Problems: []string{"the answer has a number outside the range of a 64-bit float"}}
	}
	if steps, err := cost(ctx, sch.s, answer, MaxSteps); err != nil {
		return err
	} else if steps > MaxSteps {
		return fmt.Errorf("%w: at least %d steps, at most %d allowed", ErrBudget, steps, MaxSteps)
	}
	err = validate(sch.s, answer)
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

// validate runs the validator, turning a panic of it into an error: an answer must fail its task,
// not the worker and every other tenant's task in its batch.
func validate(s *jsonschema.Schema, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &MismatchError{Problems: []string{"the answer could not be checked against output_schema"}}
		}
	}()
	return s.Validate(v)
}

// finite reports whether n is a number float64 holds, written with an exponent of at most
// maxExponent: the validator's exact arithmetic on a number such as 1e999999999 panics, and on
// 1e-99999999 runs for long.
func finite(n json.Number) bool {
	if _, err := strconv.ParseFloat(string(n), 64); err != nil {
		return false
	}
	s := strings.ToLower(string(n))
	if i := strings.IndexByte(s, 'e'); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		return err == nil && e >= -maxExponent && e <= maxExponent
	}
	return true
}

// maxExponent bounds the exponent written in a number: float64's range is within 1e±324.
const maxExponent = 400

// numbersFinite reports whether every number in v is finite (see finite).
func numbersFinite(v any) bool {
	switch v := v.(type) {
	case json.Number:
		return finite(v)
	case map[string]any:
		for _, x := range v {
			if !numbersFinite(x) {
				return false
			}
		}
	case []any:
		for _, x := range v {
			if !numbersFinite(x) {
				return false
			}
		}
	}
	return true
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
