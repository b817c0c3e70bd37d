package client

import (
	"context"
	"net/http"

	"github.com/agentq/agentq/client/raw"
)

// TenantLimits are a tenant's request rate and cap of tasks in flight, its own or the defaults.
type TenantLimits = raw.TenantLimits

// TenantLimits reads a tenant's limits (GET /v1/tenants/{tenant}/limits); admin key.
func (c *Client) TenantLimits(ctx context.Context, tenant string) (*TenantLimits, error) {
	resp, err := c.raw.GetTenantLimits(ctx, tenant, nil)
	l, _, err := decode[TenantLimits](ctx, "read limits of "+tenant, resp, err, http.StatusOK)
	return l, err
}

// SetTenantLimits gives a tenant limits of its own (PUT /v1/tenants/{tenant}/limits): rate in
// requests a second and maxInFlight tasks, 0 for unbounded; admin key.
func (c *Client) SetTenantLimits(ctx context.Context, tenant string, rate, maxInFlight int) (*TenantLimits, error) {
	resp, err := c.raw.PutTenantLimits(ctx, tenant, nil, raw.TenantLimitsInput{Rate: rate, MaxInFlight: maxInFlight})
	l, _, err := decode[TenantLimits](ctx, "set limits of "+tenant, resp, err, http.StatusOK)
	return l, err
}

// ResetTenantLimits removes a tenant's own limits, so the defaults apply
// (DELETE /v1/tenants/{tenant}/limits); admin key.
func (c *Client) ResetTenantLimits(ctx context.Context, tenant string) (*TenantLimits, error) {
	resp, err := c.raw.DeleteTenantLimits(ctx, tenant, nil)
	l, _, err := decode[TenantLimits](ctx, "reset limits of "+tenant, resp, err, http.StatusOK)
	return l, err
}
