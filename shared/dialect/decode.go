// Package dialect speaks the two public APIs agentq serves: it decodes and validates their request
// bodies into one dialect-neutral invocation, and projects a task back into each API's shape.
// Both dialects read and write the same task; a dialect is only a view.
package dialect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"
	"unicode"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/task"
)

// Invocation is a decoded, validated request, the same whichever dialect it came in.
type Invocation struct {
	Dialect  task.Dialect
	ThreadID string
	// Text is the instruction for the agent.
	Text string
	// Body is the request body as received, minus its secret fields.
	Body json.RawMessage
	// Secrets holds the secret fields removed from Body, by name, for the agent only.
	Secrets map[string]json.RawMessage
	// AuthToken is the caller's credential for the agent (ServiceNet auth_token).
	AuthToken string
	// AuthContextID names a stored auth context (ServiceNet auth_context_id), as a lower-case
	// UUID; the accept core checks that the caller's tenant has it.
	AuthContextID string
	Ask           agent.Ask
	// Strategy says what to do when the thread already has a turn in progress.
	Strategy Strategy
	// WebhookURL, when set, is where the caller wants the outcome delivered: an absolute http or
	// https URL (whether it may be reached is checked at every delivery).
	WebhookURL string
	// ProgressEvents is the caller's opt-in to progress events on the bus and its webhooks
	// (xpander events_streaming, ServiceNet progress_events).
	ProgressEvents bool
	// CompletionEvent is the caller's choice about the outcome's event on the bus (completion_event
	// in both dialects, an agentq extension); nil when the body does not say, and the accept core
	// decides by who submitted (see accept.Submission.EventDriven).
	CompletionEvent *bool
	// ParentTaskID names the task this one is a sub-task of, and TriggeringAgentID the agent that
	// delegated it (xpander parent_execution_id, triggering_agent_id): lists filter on them, and
	// deleting a task deletes its sub-tasks.
	ParentTaskID      string
	TriggeringAgentID string
	// UserID is the end user the task runs for (xpander input.user.id): lists filter on it.
	UserID string
	// Sync records that the caller waits for the outcome (a sync invoke): the receipt's
	// invoke_mode. The route sets it, not the body.
	Sync bool
	// CallerAgentID and CallerPublicID name the calling agent, from a ServiceNet agent_envelope
	// (source_agent_id; extensions.caller_public_id or caller_public_id), as the reference reads
	// them.
	CallerAgentID  string
	CallerPublicID string
	// ReturnImmediately is ServiceNet's return_immediately: a sync invoke answers at once.
	ReturnImmediately bool
}

// Strategy is a multitask strategy: how a new turn on a busy thread is treated.
type Strategy string

// The multitask strategies.
const (
	// Enqueue (the default) starts the new turn when the previous one has ended, in order.
	Enqueue Strategy = "enqueue"
	// Reject refuses the new turn while the previous one runs.
	Reject Strategy = "reject"
)

var strategies = []string{string(Enqueue), string(Reject)}

func strategy(s *string) Strategy {
	if s == nil || *s == "" {
		return Enqueue
	}
	return Strategy(*s)
}

// Problem is one thing wrong with a request, located by its JSON path.
type Problem struct {
	Loc  []string `json:"loc"`
	Msg  string   `json:"msg"`
	Type string   `json:"type"`
}

// ValidationError lists what is wrong with a well-formed request body.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = strings.Join(p.Loc, ".") + ": " + p.Msg
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// ErrMalformed marks a body that is not a JSON object.
var ErrMalformed = errors.New("request body is not a JSON object")

// MaxDepth bounds how deeply a request body may nest.
const MaxDepth = 32

// strictDecode parses body, which must be a single JSON object, into v. Type mismatches come back
// as a *ValidationError naming the field; anything that is not JSON as ErrMalformed.
func strictDecode(body []byte, v any) error {
	if err := checkShape(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			loc := append([]string{"body"}, strings.Split(te.Field, ".")...)
			if te.Field == "" {
				loc = []string{"body"}
			}
			return &ValidationError{[]Problem{{Loc: loc, Msg: "expected " + jsonKind(te.Type.Kind().String()) + ", got " + te.Value, Type: "type_error"}}}
		}
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

// checkShape makes sure body is one JSON object, nested at most MaxDepth deep, with nothing after it.
func checkShape(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	depth := 0
	first := true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return ErrMalformed
			}
			first = false
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
				if depth > MaxDepth {
					return &ValidationError{[]Problem{{Loc: []string{"body"}, Msg: fmt.Sprintf("nested deeper than %d levels", MaxDepth), Type: "too_deep"}}}
				}
			default:
				depth--
			}
		}
		if depth == 0 && !first {
			if _, err := dec.Token(); err != io.EOF {
				return fmt.Errorf("%w: data after the object", ErrMalformed)
			}
			break
		}
	}
	if first {
		return ErrMalformed
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int64", "int32":
		return "an integer"
	case "float64":
		return "a number"
	case "slice":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	}
	return goKind
}

// withoutFields returns body minus the named top-level fields, matched without regard to case as
// encoding/json matches them (Unicode simple case folding: "uſer_tokens" with U+017F and
// "\u212Aey" with the Kelvin sign are the same names to it), and the removed fields by name. Two
// keys that fold alike are refused: which one a decoder would take is not something to leave to
// chance.
func withoutFields(body []byte, names ...string) (json.RawMessage, map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	seen := make(map[string]string, len(fields))
	for k := range fields {
		folded := FoldName(k)
		if other, dup := seen[folded]; dup {
			return nil, nil, &ValidationError{[]Problem{{Loc: []string{"body", k}, Msg: "duplicates field " + other, Type: "duplicate_field"}}}
		}
		seen[folded] = k
	}
	var removed map[string]json.RawMessage
	for _, n := range names {
		k, ok := seen[FoldName(n)]
		if !ok {
			continue
		}
		if removed == nil {
			removed = map[string]json.RawMessage{}
		}
		removed[n] = fields[k]
		delete(fields, k)
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return nil, nil, fmt.Errorf("re-encode body: %w", err)
	}
	return out, removed, nil
}

// FoldName returns the key under which encoding/json matches a JSON object key to a field name:
// two names fold alike exactly when strings.EqualFold holds for them. Every rune maps to the
// smallest rune of its simple case-folding orbit, so 's', 'S' and 'ſ' (U+017F) fold alike, and
// 'k', 'K' and the Kelvin sign (U+212A) do.
func FoldName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldRune returns the smallest rune of r's case-folding orbit.
func foldRune(r rune) rune {
	smallest := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		smallest = min(smallest, f)
	}
	return smallest
}

// problems collects validation problems as a decoder walks a request.
type problems []Problem

func (p *problems) add(msg, typ string, loc ...string) {
	*p = append(*p, Problem{Loc: append([]string{"body"}, loc...), Msg: msg, Type: typ})
}

func (p *problems) oneOf(v *string, allowed []string, loc ...string) {
	if v == nil {
		return
	}
	for _, a := range allowed {
		if *v == a {
			return
		}
	}
	p.add("must be one of "+strings.Join(allowed, ", "), "enum", loc...)
}

func (p *problems) object(v json.RawMessage, loc ...string) {
	if len(v) == 0 || string(v) == "null" {
		return
	}
	if v[0] != '{' {
		p.add("must be an object", "type_error", loc...)
	}
}

// SchemaChecker compiles a caller's output_schema at accept, so a schema outside the worker's
// bounds (a reference outside itself, too large, too branching) is the caller's 422, never a
// worker's burden; outputschema.Checker is one. It is declared here rather than imported: every
// function links dialect, and only those that accept work should link a JSON Schema library.
// A refusal's error may have ProblemCode and Problem methods, which become the problem's type
// and message.
type SchemaChecker interface {
	CheckSchema(raw json.RawMessage) error
}

// codeSchemaInvalid is the problem type of a schema refused without a code of its own
// (outputschema.CodeInvalid).
const codeSchemaInvalid = "output_schema_invalid"

// outputSchema compiles a caller's output_schema with schemas; a nil schemas leaves it to the
// worker, which refuses an unusable schema before calling the agent.
func (p *problems) outputSchema(schemas SchemaChecker, v json.RawMessage) {
	if schemas == nil || len(v) == 0 || v[0] != '{' {
		return
	}
	err := schemas.CheckSchema(v)
	if err == nil {
		return
	}
	var coded interface {
		ProblemCode() string
		Problem() string
	}
	if errors.As(err, &coded) {
		p.add(coded.Problem(), coded.ProblemCode(), "output_schema")
		return
	}
	p.add("is not a usable schema", codeSchemaInvalid, "output_schema")
}

// MaxURLBytes bounds a webhook URL.
const MaxURLBytes = 2048

// webhookURL checks the shape of a webhook URL (WebhookURLProblem).
func (p *problems) webhookURL(v *string) {
	if v == nil {
		return
	}
	if msg, typ := WebhookURLProblem(*v); msg != "" {
		p.add(msg, typ, "webhook_url")
	}
}

// WebhookURLProblem says what is wrong with the shape of a webhook URL, and the problem's type
// ("too_long" or "url"); "" when nothing is. A webhook URL is an absolute http or https URL with a
// host (no interface zone, no empty port), no credentials and no fragment, at most MaxURLBytes.
// Whether its host may be reached is the webhook package's question. The message never quotes
// the URL, whose query may hold a credential.
func WebhookURLProblem(raw string) (msg, typ string) {
	if len(raw) > MaxURLBytes {
		return fmt.Sprintf("must be at most %d bytes", MaxURLBytes), "too_long"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http"):
		return "must be an absolute http or https URL", "url"
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return "must be an absolute URL with a host", "url"
	case u.User != nil:
		return "must not carry credentials; deliveries are signed instead", "url"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "must not have a fragment", "url"
	case u.Port() == "" && strings.HasSuffix(u.Host, ":"):
		return "must not have an empty port", "url"
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && ip.Zone() != "" {
		return "must not name an interface zone", "url"
	}
	return "", ""
}

func (p *problems) maxLen(v *string, n int, loc ...string) {
	if v != nil && len(*v) > n {
		p.add(fmt.Sprintf("must be at most %d bytes", n), "too_long", loc...)
	}
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}
