package dialect

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/task"
)

// ServiceNetRequest is the body of POST /v1/agents/{agent_id}/invoke-async, field for field.
type ServiceNetRequest struct {
	Input         json.RawMessage `json:"input"`
	Message       *string         `json:"message"`
	TaskID        *string         `json:"task_id"`
	ContextID     *string         `json:"context_id"`
	SkillID       *string         `json:"skill_id"`
	AuthToken     *string         `json:"auth_token"`
	AuthContextID *string         `json:"auth_context_id"`
	Region        *string         `json:"region"`
	ConfirmRisky  *bool           `json:"confirm_risky"`
	MaxCostUnits  *int            `json:"max_cost_units"`
	Settlement    json.RawMessage `json:"settlement"`
	AgentEnvelope json.RawMessage `json:"agent_envelope"`
	// ReturnImmediately makes a sync invoke answer at once, as an async one does.
	ReturnImmediately *bool `json:"return_immediately"`
	// MultitaskStrategy is agentq's: what to do when the thread has a turn in progress.
	MultitaskStrategy *string `json:"multitask_strategy"`
	// WebhookURL is agentq's: where to deliver the task's outcome (Standard Webhooks).
	WebhookURL *string `json:"webhook_url"`
	// ProgressEvents is agentq's: deliver the task's progress events, not only its outcome, to
	// the event bus and the webhooks (xpander's events_streaming).
	ProgressEvents *bool `json:"progress_events"`
	// CompletionEvent is agentq's: put the task's outcome on the event bus (Agent Task Completed,
	// Failed, Stopped, Paused). Webhooks are delivered either way.
	CompletionEvent *bool `json:"completion_event"`
}

// validRegion reports whether s is two ASCII letters (an ISO country code's shape). A loop, not a
// regular expression compiled at every cold start.
func validRegion(s string) bool {
	letter := func(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	return len(s) == 2 && letter(s[0]) && letter(s[1])
}

// ServiceNet decodes and validates a ServiceNet invoke body. ServiceNet has no output_schema.
func (Decoder) ServiceNet(body []byte) (*Invocation, error) {
	var r ServiceNetRequest
	if err := strictDecode(body, &r); err != nil {
		return nil, err
	}
	var p problems
	p.object(r.Input, "input")
	p.oneOf(r.MultitaskStrategy, strategies, "multitask_strategy")
	p.webhookURL(r.WebhookURL)
	p.object(r.Settlement, "settlement")
	p.object(r.AgentEnvelope, "agent_envelope")
	p.envelope(r.AgentEnvelope)
	p.maxLen(r.Message, maxTextBytes, "message")
	for _, f := range []struct {
		v    *string
		name string
	}{{r.TaskID, "task_id"}, {r.SkillID, "skill_id"}, {r.AuthToken, "auth_token"}} {
		p.maxLen(f.v, maxShortBytes*8, f.name)
	}
	p.maxLen(r.ContextID, MaxThreadIDBytes, "context_id")
	if r.AuthToken != nil && !HeaderValue(*r.AuthToken) {
		// Sent as a bearer token: a value no HTTP header can carry would only fail every call.
		p.add("must be a valid HTTP header value (no control characters such as CR or LF)", "header_value", "auth_token")
	}
	authContextID := ""
	if r.AuthContextID != nil {
		if u, err := uuid.Parse(*r.AuthContextID); err != nil {
			p.add("must be a UUID", "uuid", "auth_context_id")
		} else {
			authContextID = u.String()
		}
	}
	if r.Region != nil && !validRegion(*r.Region) {
		p.add("must be a two-letter ISO country code", "region", "region")
	}
	if r.MaxCostUnits != nil && *r.MaxCostUnits < 0 {
		p.add("must not be negative", "range", "max_cost_units")
	}
	text := ""
	if r.Message != nil {
		text = *r.Message
	}
	if strings.TrimSpace(text) == "" {
		text = inputText(r.Input)
	}
	if strings.TrimSpace(text) == "" && isEmpty(r.Input) && isEmpty(r.AgentEnvelope) {
		p.add("one of message, input or agent_envelope is required", "missing", "message")
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	clean, _, err := withoutFields(body, serviceNetSecrets...)
	if err != nil {
		return nil, err
	}
	inv := &Invocation{Dialect: task.ServiceNet, Text: text, Body: clean, Strategy: strategy(r.MultitaskStrategy)}
	if r.ContextID != nil {
		inv.ThreadID = *r.ContextID
	}
	if r.AuthToken != nil {
		inv.AuthToken = *r.AuthToken
	}
	inv.AuthContextID = authContextID
	if r.WebhookURL != nil {
		inv.WebhookURL = *r.WebhookURL
	}
	inv.Ask = agent.Ask{MaxCostUnits: r.MaxCostUnits}
	if r.ConfirmRisky != nil {
		inv.Ask.ConfirmRisky = *r.ConfirmRisky
	}
	if r.Region != nil {
		inv.Ask.Region = strings.ToUpper(*r.Region)
	}
	inv.ReturnImmediately = r.ReturnImmediately != nil && *r.ReturnImmediately
	inv.ProgressEvents = r.ProgressEvents != nil && *r.ProgressEvents
	inv.CompletionEvent = r.CompletionEvent
	inv.CallerAgentID, inv.CallerPublicID = callerOf(r.AgentEnvelope)
	return inv, nil
}

// envelopeReserved are the A2A fields an agent_envelope may not set: the conversation (contextId)
// and the agent's tasks (taskId, referenceTaskIds) are agentq's to name per tenant, push
// notifications (0.3 pushNotificationConfig, 1.0 taskPushNotificationConfig) would send the
// agent's updates to an address past the webhook guard, and a 1.0 request's tenant picks the
// agent owner's tenant.
var envelopeReserved = []string{"contextId", "taskId", "referenceTaskIds", "pushNotificationConfig", "taskPushNotificationConfig", "tenant"}

// envelopeNesting are the members of an envelope that hold more of it: a JSON-RPC request's
// params, the params' message and configuration.
var envelopeNesting = []string{"params", "message", "configuration"}

// envelope refuses an agent_envelope that sets a reserved field, at any level an A2A decoder would
// read it, spelled in any case encoding/json would match.
func (p *problems) envelope(v json.RawMessage) {
	var walk func(raw json.RawMessage, loc []string)
	walk = func(raw json.RawMessage, loc []string) {
		var fields map[string]json.RawMessage
		if json.Unmarshal(raw, &fields) != nil {
			return
		}
		for k, x := range fields {
			for _, r := range envelopeReserved {
				if FoldName(k) == FoldName(r) {
					p.add("is set by agentq, never by the caller", "reserved", append(loc, k)...)
				}
			}
			for _, n := range envelopeNesting {
				if FoldName(k) == FoldName(n) {
					walk(x, append(loc, k))
				}
			}
		}
	}
	walk(v, []string{"agent_envelope"})
}

// HeaderValue reports whether v can be sent as an HTTP header value: visible ASCII and
// obs-text, spaces and tabs, and no other control character (RFC 9110 field-value).
func HeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// maxCallerID bounds a caller id kept from an agent envelope: a longer one is left out.
const maxCallerID = 256

// callerOf reads the calling agent's ids from an agent envelope, where the reference finds them:
// source_agent_id, and extensions.caller_public_id or else caller_public_id. Blank or overlong
// values are left out.
func callerOf(envelope json.RawMessage) (agentID, publicID string) {
	var e struct {
		SourceAgentID  any `json:"source_agent_id"`
		CallerPublicID any `json:"caller_public_id"`
		Extensions     struct {
			CallerPublicID any `json:"caller_public_id"`
		} `json:"extensions"`
	}
	if len(envelope) == 0 || json.Unmarshal(envelope, &e) != nil {
		return "", ""
	}
	text := func(v any) string {
		s, _ := v.(string)
		if s = strings.TrimSpace(s); len(s) > maxCallerID {
			return ""
		}
		return s
	}
	publicID = text(e.Extensions.CallerPublicID)
	if publicID == "" {
		publicID = text(e.CallerPublicID)
	}
	return text(e.SourceAgentID), publicID
}

// serviceNetOnly are the body fields only ServiceNet's invoke defines; xpander's invoke has none
// of them. input, multitask_strategy, webhook_url and completion_event belong to both.
var serviceNetOnly = []string{"message", "task_id", "context_id", "skill_id", "auth_token", "auth_context_id",
	"region", "confirm_risky", "max_cost_units", "settlement", "agent_envelope", "return_immediately"}

// IsServiceNet tells which dialect a body sent to POST /v1/agents/{agent_id}/invoke, the path
// both APIs use for a sync invoke, speaks: ServiceNet's when it is a JSON object with at least
// one field only ServiceNet defines and none only xpander defines; xpander's otherwise, so that an
// ambiguous body (only input, say, or fields of both) is xpander's, as it was before ServiceNet's
// sync invoke was served.
func IsServiceNet(body []byte) bool {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return false
	}
	sn := false
	for name := range fields {
		switch {
		case slices.Contains(serviceNetOnly, name):
			sn = true
		case slices.Contains(sharedFields, name):
		default:
			if slices.Contains(xpanderFields(), name) {
				return false
			}
		}
	}
	return sn
}

// sharedFields are the body fields both invokes define.
var sharedFields = []string{"input", "multitask_strategy", "webhook_url", "completion_event"}

// xpanderFields are the body fields of xpander's invoke, read from XpanderRequest's tags on first
// use rather than at every cold start.
var xpanderFields = sync.OnceValue(func() []string { return jsonFields(reflect.TypeFor[XpanderRequest]()) })

func jsonFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// inputText finds an instruction in a structured input: its "text" or "message" field.
func inputText(input json.RawMessage) string {
	var in struct {
		Text    string `json:"text"`
		Message string `json:"message"`
	}
	if len(input) == 0 || json.Unmarshal(input, &in) != nil {
		return ""
	}
	if in.Text != "" {
		return in.Text
	}
	return in.Message
}

func isEmpty(v json.RawMessage) bool {
	s := strings.TrimSpace(string(v))
	return s == "" || s == "null" || s == "{}"
}
