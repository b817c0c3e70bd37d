package coldstart

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// moduleRoot is the module's root, where Build's package paths start (tests run in the package's
// directory).
var moduleRoot, _ = filepath.Abs("../..")

func build(t *testing.T, f Function) Binary {
	t.Helper()
	t.Chdir(moduleRoot)
	path, err := Build(context.Background(), t.TempDir(), f.Name, f.Package)
	if err != nil {
		t.Fatal(err)
	}
	return Binary{Name: f.Name, Path: path, Env: f.Env}
}

// TestMeasure: the minimal binary asks the fake Runtime API for work, once per run.
func TestMeasure(t *testing.T) {
	b := build(t, Minimal)
	res, err := Measure(context.Background(), []Binary{b}, 3)
	if err != nil {
		t.Fatal(err)
	}
	r := res[Minimal.Name]
	if len(r.Runs) != 3 || r.Size == 0 {
		t.Fatalf("result = %+v, want 3 runs and a size", r)
	}
	for _, d := range r.Runs {
		if d <= 0 {
			t.Errorf("run of %v", d)
		}
	}
}

// TestNetworkAtInit: a binary that connects to its AWS endpoint before asking for work is
// reported, not timed.
func TestNetworkAtInit(t *testing.T) {
	b := build(t, Function{Name: "dialer", Package: "./test/coldstart/testdata/dialer"})
	if _, err := Measure(context.Background(), []Binary{b}, 1); !errors.Is(err, ErrNetworkAtInit) {
		t.Fatalf("Measure = %v, want ErrNetworkAtInit", err)
	}
}

// TestExitBeforeWork: a binary that exits at init (here a function without its configuration)
// is an error that quotes what it said.
func TestExitBeforeWork(t *testing.T) {
	f := Functions[0]
	f.Env = nil
	b := build(t, f)
	if _, err := Measure(context.Background(), []Binary{b}, 1); err == nil {
		t.Fatal("Measure of a function that cannot start succeeded")
	}
}

// TestFunctionsInitOffline: every function, with the configuration the stack gives it, starts and
// asks for work without connecting to AWS.
func TestFunctionsInitOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every function")
	}
	var bins []Binary
	for _, f := range Functions {
		bins = append(bins, build(t, f))
	}
	if _, err := Measure(context.Background(), bins, 1); err != nil {
		t.Fatal(err)
	}
}

func TestMedian(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	for _, tc := range []struct {
		runs []time.Duration
		want time.Duration
	}{
		{nil, 0}, {ms(5), 5 * time.Millisecond}, {ms(9, 1, 5), 5 * time.Millisecond}, {ms(4, 1, 2, 3), 2500 * time.Microsecond},
	} {
		if got := (Result{Runs: tc.runs}).Median(); got != tc.want {
			t.Errorf("median of %v = %v, want %v", tc.runs, got, tc.want)
		}
	}
}
