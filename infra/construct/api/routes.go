package api

import "net/http"

// Target names the function that serves a route.
type Target int

const (
	// Invoke is the write path: accept a task (async or sync), stop a task or receipt, change an
	// agent or an auth context.
	Invoke Target = iota
	// Poll is the read path: task and receipt lookups, threads, listings, long polls, agents and
	// auth contexts.
	Poll
)

// String returns the target's function name, as in functions/<name>.
func (t Target) String() string {
	switch t {
	case Invoke:
		return "invoke"
	case Poll:
		return "poll"
	default:
		return "unknown"
	}
}

// Route is one method and path of the public API. Paths use API Gateway's {param} syntax, which
// HTTP API routes and REST API resources share.
type Route struct {
	Method string
	Path   string
	Target Target
}

// Routes is the whole public API, in one place: a route added here is served by both the HTTP API
// and the REST API, and the handler (shared/httpapi) routes it again by method and path. Invoke
// serves httpapi.WriteRoutes, poll httpapi.ReadRoutes; api_test checks both ways that every route
// here reaches a function whose handler serves it, and that every route a function's handler
// serves is here.
//
// The admin routes exist in the functions only when AGENTQ_ADMIN_KEYS is set (context
// adminKeyHashes), the auth context routes only when a seal key is named too (AGENTQ_KMS_KEY_ID,
// always set by the stack); without them the gateway still sends the requests, which answer 404.
var Routes = []Route{
	// xpander dialect: answers {"status":"pending", "id": ...}.
	{Method: http.MethodPost, Path: "/v1/agents/{agent_id}/invoke/async", Target: Invoke},
	// ServiceNet dialect: answers {"status":"running", "receipt_id": ...}.
	{Method: http.MethodPost, Path: "/v1/agents/{agent_id}/invoke-async", Target: Invoke},
	// Sync invoke: accepts like the async one, then waits up to httpapi.MaxWait (25 s) for the task
	// to end; hence InvokeTimeoutSeconds.
	{Method: http.MethodPost, Path: "/v1/agents/{agent_id}/invoke", Target: Invoke},
	// Stops: a conditional write on the task, in either dialect.
	{Method: http.MethodPost, Path: "/v1/tasks/{task_id}/stop", Target: Invoke},
	{Method: http.MethodPost, Path: "/v1/receipts/{receipt_id}/stop", Target: Invoke},
	// A task or receipt read may wait, ?wait= up to httpapi.MaxWait (a long poll), for the task
	// to change; hence PollTimeoutSeconds.
	{Method: http.MethodGet, Path: "/v1/tasks/{task_id}", Target: Poll},
	{Method: http.MethodGet, Path: "/v1/receipts/{receipt_id}", Target: Poll},
	// ServiceNet receipts, signed (KMS Sign on the receipt key, the signature kept on the
	// task's item): listed by poll; a verifier's verdict recorded by invoke; the signing keys
	// published by poll.
	{Method: http.MethodGet, Path: "/v1/receipts", Target: Poll},
	{Method: http.MethodPost, Path: "/v1/receipts/{receipt_id}/verify", Target: Invoke},
	{Method: http.MethodGet, Path: "/v1/receipt-issuer", Target: Poll},
	// The turns of the task's conversation (the by_thread index).
	{Method: http.MethodGet, Path: "/v1/tasks/{task_id}/thread", Target: Poll},
	// The conversation and its sub-tasks' messages (by_thread and by_parent), and the usage its
	// agents reported.
	{Method: http.MethodGet, Path: "/v1/tasks/{task_id}/thread/full", Target: Poll},
	{Method: http.MethodGet, Path: "/v1/tasks/{task_id}/llm_usage", Target: Poll},
	// A delete stops what has not ended, finds the conversation's turns and their sub-tasks
	// (by_thread, by_parent) and deletes them (TASK# and THREAD# items).
	{Method: http.MethodDelete, Path: "/v1/tasks/{task_id}", Target: Invoke},
	// Human in the loop: a conditional write on a paused task, and for an approval a work
	// message that resumes it.
	{Method: http.MethodPost, Path: "/v1/hitl/{task_id}/approve", Target: Invoke},
	{Method: http.MethodPost, Path: "/v1/hitl/{task_id}/reject", Target: Invoke},
	// The tenant's tasks, newest first (the by_tenant index), all or one agent's.
	{Method: http.MethodGet, Path: "/v1/tasks", Target: Poll},
	{Method: http.MethodGet, Path: "/v1/agents/{agent_id}/tasks", Target: Poll},
	// The agent registry: an admin puts a draft, publishes it, unpublishes an agent; any key
	// lists agents and reads one.
	{Method: http.MethodPut, Path: "/v1/agents/{agent_id}", Target: Invoke},
	{Method: http.MethodPost, Path: "/v1/agents/{agent_id}/publish", Target: Invoke},
	{Method: http.MethodDelete, Path: "/v1/agents/{agent_id}", Target: Invoke},
	{Method: http.MethodGet, Path: "/v1/agents", Target: Poll},
	{Method: http.MethodGet, Path: "/v1/agents/{agent_id}", Target: Poll},
	// Auth contexts, an admin's only: creating one seals its secret (KMS Encrypt); reading one
	// answers its metadata, never the secret.
	{Method: http.MethodPost, Path: "/v1/auth-contexts", Target: Invoke},
	{Method: http.MethodDelete, Path: "/v1/auth-contexts/{auth_context_id}", Target: Invoke},
	{Method: http.MethodGet, Path: "/v1/auth-contexts/{auth_context_id}", Target: Poll},
	// Tenants' API keys, an admin's only: created (answered once, stored as a hash) and revoked by
	// invoke, listed by poll.
	{Method: http.MethodPost, Path: "/v1/api-keys", Target: Invoke},
	{Method: http.MethodDelete, Path: "/v1/api-keys/{api_key_id}", Target: Invoke},
	{Method: http.MethodGet, Path: "/v1/api-keys", Target: Poll},
	// A tenant's own limits (request rate, tasks in flight), an admin's only: kept beside its
	// keys, set and removed by invoke, read by poll.
	{Method: http.MethodPut, Path: "/v1/tenants/{tenant}/limits", Target: Invoke},
	{Method: http.MethodDelete, Path: "/v1/tenants/{tenant}/limits", Target: Invoke},
	{Method: http.MethodGet, Path: "/v1/tenants/{tenant}/limits", Target: Poll},
	// Webhooks: a task's delivery log is read by poll (a Query of the task's deliveries); a
	// replay sends the delivery again (a write and a message on the webhook queue).
	{Method: http.MethodGet, Path: "/v1/tasks/{task_id}/deliveries", Target: Poll},
	{Method: http.MethodPost, Path: "/v1/tasks/{task_id}/deliveries/{delivery_id}/replay", Target: Invoke},
	// A tenant's webhook settings: read by poll (URLs and secrets' metadata, never a secret);
	// changed by invoke, and rotating the signing secret seals a new one (KMS Encrypt) and
	// answers it once.
	{Method: http.MethodGet, Path: "/v1/webhooks", Target: Poll},
	{Method: http.MethodPut, Path: "/v1/webhooks", Target: Invoke},
	{Method: http.MethodPost, Path: "/v1/webhooks/rotate-secret", Target: Invoke},
}
