package outputschema

import (
	"context"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// cost bounds the work of validating v against s from above: it walks every subschema the
// validator could evaluate, at every place in v it could evaluate it, counting one step each (plus
// the comparisons of enum and uniqueItems), and gives up once the count passes limit. The walk
// does what the validator would do at most, with no regular expression, comparison or error
// report, so a schema whose combinators multiply (anyOf over anyOf over references, levels deep)
// is refused in at most limit steps instead of being validated for minutes.
//
// Nothing is memoized: the walk stops at limit+1 steps, so it costs no more than the budget
// it enforces.
func cost(ctx context.Context, s *jsonschema.Schema, v any, limit int) (int, error) {
	w := &walker{ctx: ctx, limit: limit}
	w.schema(s, v, nil)
	if w.err != nil {
		return w.steps, fmt.Errorf("%w: %v", ErrBudget, w.err)
	}
	return w.steps, nil
}

type walker struct {
	ctx   context.Context
	limit int
	steps int
	err   error
}

// over reports whether the walk must stop: past the limit, or the context has ended (checked
// every few thousand steps).
func (w *walker) over() bool {
	if w.steps > w.limit || w.err != nil {
		return true
	}
	if w.steps%4096 == 0 {
		w.err = w.ctx.Err()
	}
	return w.err != nil
}

// here is a schema being evaluated at the current place in the answer, with the ones that led to
// it there: the validator stops at a reference cycle that comes back to the same schema without
// moving in the answer, and so does the walk.
type here struct {
	s    *jsonschema.Schema
	prev *here
}

func (h *here) has(s *jsonschema.Schema) bool {
	for ; h != nil; h = h.prev {
		if h.s == s {
			return true
		}
	}
	return false
}

// schema counts s at v; path holds the schemas already being evaluated at v.
func (w *walker) schema(s *jsonschema.Schema, v any, path *here) {
	if s == nil || w.over() {
		return
	}
	w.steps++
	if s.Bool != nil || path.has(s) {
		return
	}
	at := &here{s: s, prev: path}
	if s.Enum != nil {
		w.steps += len(s.Enum.Values)
	}
	// Applicators at the same place in the answer.
	w.schema(s.Ref, v, at)
	w.schema(s.RecursiveRef, v, at)
	if s.DynamicRef != nil {
		w.schema(s.DynamicRef.Ref, v, at)
	}
	w.schema(s.Not, v, at)
	w.schema(s.If, v, at)
	w.schema(s.Then, v, at)
	w.schema(s.Else, v, at)
	for _, group := range [][]*jsonschema.Schema{s.AllOf, s.AnyOf, s.OneOf} {
		for _, sub := range group {
			w.schema(sub, v, at)
		}
	}
	for _, sub := range s.DependentSchemas {
		w.schema(sub, v, at)
	}
	for _, dep := range s.Dependencies {
		if sub, ok := dep.(*jsonschema.Schema); ok {
			w.schema(sub, v, at)
		}
	}
	// Applicators at the answer's members: each starts a new place.
	switch v := v.(type) {
	case map[string]any:
		w.object(s, v)
	case []any:
		w.array(s, v)
	}
}

func (w *walker) object(s *jsonschema.Schema, obj map[string]any) {
	for name, x := range obj {
		if w.over() {
			return
		}
		w.schema(s.Properties[name], x, nil)
		w.steps += len(s.PatternProperties)
		for _, sub := range s.PatternProperties {
			w.schema(sub, x, nil)
		}
		if sub, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
			w.schema(sub, x, nil)
		}
		w.schema(s.UnevaluatedProperties, x, nil)
		w.schema(s.PropertyNames, name, nil)
	}
}

func (w *walker) array(s *jsonschema.Schema, arr []any) {
	if s.UniqueItems {
		w.steps += len(arr)
	}
	for i, x := range arr {
		if w.over() {
			return
		}
		if i < len(s.PrefixItems) {
			w.schema(s.PrefixItems[i], x, nil)
		}
		switch items := s.Items.(type) {
		case *jsonschema.Schema:
			w.schema(items, x, nil)
		case []*jsonschema.Schema:
			if i < len(items) {
				w.schema(items[i], x, nil)
			}
		}
		if sub, ok := s.AdditionalItems.(*jsonschema.Schema); ok {
			w.schema(sub, x, nil)
		}
		w.schema(s.Items2020, x, nil)
		w.schema(s.Contains, x, nil)
		w.schema(s.UnevaluatedItems, x, nil)
	}
}
