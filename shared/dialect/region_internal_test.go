package dialect

import (
	"regexp"
	"testing"
)

// TestValidRegionIsThePattern: the loop accepts exactly what the regular expression it replaced
// did.
func TestValidRegionIsThePattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z]{2}$`)
	var names []string
	for _, a := range "aZ0-é\x00" {
		names = append(names, string(a))
		for _, b := range "aZ0-é\x00" {
			names = append(names, string(a)+string(b), string(a)+string(b)+"a")
		}
	}
	for _, n := range append(names, "", "au", "AU", "aU ", "\nau") {
		if got, want := validRegion(n), pattern.MatchString(n); got != want {
			t.Errorf("validRegion(%q) = %v, the pattern says %v", n, got, want)
		}
	}
}
