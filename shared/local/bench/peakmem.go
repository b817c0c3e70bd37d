package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Peak is what RunFunction found: the process's peak resident memory and CPU time once it had
// answered every event, and its answers in order.
type Peak struct {
	PeakMB  float64
	CPU     time.Duration
	Answers [][]byte
	// Errors counts the events it answered with a function error.
	Errors int
	// IDs are the task ids its answers name (the bench fills them in).
	IDs []string
}

// runtimeAPI is a fake Lambda Runtime API that hands out events one at a time and records the
// answers; once every event is answered it closes done, and holds any further /next open.
type runtimeAPI struct {
	fn     string
	mu     sync.Mutex
	events [][]byte
	next   int
	answer [][]byte
	failed []bool
	left   int
	done   chan struct{}
	fatal  chan string
}

const runtimePrefix = "/2018-06-01/runtime/"

func (a *runtimeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, runtimePrefix)
	switch {
	case r.Method == http.MethodGet && path == "invocation/next":
		a.serveNext(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "invocation/"):
		id, kind, _ := strings.Cut(strings.TrimPrefix(path, "invocation/"), "/")
		body, _ := io.ReadAll(r.Body)
		if !a.record(id, kind == "error", body) {
			http.Error(w, "unknown request id", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPost && path == "init/error":
		body, _ := io.ReadAll(r.Body)
		select {
		case a.fatal <- string(body):
		default:
		}
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

// serveNext hands out the next event with the headers Lambda sends, or waits for the end.
func (a *runtimeAPI) serveNext(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	if a.next >= len(a.events) {
		a.mu.Unlock()
		<-r.Context().Done()
		return
	}
	i := a.next
	a.next++
	ev := a.events[i]
	a.mu.Unlock()
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", strconv.Itoa(i))
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:"+a.fn)
	h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
	h.Set("Content-Type", "application/json")
	_, _ = w.Write(ev)
}

// record keeps the answer to request id and answers whether the id was one handed out.
func (a *runtimeAPI) record(id string, failed bool, body []byte) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	i, err := strconv.Atoi(id)
	if err != nil || i < 0 || i >= a.next || a.answer[i] != nil {
		return false
	}
	a.answer[i], a.failed[i] = append([]byte{}, body...), failed
	if a.left--; a.left == 0 {
		close(a.done)
	}
	return true
}

// RunFunction starts the function binary bin with env (besides the Runtime API's address) under
// a fake Lambda Runtime API on 127.0.0.1, hands it events one at a time as Lambda would, and once
// it has answered them all reads its peak resident memory (VmHWM) and CPU time from /proc
// (Linux only), then stops it.
func RunFunction(ctx context.Context, fn, bin string, env []string, events [][]byte) (Peak, error) {
	if len(events) == 0 {
		return Peak{}, errors.New("run function: no events")
	}
	api := &runtimeAPI{fn: fn, events: events, answer: make([][]byte, len(events)), failed: make([]bool, len(events)),
		left: len(events), done: make(chan struct{}), fatal: make(chan string, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Peak{}, fmt.Errorf("run %s: %w", fn, err)
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = append(env, "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String(), "AWS_LAMBDA_FUNCTION_NAME="+fn)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return Peak{}, fmt.Errorf("run %s: %w", fn, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	timeout := time.NewTimer(2 * time.Minute)
	defer timeout.Stop()
	select {
	case <-api.done:
	case msg := <-api.fatal:
		return Peak{}, fmt.Errorf("run %s: init failed: %s %s", fn, msg, stderr.Bytes())
	case err := <-exited:
		exited <- err
		return Peak{}, fmt.Errorf("run %s: exited: %v: %s", fn, err, tail(stderr.Bytes()))
	case <-timeout.C:
		return Peak{}, fmt.Errorf("run %s: events not all answered within 2 minutes: %s", fn, tail(stderr.Bytes()))
	case <-ctx.Done():
		return Peak{}, ctx.Err()
	}
	p := Peak{Answers: api.answer}
	for _, f := range api.failed {
		if f {
			p.Errors++
		}
	}
	pid := cmd.Process.Pid
	if p.PeakMB, err = vmHWM(pid); err != nil {
		return Peak{}, fmt.Errorf("run %s: %w", fn, err)
	}
	p.CPU, _ = cpuTime(pid)
	return p, nil
}

// vmHWM reads a process's peak resident set size in MB.
func vmHWM(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read peak memory: %w", err)
	}
	return parseHWM(b)
}

// parseHWM reads VmHWM (kB) from the text of /proc/PID/status, in MB.
func parseHWM(status []byte) (float64, error) {
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("read peak memory: %w", err)
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("read peak memory: no VmHWM")
}

// cpuTime reads a process's user and system CPU time from /proc/PID/stat (clock ticks of 10 ms,
// Linux's USER_HZ).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count from after it.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, errors.New("read cpu time: short stat")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

func tail(b []byte) []byte {
	if len(b) > 2000 {
		return b[len(b)-2000:]
	}
	return b
}
