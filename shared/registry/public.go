package registry

import (
	"encoding/json"
	"strconv"

	"github.com/agentq/agentq/shared/agent"
)

// Public is what a tenant may read of an agent: an allow-list, so a field added to agent.Agent
// (an endpoint, a credential's id, a function ARN) stays the admin's until it is added here.
type Public struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
	// Version is the current published version: the only one a tenant may invoke.
	Version string `json:"version"`
	// Protocol, Skills and the output defaults are what the agent can do.
	Protocol     agent.Protocol  `json:"protocol"`
	Skills       []agent.Skill   `json:"skills,omitempty"`
	OutputFormat string          `json:"output_format,omitempty"`
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
	// Policy is what a request must meet to be accepted.
	Policy PublicPolicy `json:"policy"`
}

// PublicPolicy is the part of an agent's policy a caller must meet.
type PublicPolicy struct {
	RequiresApproval bool     `json:"requires_approval"`
	CostUnits        int      `json:"cost_units"`
	AllowedRegions   []string `json:"allowed_regions,omitempty"`
}

// PublicFor returns what tenant may read of the agent s lists, and false when the tenant may not
// see it at all: never published, unpublished, or kept for other tenants. Drafts are never shown.
func (s Summary) PublicFor(tenant string) (Public, bool) {
	if s.Deleted || s.Current < 1 || !s.Agent.VisibleTo(tenant) {
		return Public{}, false
	}
	a := s.Agent
	return Public{
		ID: a.ID, Name: a.Name, Description: a.Description, Version: strconv.Itoa(s.Current),
		Protocol: a.Protocol, Skills: a.Skills, OutputFormat: a.OutputFormat, OutputSchema: a.OutputSchema,
		Policy: PublicPolicy{RequiresApproval: a.RequiresApproval, CostUnits: a.CostUnits, AllowedRegions: a.AllowedRegions},
	}, true
}
