package table

import "testing"

// TestTenantKeysNeverMeet: tenant "a" sending thread id "b#c" must not land in tenant "a#b"'s
// thread "c", whatever the tenants are called.
func TestTenantKeysNeverMeet(t *testing.T) {
	pairs := [][2]string{{"a", "b#c"}, {"a#b", "c"}, {"a%23b", "c"}, {"a", "%23b#c"}, {"a#", "b"}, {"a", "#b"}}
	seen := map[string][2]string{}
	for _, p := range pairs {
		for _, prefix := range []string{"THREAD", "IDEMP"} {
			k := TenantKey(prefix, p[0], p[1])
			if prev, dup := seen[k]; dup {
				t.Errorf("%v and %v share key %s", prev, p, k)
			}
			seen[k] = p
		}
	}
	if got := TenantKey("THREAD", "acme", "t1"); got != "THREAD#acme#t1" {
		t.Errorf("a valid tenant's key changed: %s", got)
	}
	if got := TenantPartition("TENANT", "acme"); got != "TENANT#acme" {
		t.Errorf("a valid tenant's partition changed: %s", got)
	}
}
