package name

import (
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		s    string
		max  int
		want bool
	}{
		{"a", 3, true},
		{"a.b_c-d", 10, true},
		{"9lives", 10, true},
		{"", 3, false},
		{"abcd", 3, false},
		{".a", 3, false},
		{"-a", 3, false},
		{"a#b", 3, false},
		{"a b", 3, false},
		{"é", 3, false},
		{strings.Repeat("x", 128), 128, true},
		{strings.Repeat("x", 129), 128, false},
	} {
		if got := Valid(tc.s, tc.max); got != tc.want {
			t.Errorf("Valid(%q, %d) = %v, want %v", tc.s, tc.max, got, tc.want)
		}
	}
}
