package registry

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/local/emulators"
)

// The tests share one DynamoDB Local; each gets a table of its own.
var suite emulators.Suite

func TestMain(m *testing.M) { os.Exit(suite.Main(m, nil)) }

// newRegistry returns a registry over a fresh table.
func newRegistry(t *testing.T, cacheTTL time.Duration) *Registry {
	t.Helper()
	dynamo, name := suite.Table(t, "registry")
	return New(dynamo, name, cacheTTL)
}

func spec(id, endpoint string) agent.Agent {
	return agent.Agent{ID: id, Protocol: agent.HTTP, Endpoint: endpoint, Timeout: agent.Duration(time.Second)}
}

func TestLifecycle(t *testing.T) {
	r := newRegistry(t, 0)
	ctx := context.Background()

	if _, err := r.Lookup(ctx, "billing", ""); !errors.Is(err, agent.ErrNotFound) {
		t.Fatalf("unknown agent: %v", err)
	}
	if err := r.PutDraft(ctx, spec("billing", "http://127.0.0.1:1/v1")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup(ctx, "billing", ""); !errors.Is(err, agent.ErrVersionNotFound) {
		t.Fatalf("a draft-only agent has no latest version: %v", err)
	}
	if d, err := r.Lookup(ctx, "billing", agent.Draft); err != nil || d.Version != agent.Draft {
		t.Fatalf("draft = %+v, %v", d, err)
	}
	v1, err := r.Publish(ctx, "billing")
	if err != nil || v1.Version != "1" {
		t.Fatalf("publish = %+v, %v", v1, err)
	}
	if _, err := r.Publish(ctx, "billing"); !errors.Is(err, ErrNoDraft) {
		t.Fatalf("publish without draft = %v", err)
	}
	if err := r.PutDraft(ctx, spec("billing", "http://127.0.0.1:1/v2")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		version, endpoint string
		err               error
	}{
		{"", "http://127.0.0.1:1/v2", nil},
		{agent.Latest, "http://127.0.0.1:1/v2", nil},
		{"1", "http://127.0.0.1:1/v1", nil},
		{"2", "http://127.0.0.1:1/v2", nil},
		{"3", "", agent.ErrVersionNotFound},
		{"zero", "", agent.ErrVersionNotFound},
		{agent.Draft, "", agent.ErrVersionNotFound},
	}
	for _, tt := range tests {
		a, err := r.Lookup(ctx, "billing", tt.version)
		if !errors.Is(err, tt.err) || (tt.err == nil && a.Endpoint != tt.endpoint) {
			t.Errorf("Lookup(billing, %q) = %s, %v; want %s, %v", tt.version, a.Endpoint, err, tt.endpoint, tt.err)
		}
	}

	list, err := r.List(ctx)
	if err != nil || len(list) != 1 || list[0].Current != 2 || list[0].Agent.Version != "2" {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if err := r.Unpublish(ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"", "1"} {
		if _, err := r.Lookup(ctx, "billing", v); !errors.Is(err, agent.ErrNotFound) {
			t.Errorf("Lookup(%q) after unpublish = %v, want ErrNotFound", v, err)
		}
	}
	if err := r.Unpublish(ctx, "nobody"); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("Unpublish(nobody) = %v", err)
	}
	// Publishing again brings it back.
	if err := r.PutDraft(ctx, spec("billing", "http://127.0.0.1:1/v3")); err != nil {
		t.Fatal(err)
	}
	if a, err := r.Publish(ctx, "billing"); err != nil || a.Version != "3" {
		t.Fatalf("republish = %+v, %v", a, err)
	}
	if _, err := r.Lookup(ctx, "billing", ""); err != nil {
		t.Errorf("Lookup after republish = %v", err)
	}
}

func TestStaticFallback(t *testing.T) {
	static, err := agent.NewStatic([]agent.Agent{spec("echo", "http://127.0.0.1:1/static"), spec("other", "http://127.0.0.1:1/o")})
	if err != nil {
		t.Fatal(err)
	}
	r := newRegistry(t, 0).WithFallback(static)
	ctx := context.Background()
	if a, err := r.Lookup(ctx, "echo", ""); err != nil || a.Endpoint != "http://127.0.0.1:1/static" {
		t.Fatalf("configured agent = %+v, %v", a, err)
	}
	// Publishing the same id in the registry overrides the configured definition.
	if err := r.PutDraft(ctx, spec("echo", "http://127.0.0.1:1/registry")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(ctx, "echo"); err != nil {
		t.Fatal(err)
	}
	if a, _ := r.Lookup(ctx, "echo", ""); a.Endpoint != "http://127.0.0.1:1/registry" {
		t.Errorf("registry did not override configuration: %+v", a)
	}
	// Unpublishing a configured-only agent hides it.
	if err := r.Unpublish(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup(ctx, "other", ""); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("unpublished configured agent = %v, want ErrNotFound", err)
	}
	list, err := r.List(ctx)
	if err != nil || len(list) != 2 || list[0].Agent.ID != "echo" || list[0].Source != SourceRegistry ||
		list[1].Agent.ID != "other" || !list[1].Deleted || list[1].Source != SourceConfig {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if _, err := r.Lookup(ctx, "nobody", ""); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("unknown agent = %v", err)
	}
}

func TestInvalidDraft(t *testing.T) {
	r := newRegistry(t, 0)
	if err := r.PutDraft(context.Background(), agent.Agent{ID: "x", Protocol: "smtp", Endpoint: "mail"}); err == nil {
		t.Fatal("invalid agent accepted")
	}
}

func TestLookupCache(t *testing.T) {
	r := newRegistry(t, time.Minute)
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	if err := r.PutDraft(ctx, spec("c", "http://127.0.0.1:1/c")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup(ctx, "c", ""); err != nil {
		t.Fatal(err)
	}
	// Another function unpublishes it: this one keeps its cached copy until the TTL passes.
	other := New(r.db, r.table, 0)
	if err := other.Unpublish(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup(ctx, "c", ""); err != nil {
		t.Errorf("cached lookup = %v, want the cached agent", err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := r.Lookup(ctx, "c", ""); !errors.Is(err, agent.ErrNotFound) {
		t.Errorf("lookup after TTL = %v, want ErrNotFound", err)
	}
}
