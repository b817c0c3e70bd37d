package dialect

import (
	"encoding/json"
	"time"

	"github.com/agentq/agentq/shared/task"
)

// XpanderStatus projects an internal state onto the xpander status vocabulary.
func XpanderStatus(s task.State) string {
	switch s {
	case task.Queued:
		return "pending"
	case task.Running:
		return "executing"
	case task.Paused:
		return "paused"
	case task.Succeeded:
		return "completed"
	case task.Error:
		return "error"
	case task.Canceled:
		return "stopped"
	default: // failed, rejected
		return "failed"
	}
}

// ServiceNetStatus projects an internal state onto the ServiceNet receipt vocabulary.
func ServiceNetStatus(s task.State) string {
	switch s {
	case task.Succeeded:
		return "succeeded"
	case task.Failed, task.Error, task.Canceled:
		return "failed"
	case task.Rejected:
		return "rejected"
	default: // queued, running, paused
		return "running"
	}
}

// ErrorInfo says why a task did not succeed. It is agentq's addition to both dialects.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

func errorInfo(t *task.Task) *ErrorInfo {
	if t.Reason == "" || !t.State.Terminal() || t.State == task.Succeeded {
		return nil
	}
	return &ErrorInfo{Code: t.Reason, Message: t.ReasonMessage}
}

// XpanderTask is a task as the xpander API shows it (GET /v1/tasks/{id} and the invoke answer).
// Secret request fields (user_tokens, user_oidc_token) are never echoed.
type XpanderTask struct {
	// ID is the conversation's id, as the xpander reference has it: the caller's id, or the
	// first turn's task id. TaskID names this turn.
	ID                         string            `json:"id"`
	TaskID                     string            `json:"task_id"`
	AgentID                    string            `json:"agent_id"`
	OrganizationID             string            `json:"organization_id"`
	Input                      json.RawMessage   `json:"input"`
	CreatedAt                  time.Time         `json:"created_at"`
	Status                     string            `json:"status"`
	InternalStatus             string            `json:"internal_status"`
	LastExecutedNodeID         *string           `json:"last_executed_node_id"`
	AgentVersion               *string           `json:"agent_version"`
	StartedAt                  *time.Time        `json:"started_at"`
	PausedAt                   *time.Time        `json:"paused_at"`
	FinishedAt                 *time.Time        `json:"finished_at"`
	Result                     *string           `json:"result"`
	ParentExecution            *string           `json:"parent_execution"`
	SubExecutions              []string          `json:"sub_executions"`
	FinishedSubExecutions      []string          `json:"finished_sub_executions"`
	ShouldUpdateParent         bool              `json:"should_update_parent"`
	IsManuallyStopped          bool              `json:"is_manually_stopped"`
	IsBackground               bool              `json:"is_background"`
	PayloadExtension           json.RawMessage   `json:"payload_extension"`
	HITLRequest                json.RawMessage   `json:"hitl_request"`
	PendingECARequest          json.RawMessage   `json:"pending_eca_request"`
	Source                     *string           `json:"source"`
	WorkerID                   *string           `json:"worker_id"`
	AdditionalContext          *string           `json:"additional_context"`
	InstructionsOverride       *string           `json:"instructions_override"`
	ExpectedOutput             *string           `json:"expected_output"`
	TestRunNodeID              *string           `json:"test_run_node_id"`
	IsOrchestration            bool              `json:"is_orchestration"`
	IsGateway                  bool              `json:"is_gateway"`
	OutputFormat               string            `json:"output_format"`
	VoiceID                    *string           `json:"voice_id"`
	OutputSchema               json.RawMessage   `json:"output_schema"`
	EventsStreaming            bool              `json:"events_streaming"`
	UsedMutatingTools          bool              `json:"used_mutating_tools"`
	IsContinuous               bool              `json:"is_continuous"`
	MCPServers                 []json.RawMessage `json:"mcp_servers"`
	TriggeringAgentID          *string           `json:"triggering_agent_id"`
	Title                      *string           `json:"title"`
	ThinkMode                  string            `json:"think_mode"`
	DisableAttachmentInjection bool              `json:"disable_attachment_injection"`
	DeepPlanning               DeepPlanning      `json:"deep_planning"`
	ExecutionAttempts          int               `json:"execution_attempts"`
	UserTokens                 json.RawMessage   `json:"user_tokens"`
	UserOIDCToken              *string           `json:"user_oidc_token"`
	ReturnMetrics              bool              `json:"return_metrics"`
	Tokens                     Tokens            `json:"tokens"`
	LLMModelProvider           *string           `json:"llm_model_provider"`
	LLMModelName               *string           `json:"llm_model_name"`
	LLMReasoningEffort         *string           `json:"llm_reasoning_effort"`
	ThreadID                   *string           `json:"thread_id"`
	CostUnits                  int               `json:"cost_units"`
	Error                      *ErrorInfo        `json:"error,omitempty"`
}

// DeepPlanning is xpander's planning state; agentq agents do not plan, so it stays off.
type DeepPlanning struct {
	Enabled        bool              `json:"enabled"`
	Enforce        bool              `json:"enforce"`
	Started        bool              `json:"started"`
	QuestionRaised bool              `json:"question_raised"`
	Tasks          []json.RawMessage `json:"tasks"`
}

// Tokens counts the LLM tokens a task used, when its agent reports them.
type Tokens struct {
	CompletionTokens int `json:"completion_tokens"`
	PromptTokens     int `json:"prompt_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

var emptyObject = json.RawMessage(`{}`)

// Xpander projects t into the xpander task shape. The request fields it echoes come from the
// stored body, whichever dialect submitted it.
func Xpander(t *task.Task) *XpanderTask {
	// Only an xpander body was validated as one: a ServiceNet body's fields of the same names
	// (output_format, say) were never checked against xpander's rules, so they are not echoed.
	var r XpanderRequest
	var raw struct {
		Input json.RawMessage `json:"input"`
	}
	if t.Dialect == task.Xpander {
		_ = json.Unmarshal(t.Request, &r) // validated on the way in
		_ = json.Unmarshal(t.Request, &raw)
	}
	v := &XpanderTask{
		ID:                         t.ID,
		TaskID:                     t.ID,
		AgentID:                    t.AgentID,
		OrganizationID:             t.Tenant,
		Input:                      raw.Input,
		CreatedAt:                  t.CreatedAt,
		Status:                     XpanderStatus(t.State),
		InternalStatus:             string(t.State),
		AgentVersion:               nonEmpty(t.AgentVersion),
		StartedAt:                  when(t.StartedAt),
		PausedAt:                   when(t.PausedAt),
		FinishedAt:                 when(t.FinishedAt),
		ParentExecution:            r.ParentExecutionID,
		SubExecutions:              []string{},
		FinishedSubExecutions:      []string{},
		IsManuallyStopped:          t.State == task.Canceled,
		IsBackground:               true,
		PayloadExtension:           r.PayloadExtension,
		HITLRequest:                t.HITL,
		Source:                     r.Source,
		WorkerID:                   r.WorkerID,
		AdditionalContext:          r.AdditionalContext,
		InstructionsOverride:       r.InstructionsOverride,
		ExpectedOutput:             r.ExpectedOutput,
		TestRunNodeID:              r.TestRunNodeID,
		OutputFormat:               deref(r.OutputFormat, "text"),
		OutputSchema:               r.OutputSchema,
		EventsStreaming:            derefBool(r.EventsStreaming),
		MCPServers:                 r.MCPServers,
		TriggeringAgentID:          r.TriggeringAgentID,
		Title:                      r.Title,
		ThinkMode:                  deref(r.ThinkMode, "default"),
		DisableAttachmentInjection: derefBool(r.DisableAttachmentInjection),
		DeepPlanning:               DeepPlanning{Tasks: []json.RawMessage{}},
		// A new task reads 1, as the reference's do: the attempt it waits for is its first. A
		// claim counts each attempt from there (store.Claim), so the count never goes back.
		ExecutionAttempts:  max(t.Attempts, 1),
		Tokens:             Tokens{PromptTokens: t.Usage.Prompt, CompletionTokens: t.Usage.Completion, TotalTokens: t.Usage.Total},
		UserTokens:         emptyObject,
		ReturnMetrics:      derefBool(r.ReturnMetrics),
		LLMModelProvider:   r.LLMModelProvider,
		LLMModelName:       r.LLMModelName,
		LLMReasoningEffort: r.LLMReasoningEffort,
		ThreadID:           nonEmpty(t.ThreadID),
		CostUnits:          t.CostUnits,
		Error:              errorInfo(t),
	}
	if t.Dialect == task.Xpander && t.ThreadID != "" {
		v.ID = t.ThreadID
	}
	if v.Input == nil {
		v.Input = json.RawMessage(`{"text":` + quote(t.Text) + `}`)
	}
	if v.Source == nil {
		v.Source = nonEmpty(t.Source)
	}
	if v.MCPServers == nil {
		v.MCPServers = []json.RawMessage{}
	}
	// An answer kept in the blob store and not loaded (lists do not load them) reads as null
	// rather than as an empty answer: reading the task answers it whole.
	if t.State == task.Succeeded && (t.ResultRef == "" || t.Result != "") {
		res := t.Result
		v.Result = &res
	}
	return v
}

// Accepted is the ServiceNet answer to an async invocation, exactly as its reference gives it.
type Accepted struct {
	AgentID   string          `json:"agent_id"`
	Status    string          `json:"status"`
	ReceiptID string          `json:"receipt_id"`
	Message   string          `json:"message"`
	Raw       json.RawMessage `json:"raw"`
}

// AcceptedMessage is the message of every accepted ServiceNet invocation.
const AcceptedMessage = "ServiceNet invocation accepted"

// ServiceNetAccepted projects a just-accepted task into the ServiceNet invoke answer.
func ServiceNetAccepted(t *task.Task) *Accepted {
	return &Accepted{AgentID: t.AgentID, Status: "running", ReceiptID: t.ID, Message: AcceptedMessage, Raw: emptyObject}
}

func when(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string, def string) string {
	if s == nil {
		return def
	}
	return *s
}

func derefBool(b *bool) bool { return b != nil && *b }

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// XpanderListItem is a task as the xpander list routes show it: the task, plus the list item's
// own fields of the reference (user_id, parent_task_id, updated_at, source_node_type).
type XpanderListItem struct {
	*XpanderTask
	UserID         *string   `json:"user_id"`
	ParentTaskID   *string   `json:"parent_task_id"`
	UpdatedAt      time.Time `json:"updated_at"`
	SourceNodeType *string   `json:"source_node_type"`
}

// XpanderItem projects t into the xpander list item shape.
func XpanderItem(t *task.Task) *XpanderListItem {
	it := &XpanderListItem{XpanderTask: Xpander(t), UserID: nonEmpty(t.UserID), ParentTaskID: nonEmpty(t.ParentTaskID), UpdatedAt: t.UpdatedAt}
	if it.UpdatedAt.IsZero() {
		it.UpdatedAt = t.CreatedAt
	}
	if t.Dialect == task.Xpander {
		var r XpanderRequest
		_ = json.Unmarshal(t.Request, &r) // validated on the way in
		it.SourceNodeType = r.SourceNodeType
	}
	return it
}
