package main

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// TestBashCompletion runs the bash script: it completes command names, then a command's verbs
// and flags.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	var script bytes.Buffer
	if err := runCompletion([]string{"bash"}, &script); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ words, cword, want string }{
		{"agentq in", "1", "invoke"},
		{"agentq s", "1", "smoke soak stop"},
		{"agentq agents p", "2", "put publish"},
		{"agentq invoke echo --w", "3", "--wait"},
		{"agentq help recei", "2", "receipts receipt-keys"},
		{"agentq help ev", "2", "events"},
	}
	for _, tc := range cases {
		cmd := exec.Command(bash, "--norc", "-c", script.String()+`
COMP_WORDS=(`+tc.words+`); COMP_CWORD=`+tc.cword+`; _agentq; echo "${COMPREPLY[@]}"`)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", tc.words, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("complete %q = %q, want %q", tc.words, got, tc.want)
		}
	}
}
