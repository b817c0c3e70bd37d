package outputschema

import (
	"context"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
)

// cost bounds the work of validating v against the schema g from above: it walks every subschema
// the validator could evaluate, at every place in v it could evaluate it, counting one step each
// (plus the comparisons of enum, the hashing of uniqueItems and the matching of patterns), and
// gives up once the count passes limit. The walk does what the validator would do at most, with
// no regular expression, comparison or error report, so a schema whose combinators multiply
// (anyOf over anyOf over references, levels deep) is refused in at most limit steps instead of
// being validated for minutes.
//
// The validator also builds an error for every evaluation that fails, even those an anyOf, oneOf,
// not or if then discards, and copies it into each enclosing one's: the walk adds up that text
// too (what each subschema's own keywords can print, the values they quote, and the enclosing
// locations the error is prefixed with) and refuses more than MaxTextBytes of it.
//
// Nothing is memoized: the walk stops at limit+1 steps, so it costs no more than the budget it
// enforces.
func cost(ctx context.Context, g *graph, v any, limit int) (int, error) {
	w := &walker{ctx: ctx, g: g, limit: limit, maxBytes: MaxTextBytes}
	w.schema(g.root, v, frame{})
	switch {
	case w.err != nil:
		return w.steps, fmt.Errorf("%w: %v", ErrBudget, w.err)
	case w.bytes > MaxTextBytes:
		return w.steps, fmt.Errorf("%w: at least %d bytes of error text, at most %d allowed", ErrBudget, w.bytes, MaxTextBytes)
	}
	return w.steps, nil
}

type walker struct {
	ctx      context.Context
	g        *graph
	limit    int
	maxBytes int
	steps    int
	bytes    int
	err      error
}

// frame is where an evaluation stands: the length of the locations the enclosing evaluations
// prefix its error with.
type frame struct {
	prefix int
}

// over reports whether the walk must stop: past a limit, or the context has ended (checked
// every few thousand steps).
func (w *walker) over() bool {
	if w.steps > w.limit || w.bytes > w.maxBytes || w.err != nil {
		return true
	}
	if w.steps%4096 == 0 {
		w.err = w.ctx.Err()
	}
	return w.err != nil
}

// schema counts s at v.
func (w *walker) schema(s *jsonschema.Schema, v any, f frame) {
	if s == nil || w.over() {
		return
	}
	n := w.g.nodes[s]
	w.steps += 1 + len(s.Enum)
	f.prefix += n.loc
	w.bytes += n.text + f.prefix + w.value(s, v)
	in := f
	// Applicators at the same place in the answer (newGraph refused loops among them).
	for _, c := range w.g.sameplace(s) {
		w.schema(c, v, in)
	}
	// Applicators at the answer's members.
	switch v := v.(type) {
	case object:
		w.object(s, v, in)
	case array:
		w.array(s, v, in)
	}
}

// value counts the work and error text v costs s beyond a step: a string's length where a
// length or pattern check reads and prints it whole, a property name (printed whole), the names
// an additionalProperties error lists, the items uniqueItems hashes.
func (w *walker) value(s *jsonschema.Schema, v any) int {
	const short = 48 // a number, a boolean, or a placeholder (see object)
	switch v := v.(type) {
	case text:
		if s.MinLength == nil && s.MaxLength == nil && s.Pattern == "" {
			return short
		}
		if s.Pattern != "" {
			w.steps += len(v) / 256
		}
		return 4*len(v) + 2
	case string:
		return 4*len(v) + 2
	case object:
		if s.AdditionalProperties == nil {
			return short
		}
		n := short
		for k := range v {
			n += 4*len(k) + 4
		}
		return n
	case array:
		if s.UniqueItems {
			w.steps += nodes(v, w.limit)
		}
	}
	return short
}

// nodes counts the values in v, stopping past limit.
func nodes(v any, limit int) int {
	n := 1
	switch v := v.(type) {
	case object:
		for _, x := range v {
			if n > limit {
				break
			}
			n += nodes(x, limit-n)
		}
	case array:
		for _, x := range v {
			if n > limit {
				break
			}
			n += nodes(x, limit-n)
		}
	}
	return n
}

func (w *walker) object(s *jsonschema.Schema, obj object, f frame) {
	for name, x := range obj {
		if w.over() {
			return
		}
		w.schema(s.Properties[name], x, f)
		w.steps += len(s.PatternProperties) * (1 + len(name)/256)
		for _, sub := range s.PatternProperties {
			w.schema(sub, x, f)
		}
		w.schema(s.AdditionalProperties, x, f)
		w.schema(s.UnevaluatedProperties, x, f)
		w.schema(s.PropertyNames, name, f)
	}
}

func (w *walker) array(s *jsonschema.Schema, arr array, f frame) {
	for i, x := range arr {
		if w.over() {
			return
		}
		if i < len(s.PrefixItems) {
			w.schema(s.PrefixItems[i], x, f)
		}
		if i < len(s.ItemsArray) {
			w.schema(s.ItemsArray[i], x, f)
		}
		w.schema(s.Items, x, f)
		w.schema(s.AdditionalItems, x, f)
		w.schema(s.Contains, x, f)
		w.schema(s.UnevaluatedItems, x, f)
	}
}
