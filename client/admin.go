package client

import (
	"context"
	"net/http"

	"github.com/agentq/agentq/client/raw"
)

// The registry's and the admin routes' types, generated from the contract.
type (
	// AgentSummary is an agent as the registry answers it: the agent, its current version, whether
	// it has a draft.
	AgentSummary = raw.AgentSummary
	// PublicAgent is an agent as any tenant reads it: its current published version, without
	// endpoint, credentials or draft.
	PublicAgent = raw.PublicAgent
	// AgentDefinition is the body of PutAgent: an agent's draft.
	AgentDefinition = raw.AgentDefinition
	// AuthContext is a stored credential, without its secret.
	AuthContext = raw.AuthContext
	// AuthContextInput is the body of CreateAuthContext.
	AuthContextInput = raw.AuthContextInput
	// APIKey is a tenant's API key, known by its id.
	APIKey = raw.APIKey
	// APIKeyCreated is a key just created: the only answer that carries the key itself.
	APIKeyCreated = raw.APIKeyCreated
	// APIKeyInput is the body of CreateAPIKey.
	APIKeyInput = raw.APIKeyInput
)

// items is the {items: [...]} envelope of the registry's and the key store's lists.
type items[T any] struct {
	Items []T `json:"items"`
}

// Agents lists the published agents the caller's tenant may use (GET /v1/agents); any key.
func (c *Client) Agents(ctx context.Context) ([]PublicAgent, error) {
	resp, err := c.raw.ListAgents(ctx, nil)
	l, _, err := decode[items[PublicAgent]](ctx, "list agents", resp, err, http.StatusOK)
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Agent reads one agent's public view (GET /v1/agents/{agent_id}).
func (c *Client) Agent(ctx context.Context, id string) (*PublicAgent, error) {
	resp, err := c.raw.GetAgent(ctx, id, nil)
	a, _, err := decode[PublicAgent](ctx, "get agent "+id, resp, err, http.StatusOK)
	return a, err
}

// PutAgent writes an agent's draft (PUT /v1/agents/{agent_id}); admin key. PublishAgent makes
// the draft the agent's next version.
func (c *Client) PutAgent(ctx context.Context, id string, def AgentDefinition) (*AgentSummary, error) {
	resp, err := c.raw.PutAgent(ctx, id, nil, def)
	a, _, err := decode[AgentSummary](ctx, "put agent "+id, resp, err, http.StatusOK)
	return a, err
}

// PublishAgent publishes an agent's draft as its next version (POST /v1/agents/{agent_id}/publish);
// admin key. Without a draft it is a 409 no_draft.
func (c *Client) PublishAgent(ctx context.Context, id string) (*AgentSummary, error) {
	resp, err := c.raw.PublishAgent(ctx, id, nil)
	a, _, err := decode[AgentSummary](ctx, "publish agent "+id, resp, err, http.StatusOK)
	return a, err
}

// DeleteAgent unpublishes an agent (DELETE /v1/agents/{agent_id}); admin key.
func (c *Client) DeleteAgent(ctx context.Context, id string) (*AgentSummary, error) {
	resp, err := c.raw.DeleteAgent(ctx, id, nil)
	a, _, err := decode[AgentSummary](ctx, "delete agent "+id, resp, err, http.StatusOK)
	return a, err
}

// CreateAuthContext stores a credential for a tenant (POST /v1/auth-contexts); admin key. The
// secret is sealed and never answered.
func (c *Client) CreateAuthContext(ctx context.Context, in AuthContextInput) (*AuthContext, error) {
	resp, err := c.raw.CreateAuthContext(ctx, nil, in)
	a, _, err := decode[AuthContext](ctx, "create auth context", resp, err, http.StatusCreated)
	return a, err
}

// AuthContext reads a tenant's auth context (GET /v1/auth-contexts/{id}?tenant=); admin key.
func (c *Client) AuthContext(ctx context.Context, tenant, id string) (*AuthContext, error) {
	u, err := parseUUID("get auth context", id)
	if err != nil {
		return nil, err
	}
	resp, err := c.raw.GetAuthContext(ctx, u, &raw.GetAuthContextParams{Tenant: tenant})
	a, _, err := decode[AuthContext](ctx, "get auth context "+id, resp, err, http.StatusOK)
	return a, err
}

// DeleteAuthContext removes a tenant's auth context (DELETE /v1/auth-contexts/{id}?tenant=);
// admin key.
func (c *Client) DeleteAuthContext(ctx context.Context, tenant, id string) (*AuthContext, error) {
	u, err := parseUUID("delete auth context", id)
	if err != nil {
		return nil, err
	}
	resp, err := c.raw.DeleteAuthContext(ctx, u, &raw.DeleteAuthContextParams{Tenant: tenant})
	a, _, err := decode[AuthContext](ctx, "delete auth context "+id, resp, err, http.StatusOK)
	return a, err
}

// CreateAPIKey creates a key for a tenant (POST /v1/api-keys); admin key. The answer carries the
// key this once.
func (c *Client) CreateAPIKey(ctx context.Context, in APIKeyInput) (*APIKeyCreated, error) {
	resp, err := c.raw.CreateAPIKey(ctx, nil, in)
	k, _, err := decode[APIKeyCreated](ctx, "create API key", resp, err, http.StatusCreated)
	return k, err
}

// APIKeys lists a tenant's keys (GET /v1/api-keys?tenant=); admin key.
func (c *Client) APIKeys(ctx context.Context, tenant string) ([]APIKey, error) {
	resp, err := c.raw.ListAPIKeys(ctx, &raw.ListAPIKeysParams{Tenant: tenant})
	l, _, err := decode[items[APIKey]](ctx, "list API keys", resp, err, http.StatusOK)
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// RevokeAPIKey revokes a key by its id (DELETE /v1/api-keys/{api_key_id}); admin key.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) (*APIKey, error) {
	resp, err := c.raw.RevokeAPIKey(ctx, id, nil)
	k, _, err := decode[APIKey](ctx, "revoke API key "+id, resp, err, http.StatusOK)
	return k, err
}

// Health checks that the API answers (GET /healthz); it needs no key.
func (c *Client) Health(ctx context.Context) error {
	resp, err := c.raw.Healthz(ctx, nil)
	_, _, err = decode[empty](ctx, "health", resp, err, http.StatusOK)
	return err
}
