package httpapi

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/task"
)

// decoder decodes invoke bodies, compiling output_schema with the configured Schemas.
func (a *api) decoder() dialect.Decoder { return dialect.Decoder{Schemas: a.Schemas} }

func (a *api) invokeXpander(w http.ResponseWriter, r *http.Request, tenant string) error {
	p := newParams(r)
	t, err := a.submit(w, r, p, tenant, a.decoder().Xpander)
	if err != nil {
		return err
	}
	a.comeBack(w, t)
	writeJSON(w, http.StatusOK, dialect.Xpander(t))
	return nil
}

func (a *api) invokeServiceNet(w http.ResponseWriter, r *http.Request, tenant string) error {
	p := newParams(r)
	t, err := a.submit(w, r, p, tenant, a.decoder().ServiceNet)
	if err != nil {
		return err
	}
	a.comeBack(w, t)
	writeJSON(w, http.StatusOK, dialect.ServiceNetAccepted(t))
	return nil
}

// comeBack tells the caller of an async invoke when its task is expected to be done
// (Retry-After, from the agent's expected duration), so that its first read need not hold a
// function through the agent's run. An agent that declares none leaves the answer as it was:
// without Retry-After, to read at once.
func (a *api) comeBack(w http.ResponseWriter, t *task.Task) {
	if t.State.Terminal() { // a replay of a task that has ended: its answer is final
		return
	}
	if v := retryAfter(t, a.Now(), ""); v != "" {
		w.Header().Set("Retry-After", v)
	}
}

// invokeSync serves the sync invoke of both dialects, which share its path: a ServiceNet body
// (dialect.IsServiceNet) gets ServiceNet's answer and errors, any other body xpander's.
func (a *api) invokeSync(w http.ResponseWriter, r *http.Request, tenant string) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body)) // submit reads it again
	if dialect.IsServiceNet(body) {
		if err := a.invokeSyncServiceNet(w, r, tenant); err != nil {
			writeError(w, task.ServiceNet, a.classifyAs(r, err, task.ServiceNet))
		}
		return nil
	}
	return a.invokeSyncXpander(w, r, tenant)
}

// invokeSyncXpander submits like the async invoke, then waits for the task to end: 200 with the
// ended task, or 202 with the task still pending, executing or paused, to poll.
func (a *api) invokeSyncXpander(w http.ResponseWriter, r *http.Request, tenant string) error {
	p := newParams(r)
	wait := min(p.wait(a.SyncWait), a.SyncWait)
	t, err := a.submit(w, r, p, tenant, syncDecoder(a.decoder().Xpander, nil))
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
	return a.writeTask(r.Context(), w, status, t, task.Xpander)
}

// invokeSyncServiceNet submits a ServiceNet body and waits for the task to settle, like xpander's
// sync invoke: 200 with the reference's sync answer (the agent's A2A task state, its answer), or,
// when the agent outlasts the wait or the caller set return_immediately, 202 with the async
// answer (status running) and the receipt to poll.
func (a *api) invokeSyncServiceNet(w http.ResponseWriter, r *http.Request, tenant string) error {
	p := newParams(r)
	wait := min(p.wait(a.SyncWait), a.SyncWait)
	var immediate bool
	t, err := a.submit(w, r, p, tenant, syncDecoder(a.decoder().ServiceNet, &immediate))
	if err != nil {
		return err
	}
	if immediate {
		wait = 0
	}
	id := t.ID
	t = a.await(r.Context(), t, wait, func(ctx context.Context) (*task.Task, error) { return a.find(ctx, nil, tenant, id, false) }, settled)
	status := http.StatusOK
	if !settled(t) {
		status = http.StatusAccepted
		w.Header().Set("Location", "/v1/receipts/"+t.ID)
		w.Header().Set("Retry-After", retryAfter(t, a.Now(), pollRetryAfter))
	}
	writeJSON(w, status, dialect.ServiceNetInvoked(t))
	return nil
}

// syncDecoder wraps a dialect's decoder for a sync invoke: the invocation is marked sync (the
// receipt's invoke_mode), and immediate, when not nil, learns whether the caller asked not to wait.
func syncDecoder(decode func([]byte) (*dialect.Invocation, error), immediate *bool) func([]byte) (*dialect.Invocation, error) {
	return func(body []byte) (*dialect.Invocation, error) {
		inv, err := decode(body)
		if err != nil {
			return nil, err
		}
		inv.Sync = true
		if immediate != nil {
			*immediate = inv.ReturnImmediately
		}
		return inv, nil
	}
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
