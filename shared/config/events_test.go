package config

import (
	"strings"
	"testing"
)

func TestCompletionEvents(t *testing.T) {
	tests := []struct {
		value, want, wantErr string
	}{
		{"", CompletionEventsRequested, ""},
		{"requested", CompletionEventsRequested, ""},
		{"all", CompletionEventsAll, ""},
		{"everything", "", EnvCompletionEvents},
		{"ALL", "", EnvCompletionEvents},
	}
	for _, tc := range tests {
		c, err := Load(env(map[string]string{EnvCompletionEvents: tc.value}))
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s=%q: err = %v, want one naming %s", EnvCompletionEvents, tc.value, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%s=%q: %v", EnvCompletionEvents, tc.value, err)
		case c.CompletionEvents != tc.want:
			t.Errorf("%s=%q: CompletionEvents = %q, want %q", EnvCompletionEvents, tc.value, c.CompletionEvents, tc.want)
		}
	}
}
