package agent

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func intp(v int) *int { return &v }

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		agent Agent
		ask   Ask
		want  string
	}{
		{"open agent", Agent{ID: "a"}, Ask{}, ""},
		{"approval missing", Agent{ID: "a", RequiresApproval: true}, Ask{}, ReasonApprovalRequired},
		{"approval given", Agent{ID: "a", RequiresApproval: true}, Ask{ConfirmRisky: true}, ""},
		{"cost over cap", Agent{ID: "a", CostUnits: 5}, Ask{MaxCostUnits: intp(4)}, ReasonCostLimitExceeded},
		{"cost at cap", Agent{ID: "a", CostUnits: 5}, Ask{MaxCostUnits: intp(5)}, ""},
		{"no cap", Agent{ID: "a", CostUnits: 5}, Ask{}, ""},
		{"region allowed", Agent{ID: "a", AllowedRegions: []string{"AU", "NZ"}}, Ask{Region: "au"}, ""},
		{"region refused", Agent{ID: "a", AllowedRegions: []string{"AU"}}, Ask{Region: "US"}, ReasonRegionNotAllowed},
		{"region missing", Agent{ID: "a", AllowedRegions: []string{"AU"}}, Ask{}, ReasonRegionNotAllowed},
		{"tenant allowed", Agent{ID: "a", Tenants: []string{"acme"}}, Ask{Tenant: "acme"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.agent.Check(tt.ask)
			var pe *PolicyError
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Check = %v, want nil", err)
			case tt.want != "" && (!errors.As(err, &pe) || pe.Code != tt.want):
				t.Fatalf("Check = %v, want code %s", err, tt.want)
			}
		})
	}
}

// TestTenantRefusalIsNotFound: an agent kept for other tenants answers an invoke as it answers a
// read, as unknown, so a tenant cannot learn it exists.
func TestTenantRefusalIsNotFound(t *testing.T) {
	a := Agent{ID: "a", Tenants: []string{"acme"}}
	if err := a.Check(Ask{Tenant: "globex"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Check by another tenant = %v, want ErrNotFound", err)
	}
	if err := a.Check(Ask{Tenant: "acme"}); err != nil {
		t.Fatalf("Check by the agent's tenant = %v", err)
	}
}

func TestParseJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"valid", `[{"id":"echo","protocol":"http","endpoint":"http://127.0.0.1:1/","timeout":"5s"}]`, false},
		{"lambda", `[{"id":"fn","protocol":"lambda","endpoint":"arn:aws:lambda:us-east-1:1:function:x"}]`, false},
		{"empty", `[]`, false},
		{"bad protocol", `[{"id":"x","protocol":"smtp","endpoint":"http://h/"}]`, true},
		{"bad url", `[{"id":"x","protocol":"http","endpoint":"ftp://h/"}]`, true},
		{"bad id", `[{"id":"a b","protocol":"http","endpoint":"http://h/"}]`, true},
		{"duplicate", `[{"id":"x","protocol":"http","endpoint":"http://h/"},{"id":"x","protocol":"http","endpoint":"http://h/"}]`, true},
		{"bad timeout", `[{"id":"x","protocol":"http","endpoint":"http://h/","timeout":5}]`, true},
		{"unknown field", `[{"id":"x","protocol":"http","endpoint":"http://h/","colour":"red"}]`, true},
		{"bad auth", `[{"id":"x","protocol":"http","endpoint":"http://h/","auth":"magic"}]`, true},
		{"not json", `{`, true},
		{"a2a 1.0 pinned", `[{"id":"x","protocol":"a2a","endpoint":"http://h/","a2a_version":"1.0"}]`, false},
		{"a2a 0.3 pinned", `[{"id":"x","protocol":"a2a","endpoint":"http://h/","a2a_version":"0.3"}]`, false},
		{"unknown a2a version", `[{"id":"x","protocol":"a2a","endpoint":"http://h/","a2a_version":"2.0"}]`, true},
		{"a2a version on http", `[{"id":"x","protocol":"http","endpoint":"http://h/","a2a_version":"1.0"}]`, true},
		{"expected duration", `[{"id":"x","protocol":"http","endpoint":"http://h/","expected_duration":"1s"}]`, false},
		{"expected duration zero", `[{"id":"x","protocol":"http","endpoint":"http://h/","expected_duration":"0s"}]`, false},
		{"expected duration negative", `[{"id":"x","protocol":"http","endpoint":"http://h/","expected_duration":"-1s"}]`, true},
		{"expected duration not a duration", `[{"id":"x","protocol":"http","endpoint":"http://h/","expected_duration":1000}]`, true},
		{"expected duration past the timeout", `[{"id":"x","protocol":"http","endpoint":"http://h/","timeout":"5s","expected_duration":"6s"}]`, true},
		{"expected duration past the default timeout", `[{"id":"x","protocol":"lambda","endpoint":"arn:x","expected_duration":"61s"}]`, true},
		{"expected duration of an a2a task past a call", `[{"id":"x","protocol":"a2a","endpoint":"http://h/","expected_duration":"10m"}]`, false},
		{"expected duration past max_duration", `[{"id":"x","protocol":"a2a","endpoint":"http://h/","max_duration":"2m","expected_duration":"3m"}]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJSON([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseJSON err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	reg, err := ParseJSON([]byte(`[{"id":"echo","protocol":"http","endpoint":"http://127.0.0.1:1/","timeout":"5s"}]`))
	if err != nil {
		t.Fatal(err)
	}
	a, err := reg.Lookup(context.Background(), "echo", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{Latest, "1"} {
		if _, err := reg.Lookup(context.Background(), "echo", v); err != nil {
			t.Errorf("Lookup(echo, %q) = %v", v, err)
		}
	}
	for _, v := range []string{Draft, "2"} {
		if _, err := reg.Lookup(context.Background(), "echo", v); !errors.Is(err, ErrVersionNotFound) {
			t.Errorf("Lookup(echo, %q) = %v, want ErrVersionNotFound", v, err)
		}
	}
	if a.Version != "1" || a.CallTimeout() != 5*time.Second {
		t.Errorf("got version %q timeout %v", a.Version, a.CallTimeout())
	}
	if _, err := reg.Lookup(context.Background(), "nope", ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup(nope) = %v, want ErrNotFound", err)
	}
}

func TestValidName(t *testing.T) {
	long := strings.Repeat("a", 128)
	for _, tc := range []struct {
		s    string
		max  int
		want bool
	}{
		{"echo", 128, true}, {"a.b_c-d9", 128, true}, {"9", 128, true}, {long, 128, true},
		{long + "a", 128, false}, {"", 128, false}, {".echo", 128, false}, {"-x", 128, false},
		{"ec ho", 128, false}, {"échо", 128, false}, {"a/b", 128, false}, {"abcd", 3, false},
	} {
		if got := ValidName(tc.s, tc.max); got != tc.want {
			t.Errorf("ValidName(%q, %d) = %v, want %v", tc.s, tc.max, got, tc.want)
		}
	}
}

// refuser refuses every schema it is asked about, and counts them.
type refuser struct{ asked *int }

func (r refuser) CheckSchema(json.RawMessage) error { *r.asked++; return errors.New("refused") }

// TestCheckSchemas: Validate checks an agent's output_schema for shape only; CheckSchemas hands
// every agent's schema to the checker the caller injects and names the agent it refuses.
func TestCheckSchemas(t *testing.T) {
	agents := []Agent{
		{ID: "plain", Protocol: HTTP, Endpoint: "https://a.example.com"},
		{ID: "shaped", Protocol: HTTP, Endpoint: "https://a.example.com", OutputSchema: json.RawMessage(`{"$ref":"file:///etc/passwd"}`)},
	}
	s, err := NewStatic(agents)
	if err != nil {
		t.Fatalf("NewStatic = %v, want the schema left to CheckSchemas", err)
	}
	asked := 0
	err = s.CheckSchemas(refuser{&asked})
	if err == nil || !strings.Contains(err.Error(), "agent shaped") || asked != 1 {
		t.Fatalf("CheckSchemas = %v after %d schemas, want agent shaped refused after 1", err, asked)
	}
}
