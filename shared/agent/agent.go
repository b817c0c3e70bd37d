// Package agent describes published agents: where they live, how they are called, and the policy
// a request must pass before it is queued for them.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/agentq/agentq/shared/name"
)

// Protocol is how the worker talks to an agent.
type Protocol string

// The protocols.
const (
	// HTTP agents take a JSON POST and answer with JSON or text.
	HTTP Protocol = "http"
	// A2A agents speak A2A JSON-RPC.
	A2A Protocol = "a2a"
	// Lambda agents are AWS Lambda functions invoked synchronously.
	Lambda Protocol = "lambda"
)

// Auth says what credentials the worker presents to the agent.
type Auth string

// The auth modes.
const (
	// AuthNone sends no credentials.
	AuthNone Auth = "none"
	// AuthForward forwards the caller's auth_token as a bearer token, or the credential of the
	// auth context the caller names (auth_context_id).
	AuthForward Auth = "forward"
	// AuthContext presents a stored credential: the auth context the caller names, or else the
	// agent's own AuthContextID, resolved in the caller's tenant.
	AuthContext Auth = "context"
)

// Forwards reports whether the agent is sent caller credentials at all.
func (a Auth) Forwards() bool { return a == AuthForward || a == AuthContext }

// The A2A versions an agent's A2AVersion may pin.
const (
	// A2AVersion1 is A2A 1.0: methods SendMessage, GetTask, CancelTask.
	A2AVersion1 = "1.0"
	// A2AVersion03 is A2A 0.3: methods message/send, tasks/get, tasks/cancel.
	A2AVersion03 = "0.3"
)

// DefaultTimeout bounds an agent call when the agent sets none.
const DefaultTimeout = 60 * time.Second

// DefaultMaxDuration bounds a long-running task when the agent sets no max_duration.
const DefaultMaxDuration = 24 * time.Hour

// Errors of agent lookups.
var (
	// ErrNotFound means no published agent has the requested id.
	ErrNotFound = errors.New("agent not found")
	// ErrVersionNotFound means the agent exists but not in the requested version.
	ErrVersionNotFound = errors.New("agent version not found")
)

// Latest asks for an agent's current published version; "" means the same.
const Latest = "latest"

// Draft asks for an agent's unpublished draft.
const Draft = "draft"

// Agent is one published version of an agent. The accept path copies it into the work message, so
// the worker calls exactly the version that was resolved when the task was accepted.
type Agent struct {
	ID          string   `json:"id"`
	Version     string   `json:"version,omitempty"`
	Name        string   `json:"name,omitempty"`
	Description string   `json:"description,omitempty"`
	Protocol    Protocol `json:"protocol"`
	// Endpoint is the agent's URL, or a function ARN for Lambda agents.
	Endpoint string `json:"endpoint"`
	// A2AVersion pins the A2A version an a2a agent is spoken to in (A2AVersion1 or A2AVersion03);
	// empty lets the agent's card decide, and an agent without a card is spoken to in 0.3.
	A2AVersion string   `json:"a2a_version,omitempty"`
	Timeout    Duration `json:"timeout,omitempty"`
	// MaxDuration bounds how long a task may run at an agent that works on it asynchronously
	// (an A2A task left working); past it the task ends in error. Default DefaultMaxDuration.
	MaxDuration Duration `json:"max_duration,omitempty"`
	// ExpectedDuration is how long a call usually takes, accept to outcome; 0 is unknown. Callers
	// are told to come back after it (Retry-After), so that a long poll does not hold a function
	// through the agent's run. At most the agent's deadline (Deadline).
	ExpectedDuration Duration `json:"expected_duration,omitempty"`
	Auth             Auth     `json:"auth,omitempty"`
	// AuthContextID names the stored credential an agent with Auth "context" is called with when
	// the caller names none.
	AuthContextID string `json:"auth_context_id,omitempty"`
	// RequiresApproval makes callers confirm (ServiceNet confirm_risky) before the agent runs.
	RequiresApproval bool `json:"requires_approval,omitempty"`
	// CostUnits is what one call costs; callers may cap it with max_cost_units.
	CostUnits int `json:"cost_units,omitempty"`
	// AllowedRegions lists the ISO country codes callers may invoke from; empty allows all.
	AllowedRegions []string `json:"allowed_regions,omitempty"`
	// Tenants lists the tenants that may use the agent; empty allows all.
	Tenants []string `json:"tenants,omitempty"`
	// Skills lists what the agent can do (A2A skills); callers pick one with skill_id.
	Skills []Skill `json:"skills,omitempty"`
	// OutputFormat and OutputSchema are the defaults for requests that set neither: with "json"
	// and a schema, answers are validated against it.
	OutputFormat string          `json:"output_format,omitempty"`
	OutputSchema json.RawMessage `json:"output_schema,omitempty"`
}

// Skill is one thing an agent can do.
type Skill struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
}

// ValidID reports whether id can name an agent: 1 to 128 letters, digits, '.', '_' or '-'.
func ValidID(id string) bool { return ValidName(id, 128) }

// ValidName reports whether s is 1 to max letters, digits, '.', '_' or '-', starting with a letter
// or digit: the shape of agent IDs and versions (name.Valid).
func ValidName(s string, max int) bool { return name.Valid(s, max) }

// SchemaChecker compiles an agent's default output_schema within the bounds of a caller's (the
// worker checks every answer against it); outputschema.Checker is one. It is declared here rather
// than imported: every function links agent, and only those that accept or do work should link a
// JSON Schema library.
type SchemaChecker interface {
	CheckSchema(raw json.RawMessage) error
}

// CheckSchema compiles the agent's default output_schema with schemas. Validate checks only its
// shape; the functions that register agents or accept and do work call this too.
func (a *Agent) CheckSchema(schemas SchemaChecker) error {
	if len(a.OutputSchema) == 0 {
		return nil
	}
	if err := schemas.CheckSchema(a.OutputSchema); err != nil {
		return fmt.Errorf("agent %s: %w", a.ID, err)
	}
	return nil
}

// CheckSchemas compiles every agent's default output_schema with schemas (see Agent.CheckSchema).
func (s *Static) CheckSchemas(schemas SchemaChecker) error {
	for _, a := range s.agents {
		if err := a.CheckSchema(schemas); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks that the agent can be called. Its output_schema is checked for shape only (see
// CheckSchema).
func (a *Agent) Validate() error {
	if !ValidID(a.ID) {
		return fmt.Errorf("agent id %q: want 1-128 letters, digits, '.', '_' or '-'", a.ID)
	}
	switch a.Protocol {
	case HTTP, A2A:
		u, err := url.Parse(a.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("agent %s: endpoint %q is not an http(s) URL", a.ID, a.Endpoint)
		}
	case Lambda:
		if !strings.HasPrefix(a.Endpoint, "arn:") {
			return fmt.Errorf("agent %s: endpoint %q is not a function ARN", a.ID, a.Endpoint)
		}
	default:
		return fmt.Errorf("agent %s: unknown protocol %q (want http, a2a or lambda)", a.ID, a.Protocol)
	}
	switch {
	case a.A2AVersion == "":
	case a.Protocol != A2A:
		return fmt.Errorf("agent %s: a2a_version is for a2a agents only", a.ID)
	case a.A2AVersion != A2AVersion1 && a.A2AVersion != A2AVersion03:
		return fmt.Errorf("agent %s: unknown a2a_version %q (want %s or %s)", a.ID, a.A2AVersion, A2AVersion1, A2AVersion03)
	}
	switch a.Auth {
	case "", AuthNone, AuthForward, AuthContext:
	default:
		return fmt.Errorf("agent %s: unknown auth %q (want none, forward or context)", a.ID, a.Auth)
	}
	switch a.OutputFormat {
	case "", "text", "markdown", "json", "voice":
	default:
		return fmt.Errorf("agent %s: unknown output_format %q", a.ID, a.OutputFormat)
	}
	if len(a.OutputSchema) > 0 && a.OutputSchema[0] != '{' {
		return fmt.Errorf("agent %s: output_schema must be a JSON object", a.ID)
	}
	for _, sk := range a.Skills {
		if sk.ID == "" {
			return fmt.Errorf("agent %s: every skill needs an id", a.ID)
		}
	}
	if a.Timeout < 0 || a.CostUnits < 0 || a.MaxDuration < 0 {
		return fmt.Errorf("agent %s: timeout and cost_units must not be negative", a.ID)
	}
	if a.ExpectedDuration < 0 || time.Duration(a.ExpectedDuration) > a.Deadline() {
		return fmt.Errorf("agent %s: expected_duration %s is outside 0 to the agent's deadline %s", a.ID, time.Duration(a.ExpectedDuration), a.Deadline())
	}
	return nil
}

// Deadline is the longest a task of the agent may take at it: an A2A agent's TaskDeadline (its
// tasks may outlive a call), any other's CallTimeout.
func (a *Agent) Deadline() time.Duration {
	if a.Protocol == A2A {
		return max(a.TaskDeadline(), a.CallTimeout())
	}
	return a.CallTimeout()
}

// CallTimeout is how long one call to the agent may take.
func (a *Agent) CallTimeout() time.Duration {
	if a.Timeout > 0 {
		return time.Duration(a.Timeout)
	}
	return DefaultTimeout
}

// TaskDeadline is how long a task may run in all at the agent.
func (a *Agent) TaskDeadline() time.Duration {
	if a.MaxDuration > 0 {
		return time.Duration(a.MaxDuration)
	}
	return DefaultMaxDuration
}

// Duration is a time.Duration that reads and writes JSON as a Go duration string ("30s").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: want a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// Static is a registry held in memory, loaded once from configuration.
type Static struct {
	agents map[string]Agent
}

// NewStatic builds a registry from agents, rejecting invalid or duplicate ones.
func NewStatic(agents []Agent) (*Static, error) {
	s := &Static{agents: make(map[string]Agent, len(agents))}
	for _, a := range agents {
		if err := a.Validate(); err != nil {
			return nil, err
		}
		if _, dup := s.agents[a.ID]; dup {
			return nil, fmt.Errorf("agent %s is defined twice", a.ID)
		}
		if a.Version == "" {
			a.Version = "1"
		}
		s.agents[a.ID] = a
	}
	return s, nil
}

// All returns the registry's agents, in no particular order.
func (s *Static) All() []Agent {
	out := make([]Agent, 0, len(s.agents))
	for _, a := range s.agents {
		out = append(out, a)
	}
	return out
}

// ParseJSON reads a JSON array of agents into a registry.
func ParseJSON(b []byte) (*Static, error) {
	var agents []Agent
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&agents); err != nil {
		return nil, fmt.Errorf("parse agents: %w", err)
	}
	return NewStatic(agents)
}

// Lookup returns the agent with the given id in the given version ("" or Latest for the
// current one), or ErrNotFound / ErrVersionNotFound. A static registry holds one published
// version of each agent and no drafts.
func (s *Static) Lookup(_ context.Context, id, version string) (Agent, error) {
	a, ok := s.agents[id]
	if !ok {
		return Agent{}, fmt.Errorf("lookup %q: %w", id, ErrNotFound)
	}
	if version != "" && version != Latest && version != a.Version {
		return Agent{}, fmt.Errorf("lookup %q version %q: %w", id, version, ErrVersionNotFound)
	}
	return a, nil
}
