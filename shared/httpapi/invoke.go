package httpapi

import (
	"context"
	"net/http"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/task"
)

func (a *api) invokeXpander(w http.ResponseWriter, r *http.Request, tenant string) error {
	p := newParams(r)
	t, err := a.submit(w, r, p, tenant, dialect.DecodeXpander)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dialect.Xpander(t))
	return nil
}

func (a *api) invokeServiceNet(w http.ResponseWriter, r *http.Request, tenant string) error {
	p := newParams(r)
	t, err := a.submit(w, r, p, tenant, dialect.DecodeServiceNet)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dialect.ServiceNetAccepted(t))
	return nil
}

// invokeSync submits like the async invoke, then waits for the task to end: 200 with the ended
// task, or 202 with the task still pending, executing or paused, to poll.
func (a *api) invokeSync(w http.ResponseWriter, r *http.Request, tenant string) error {
	p := newParams(r)
	wait := min(p.wait(a.SyncWait), a.SyncWait)
	t, err := a.submit(w, r, p, tenant, dialect.DecodeXpander)
	if err != nil {
		return err
	}
	id := t.ID
	t = a.await(r.Context(), t, wait, func(ctx context.Context) (*task.Task, error) { return a.find(ctx, nil, tenant, id, false) }, settled)
	status := http.StatusOK
	if !t.State.Terminal() {
		status = http.StatusAccepted
		w.Header().Set("Location", "/v1/tasks/"+t.ID)
	}
	writeTask(w, status, t, task.Xpander)
	return nil
}

// settled reports whether waiting for a task is over: it ended, or it waits for input.
func settled(t *task.Task) bool { return t.State.Terminal() || t.State == task.Paused }

// submit validates the request (path, query, headers, body, in that order) and submits it.
func (a *api) submit(w http.ResponseWriter, r *http.Request, p *params, tenant string, decode func([]byte) (*dialect.Invocation, error)) (*task.Task, error) {
	agentID := r.PathValue("agent_id")
	if !agent.ValidID(agentID) {
		return nil, agent.ErrNotFound
	}
	version := p.version()
	key := p.idempotencyKey()
	if err := p.err(); err != nil {
		return nil, err
	}
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	inv, err := decode(body)
	if err != nil {
		return nil, err
	}
	t, err := a.Submitter.Submit(r.Context(), accept.Submission{
		Tenant: tenant, AgentID: agentID, Version: version, IdempotencyKey: key, Source: "api", Invocation: inv,
	})
	if err != nil {
		return nil, err
	}
	noteTask(w, t.ID, t.AgentID)
	return t, nil
}
