package coldstart

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// Report builds the minimal binary and every function from the module rooted at the working
// directory, measures them runs times each (see Measure) and writes one line per binary: the
// median init, its ratio to the minimal binary's, and the stripped size.
func Report(ctx context.Context, w io.Writer, runs int) (map[string]Result, error) {
	dir, err := os.MkdirTemp("", "coldstart-bin-")
	if err != nil {
		return nil, fmt.Errorf("cold start: %w", err)
	}
	defer os.RemoveAll(dir)
	var bins []Binary
	for _, f := range append([]Function{Minimal}, Functions...) {
		path, err := Build(ctx, dir, f.Name, f.Package)
		if err != nil {
			return nil, fmt.Errorf("cold start: %w", err)
		}
		bins = append(bins, Binary{Name: f.Name, Path: path, Env: f.Env})
	}
	res, err := Measure(ctx, bins, runs)
	if err != nil {
		return nil, fmt.Errorf("cold start: %w", err)
	}
	floor := res[Minimal.Name].Median()
	for _, b := range bins {
		r := res[b.Name]
		fmt.Fprintf(w, "coldstart: fn=%s init_ms=%.1f ratio=%.2f size_mb=%.1f runs=%d\n",
			b.Name, ms(r.Median()), float64(r.Median())/float64(floor), float64(r.Size)/1e6, len(r.Runs))
	}
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
