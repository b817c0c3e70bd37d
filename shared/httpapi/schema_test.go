package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/outputschema"
	"github.com/agentq/agentq/shared/registry"
)

// drafts is an AgentAdmin that keeps the drafts put.
type drafts struct{ put []agent.Agent }

func (d *drafts) PutDraft(_ context.Context, a agent.Agent) error {
	d.put = append(d.put, a)
	return nil
}
func (d *drafts) Publish(context.Context, string) (agent.Agent, error) {
	return agent.Agent{}, nil
}
func (d *drafts) Unpublish(context.Context, string) error { return nil }
func (d *drafts) Get(context.Context, string) (registry.Summary, error) {
	return registry.Summary{}, nil
}
func (d *drafts) List(context.Context) ([]registry.Summary, error) { return nil, nil }

// TestSchemasAtAccept: with Schemas (the invoke function), a submission's and an agent
// definition's output_schema are compiled and an unusable one is a 422 naming the bound; without
// (the functions that only read), a submission's schema is left to the worker and an agent
// definition with a schema is refused rather than stored unchecked.
func TestSchemasAtAccept(t *testing.T) {
	const bad = `{"$ref":"file:///etc/passwd"}`
	invoke := `{"input":{"text":"x"},"output_format":"json","output_schema":` + bad + `}`
	define := `{"protocol":"http","endpoint":"https://agent.example.com","output_format":"json","output_schema":` + bad + `}`
	tests := []struct {
		name           string
		schemas        httpapi.SchemaChecker
		invokeStatus   int
		invokeContains string
		defineStatus   int
		defineContains string
	}{
		{"with a checker", outputschema.Checker{}, http.StatusUnprocessableEntity, outputschema.CodeRef, http.StatusUnprocessableEntity, "references must point into the schema itself"},
		{"without", nil, http.StatusOK, "", http.StatusUnprocessableEntity, "cannot be checked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, reg := &fakeSubmitter{}, &drafts{}
			h := httpapi.New(httpapi.Config{
				Schemas: tt.schemas, Submitter: sub, Keys: keys, Agents: reg, AdminKeys: fakeKeys{"admin": "org-1"},
			})
			r := do(t, h, http.MethodPost, "/v1/agents/echo/invoke/async", invoke, "X-Api-Key", apiKey)
			if r.status != tt.invokeStatus || !strings.Contains(r.raw, tt.invokeContains) {
				t.Errorf("invoke = %d %s, want %d with %q", r.status, r.raw, tt.invokeStatus, tt.invokeContains)
			}
			r = do(t, h, http.MethodPut, "/v1/agents/echo", define, "X-Api-Key", "admin")
			if r.status != tt.defineStatus || !strings.Contains(r.raw, tt.defineContains) || len(reg.put) != 0 {
				t.Errorf("define = %d %s (%d stored), want %d with %q", r.status, r.raw, len(reg.put), tt.defineStatus, tt.defineContains)
			}
		})
	}
	h := httpapi.New(httpapi.Config{Schemas: outputschema.Checker{}, Keys: keys, Agents: &drafts{}, AdminKeys: fakeKeys{"admin": "org-1"}})
	good := `{"protocol":"http","endpoint":"https://agent.example.com","output_format":"json","output_schema":{"type":"object"}}`
	if r := do(t, h, http.MethodPut, "/v1/agents/echo", good, "X-Api-Key", "admin"); r.status != http.StatusOK {
		t.Errorf("define a usable schema = %d %s", r.status, r.raw)
	}
}
