package outputschema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// chain is n $defs, each an anyOf of two references to the next: a validator that tries every
// branch does 2^n evaluations for an answer that matches none.
func chain(n int) string {
	var b strings.Builder
	b.WriteString(`{"$ref":"#/$defs/d0","$defs":{`)
	for i := range n {
		fmt.Fprintf(&b, `"d%d":{"anyOf":[{"$ref":"#/$defs/d%d"},{"$ref":"#/$defs/d%d"}]},`, i, i+1, i+1)
	}
	fmt.Fprintf(&b, `"d%d":{"type":"string"}}}`, n)
	return b.String()
}

// nested is a JSON value nested n levels deep under "x".
func nested(n int) string {
	return strings.Repeat(`{"x":`, n) + `0` + strings.Repeat(`}`, n)
}

// branching recurses into "x" through an anyOf of two branches: 2^depth evaluations for an
// answer nested depth levels deep, with only three references.
const branching = `{"$ref":"#/$defs/n","$defs":{"n":{"anyOf":[
	{"type":"object","properties":{"x":{"$ref":"#/$defs/n"}},"required":["y"]},
	{"type":"object","properties":{"x":{"$ref":"#/$defs/n"}},"required":["z"]}]}}}`

// hostileSchemas are schemas a tenant may send that must be refused at compile time, with the
// code each must get. The fuzz target starts from them too.
var hostileSchemas = []struct {
	name   string
	schema string
	code   string
}{
	{"local file", `{"$ref":"file:///etc/passwd"}`, CodeRef},
	{"remote URL", `{"$ref":"http://127.0.0.1:1/schema.json"}`, CodeRef},
	{"relative reference under a foreign id", `{"$id":"http://127.0.0.1:1/a/b.json","$ref":"c.json"}`, CodeRef},
	{"file metaschema", `{"$schema":"file:///etc/passwd","type":"object"}`, CodeInvalid},
	{"dynamic reference", `{"$dynamicRef":"#meta"}`, CodeRef},
	{"recursive reference", `{"$recursiveRef":"#"}`, CodeRef},
	{"reference to nothing", `{"$ref":"#/$defs/missing"}`, CodeInvalid},
	{"twenty chained anyOf levels", chain(20), CodeRef},
	{"wide anyOf", `{"anyOf":[` + strings.TrimSuffix(strings.Repeat(`{"type":"string"},`, MaxFanOut+1), ",") + `]}`, CodeFanOut},
	{"deep nesting", strings.Repeat(`{"not":`, MaxDepth+1) + `{}` + strings.Repeat(`}`, MaxDepth+1), CodeTooDeep},
	{"too large", `{"description":"` + strings.Repeat("a", MaxBytes) + `"}`, CodeTooLarge},
	{"not a schema", `{"type":12}`, CodeInvalid},
	{"not JSON", `{"type":`, CodeInvalid},
	{"number beyond float64", `{"multipleOf":1e-9999999}`, CodeInvalid},
	{"huge bound", `{"minimum":1e99999999}`, CodeInvalid},
}

// hostileAnswers are answers an agent may give that must fail the check, never panic or hang.
var hostileAnswers = []string{"1e999999999", "-1e999999999", "1e-999999999", `{"total":1e99999,"currency":"AUD"}`, `[1.5e-99999]`, `[0e-99999999999999999999]`}

func TestCheckRefusesHostileAnswers(t *testing.T) {
	for _, s := range []string{`{"minimum":0}`, `{"multipleOf":3}`, schema, `{"type":"array","items":{"maximum":1}}`} {
		sch, err := Compile(json.RawMessage(s))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range hostileAnswers {
			var me *MismatchError
			if err := sch.Check(context.Background(), a, nil); !errors.As(err, &me) {
				t.Errorf("Check(%s, %s) = %v, want a mismatch", s, a, err)
			}
		}
	}
}

func TestCompileRefusesHostileSchemas(t *testing.T) {
	for _, tt := range hostileSchemas {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(json.RawMessage(tt.schema))
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("Compile = %v, want a *SchemaError", err)
			}
			if se.Code != tt.code {
				t.Errorf("code = %s (%v), want %s", se.Code, se, tt.code)
			}
			// The file's contents, or a decoder's words about them, never come back.
			for _, leak := range []string{"invalid character", "passwd", "root:", "127.0.0.1"} {
				if strings.Contains(se.Error(), leak) {
					t.Errorf("error %q quotes %q", se, leak)
				}
			}
		})
	}
}

func TestCompileAcceptsOrdinarySchemas(t *testing.T) {
	for _, s := range []string{
		schema,
		`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","definitions":{"a":{"type":"string"}},"properties":{"a":{"$ref":"#/definitions/a"}}}`,
		`{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"array","items":{"$ref":"#/$defs/i"},"$defs":{"i":{"type":"integer"}}}`,
		branching,
		chain(14),
	} {
		if _, err := Compile(json.RawMessage(s)); err != nil {
			t.Errorf("Compile(%.60s...) = %v", s, err)
		}
	}
}

func TestCheckStopsAtItsBudget(t *testing.T) {
	sch, err := Compile(json.RawMessage(branching))
	if err != nil {
		t.Fatal(err)
	}
	// 2^40 evaluations if validated: refused from the step count alone.
	err = sch.Check(context.Background(), nested(40), nil)
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("Check = %v, want ErrBudget", err)
	}
	// A shallow answer is checked as usual.
	var me *MismatchError
	if err := sch.Check(context.Background(), nested(3), nil); !errors.As(err, &me) {
		t.Fatalf("Check of a shallow answer = %v, want a mismatch", err)
	}
}

func TestCheckHonoursItsContext(t *testing.T) {
	sch, err := Compile(json.RawMessage(branching))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sch.Check(ctx, nested(40), nil); !errors.Is(err, ErrBudget) {
		t.Fatalf("Check with an ended context = %v, want ErrBudget", err)
	}
}

// TestCostBoundsTheValidator: the step count is an upper bound of the validator's work, so a
// schema and answer within the budget are validated, and the count grows with the branching
// (doubling per level) the way the validator's work does.
func TestCostBoundsTheValidator(t *testing.T) {
	sch, err := Compile(json.RawMessage(chain(10)))
	if err != nil {
		t.Fatal(err)
	}
	var steps [2]int
	for i, n := range []int{10, 12} {
		s, err := Compile(json.RawMessage(chain(n)))
		if err != nil {
			t.Fatal(err)
		}
		if steps[i], err = cost(context.Background(), s.s, json.Number("1"), MaxSteps); err != nil {
			t.Fatal(err)
		}
	}
	if steps[1] < 4*steps[0]-8 {
		t.Errorf("steps for 12 levels = %d, for 10 = %d: the count does not follow the branching", steps[1], steps[0])
	}
	var me *MismatchError
	if err := sch.Check(context.Background(), `1`, nil); !errors.As(err, &me) {
		t.Fatalf("Check = %v, want a mismatch", err)
	}
}

func FuzzCompileAndCheck(f *testing.F) {
	for _, tt := range hostileSchemas {
		f.Add(tt.schema, `{"x":1}`)
	}
	f.Add(schema, `{"total":15,"currency":"AUD"}`)
	for _, a := range hostileAnswers {
		f.Add(`{"minimum":0}`, a)
	}
	f.Add(branching, nested(30))
	f.Fuzz(func(t *testing.T, raw, answer string) {
		sch, err := Compile(json.RawMessage(raw))
		if err != nil {
			var se *SchemaError
			if !errors.As(err, &se) || se.Code == "" {
				t.Fatalf("Compile = %v, want a *SchemaError with a code", err)
			}
			return
		}
		err = sch.Check(context.Background(), answer, nil)
		var me *MismatchError
		if err != nil && !errors.As(err, &me) && !errors.Is(err, ErrBudget) {
			t.Fatalf("Check = %v, want nil, a mismatch or ErrBudget", err)
		}
	})
}
