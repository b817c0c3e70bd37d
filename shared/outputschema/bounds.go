package outputschema

import (
	"encoding/json"
	"fmt"
	"strings"
)

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
