package api

import "net/http"

// Target names the function that serves a route.
type Target int

const (
	// Invoke is the accept path: validate, write the task, send the work message.
	Invoke Target = iota
	// Poll is the read path: task and receipt lookups and listings.
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
// and the REST API, and the handler (shared/httpapi) routes it again by method and path.
var Routes = []Route{
	// xpander dialect: answers {"status":"pending", "id": ...}.
	{Method: http.MethodPost, Path: "/v1/agents/{agent_id}/invoke/async", Target: Invoke},
	// ServiceNet dialect: answers {"status":"running", "receipt_id": ...}.
	{Method: http.MethodPost, Path: "/v1/agents/{agent_id}/invoke-async", Target: Invoke},
	{Method: http.MethodPost, Path: "/v1/agents/{agent_id}/invoke", Target: Invoke},
	{Method: http.MethodGet, Path: "/v1/tasks/{task_id}", Target: Poll},
	{Method: http.MethodGet, Path: "/v1/receipts/{receipt_id}", Target: Poll},
	{Method: http.MethodGet, Path: "/v1/tasks", Target: Poll},
}
