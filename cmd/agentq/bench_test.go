package main

import (
	"bytes"
	"context"
	"testing"
)

// TestBenchColdStartOnly: -coldstart-only ends the bench after the cold-start meter (here asked
// for no runs), without starting the pipeline.
func TestBenchColdStartOnly(t *testing.T) {
	var out, errs bytes.Buffer
	if err := runBench(context.Background(), []string{"-coldstart-runs", "0", "-coldstart-only"}, &out, &errs); err != nil || out.Len() != 0 {
		t.Fatalf("bench = %v, %q %q", err, out.String(), errs.String())
	}
}
