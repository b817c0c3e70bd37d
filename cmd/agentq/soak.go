package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/local/demoagent"
	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/local/system"
	"github.com/agentq/agentq/shared/telemetry"
)

// soakConfig bounds a soak run.
type soakConfig struct {
	N, C, Kills int
	// Freezes is how often each emulator (DynamoDB Local, fauxqs) is frozen, for Hold each time.
	Freezes    int
	Hold       time.Duration
	Slow       time.Duration // the slow inputs' delay_ms
	Visibility time.Duration // the work queue's visibility timeout
	AgentTO    time.Duration // the soak agent's timeout: a lease is this + 15 s
	Patience   time.Duration // how long to wait for every task to end once all are sent
	Level      string
}

// runSoak is `agentq soak`: it starts the emulators and the API in this process and a worker as
// a child process, sends N invocations from C clients with a mix of fast, slow and failing echo
// inputs across both dialects, kills the worker with SIGKILL and starts another a few times,
// freezes DynamoDB Local and fauxqs a few seconds at a time (SIGSTOP), waits until every accepted
// task has ended, and reconciles. Everything listens on 127.0.0.1.
func runSoak(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseSoak(args, stderr)
	if err != nil {
		return err
	}
	if err := emulators.CheckInstalled(emulators.Options{}); err != nil {
		return fmt.Errorf("soak: %w (run make tools)", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	dir, err := os.MkdirTemp("", "agentq-soak-")
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	defer os.RemoveAll(dir)

	// The agent: echo behind a wrapper that counts the calls per task.
	calls := newCallCounter(demoagent.Handler())
	agentLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	agentSrv := &http.Server{Handler: calls, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = agentSrv.Serve(agentLn) }()
	defer agentSrv.Close()

	key := make([]byte, 16)
	_, _ = rand.Read(key)
	apiKey := "aq_soak_" + hex.EncodeToString(key)
	sealKey := make([]byte, 32)
	_, _ = rand.Read(sealKey)
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	sys, err := system.Start(startCtx, system.Options{
		Addr: "127.0.0.1:0", APIKey: apiKey, NoWorker: true, Visibility: c.Visibility, SealKey: sealKey,
		Agents: []agent.Agent{{ID: "soak", Name: "Soak", Protocol: agent.HTTP, Endpoint: "http://" + agentLn.Addr().String() + "/",
			Timeout: agent.Duration(c.AgentTO)}},
		Logger: telemetry.NewLogger(stderr, c.Level),
	})
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	defer sys.Close()
	state := filepath.Join(dir, "local.json")
	if err := system.WriteState(state, sys.WorkerOptions(sealKey)); err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	w := &workerProc{exe: exe, args: []string{"worker", "-state", state, "-log-level", c.Level}, stderr: stderr}
	if err := w.start(); err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	defer w.stop()
	fmt.Fprintf(stdout, "soak: n=%d c=%d kills=%d freezes=%dx2 of %s slow=%s visibility=%s agent-timeout=%s api=%s\n",
		c.N, c.C, c.Kills, c.Freezes, c.Hold, c.Slow, c.Visibility, c.AgentTO, sys.APIURL)

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: c.C, MaxConnsPerHost: c.C}}
	s := &soak{cfg: c, api: sys.APIURL, key: apiKey, client: client, tasks: make([]soakTask, c.N), emu: sys.Emulators()}

	// Send, killing and restarting the worker every N/(Kills+1) acceptances.
	began := time.Now()
	if err := s.sendAll(ctx, stdout, w); err != nil {
		return err
	}
	sendTime := time.Since(began)

	// Wait, bounded, until every accepted task has ended.
	deadline := time.Now().Add(c.Patience)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if s.poll(ctx) == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	total := time.Since(began)
	return s.report(stdout, calls, sendTime, total, w.starts)
}

// parseSoak reads the soak's flags.
func parseSoak(args []string, stderr io.Writer) (soakConfig, error) {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c soakConfig
	fs.IntVar(&c.N, "n", 2000, "invocations to send")
	fs.IntVar(&c.C, "c", 32, "concurrent clients")
	fs.IntVar(&c.Kills, "kills", 3, "times the worker is killed (SIGKILL) and started again")
	fs.IntVar(&c.Freezes, "freezes", 2, "times each emulator (DynamoDB Local, fauxqs) is frozen (SIGSTOP)")
	fs.DurationVar(&c.Hold, "freeze-for", 3*time.Second, "how long each freeze lasts")
	fs.DurationVar(&c.Slow, "slow", 400*time.Millisecond, "delay of the slow inputs")
	fs.DurationVar(&c.Visibility, "visibility", 5*time.Second, "the work queue's visibility timeout")
	fs.DurationVar(&c.AgentTO, "agent-timeout", 5*time.Second, "the agent's timeout (a lease is this + 15s)")
	fs.DurationVar(&c.Patience, "patience", 4*time.Minute, "how long to wait for the tasks to end once all are sent")
	fs.StringVar(&c.Level, "log-level", "error", "log level of the API and the worker")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.N <= 0 || c.C <= 0 || c.N > 100000 || c.C > 1024 {
		return c, errors.New("soak: -n must be in 1..100000 and -c in 1..1024")
	}
	return c, nil
}

// sendAll sends every invocation from the configured clients, killing the worker (SIGKILL) and
// starting another every N/(Kills+1) sends, and freezing the emulators in between.
func (s *soak) sendAll(ctx context.Context, stdout io.Writer, w *workerProc) error {
	next := make(chan int)
	var wg sync.WaitGroup
	var sent atomic.Int64
	for range s.cfg.C {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s.send(ctx, i)
				sent.Add(1)
			}
		}()
	}
	freezesDone := make(chan error, 1)
	go func() {
		freezesDone <- dependencyFaults(ctx, stdout, s.emu, s.cfg.Freezes, s.cfg.Hold, s.cfg.N, sent.Load)
	}()
	killsDone := make(chan error, 1)
	go func() {
		for k := 1; k <= s.cfg.Kills; k++ {
			at := int64(s.cfg.N * k / (s.cfg.Kills + 1))
			for sent.Load() < at && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
			if ctx.Err() != nil {
				break
			}
			if err := w.kill(); err != nil {
				killsDone <- err
				return
			}
			fmt.Fprintf(stdout, "soak: killed the worker (SIGKILL) after %d sends; starting another\n", at)
			time.Sleep(500 * time.Millisecond)
			if err := w.start(); err != nil {
				killsDone <- err
				return
			}
		}
		killsDone <- nil
	}()
	for i := range s.cfg.N {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := <-killsDone; err != nil {
		return fmt.Errorf("soak: restart worker: %w", err)
	}
	if err := <-freezesDone; err != nil {
		return fmt.Errorf("soak: freeze an emulator: %w", err)
	}
	return nil
}

// soakTask is one invocation and what became of it.
type soakTask struct {
	kind     string // fast, slow, fail
	accepted bool
	// code is the accept's HTTP status; id the task it named, accepted or not (a 5xx names the
	// task it recorded failed).
	code     int
	id       string
	latency  time.Duration
	status   string
	attempts int
	terminal bool
}

type soak struct {
	cfg    soakConfig
	api    string
	key    string
	client *http.Client
	tasks  []soakTask
	// emu are the emulators to freeze.
	emu *emulators.Emulators
}

func (s *soak) send(ctx context.Context, i int) {
	t := &s.tasks[i]
	input := map[string]any{"text": fmt.Sprintf("soak %d", i)}
	switch i % 10 {
	case 6, 7:
		t.kind, input["delay_ms"] = "slow", s.cfg.Slow.Milliseconds()
	case 8, 9:
		t.kind, input["fail"] = "fail", "permanent"
	default:
		t.kind = "fast"
	}
	path := "/v1/agents/soak/invoke/async"
	if i%2 == 1 {
		path = "/v1/agents/soak/invoke-async"
	}
	body, _ := json.Marshal(map[string]any{"input": input})
	start := time.Now()
	code, out := s.do(ctx, http.MethodPost, path, body)
	t.latency, t.code = time.Since(start), code
	if e, ok := out["error"].(map[string]any); ok {
		out = e
	}
	for _, k := range []string{"task_id", "receipt_id", "id"} {
		if id, _ := out[k].(string); id != "" {
			t.id, t.accepted = id, code == http.StatusOK
			return
		}
	}
}

// poll reads every accepted task not yet seen to end, and returns how many still have not.
func (s *soak) poll(ctx context.Context) int {
	var open []int
	for i := range s.tasks {
		if s.tasks[i].accepted && !s.tasks[i].terminal {
			open = append(open, i)
		}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range s.cfg.C {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t := &s.tasks[i]
				code, out := s.do(ctx, http.MethodGet, "/v1/tasks/"+t.id, nil)
				if code != http.StatusOK {
					continue
				}
				t.status, _ = out["status"].(string)
				a, _ := out["execution_attempts"].(float64)
				t.attempts = int(a)
				switch t.status {
				case "completed", "failed", "error", "stopped":
					t.terminal = true
				}
			}
		}()
	}
	for _, i := range open {
		next <- i
	}
	close(next)
	wg.Wait()
	left := 0
	for _, i := range open {
		if !s.tasks[i].terminal {
			left++
		}
	}
	return left
}

func (s *soak) do(ctx context.Context, method, path string, body []byte) (int, map[string]any) {
	req, err := http.NewRequestWithContext(ctx, method, s.api+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil
	}
	req.Header.Set("x-api-key", s.key)
	req.Header.Set("content-type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out)
	return resp.StatusCode, out
}

func (s *soak) report(w io.Writer, calls *callCounter, sendTime, total time.Duration, workers int) error {
	var accepted, terminal, succeeded, failed, unexpected, duplicates, answersLost, retried, refused, untrue int
	var lat []time.Duration
	for i := range s.tasks {
		t := &s.tasks[i]
		lat = append(lat, t.latency)
		if !t.accepted {
			refused++
			// A refusal must be true: a task it names never runs.
			if t.id != "" && calls.get(t.id) > 0 {
				untrue++
			}
			continue
		}
		accepted++
		if !t.terminal {
			continue
		}
		// Calls beyond the one whose answer was recorded, when it was the first to answer: the
		// agent doing work again that a live worker had already paid for.
		dupes, lost := calls.duplicates(t.id, t.attempts)
		duplicates += dupes
		if lost {
			answersLost++
		}
		terminal++
		switch t.status {
		case "completed":
			succeeded++
		default:
			failed++
		}
		if (t.kind == "fail") != (t.status != "completed") {
			unexpected++
		}
		if t.attempts > 1 {
			retried++
		}
	}
	lost := accepted - terminal
	slices.Sort(lat)
	fmt.Fprintf(w, "soak: sent %d in %s (%.0f/s), all ended after %s; worker processes started: %d\n",
		len(s.tasks), sendTime.Round(time.Millisecond), float64(len(s.tasks))/sendTime.Seconds(), total.Round(time.Millisecond), workers)
	fmt.Fprintf(w, "soak: accepted=%d refused=%d refused-but-ran=%d succeeded=%d failed=%d unexpected-outcome=%d executed-more-than-once=%d agent-calls=%d\n",
		accepted, refused, untrue, succeeded, failed, unexpected, retried, calls.total())
	fmt.Fprintf(w, "soak: accept latency p50=%s p99=%s max=%s; answers lost with a killed worker (the task ran again): %d\n",
		pct(lat, 0.50), pct(lat, 0.99), pct(lat, 1), answersLost)
	fmt.Fprintf(w, "soak: accepted=%d terminal=%d lost=%d duplicates=%d\n", accepted, terminal, lost, duplicates)
	if lost > 0 {
		return fmt.Errorf("soak: %d accepted tasks did not end", lost)
	}
	if untrue > 0 {
		return fmt.Errorf("soak: %d refused tasks ran", untrue)
	}
	return nil
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)].Round(100 * time.Microsecond)
}

// callCounter counts an agent's calls per task, then passes them on. It notes which attempt first
// got an answer from the agent (a call whose caller hung up before the answer, a worker killed
// mid-call, answered nothing), and how many calls began after that answer.
type callCounter struct {
	mu    sync.Mutex
	tasks map[string]*taskCalls
	n     int
	next  http.Handler
}

// taskCalls is what the agent saw of one task.
type taskCalls struct {
	calls int
	// answered is the attempt of the first call that answered; 0 until one did.
	answered int
	// after counts the calls that began once a call had answered, or while another was in flight.
	after    int
	inFlight int
}

func newCallCounter(next http.Handler) *callCounter {
	return &callCounter{tasks: map[string]*taskCalls{}, next: next}
}

func (c *callCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	var req dispatch.HTTPRequest
	_ = json.Unmarshal(body, &req)
	c.mu.Lock()
	tc := c.tasks[req.TaskID]
	if tc == nil {
		tc = &taskCalls{}
		c.tasks[req.TaskID] = tc
	}
	tc.calls++
	c.n++
	if tc.answered > 0 || tc.inFlight > 0 {
		tc.after++
	}
	tc.inFlight++
	c.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(body))
	c.next.ServeHTTP(w, r)
	c.mu.Lock()
	tc.inFlight--
	if r.Context().Err() == nil && tc.answered == 0 {
		tc.answered = max(req.Attempt, 1)
	}
	c.mu.Unlock()
}

func (c *callCounter) get(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tc := c.tasks[id]; tc != nil {
		return tc.calls
	}
	return 0
}

// duplicates are the calls of a task beyond the one that answered first, when that call's answer
// is the task's recorded outcome (its attempt is the task's last, recordedAttempt). lost says
// that the first answer was not recorded: the worker holding it died, and a later attempt ran.
func (c *callCounter) duplicates(id string, recordedAttempt int) (dupes int, lost bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tc := c.tasks[id]
	switch {
	case tc == nil || tc.answered == 0:
		return 0, false
	case tc.answered != max(recordedAttempt, 1):
		return 0, true
	}
	return tc.after, false
}

func (c *callCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// workerProc is an `agentq worker` child process.
type workerProc struct {
	exe    string
	args   []string
	stderr io.Writer
	cmd    *exec.Cmd
	done   chan struct{}
	starts int
}

func (p *workerProc) start() error {
	cmd := exec.Command(p.exe, p.args...)
	cmd.Stdout, cmd.Stderr = p.stderr, p.stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd, p.done, p.starts = cmd, make(chan struct{}), p.starts+1
	done := p.done
	go func() { _ = cmd.Wait(); close(done) }()
	return nil
}

// kill ends the worker with SIGKILL: what it was doing stays in flight.
func (p *workerProc) kill() error {
	if p.cmd == nil {
		return nil
	}
	err := p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
	return err
}

// stop asks the worker to stop (SIGTERM) and kills it if it has not within 10 s.
func (p *workerProc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
}
