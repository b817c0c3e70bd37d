package httpapi

import (
	"net/http"
	"slices"
	"strings"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/task"
)

// TaskList is a page of tasks as GET /v1/tasks answers it. NextCursor is null on the last page.
type TaskList struct {
	Items      []*dialect.XpanderTask `json:"items"`
	NextCursor *string                `json:"next_cursor"`
}

// allStates are the internal states, in the order a status filter lists them.
var allStates = []task.State{task.Queued, task.Running, task.Paused, task.Succeeded, task.Failed, task.Error, task.Canceled, task.Rejected}

// xpanderStatuses are the values of the status filter: the xpander task statuses.
var xpanderStatuses = []string{"pending", "executing", "paused", "completed", "failed", "error", "stopped"}

// statesOf maps an xpander status to the internal states it shows, by inverting the projection
// itself, so that the filter and the view never disagree ("failed" is failed and rejected).
func statesOf(status string) []task.State {
	var out []task.State
	for _, s := range allStates {
		if dialect.XpanderStatus(s) == status {
			out = append(out, s)
		}
	}
	return out
}

func (a *api) listTasks(w http.ResponseWriter, r *http.Request, tenant string) error {
	p := newParams(r)
	agentID := p.text("agent_id")
	if agentID != "" && !agent.ValidID(agentID) {
		p.add("query", "agent_id", "must be 1 to 128 letters, digits, '.', '_' or '-'", "pattern")
	}
	return a.list(w, r, p, tenant, agentID)
}

func (a *api) listAgentTasks(w http.ResponseWriter, r *http.Request, tenant string) error {
	agentID := r.PathValue("agent_id")
	if !agent.ValidID(agentID) {
		return agent.ErrNotFound
	}
	p := newParams(r)
	if q := p.text("agent_id"); q != "" && q != agentID {
		p.add("query", "agent_id", "must be the path's agent id, or absent", "conflict")
	}
	return a.list(w, r, p, tenant, agentID)
}

// list answers a page of the tenant's tasks, newest first.
func (a *api) list(w http.ResponseWriter, r *http.Request, p *params, tenant, agentID string) error {
	q := task.ListQuery{Tenant: tenant, AgentID: agentID, Now: a.Now()}
	// status may be repeated, and each value may list several statuses.
	for _, v := range p.query["status"] {
		for s := range strings.SplitSeq(v, ",") {
			s = strings.TrimSpace(s)
			states := statesOf(s)
			if len(states) == 0 {
				p.add("query", "status", "must be a comma-separated list of "+strings.Join(xpanderStatuses, ", "), "enum")
				break
			}
			for _, st := range states {
				if !slices.Contains(q.States, st) {
					q.States = append(q.States, st)
				}
			}
		}
	}
	q.ThreadID = p.text("thread_id")
	q.CreatedAfter = p.time("created_after")
	q.CreatedBefore = p.time("created_before")
	q.Limit = p.limit(task.DefaultListLimit, task.MaxListLimit)
	q.Cursor, _ = p.get("cursor") // opaque: the store decodes it, and refuses one not the tenant's
	if err := p.err(); err != nil {
		return err
	}
	items, next, err := a.Lister.List(r.Context(), q)
	if err != nil {
		return storeErr("list tasks", err)
	}
	page := TaskList{Items: make([]*dialect.XpanderTask, 0, len(items))}
	for _, t := range items {
		if t.Tenant == tenant { // the index is the tenant's partition; this only makes sure
			page.Items = append(page.Items, dialect.Xpander(t))
		}
	}
	if next != "" {
		page.NextCursor = &next
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}
