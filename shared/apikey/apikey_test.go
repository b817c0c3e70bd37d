package apikey

import "testing"

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
