package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/registry"
	"github.com/agentq/agentq/shared/task"
)

// AgentAdmin publishes and reads agents.
type AgentAdmin interface {
	PutDraft(ctx context.Context, a agent.Agent) error
	Publish(ctx context.Context, id string) (agent.Agent, error)
	Unpublish(ctx context.Context, id string) error
	Get(ctx context.Context, id string) (registry.Summary, error)
	List(ctx context.Context) ([]registry.Summary, error)
}

// adminAuthed lets through only callers with an admin key.
func (a *api) adminAuthed(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := apiKey(r)
		if key == "" {
			writeError(w, task.Xpander, &apiError{http.StatusUnauthorized, "missing_api_key", "send an admin key in the x-api-key header or as Authorization: Bearer"})
			return
		}
		if _, ok := a.AdminKeys.Tenant(key); !ok {
			if _, tenant := a.Keys.Tenant(key); tenant {
				writeError(w, task.Xpander, &apiError{http.StatusForbidden, "admin_required", "this route needs an admin key"})
				return
			}
			writeError(w, task.Xpander, &apiError{http.StatusUnauthorized, "invalid_api_key", "the API key is not valid"})
			return
		}
		if sw, ok := w.(*statusWriter); ok {
			sw.tenant = "admin"
		}
		if err := h(w, r); err != nil {
			writeError(w, task.Xpander, a.classify(r, err))
		}
	})
}

// agentBody is the body of PUT /v1/agents/{agent_id}: an agent definition, and whether to publish
// it at once.
type agentBody struct {
	agent.Agent
	Publish bool `json:"publish"`
}

func (a *api) putAgent(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("agent_id")
	if !agent.ValidID(id) {
		return &apiError{http.StatusUnprocessableEntity, "validation_failed", "agent ids are 1-128 letters, digits, '.', '_' or '-'"}
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in agentBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return &apiError{http.StatusUnprocessableEntity, "validation_failed", "agent definition: " + err.Error()}
	}
	if in.ID != "" && in.ID != id {
		return &apiError{http.StatusUnprocessableEntity, "validation_failed", "the body's id differs from the path's"}
	}
	in.ID = id
	if err := in.Validate(); err != nil {
		return &apiError{http.StatusUnprocessableEntity, "validation_failed", err.Error()}
	}
	if err := a.checkAgentSchema(&in.Agent); err != nil {
		return err
	}
	if err := a.Agents.PutDraft(r.Context(), in.Agent); err != nil {
		return err
	}
	if in.Publish {
		if _, err := a.Agents.Publish(r.Context(), id); err != nil {
			return err
		}
	}
	return a.writeAgent(w, r, id)
}

func (a *api) publishAgent(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.Agents.Publish(r.Context(), r.PathValue("agent_id")); err != nil {
		return err
	}
	return a.writeAgent(w, r, r.PathValue("agent_id"))
}

func (a *api) deleteAgent(w http.ResponseWriter, r *http.Request) error {
	if err := a.Agents.Unpublish(r.Context(), r.PathValue("agent_id")); err != nil {
		return err
	}
	return a.writeAgent(w, r, r.PathValue("agent_id"))
}

func (a *api) getAgent(w http.ResponseWriter, r *http.Request, tenant string) error {
	id := r.PathValue("agent_id")
	if !agent.ValidID(id) {
		return agent.ErrNotFound
	}
	s, err := a.Agents.Get(r.Context(), id)
	if err != nil {
		return err
	}
	pub, ok := s.PublicFor(tenant)
	if !ok {
		// The same answer as an invoke of an agent kept for other tenants: whether it exists is
		// not this tenant's to learn.
		return agent.ErrNotFound
	}
	writeJSON(w, http.StatusOK, pub)
	return nil
}

func (a *api) writeAgent(w http.ResponseWriter, r *http.Request, id string) error {
	if !agent.ValidID(id) {
		return agent.ErrNotFound
	}
	s, err := a.Agents.Get(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s)
	return nil
}

func (a *api) listAgents(w http.ResponseWriter, r *http.Request, tenant string) error {
	list, err := a.Agents.List(r.Context())
	if err != nil {
		return err
	}
	items := []registry.Public{}
	for _, s := range list {
		if pub, ok := s.PublicFor(tenant); ok {
			items = append(items, pub)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

// apiKey reads the caller's key from x-api-key or a bearer Authorization header.
func apiKey(r *http.Request) string {
	if key := r.Header.Get("X-Api-Key"); key != "" {
		return key
	}
	// The scheme is case-insensitive (RFC 9110 11.1).
	if scheme, v, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(v)
	}
	return ""
}

// checkAgentSchema compiles an agent definition's default output_schema with the configured
// Schemas; without them a definition with a schema is refused rather than stored unchecked.
func (a *api) checkAgentSchema(ag *agent.Agent) error {
	if len(ag.OutputSchema) == 0 {
		return nil
	}
	if a.Schemas == nil {
		return &apiError{http.StatusUnprocessableEntity, "validation_failed", "agent " + ag.ID + ": output_schema cannot be checked by this function"}
	}
	if err := ag.CheckSchema(a.Schemas); err != nil {
		return &apiError{http.StatusUnprocessableEntity, "validation_failed", err.Error()}
	}
	return nil
}
