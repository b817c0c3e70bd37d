package httpapi

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/task"
)

// TaskList is a page of tasks as GET /v1/tasks answers it: xpander's page envelope, and agentq's
// cursor (null on the last page) and whether total is exact.
type TaskList struct {
	Items      []*dialect.XpanderListItem `json:"items"`
	Total      int                        `json:"total"`
	Page       int                        `json:"page"`
	PerPage    int                        `json:"per_page"`
	TotalPages int                        `json:"total_pages"`
	TotalExact bool                       `json:"total_exact"`
	NextCursor *string                    `json:"next_cursor"`
}

// Page sizes of the lists: xpander's per_page (default 20, at most 50), and agentq's limit, which
// goes to task.MaxListLimit.
const (
	defaultPerPage = 20
	maxPerPage     = 50
)

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

// list answers a page of the tenant's tasks, newest first, numbered (page, per_page) or after a
// cursor, with how many tasks match in all.
func (a *api) list(w http.ResponseWriter, r *http.Request, p *params, tenant, agentID string) error {
	q := listQuery(p, task.ListQuery{Tenant: tenant, AgentID: agentID, Now: a.Now()})
	size := p.whole("limit", defaultPerPage, 1, task.MaxListLimit)
	if _, ok := p.query["per_page"]; ok {
		if _, both := p.query["limit"]; both {
			p.add("query", "per_page", "give per_page or limit, not both", "conflict")
		}
		size = p.whole("per_page", defaultPerPage, 1, maxPerPage)
	}
	page := p.whole("page", 1, 1, task.MaxListDepth)
	q.Cursor, _ = p.get("cursor") // opaque: the store decodes it, and refuses one not the tenant's
	if q.Cursor != "" && page > 1 {
		p.add("query", "page", "a cursor says where the page starts: give page or cursor, not both", "conflict")
	}
	if err := p.err(); err != nil {
		return err
	}
	q.Limit = size
	position := a.Lister.CursorPosition(q.Cursor)
	if q.Cursor == "" {
		q.Offset = (page - 1) * size
		position = q.Offset
	}
	if q.Offset+size > task.MaxListDepth {
		return tooDeep()
	}
	out := TaskList{Items: []*dialect.XpanderListItem{}, Page: position/size + 1, PerPage: size, TotalExact: true}
	var items []*task.Task
	var next string
	if q.States == nil || len(q.States) > 0 { // an empty intersection matches nothing
		var err error
		if items, next, err = a.Lister.List(r.Context(), q); errors.Is(err, task.ErrTooDeep) {
			return tooDeep()
		} else if err != nil {
			return storeErr("list tasks", err)
		}
	}
	for _, t := range items {
		if t.Tenant == tenant { // the index is the tenant's partition; this only makes sure
			out.Items = append(out.Items, dialect.XpanderItem(t))
		}
	}
	out.Total = position + len(items)
	if next != "" {
		out.NextCursor = &next
		// What follows the page is counted, boundedly: the page itself was read already. The
		// cursor says how many tasks come before it: position+len(items), or fewer when the
		// list's read budget ran out before it reached the page.
		q.Cursor, q.Offset = next, 0
		rest, exact, err := a.Lister.Count(r.Context(), q)
		if err != nil {
			return storeErr("count tasks", err)
		}
		out.Total, out.TotalExact = a.Lister.CursorPosition(next)+rest, exact
	}
	out.TotalPages = (out.Total + size - 1) / size
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listQuery adds the list's filters, as the query gives them, to q: both dialects' status
// vocabularies, the thread and family filters, and the creation time bounds.
func listQuery(p *params, q task.ListQuery) task.ListQuery {
	byStatus := p.states("status", xpanderStatuses, statesOf)
	byInternal := p.states("internal_status", internalStatuses, func(s string) []task.State {
		if st := task.State(s); st.Valid() {
			return []task.State{st}
		}
		return nil
	})
	q.States = byStatus
	if byStatus == nil {
		q.States = byInternal
	} else if byInternal != nil {
		// Both: the tasks that pass both.
		q.States = slices.DeleteFunc(slices.Clone(byStatus), func(s task.State) bool { return !slices.Contains(byInternal, s) })
	}
	q.ThreadID = p.text("thread_id")
	q.ParentTaskID = p.text("parent_task_id")
	q.TriggeringAgentID = p.text("triggering_agent_id")
	q.UserID = p.text("user_id")
	// created_after and created_before are exclusive; from_date and to_date (xpander's) inclusive.
	// Given both on one side, the narrower bound holds.
	q.CreatedAfter = p.time("created_after")
	if from := p.time("from_date"); !from.IsZero() && (q.CreatedAfter.IsZero() || from.Add(-time.Nanosecond).After(q.CreatedAfter)) {
		q.CreatedAfter = from.Add(-time.Nanosecond)
	}
	q.CreatedBefore = p.time("created_before")
	if to := p.time("to_date"); !to.IsZero() && (q.CreatedBefore.IsZero() || to.Add(time.Nanosecond).Before(q.CreatedBefore)) {
		q.CreatedBefore = to.Add(time.Nanosecond)
	}
	return q
}

// tooDeep answers a page number past what page numbers reach.
func tooDeep() error {
	return &dialect.ValidationError{Problems: []dialect.Problem{{
		Loc: []string{"query", "page"}, Type: "range",
		Msg: "page numbers reach the first " + strconv.Itoa(task.MaxListDepth) + " tasks; follow next_cursor past them",
	}}}
}

// internalStatuses are the values of the internal_status filter: the internal states.
var internalStatuses = []string{"queued", "running", "paused", "succeeded", "failed", "error", "canceled", "rejected"}

// states reads a filter of statuses, comma-separated or repeated, into the internal states they
// show; nil when the filter is absent.
func (p *params) states(name string, vocabulary []string, of func(string) []task.State) []task.State {
	var out []task.State
	for _, v := range p.query[name] {
		for s := range strings.SplitSeq(v, ",") {
			states := of(strings.TrimSpace(s))
			if len(states) == 0 {
				p.add("query", name, "must be a comma-separated list of "+strings.Join(vocabulary, ", "), "enum")
				break
			}
			for _, st := range states {
				if !slices.Contains(out, st) {
					out = append(out, st)
				}
			}
		}
	}
	return out
}
