// Package coldstart measures a Lambda function's cold start as Lambda's own clock would start it:
// from the exec of its bootstrap binary to its first request for work (GET
// /2018-06-01/runtime/invocation/next) on a fake Lambda Runtime API served on 127.0.0.1. Every
// AWS endpoint points at a listener on 127.0.0.1 that counts connections, so an init that reaches
// for the network is reported instead of timed.
package coldstart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"
)

// BuildFlags are the flags the functions are built with for Lambda (mk/infra.mk's LAMBDA_BUILD,
// for the host's GOOS and GOARCH): no cgo, no RPC entry point, stripped.
var BuildFlags = []string{"build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags", "-s -w"}

// Build builds the main package pkg (a path go build accepts) into dir/name and returns the
// binary's path.
func Build(ctx context.Context, dir, name, pkg string) (string, error) {
	out := filepath.Join(dir, name)
	args := append(slices.Clone(BuildFlags), "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w: %s", pkg, err, b)
	}
	return out, nil
}

// Result is what Measure found for one binary.
type Result struct {
	// Size is the binary's size in bytes.
	Size int64
	// Runs are the times from exec to the first /next request, in run order.
	Runs []time.Duration
}

// Median is the median of the runs (the mean of the middle two for an even count).
func (r Result) Median() time.Duration {
	s := slices.Clone(r.Runs)
	slices.Sort(s)
	switch n := len(s); {
	case n == 0:
		return 0
	case n%2 == 1:
		return s[n/2]
	default:
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// ErrNetworkAtInit says a function connected to an AWS endpoint before asking for its first
// event: its init makes a network call.
var ErrNetworkAtInit = errors.New("init connected to an AWS endpoint")

// runtimeAPI is the fake Lambda Runtime API: it notes when /next is first asked for and holds the
// request open until the process is stopped.
type runtimeAPI struct {
	next chan time.Time
}

const nextPath = "/2018-06-01/runtime/invocation/next"

func (a *runtimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != nextPath {
		http.NotFound(w, r)
		return
	}
	select {
	case a.next <- time.Now():
	default:
	}
	<-r.Context().Done()
}

// Binary is a function binary to measure and the environment its init needs.
type Binary struct {
	Name, Path string
	Env        []string
}

// Measure starts every binary runs times, taking them in turn (so a change in the machine's load
// falls on all of them alike), each with its Env (besides the Runtime API's address, AWS
// endpoints and credentials it sets) and a fresh empty HOME, and times each from exec to the
// first /next request. It stops each process it started once it asked.
func Measure(ctx context.Context, bins []Binary, runs int) (map[string]Result, error) {
	results := map[string]Result{}
	for _, b := range bins {
		st, err := os.Stat(b.Path)
		if err != nil {
			return nil, fmt.Errorf("measure: %w", err)
		}
		results[b.Name] = Result{Size: st.Size()}
	}
	api := &runtimeAPI{next: make(chan time.Time, 1)}
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("measure: %w", err)
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(apiLn) }()
	defer srv.Close()
	sentinel, err := newSentinel()
	if err != nil {
		return nil, fmt.Errorf("measure: %w", err)
	}
	defer sentinel.Close()
	home, err := os.MkdirTemp("", "coldstart-home-")
	if err != nil {
		return nil, fmt.Errorf("measure: %w", err)
	}
	defer os.RemoveAll(home)
	base := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_LAMBDA_RUNTIME_API=" + apiLn.Addr().String(),
		"AWS_ENDPOINT_URL=http://" + sentinel.Addr(),
		"AWS_REGION=us-east-1", "AWS_DEFAULT_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=coldstart", "AWS_SECRET_ACCESS_KEY=coldstart", "AWS_SESSION_TOKEN=coldstart",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
	}
	for range runs {
		for _, b := range bins {
			env := append(slices.Clone(base), "AWS_LAMBDA_FUNCTION_NAME="+b.Name)
			d, err := once(ctx, b.Path, append(env, b.Env...), api.next)
			if err != nil {
				return nil, err
			}
			if n := sentinel.Count(); n > 0 {
				return nil, fmt.Errorf("measure %s: %w (%d connections)", b.Name, ErrNetworkAtInit, n)
			}
			r := results[b.Name]
			r.Runs = append(r.Runs, d)
			results[b.Name] = r
		}
	}
	return results, nil
}

// once runs bin until its first /next request and answers the time that took.
func once(ctx context.Context, bin string, env []string, next <-chan time.Time) (time.Duration, error) {
	var stderr bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env, cmd.Stderr = env, &stderr
	exited := make(chan error, 1)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	select {
	case at := <-next:
		stop()
		return at.Sub(start), nil
	case err := <-exited:
		return 0, fmt.Errorf("%s exited before asking for work: %v: %s", filepath.Base(bin), err, stderr.Bytes())
	case <-timeout.C:
		stop()
		return 0, fmt.Errorf("%s did not ask for work within 30s: %s", filepath.Base(bin), stderr.Bytes())
	case <-ctx.Done():
		stop()
		return 0, ctx.Err()
	}
}

// sentinel is a listener that stands in for every AWS endpoint and counts the connections made
// to it.
type sentinel struct {
	ln net.Listener
	n  atomic.Int64
}

func newSentinel() (*sentinel, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sentinel{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.n.Add(1)
			_ = c.Close()
		}
	}()
	return s, nil
}

func (s *sentinel) Addr() string { return s.ln.Addr().String() }
func (s *sentinel) Count() int64 { return s.n.Load() }
func (s *sentinel) Close() error { return s.ln.Close() }
