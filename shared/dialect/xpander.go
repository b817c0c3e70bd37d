package dialect

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/agentq/agentq/shared/task"
)

// XpanderRequest is the body of POST /v1/agents/{agent_id}/invoke/async, field for field.
type XpanderRequest struct {
	Input                      *XpanderInput     `json:"input"`
	ID                         *string           `json:"id"`
	PayloadExtension           json.RawMessage   `json:"payload_extension"`
	ParentExecutionID          *string           `json:"parent_execution_id"`
	WorkerID                   *string           `json:"worker_id"`
	Source                     *string           `json:"source"`
	OutputFormat               *string           `json:"output_format"`
	OutputSchema               json.RawMessage   `json:"output_schema"`
	RunLocally                 *bool             `json:"run_locally"`
	AdditionalContext          *string           `json:"additional_context"`
	InstructionsOverride       *string           `json:"instructions_override"`
	TestRunNodeID              *string           `json:"test_run_node_id"`
	ExpectedOutput             *string           `json:"expected_output"`
	EventsStreaming            *bool             `json:"events_streaming"`
	MCPServers                 []json.RawMessage `json:"mcp_servers"`
	TriggeringAgentID          *string           `json:"triggering_agent_id"`
	Title                      *string           `json:"title"`
	ThinkMode                  *string           `json:"think_mode"`
	DisableAttachmentInjection *bool             `json:"disable_attachment_injection"`
	UserTokens                 json.RawMessage   `json:"user_tokens"`
	UserOIDCToken              *string           `json:"user_oidc_token"`
	ReturnMetrics              *bool             `json:"return_metrics"`
	LLMModelProvider           *string           `json:"llm_model_provider"`
	LLMModelName               *string           `json:"llm_model_name"`
	LLMReasoningEffort         *string           `json:"llm_reasoning_effort"`
	SourceNodeType             *string           `json:"source_node_type"`
	// MultitaskStrategy is agentq's: what to do when the thread has a turn in progress.
	MultitaskStrategy *string `json:"multitask_strategy"`
	// WebhookURL is agentq's: where to deliver the task's outcome (Standard Webhooks).
	WebhookURL *string `json:"webhook_url"`
	// CompletionEvent is agentq's: put the task's outcome on the event bus (Agent Task Completed,
	// Failed, Stopped, Paused). Webhooks are delivered either way.
	CompletionEvent *bool `json:"completion_event"`
}

// XpanderInput is the task input: the instruction, attached files and the user it is for.
type XpanderInput struct {
	Text  *string      `json:"text"`
	Files []string     `json:"files"`
	User  *XpanderUser `json:"user"`
}

// XpanderUser is the end user a task runs for.
type XpanderUser struct {
	ID                   *string         `json:"id"`
	Email                *string         `json:"email"`
	DisplayName          *string         `json:"display_name"`
	FirstName            *string         `json:"first_name"`
	LastName             *string         `json:"last_name"`
	AdditionalAttributes json.RawMessage `json:"additional_attributes"`
	Role                 *string         `json:"role"`
	IsSuperAdmin         *bool           `json:"is_super_admin"`
	Timezone             *string         `json:"timezone"`
}

// xpanderSecrets are request fields that are credentials: never stored, logged or echoed.
var xpanderSecrets = []string{"user_tokens", "user_oidc_token"}

// serviceNetSecrets are ServiceNet's credential fields.
var serviceNetSecrets = []string{"auth_token"}

// SecretFields returns the request fields of either dialect that are credentials: what the
// decoders keep out of the stored body, and what anything else that keeps or shows a raw request
// (a dead-lettered event, say) must redact.
func SecretFields() []string { return append(slices.Clone(xpanderSecrets), serviceNetSecrets...) }

// Limits on xpander fields.
const (
	maxTextBytes  = 256 << 10
	maxShortBytes = 1 << 10
	// MaxThreadIDBytes bounds a caller's thread id (xpander id, ServiceNet context_id): it is
	// part of DynamoDB keys, whose sort keys hold at most 1 KiB with the tenant and separators.
	MaxThreadIDBytes = 512
	maxLongBytes     = 64 << 10
)

// Decoder decodes and validates invoke bodies, compiling an output_schema with Schemas (see
// SchemaChecker).
type Decoder struct {
	Schemas SchemaChecker
}

// DecodeXpander decodes and validates an xpander invoke body, leaving output_schema's
// compilation to the worker (see Decoder).
func DecodeXpander(body []byte) (*Invocation, error) { return Decoder{}.Xpander(body) }

// DecodeServiceNet decodes and validates a ServiceNet invoke body (see Decoder).
func DecodeServiceNet(body []byte) (*Invocation, error) { return Decoder{}.ServiceNet(body) }

// Xpander decodes and validates an xpander invoke body.
func (d Decoder) Xpander(body []byte) (*Invocation, error) {
	var r XpanderRequest
	if err := strictDecode(body, &r); err != nil {
		return nil, err
	}
	var p problems
	switch {
	case r.Input == nil:
		p.add("field required", "missing", "input")
	case r.Input.Text == nil:
		p.add("field required", "missing", "input", "text")
	case strings.TrimSpace(*r.Input.Text) == "":
		p.add("must not be empty", "empty", "input", "text")
	}
	if r.Input != nil {
		p.maxLen(r.Input.Text, maxTextBytes, "input", "text")
		if u := r.Input.User; u != nil {
			if u.ID == nil || *u.ID == "" {
				p.add("field required", "missing", "input", "user", "id")
			}
			if u.Email == nil || !strings.Contains(*u.Email, "@") {
				p.add("a valid email address is required", "missing", "input", "user", "email")
			}
			p.oneOf(u.Role, []string{"member", "admin", "owner"}, "input", "user", "role")
			p.object(u.AdditionalAttributes, "input", "user", "additional_attributes")
		}
	}
	p.oneOf(r.OutputFormat, []string{"text", "markdown", "json", "voice"}, "output_format")
	p.oneOf(r.ThinkMode, []string{"default", "harder"}, "think_mode")
	p.oneOf(r.LLMReasoningEffort, []string{"low", "medium", "high", "xhigh"}, "llm_reasoning_effort")
	p.oneOf(r.SourceNodeType, []string{"workbench", "sdk", "task", "assistant", "webhook", "mcp", "a2a", "telegram", "slack"}, "source_node_type")
	p.oneOf(r.MultitaskStrategy, strategies, "multitask_strategy")
	p.webhookURL(r.WebhookURL)
	p.object(r.OutputSchema, "output_schema")
	p.outputSchema(d.Schemas, r.OutputSchema)
	p.object(r.PayloadExtension, "payload_extension")
	p.object(r.UserTokens, "user_tokens")
	for i, s := range r.MCPServers {
		p.object(s, "mcp_servers", itoa(i))
	}
	for _, f := range []struct {
		v    *string
		n    int
		name string
	}{
		{r.ID, MaxThreadIDBytes, "id"}, {r.ParentExecutionID, maxShortBytes, "parent_execution_id"},
		{r.WorkerID, maxShortBytes, "worker_id"}, {r.Source, maxShortBytes, "source"},
		{r.TestRunNodeID, maxShortBytes, "test_run_node_id"}, {r.TriggeringAgentID, maxShortBytes, "triggering_agent_id"},
		{r.Title, maxShortBytes, "title"}, {r.LLMModelProvider, maxShortBytes, "llm_model_provider"},
		{r.LLMModelName, maxShortBytes, "llm_model_name"}, {r.AdditionalContext, maxLongBytes, "additional_context"},
		{r.InstructionsOverride, maxLongBytes, "instructions_override"}, {r.ExpectedOutput, maxLongBytes, "expected_output"},
	} {
		p.maxLen(f.v, f.n, f.name)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	clean, secrets, err := withoutFields(body, xpanderSecrets...)
	if err != nil {
		return nil, err
	}
	inv := &Invocation{Dialect: task.Xpander, Text: *r.Input.Text, Body: clean, Secrets: secrets, Strategy: strategy(r.MultitaskStrategy)}
	if r.ID != nil {
		inv.ThreadID = *r.ID
	}
	if r.WebhookURL != nil {
		inv.WebhookURL = *r.WebhookURL
	}
	inv.ProgressEvents, inv.CompletionEvent = derefBool(r.EventsStreaming), r.CompletionEvent
	if r.ParentExecutionID != nil {
		inv.ParentTaskID = *r.ParentExecutionID
	}
	if r.TriggeringAgentID != nil {
		inv.TriggeringAgentID = *r.TriggeringAgentID
	}
	if r.Input.User != nil && r.Input.User.ID != nil {
		inv.UserID = *r.Input.User.ID
	}
	return inv, nil
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
