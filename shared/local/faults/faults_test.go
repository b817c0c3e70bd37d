package faults

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// echoServer answers every line with the same line, on 127.0.0.1.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T) *Proxy {
	t.Helper()
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

// roundTrip sends a line and reads the answer, giving up after wait.
func roundTrip(c net.Conn, r *bufio.Reader, line string, wait time.Duration) (string, error) {
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	defer c.SetReadDeadline(time.Time{})
	s, err := r.ReadString('\n')
	return s, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestProxyPasses(t *testing.T) {
	p := newProxy(t)
	c, r := dial(t, p)
	if got, err := roundTrip(c, r, "hello", 5*time.Second); err != nil || got != "hello\n" {
		t.Fatalf("round trip = %q, %v", got, err)
	}
}

// A hung proxy holds an open connection's bytes until it passes again, and then they all arrive:
// a frozen peer that thaws.
func TestProxyHangsOpenConnectionsUntilReleased(t *testing.T) {
	p := newProxy(t)
	c, r := dial(t, p)
	if _, err := roundTrip(c, r, "before", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Set(Hang, 0)
	if got, err := roundTrip(c, r, "held", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("while hung: %q, %v; want a timeout", got, err)
	}
	p.Set(Pass, 0)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := r.ReadString('\n'); err != nil || got != "held\n" {
		t.Fatalf("after release = %q, %v", got, err)
	}
}

// New connections hang too: a client that dials a hung dependency gets a connection and no answer.
func TestProxyHangsNewConnections(t *testing.T) {
	p := newProxy(t)
	p.Set(Hang, 0)
	c, r := dial(t, p)
	if _, err := roundTrip(c, r, "x", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("err = %v; want a timeout", err)
	}
}

// Delay waits the latency before each chunk, both ways.
func TestProxyDelaysEveryChunk(t *testing.T) {
	p := newProxy(t)
	var mu sync.Mutex
	var waits []time.Duration
	p.sleep = func(d time.Duration, _ <-chan struct{}) {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
	}
	p.Set(Delay, 250*time.Millisecond)
	c, r := dial(t, p)
	if got, err := roundTrip(c, r, "slow", 5*time.Second); err != nil || got != "slow\n" {
		t.Fatalf("round trip = %q, %v", got, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 2 || waits[0] != 250*time.Millisecond || waits[1] != 250*time.Millisecond {
		t.Fatalf("waits = %v; want the latency once each way", waits)
	}
}

// Refuse closes open connections and every new one: a killed peer.
func TestProxyRefuses(t *testing.T) {
	p := newProxy(t)
	c, r := dial(t, p)
	if _, err := roundTrip(c, r, "before", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Set(Refuse, 0)
	if _, err := roundTrip(c, r, "after", 5*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("open connection: err = %v; want it closed", err)
	}
	c2, r2 := dial(t, p)
	if _, err := roundTrip(c2, r2, "new", 5*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("new connection: err = %v; want it closed", err)
	}
	p.Set(Pass, 0)
	c3, r3 := dial(t, p)
	if got, err := roundTrip(c3, r3, "again", 5*time.Second); err != nil || got != "again\n" {
		t.Fatalf("after refuse = %q, %v", got, err)
	}
}

// Closing a hung proxy releases what it holds.
func TestProxyCloseReleasesHungConnections(t *testing.T) {
	p := newProxy(t)
	c, _ := dial(t, p)
	p.Set(Hang, 0)
	if _, err := c.Write([]byte("x\n")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with a hung connection open")
	}
}

func TestProcessFreezeThawKill(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	p := NewProcess("sleep", cmd.Process.Pid)
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if p.Frozen() {
		t.Fatal("frozen before Freeze")
	}
	if err := p.Freeze(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p.Frozen, "the process to stop")
	if err := p.Thaw(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !p.Frozen() }, "the process to run again")
	if err := p.Freeze(); err != nil {
		t.Fatal(err)
	}
	// A frozen process still dies of SIGKILL.
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the process did not exit after Kill")
	}
	if err := p.Thaw(); err != nil {
		t.Fatalf("thaw after kill: %v", err)
	}
}

func TestStateOf(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want byte
	}{
		{"123 (java) S 1 2 3", 'S'},
		{"123 (a) b) T 1 2 3", 'T'},
		{"123 (node", 0},
		{"", 0},
	} {
		if got := stateOf([]byte(tc.stat)); got != tc.want {
			t.Errorf("stateOf(%q) = %q; want %q", tc.stat, got, tc.want)
		}
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
