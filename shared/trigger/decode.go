package trigger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/keystore"
	"github.com/agentq/agentq/shared/task"
)

// The control fields of an invocation: what the HTTP API reads from the path, the query, the
// headers and the API key. They are removed before the body is decoded.
const (
	FieldAgentID        = "agent_id"
	FieldDialect        = "dialect"
	FieldTenant         = "tenant"
	FieldAgentVersion   = "agent_version"
	FieldIdempotencyKey = "idempotency_key"
)

var controlFields = []string{FieldAgentID, FieldDialect, FieldTenant, FieldAgentVersion, FieldIdempotencyKey}

// Bounds shared with the HTTP API.
const (
	// MaxDetailBytes bounds an invocation object, as the HTTP API bounds a body.
	MaxDetailBytes = accept.MaxBodyBytes
	// MaxIdempotencyKeyBytes bounds idempotency_key, as the HTTP API bounds Idempotency-Key.
	MaxIdempotencyKeyBytes = accept.MaxIdempotencyKeyBytes
)

// parsed is an invocation object, read. It is filled as far as reading got, so a rejection can
// name the agent and tenant.
type parsed struct {
	agentID, tenant, version, idempotencyKey string
	dialect                                  task.Dialect
	invocation                               *dialect.Invocation
}

// decodeDetail reads an invocation object: the control fields, then the rest with the dialect's
// decoder. Its errors are those the HTTP API answers for the same request: dialect.ErrMalformed,
// a *dialect.ValidationError, agent.ErrNotFound for an impossible agent id, accept.ErrRequestTooLarge.
func decodeDetail(detail []byte, defaultTenant string, schemas dialect.SchemaChecker) (*parsed, error) {
	p := &parsed{tenant: defaultTenant, dialect: task.Xpander}
	if len(detail) > MaxDetailBytes {
		return p, errTooLarge
	}
	control, body, err := splitControl(detail)
	if err != nil {
		return p, err
	}
	var probs []dialect.Problem
	add := func(field, msg, typ string) {
		probs = append(probs, dialect.Problem{Loc: []string{"body", field}, Msg: msg, Type: typ})
	}
	str := func(field string) (string, bool) {
		v, ok := control[field]
		if !ok || string(v) == "null" {
			return "", false
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			add(field, "expected a string", "type_error")
			return "", false
		}
		return s, true
	}
	agentID, ok := str(FieldAgentID)
	switch v := control[FieldAgentID]; {
	case ok && agentID != "" && !agent.ValidID(agentID):
		// As the HTTP API answers a path that cannot name an agent.
		return p, fmt.Errorf("agent id %s: %w", quote(agentID), agent.ErrNotFound)
	case ok && agentID == "", v == nil, string(v) == "null":
		add(FieldAgentID, "field required", "missing")
	}
	p.agentID = agentID
	if d, ok := str(FieldDialect); ok && d != "" {
		switch task.Dialect(d) {
		case task.Xpander, task.ServiceNet:
			p.dialect = task.Dialect(d)
		default:
			add(FieldDialect, "must be one of xpander, servicenet", "enum")
		}
	}
	if t, ok := str(FieldTenant); ok && t != "" {
		if keystore.Validate(t, "-") != nil {
			p.tenant = "" // not the default's: the event named another
			add(FieldTenant, "must be "+apikey.TenantRule, "pattern")
		} else {
			p.tenant = t
		}
	}
	if v, ok := str(FieldAgentVersion); ok && v != "" {
		if !accept.ValidVersion(v) {
			add(FieldAgentVersion, "must be 1 to 64 letters, digits, '.', '_' or '-'", "pattern")
		} else {
			p.version = v
		}
	}
	if k, ok := str(FieldIdempotencyKey); ok {
		k = strings.TrimSpace(k)
		if len(k) > MaxIdempotencyKeyBytes {
			add(FieldIdempotencyKey, fmt.Sprintf("must be at most %d characters", MaxIdempotencyKeyBytes), "too_long")
		} else {
			p.idempotencyKey = k
		}
	}
	if len(probs) > 0 {
		return p, &dialect.ValidationError{Problems: probs}
	}
	d := dialect.Decoder{Schemas: schemas}
	decode := d.Xpander
	if p.dialect == task.ServiceNet {
		decode = d.ServiceNet
	}
	inv, err := decode(body)
	if err != nil {
		return p, err
	}
	p.invocation = inv
	return p, nil
}

// splitControl removes the control fields from an invocation object, matching names without
// regard to case as encoding/json (and so the dialects' decoders) would. Two control fields
// that differ only in case are refused, as the dialects refuse such body fields.
func splitControl(detail []byte) (map[string]json.RawMessage, []byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(detail, &fields); err != nil || fields == nil {
		if err == nil {
			err = fmt.Errorf("null")
		}
		return nil, nil, fmt.Errorf("%w: %v", dialect.ErrMalformed, err)
	}
	control := map[string]json.RawMessage{}
	seen := map[string]string{}
	for k, v := range fields {
		folded := strings.ToLower(k)
		if !isControl(folded) {
			continue
		}
		if other, dup := seen[folded]; dup {
			return nil, nil, &dialect.ValidationError{Problems: []dialect.Problem{{Loc: []string{"body", k}, Msg: "duplicates field " + other, Type: "duplicate_field"}}}
		}
		seen[folded] = k
		control[folded] = v
		delete(fields, k)
	}
	body, err := json.Marshal(fields)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", dialect.ErrMalformed, err)
	}
	return control, body, nil
}

func isControl(name string) bool {
	for _, c := range controlFields {
		if name == c {
			return true
		}
	}
	return false
}

// eventKey is the idempotency key of an event that names none: its source and id, so that a
// redelivered or duplicated event makes one task. An id too long for a key is hashed.
func eventKey(source, id string) string {
	if id == "" {
		return ""
	}
	k := source + ":" + id
	if len(k) > MaxIdempotencyKeyBytes {
		sum := sha256.Sum256([]byte(id))
		k = source + ":sha256:" + hex.EncodeToString(sum[:])
	}
	return k
}

// payload kinds sniff tells apart.
const (
	kindUnknown = iota
	kindSQS
	kindEventBridge
)

// sniff tells what a Lambda payload is, and decodes an EventBridge-shaped one. A timestamp that
// does not parse is left zero: the time is not needed to handle the event.
func sniff(raw []byte) (int, Event) {
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return kindUnknown, Event{}
	}
	if recs, ok := top["Records"]; ok {
		var rs []struct {
			EventSource string `json:"eventSource"`
		}
		if json.Unmarshal(recs, &rs) == nil && len(rs) > 0 && rs[0].EventSource == "aws:sqs" {
			return kindSQS, Event{}
		}
		return kindUnknown, Event{}
	}
	if d, ok := top["detail"]; !ok || string(d) == "null" {
		return kindUnknown, Event{}
	}
	var env struct {
		Event
		Time string `json:"time"`
	}
	if json.Unmarshal(raw, &env) != nil {
		return kindUnknown, Event{}
	}
	ev := env.Event
	if t, err := time.Parse(time.RFC3339Nano, env.Time); err == nil {
		ev.Time = t
	}
	return kindEventBridge, ev
}
