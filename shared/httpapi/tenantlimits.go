package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/keystore"
	"github.com/agentq/agentq/shared/tenantlimit"
)

// TenantLimits keeps tenants' own limits beside their keys (keystore.Store does).
type TenantLimits interface {
	TenantLimits(ctx context.Context, tenant string) (tenantlimit.Limits, bool, error)
	SetTenantLimits(ctx context.Context, tenant string, l *tenantlimit.Limits) error
}

var _ TenantLimits = (*keystore.Store)(nil)

// limitsAnswer is a tenant's limits: its own when Own, else every tenant's defaults.
type limitsAnswer struct {
	Tenant string `json:"tenant"`
	Own    bool   `json:"own"`
	tenantlimit.Limits
}

// limitsTenant reads and checks the path's tenant.
func limitsTenant(r *http.Request) (string, error) {
	tenant := r.PathValue("tenant")
	if err := apikey.ValidateTenant(tenant); err != nil {
		return "", apiKeyInvalid("tenant: a tenant name is " + apikey.TenantRule)
	}
	return tenant, nil
}

func (a *api) getTenantLimits(w http.ResponseWriter, r *http.Request) error {
	tenant, err := limitsTenant(r)
	if err != nil {
		return err
	}
	l, own, err := a.Limits.TenantLimits(r.Context(), tenant)
	if err != nil {
		return err
	}
	if !own {
		l = a.TenantDefaults
	}
	writeJSON(w, http.StatusOK, limitsAnswer{Tenant: tenant, Own: own, Limits: l})
	return nil
}

func (a *api) putTenantLimits(w http.ResponseWriter, r *http.Request) error {
	tenant, err := limitsTenant(r)
	if err != nil {
		return err
	}
	var in struct {
		Rate        *int `json:"rate"`
		MaxInFlight *int `json:"max_in_flight"`
	}
	if err := decodeStrict(w, r, &in, false, "{rate, max_in_flight}, whole numbers, 0 for unbounded"); err != nil {
		return err
	}
	if in.Rate == nil || in.MaxInFlight == nil || *in.Rate < 0 || *in.MaxInFlight < 0 {
		return apiKeyInvalid("rate and max_in_flight are both required: whole numbers, 0 for unbounded")
	}
	l := tenantlimit.Limits{Rate: *in.Rate, MaxInFlight: *in.MaxInFlight}
	if err := a.Limits.SetTenantLimits(r.Context(), tenant, &l); err != nil {
		if errors.Is(err, keystore.ErrInvalid) {
			return apiKeyInputError(err)
		}
		return err
	}
	writeJSON(w, http.StatusOK, limitsAnswer{Tenant: tenant, Own: true, Limits: l})
	return nil
}

func (a *api) deleteTenantLimits(w http.ResponseWriter, r *http.Request) error {
	tenant, err := limitsTenant(r)
	if err != nil {
		return err
	}
	if err := a.Limits.SetTenantLimits(r.Context(), tenant, nil); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, limitsAnswer{Tenant: tenant, Limits: a.TenantDefaults})
	return nil
}
