package apikey

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestValidTenantIsThePattern: the loop accepts exactly what the regular expression it replaced
// did, on edge cases and on random names over the interesting bytes.
func TestValidTenantIsThePattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	names := []string{"", "a", "A9", ".a", "-a", "_a", "a.b-c_d", "a#b", "a b", "é", strings.Repeat("a", 64), strings.Repeat("a", 65), "a\n"}
	alphabet := "aZ09._-#/ \x00\xff"
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, r.IntN(70))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		names = append(names, string(b))
	}
	for _, n := range names {
		if got, want := validTenant(n), pattern.MatchString(n); got != want {
			t.Errorf("validTenant(%q) = %v, the pattern says %v", n, got, want)
		}
	}
}
