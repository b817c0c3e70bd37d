package bench

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestParseHWM(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		want         float64
		wantErr      bool
	}{
		{"kB to MB", "Name:\tinvoke\nVmPeak:\t  900000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n", 20, false},
		{"no VmHWM", "Name:\tinvoke\nVmRSS:\t   10240 kB\n", 0, true},
		{"not a number", "VmHWM:\t lots kB\n", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHWM([]byte(tc.status))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("parseHWM = %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// TestWorkerBilledAt: the agent's wait is billed at any memory, the CPU time stretches below a
// full vCPU.
func TestWorkerBilledAt(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		mb, handlerMs, cpuMs float64
		want                 float64
	}{
		{"no CPU: the wait times the GB", 512, 100, 0, 50},
		{"a full vCPU: as measured", FullCPUMB, 100, 40, 100 * FullCPUMB / 1024.0},
		{"a third of a vCPU stretches the CPU part", 512, 100, 10, (90 + 10*FullCPUMB/512.0) / 2},
		{"beyond a vCPU no faster", 2 * FullCPUMB, 100, 40, 100 * 2 * FullCPUMB / 1024.0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := WorkerBilledAt(tc.mb, tc.handlerMs, tc.cpuMs); math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("WorkerBilledAt(%v, %v, %v) = %v, want %v", tc.mb, tc.handlerMs, tc.cpuMs, got, tc.want)
			}
		})
	}
}

// TestRunFunction runs a real aws-lambda-go binary (the cold-start meter's minimal function)
// under the fake Runtime API: every event is handed out and answered, and the process's peak
// memory is read.
func TestRunFunction(t *testing.T) {
	if testing.Short() || runtime.GOOS != "linux" {
		t.Skip("builds a function; reads /proc")
	}
	bin := filepath.Join(t.TempDir(), "minimal")
	cmd := exec.Command("go", "build", "-o", bin, "../../../test/coldstart/minimal")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v: %s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := RunFunction(ctx, "minimal", bin, []string{"PATH=" + os.Getenv("PATH")}, [][]byte{[]byte(`{"a":1}`), []byte(`{}`), []byte(`[]`)})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Answers) != 3 || p.PeakMB <= 0 {
		t.Fatalf("answers %d, peak %v MB; want 3 answers and a peak", len(p.Answers), p.PeakMB)
	}
	for i, a := range p.Answers {
		if a == nil {
			t.Errorf("event %d not answered", i)
		}
	}
	// A binary that exits at init is an error that says so.
	if _, err := RunFunction(ctx, "false", "/bin/false", nil, [][]byte{[]byte(`{}`)}); err == nil {
		t.Fatal("RunFunction of a binary that exits succeeded")
	}
}
