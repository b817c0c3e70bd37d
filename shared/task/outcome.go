package task

// Reason codes recorded on tasks that did not succeed. They are part of the public API: callers
// branch on them, so they never change meaning.
const (
	// ReasonDispatchFailed: the work message could not be enqueued; the task never ran.
	ReasonDispatchFailed = "dispatch_failed"
	// ReasonAgentFailed: the agent answered with a failure.
	ReasonAgentFailed = "agent_failed"
	// ReasonAgentRejected: the agent refused the request (an HTTP 4xx answer).
	ReasonAgentRejected = "agent_rejected"
	// ReasonAgentUnavailable: the agent could not be reached or kept failing after retries.
	ReasonAgentUnavailable = "agent_unavailable"
	// ReasonAgentTimeout: the agent did not answer within its timeout.
	ReasonAgentTimeout = "agent_timeout"
	// ReasonDeadLettered: the work message was received too many times without a recorded outcome.
	ReasonDeadLettered = "dead_lettered"
	// ReasonInvalidResponse: the agent's answer could not be understood.
	ReasonInvalidResponse = "invalid_agent_response"
	// ReasonCanceled: a caller stopped the task before it finished.
	ReasonCanceled = "canceled"
	// ReasonOutputSchemaMismatch: the answer does not match the output_schema asked for.
	ReasonOutputSchemaMismatch = "output_schema_mismatch"
	// ReasonDeadlineExceeded: a long-running agent did not finish before the task's deadline.
	ReasonDeadlineExceeded = "deadline_exceeded"
	// ReasonAnswered: a paused turn ended because the next turn of its thread answered it.
	ReasonAnswered = "answered"
	// ReasonAuthContext: the stored credential the task names is gone or cannot be opened.
	ReasonAuthContext = "auth_context_unusable"
	// ReasonLost: the task's work message was lost and could not be rebuilt without the secrets it
	// carried; the caller should submit again.
	ReasonLost = "lost"
)

// ReasonHITLRejected: a person rejected what the paused task asked to be approved.
const ReasonHITLRejected = "hitl_rejected"
