// Package name checks the shape shared by the names agentq keys storage with: agent IDs and
// versions, and tenants.
package name

// Valid reports whether s is 1 to max letters, digits, '.', '_' or '-', starting with a letter or
// digit. A loop rather than a regular expression: a bounded repetition ({0,127}) compiles to a
// program the size of its bound, built at every cold start of every function that links it.
func Valid(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}
