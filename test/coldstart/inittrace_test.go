package coldstart

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// maxInitBytes bounds what one of agentq's packages may allocate at init: a few small tables.
// Regular expressions, reflection walks and clients built at init cost far more, and are paid
// at every cold start by every function that links the package, used or not.
const maxInitBytes = 1024

// initExempt are packages whose init work belongs to another change: dispatch's redaction
// patterns go with the A2A and gRPC dependencies being moved out of the light functions.
var initExempt = map[string]bool{"github.com/agentq/agentq/shared/dispatch": true}

// TestInitWorkIsSmall: every function, run with GODEBUG=inittrace=1, reports for each of
// agentq's packages at most maxInitBytes allocated at init. Allocations, unlike times, do not
// depend on the machine's load.
func TestInitWorkIsSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function")
	}
	for _, f := range Functions {
		b := build(t, f)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, b.Path)
		cmd.Env = append(append(os.Environ(), f.Env...), "GODEBUG=inittrace=1", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:1")
		out, _ := cmd.CombinedOutput() // it exits once it finds no Runtime API
		cancel()
		for pkg, n := range initBytes(out) {
			if strings.HasPrefix(pkg, "github.com/agentq/agentq/") && !initExempt[pkg] && n > maxInitBytes {
				t.Errorf("%s: %s allocates %d bytes at init, want at most %d", f.Name, pkg, n, maxInitBytes)
			}
		}
	}
}

// initBytes reads inittrace lines: "init <pkg> @0.1 ms, 0.2 ms clock, <n> bytes, <m> allocs".
func initBytes(out []byte) map[string]int {
	m := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[0] != "init" || f[8] != "bytes," {
			continue
		}
		if n, err := strconv.Atoi(f[7]); err == nil {
			m[f[1]] += n
		}
	}
	return m
}

func TestInitBytes(t *testing.T) {
	out := []byte("init a/b @1.2 ms, 0.3 ms clock, 4096 bytes, 12 allocs\nnoise\ninit c @2 ms, 0 ms clock, 0 bytes, 0 allocs\n")
	got := initBytes(out)
	if got["a/b"] != 4096 || got["c"] != 0 || len(got) != 2 {
		t.Errorf("initBytes = %v", got)
	}
}
