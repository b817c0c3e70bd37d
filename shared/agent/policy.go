package agent

import (
	"fmt"
	"slices"
	"strings"
)

// Policy reason codes: why a request was refused before anything was queued.
const (
	ReasonApprovalRequired  = "approval_required"
	ReasonCostLimitExceeded = "cost_limit_exceeded"
	ReasonRegionNotAllowed  = "region_not_allowed"
)

// Ask is what a request brings to the policy check.
type Ask struct {
	// ConfirmRisky is the caller's consent to run an agent that requires approval.
	ConfirmRisky bool
	// MaxCostUnits caps what the caller will spend; nil means no cap.
	MaxCostUnits *int
	// Region is the caller's ISO country code, if given.
	Region string
	// Tenant is the caller's tenant.
	Tenant string
}

// PolicyError is a refusal: the request is valid but may not run.
type PolicyError struct {
	Code    string
	Message string
}

func (e *PolicyError) Error() string { return e.Code + ": " + e.Message }

// VisibleTo reports whether tenant may see and use the agent: it names no tenants, or this one.
func (a *Agent) VisibleTo(tenant string) bool {
	return len(a.Tenants) == 0 || slices.Contains(a.Tenants, tenant)
}

// Check runs the agent's policy over a request and returns a *PolicyError when it is refused, or
// an error wrapping ErrNotFound when the agent is kept for other tenants.
func (a *Agent) Check(ask Ask) error {
	if !a.VisibleTo(ask.Tenant) {
		// Answered as an unknown agent, as a read of it is: whether an agent kept for other
		// tenants exists is not this tenant's to learn.
		return fmt.Errorf("agent %s is not available to this tenant: %w", a.ID, ErrNotFound)
	}
	if a.RequiresApproval && !ask.ConfirmRisky {
		return &PolicyError{ReasonApprovalRequired, fmt.Sprintf("agent %s requires approval: set confirm_risky to true", a.ID)}
	}
	if ask.MaxCostUnits != nil && *ask.MaxCostUnits < a.CostUnits {
		return &PolicyError{ReasonCostLimitExceeded, fmt.Sprintf("agent %s costs %d units, more than max_cost_units %d", a.ID, a.CostUnits, *ask.MaxCostUnits)}
	}
	if len(a.AllowedRegions) > 0 {
		allowed := false
		for _, r := range a.AllowedRegions {
			if strings.EqualFold(r, ask.Region) {
				allowed = true
				break
			}
		}
		if !allowed {
			return &PolicyError{ReasonRegionNotAllowed, fmt.Sprintf("agent %s may not be invoked from region %q", a.ID, ask.Region)}
		}
	}
	return nil
}
