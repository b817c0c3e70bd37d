package apikey

import (
	"errors"
	"strings"
	"testing"
)

func TestKeys(t *testing.T) {
	keys, err := Parse("acme:" + Hash("k1") + ", globex:" + Hash("k2"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key        string
		wantTenant string
		wantOK     bool
	}{
		{"k1", "acme", true},
		{"k2", "globex", true},
		{"k3", "", false},
		{"", "", false},
		{Hash("k1"), "", false}, // the hash itself is not a key
	}
	for _, tt := range tests {
		tenant, ok := keys.Tenant(tt.key)
		if tenant != tt.wantTenant || ok != tt.wantOK {
			t.Errorf("Tenant(%q) = %q, %v; want %q, %v", tt.key, tenant, ok, tt.wantTenant, tt.wantOK)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, spec := range []string{"nocolon", ":" + Hash("x"), "t:zz", "t:abcd"} {
		if _, err := Parse(spec); err == nil {
			t.Errorf("Parse(%q) succeeded", spec)
		}
	}
	k, err := Parse("")
	if err != nil || k.Len() != 0 {
		t.Errorf("Parse(\"\") = %v, %v", k, err)
	}
}

// hostileTenants are names that must never name a tenant: each could make two tenants' storage
// keys meet ('#' is the keys' separator) or is not a name at all.
var hostileTenants = []string{
	"", "a#b", "#", "bad tenant!", "a b", "a\nb", "a\x00", "-a", ".a", "a/b", "a%23b", "ａcme", "acme\u212A",
	"a:b", "a,b", strings.Repeat("a", MaxTenantBytes+1),
}

func TestValidateTenant(t *testing.T) {
	for _, name := range hostileTenants {
		if err := ValidateTenant(name); !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("ValidateTenant(%q) = %v, want ErrInvalidTenant", name, err)
		}
	}
	for _, name := range []string{"acme", "a", "9", "a.b-c_D", strings.Repeat("a", MaxTenantBytes)} {
		if err := ValidateTenant(name); err != nil {
			t.Errorf("ValidateTenant(%q) = %v", name, err)
		}
	}
}

func TestParseRefusesBadTenants(t *testing.T) {
	for _, name := range hostileTenants {
		if strings.ContainsAny(name, ",:") || strings.TrimSpace(name) != name || name == "" {
			continue // not a tenant field of the list at all
		}
		if _, err := Parse(name + ":" + Hash("k")); !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("Parse with tenant %q = %v, want ErrInvalidTenant", name, err)
		}
	}
}
