// Package outputschema checks an agent's answer against the JSON Schema a caller asked for
// (xpander's output_format "json" with output_schema).
//
// A schema comes from a tenant, so it is hostile input: it is compiled with a loader that loads
// nothing (only references into the schema itself resolve), within bounds on its size, its
// references, its nesting and its combinators' fan-out, and every check runs within a budget of
// steps and of error text computed before the validator starts, so no schema and answer can hold a
// worker.
//
// The validator is github.com/google/jsonschema-go, which compiles nothing when the package is
// initialised (DESIGN.md, "Cold starts"). It validates JSON Schema draft 2020-12 (the default) and
// draft-07; a schema naming another draft in $schema is refused (CodeDraft).
package outputschema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
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
	// MaxTextBytes bounds the error text the validator could build over one check: it describes
	// every failed evaluation, including those an anyOf, oneOf, not or if discards, and each
	// enclosing evaluation copies it. Computed with the steps; an answer over it is refused
	// unchecked. At the bound, a check takes about 0.3 s on one core (DESIGN.md, "Tenants").
	MaxTextBytes = 16 << 20
)

// Codes of a refused schema (SchemaError.Code), stable for callers.
const (
	CodeInvalid  = "output_schema_invalid"
	CodeTooLarge = "output_schema_too_large"
	CodeRef      = "output_schema_ref"
	CodeFanOut   = "output_schema_fan_out"
	CodeTooDeep  = "output_schema_too_deep"
	// CodeDraft refuses a schema whose $schema names a JSON Schema draft other than draft-07 and
	// 2020-12: the validator would check it by other rules than its author meant.
	CodeDraft = "output_schema_draft"
)

// SchemaError says why a schema is refused. Its message never quotes the schema or a file.
type SchemaError struct {
	Code string
	Msg  string
}

func (e *SchemaError) Error() string { return "output_schema: " + e.Msg }

// ProblemCode returns the error's code: callers that only declare an interface (dialect, agent)
// read it without importing this package.
func (e *SchemaError) ProblemCode() string { return e.Code }

// Problem returns what is wrong, without the "output_schema: " prefix.
func (e *SchemaError) Problem() string { return e.Msg }

// ErrBudget means checking the answer would take more than MaxSteps steps or MaxTextBytes of
// error text (or the check's context ended): the answer is refused unchecked.
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

// MismatchError lists how an answer fails its schema. The validator stops at the first problem
// it finds, so there is one, as "schema location: what failed".
type MismatchError struct {
	Problems []string
}

func (e *MismatchError) Error() string {
	return "the answer does not match output_schema: " + strings.Join(e.Problems, "; ")
}

// maxProblemBytes bounds the text of a reported problem.
const maxProblemBytes = 1024

// Schema is a compiled output_schema.
type Schema struct {
	s   *graph
	res *jsonschema.Resolved
}

// Checker compiles schemas for callers that declare only an interface (a registry, a request
// decoder): CheckSchema returns a *SchemaError, which has ProblemCode and Problem methods.
type Checker struct{}

// CheckSchema compiles raw and returns why it is refused, or nil.
func (Checker) CheckSchema(raw json.RawMessage) error {
	_, err := Compile(raw)
	return err
}

// Compile checks raw against the bounds and compiles it. It returns a *SchemaError when the
// schema is refused.
func Compile(raw json.RawMessage) (*Schema, error) {
	if len(raw) > MaxBytes {
		return nil, &SchemaError{Code: CodeTooLarge, Msg: fmt.Sprintf("must be at most %d bytes (is %d)", MaxBytes, len(raw))}
	}
	doc, err := decodeJSON(raw)
	if err != nil {
		return nil, &SchemaError{Code: CodeInvalid, Msg: "is not JSON"}
	}
	if err := checkBounds(doc); err != nil {
		return nil, err
	}
	var root jsonschema.Schema
	if err := json.Unmarshal(raw, &root); err != nil {
		return nil, &SchemaError{Code: CodeInvalid, Msg: "does not compile: " + unmarshalProblem(err)}
	}
	if err := normalizeDraft(&root); err != nil {
		return nil, err
	}
	g, err := newGraph(&root)
	if err != nil {
		return nil, err
	}
	res, err := resolve(&root)
	if err != nil {
		return nil, err
	}
	return &Schema{s: g, res: res}, nil
}

// resolve runs the library's resolution with a loader that loads nothing, turning a panic of it
// into an error.
func resolve(root *jsonschema.Schema) (res *jsonschema.Resolved, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, &SchemaError{Code: CodeInvalid, Msg: "is not a schema this service can use"}
		}
	}()
	res, err = root.Resolve(&jsonschema.ResolveOptions{Loader: noLoader})
	if err != nil {
		var se *SchemaError
		if errors.As(err, &se) {
			return nil, se
		}
		return nil, &SchemaError{Code: CodeInvalid, Msg: "does not compile: " + resolveProblem(err)}
	}
	return res, nil
}

// noLoader loads nothing: a reference outside the schema (a file, a URL) is refused, not read.
func noLoader(*url.URL) (*jsonschema.Schema, error) {
	return nil, &SchemaError{Code: CodeRef, Msg: "references must point into the schema itself (#...)"}
}

// unmarshalProblem says which keyword has a value of the wrong shape, without the value.
func unmarshalProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		f := te.Field
		if i := strings.LastIndexByte(f, '.'); i >= 0 {
			f = f[i+1:]
		}
		return fmt.Sprintf("the value of %q must be a %s", f, jsonKind(te.Type.Kind().String()))
	}
	if strings.Contains(err.Error(), `"type"`) {
		return `"type" must be a type name or a list of them`
	}
	return "a keyword has a value of the wrong type"
}

// jsonKind names a Go kind as JSON does.
func jsonKind(k string) string {
	switch k {
	case "float64", "float32", "int", "int64":
		return "number"
	case "slice", "array":
		return "list"
	case "map", "struct", "ptr":
		return "object"
	case "bool":
		return "boolean"
	}
	return k
}

// resolveProblem says what is wrong with a schema the library refuses, without quoting it.
func resolveProblem(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "regexp"):
		return "a pattern is not a regular expression this service supports (Go's RE2 syntax)"
	case strings.Contains(msg, "anchor"), strings.Contains(msg, "JSON Pointer"):
		return "a reference points at nothing in the schema"
	case strings.Contains(msg, "$vocabulary"):
		return "$vocabulary is supported only with draft 2020-12"
	}
	return "it is not a schema this service can use"
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
// MaxSteps steps or MaxTextBytes of error text or ctx ends first.
func (sch *Schema) Check(ctx context.Context, text string, output json.RawMessage) error {
	answer, err := decodeAnswer([]byte(text))
	if err != nil && errors.Is(err, errNotJSON) && len(output) > 0 {
		answer, err = decodeAnswer(output)
	}
	if err != nil {
		return &MismatchError{Problems: []string{err.Error()}}
	}
	if steps, err := cost(ctx, sch.s, answer, MaxSteps); err != nil {
		return err
	} else if steps > MaxSteps {
		return fmt.Errorf("%w: at least %d steps, at most %d allowed", ErrBudget, steps, MaxSteps)
	}
	if err := validate(sch.res, answer); err != nil {
		return &MismatchError{Problems: []string{problem(err)}}
	}
	return nil
}

// validate runs the validator, turning a panic of it into an error: an answer must fail its task,
// not the worker and every other tenant's task in its batch.
func validate(res *jsonschema.Resolved, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errors.New("the answer could not be checked against output_schema")
		}
	}()
	return res.Validate(v)
}

// problem turns the validator's error, "validating root: validating /properties/a: type: ...",
// into "/properties/a: type: ...": where in the schema the first failure is, and what it is.
func problem(err error) string {
	msg := err.Error()
	loc := "/"
	for {
		rest, ok := strings.CutPrefix(msg, "validating ")
		if !ok {
			break
		}
		i := strings.Index(rest, ": ")
		if i < 0 {
			break
		}
		if l := rest[:i]; l != "root" {
			loc = l
		}
		msg = rest[i+2:]
	}
	msg = strings.ReplaceAll(loc+": "+msg, "\n", "; ")
	if len(msg) > maxProblemBytes {
		msg = msg[:maxProblemBytes] + "…"
	}
	return msg
}
