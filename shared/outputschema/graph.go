package outputschema

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
)

// The $schema values the validator checks by their own rules.
const (
	draft7URI    = "http://json-schema.org/draft-07/schema#"
	draft2020URI = "https://json-schema.org/draft/2020-12/schema"
)

// normalizeDraft accepts the spellings of draft-07 and 2020-12 in $schema (with or without a
// trailing "#", draft-07 over http or https) and writes the one the validator knows; it refuses
// other drafts with CodeDraft, since the validator would check them by 2020-12's rules, and any
// other value with CodeInvalid.
func normalizeDraft(root *jsonschema.Schema) error {
	v := strings.TrimSuffix(root.Schema, "#")
	switch v {
	case "":
	case "http://json-schema.org/draft-07/schema", "https://json-schema.org/draft-07/schema":
		root.Schema = draft7URI
	case draft2020URI:
		root.Schema = draft2020URI
	case "http://json-schema.org/draft-04/schema", "http://json-schema.org/draft-06/schema",
		"https://json-schema.org/draft/2019-09/schema", "http://json-schema.org/schema":
		return &SchemaError{Code: CodeDraft, Msg: "$schema must be draft 2020-12 (" + draft2020URI + ", the default) or draft-07 (" + draft7URI + ")"}
	default:
		return &SchemaError{Code: CodeInvalid, Msg: "$schema must name JSON Schema draft 2020-12 or draft-07"}
	}
	return nil
}

// graph is a compiled schema as the step budget sees it: every subschema with where it is, what
// its $ref points at, and how much error text its own keywords can print.
type graph struct {
	root   *jsonschema.Schema
	draft7 bool
	nodes  map[*jsonschema.Schema]*node
	// byPointer finds a subschema by its JSON Pointer from the root ("" is the root).
	byPointer map[string]*jsonschema.Schema
	anchors   map[string]*jsonschema.Schema
}

// node is what the budget knows of one subschema.
type node struct {
	ref *jsonschema.Schema // where $ref points, or nil
	// text bounds the error text the subschema's own keywords print when they fail, plus the
	// location each enclosing error adds ("validating <location>: ").
	text int
	loc  int
}

// newGraph walks the schema tree, checks what the library does not (a $schema or $id inside the
// schema, type names, draft 2020-12's items as a list), resolves every $ref within the schema, and
// refuses references that loop back to the same place in the answer.
func newGraph(root *jsonschema.Schema) (*graph, error) {
	g := &graph{
		root: root, draft7: root.Schema == draft7URI,
		nodes: map[*jsonschema.Schema]*node{}, byPointer: map[string]*jsonschema.Schema{}, anchors: map[string]*jsonschema.Schema{},
	}
	if err := g.add(root, ""); err != nil {
		return nil, err
	}
	for s, n := range g.nodes {
		if s.Ref == "" {
			continue
		}
		target, err := g.lookup(s.Ref)
		if err != nil {
			return nil, err
		}
		n.ref = target
	}
	if err := g.checkLoops(); err != nil {
		return nil, err
	}
	return g, nil
}

// add records s, found at pointer, and its subschemas.
func (g *graph) add(s *jsonschema.Schema, pointer string) error {
	if _, seen := g.nodes[s]; seen || s == nil {
		return &SchemaError{Code: CodeInvalid, Msg: "is not a schema this service can use"}
	}
	if err := g.checkLocal(s, pointer); err != nil {
		return err
	}
	loc := len(pointer)
	if pointer == "" {
		loc = len("root") + len(s.ID)
	}
	g.nodes[s] = &node{text: ownText(s) + loc, loc: loc + len("validating : ")}
	g.byPointer[pointer] = s
	for _, a := range []string{s.Anchor, s.DynamicAnchor, draft7Anchor(g.draft7, s.ID)} {
		if a != "" {
			g.anchors[a] = s
		}
	}
	var err error
	eachChild(s, func(seg string, c *jsonschema.Schema) {
		if err == nil {
			err = g.add(c, pointer+"/"+seg)
		}
	})
	return err
}

// draft7Anchor is the anchor a draft-07 "$id": "#name" declares.
func draft7Anchor(draft7 bool, id string) string {
	if draft7 && strings.HasPrefix(id, "#") {
		return id[1:]
	}
	return ""
}

// jsonTypes are the names "type" may use.
var jsonTypes = map[string]bool{"null": true, "boolean": true, "object": true, "array": true, "number": true, "string": true, "integer": true}

// checkLocal refuses what the library would accept and then check differently than the schema's
// author meant.
func (g *graph) checkLocal(s *jsonschema.Schema, pointer string) error {
	if pointer != "" && s.Schema != "" {
		return &SchemaError{Code: CodeInvalid, Msg: "$schema is allowed only at the top of the schema"}
	}
	if pointer != "" && s.ID != "" && draft7Anchor(g.draft7, s.ID) == "" {
		// A nested $id would change what "#..." means below it.
		return &SchemaError{Code: CodeRef, Msg: "$id is allowed only at the top of the schema"}
	}
	types := s.Types
	if s.Type != "" {
		types = []string{s.Type}
	}
	for _, t := range types {
		if !jsonTypes[t] {
			return &SchemaError{Code: CodeInvalid, Msg: fmt.Sprintf("does not compile: %q is not a JSON type", truncate(t, 32))}
		}
	}
	if !g.draft7 && s.ItemsArray != nil {
		return &SchemaError{Code: CodeInvalid, Msg: "does not compile: in draft 2020-12 items is one schema; a list is prefixItems"}
	}
	return nil
}

// truncate cuts s to n bytes.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// ownText bounds the error text s's own keywords print: the enum, const, pattern and required
// names they quote, and a line for each keyword.
func ownText(s *jsonschema.Schema) int {
	n := 128 + len(s.ID) + 2*len(s.Pattern) + 24*(len(s.AllOf)+len(s.AnyOf)+len(s.OneOf))
	if s.Enum != nil {
		b, _ := json.Marshal(s.Enum)
		n += 2 * len(b)
	}
	if s.Const != nil {
		b, _ := json.Marshal(*s.Const)
		n += 2 * len(b)
	}
	for _, r := range s.Required {
		n += 2*len(r) + 4
	}
	for k, rs := range s.DependentRequired {
		n += 2*len(k) + 4
		for _, r := range rs {
			n += 2*len(r) + 4
		}
	}
	for k, rs := range s.DependencyStrings {
		n += 2*len(k) + 4
		for _, r := range rs {
			n += 2*len(r) + 4
		}
	}
	return n
}

// eachChild calls f with every direct subschema of s and its JSON Pointer segments from s.
func eachChild(s *jsonschema.Schema, f func(seg string, c *jsonschema.Schema)) {
	one := map[string]*jsonschema.Schema{
		"items": s.Items, "additionalItems": s.AdditionalItems, "contains": s.Contains,
		"unevaluatedItems": s.UnevaluatedItems, "additionalProperties": s.AdditionalProperties,
		"propertyNames": s.PropertyNames, "unevaluatedProperties": s.UnevaluatedProperties,
		"not": s.Not, "if": s.If, "then": s.Then, "else": s.Else, "contentSchema": s.ContentSchema,
	}
	for k, c := range one {
		if c != nil {
			f(k, c)
		}
	}
	lists := map[string][]*jsonschema.Schema{
		"prefixItems": s.PrefixItems, "items": s.ItemsArray, "allOf": s.AllOf, "anyOf": s.AnyOf, "oneOf": s.OneOf,
	}
	for k, cs := range lists {
		for i, c := range cs {
			f(k+"/"+strconv.Itoa(i), c)
		}
	}
	maps := map[string]map[string]*jsonschema.Schema{
		"$defs": s.Defs, "definitions": s.Definitions, "properties": s.Properties,
		"patternProperties": s.PatternProperties, "dependentSchemas": s.DependentSchemas, "dependencies": s.DependencySchemas,
	}
	for k, m := range maps {
		for name, c := range m {
			f(k+"/"+escapePointer(name), c)
		}
	}
}

// escapePointer escapes a JSON Pointer segment.
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// lookup resolves a reference within the schema: "#", "#/json/pointer" or "#anchor".
func (g *graph) lookup(ref string) (*jsonschema.Schema, error) {
	nothing := &SchemaError{Code: CodeInvalid, Msg: "does not compile: a reference points at nothing in the schema"}
	u, err := url.Parse(ref)
	if err != nil || !strings.HasPrefix(ref, "#") {
		return nil, &SchemaError{Code: CodeRef, Msg: "references must point into the schema itself (#...)"}
	}
	frag := u.Fragment
	if frag != "" && !strings.HasPrefix(frag, "/") {
		if s := g.anchors[frag]; s != nil {
			return s, nil
		}
		return nil, nothing
	}
	// Normalize the pointer's escapes the way the tree's pointers are written.
	segs := strings.Split(frag, "/")[1:]
	var b strings.Builder
	for _, seg := range segs {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		b.WriteString("/" + escapePointer(seg))
	}
	if s := g.byPointer[b.String()]; s != nil {
		return s, nil
	}
	return nil, nothing
}

// sameplace lists the subschemas the validator applies to the value s is applied to.
func (g *graph) sameplace(s *jsonschema.Schema) []*jsonschema.Schema {
	out := make([]*jsonschema.Schema, 0, 4+len(s.AllOf)+len(s.AnyOf)+len(s.OneOf))
	if r := g.nodes[s].ref; r != nil {
		out = append(out, r)
	}
	out = append(out, s.AllOf...)
	out = append(out, s.AnyOf...)
	out = append(out, s.OneOf...)
	for _, c := range []*jsonschema.Schema{s.Not, s.If, s.Then, s.Else} {
		if c != nil {
			out = append(out, c)
		}
	}
	for _, m := range []map[string]*jsonschema.Schema{s.DependentSchemas, s.DependencySchemas} {
		for _, c := range m {
			out = append(out, c)
		}
	}
	return out
}

// checkLoops refuses a schema in which references lead from a subschema back to itself without
// moving into the answer: the validator would recurse until the stack runs out.
func (g *graph) checkLoops() error {
	const (
		unseen = iota
		open
		done
	)
	state := make(map[*jsonschema.Schema]int, len(g.nodes))
	var visit func(s *jsonschema.Schema) bool
	visit = func(s *jsonschema.Schema) bool {
		switch state[s] {
		case open:
			return false
		case done:
			return true
		}
		state[s] = open
		for _, c := range g.sameplace(s) {
			if !visit(c) {
				return false
			}
		}
		state[s] = done
		return true
	}
	for s := range g.nodes {
		if !visit(s) {
			return &SchemaError{Code: CodeRef, Msg: "references must not lead back to the same schema without moving into the answer"}
		}
	}
	return nil
}
