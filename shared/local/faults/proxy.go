// Package faults injects dependency failures into a local system for tests: a TCP proxy on
// 127.0.0.1 that sits in front of an emulator (DynamoDB Local, fauxqs for SQS and S3, the local
// EventBridge bus) and can be switched, at any time and for connections already open, between
// passing traffic, adding latency, hanging (holding every byte, as a frozen peer does) and
// refusing; and process controls that freeze (SIGSTOP), thaw (SIGCONT) and kill a child process
// such as an emulator or an `agentq worker`.
//
// A proxy fails one dependency for one client while the others keep working, and needs no
// privileges; freezing the process is the real thing, for every client at once.
package faults

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is what a Proxy does with the traffic it carries.
type Mode int

// The proxy's modes.
const (
	// Pass forwards bytes as they come.
	Pass Mode = iota
	// Delay forwards every chunk of bytes after the proxy's latency.
	Delay
	// Hang holds every byte, in both directions, until the mode changes: what a client of a
	// frozen server sees. Connections still open; nothing answers.
	Hang
	// Refuse closes every connection, open ones included, and every new one at once: what a
	// client of a killed server sees.
	Refuse
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Delay:
		return "delay"
	case Hang:
		return "hang"
	case Refuse:
		return "refuse"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// Proxy forwards TCP connections from a port on 127.0.0.1 to a target address.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	mode    Mode
	latency time.Duration
	changed chan struct{} // closed and replaced whenever the mode changes
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup

	// sleep waits d or until stop closes; tests of the proxy replace it to count waits.
	sleep func(d time.Duration, stop <-chan struct{})
}

// NewProxy starts a proxy to target (host:port) on a free port of 127.0.0.1, in Pass mode.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start proxy to %s: %w", target, err)
	}
	p := &Proxy{ln: ln, target: target, changed: make(chan struct{}), conns: map[net.Conn]struct{}{}, sleep: sleep}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is the proxy's address as an http:// base URL, what an SDK client's endpoint takes.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Set switches the proxy to mode; latency applies to Delay. Connections already open follow at
// their next chunk of bytes (Refuse closes them at once).
func (p *Proxy) Set(mode Mode, latency time.Duration) {
	p.mu.Lock()
	p.mode, p.latency = mode, latency
	close(p.changed)
	p.changed = make(chan struct{})
	var drop []net.Conn
	if mode == Refuse {
		for c := range p.conns {
			drop = append(drop, c)
		}
	}
	p.mu.Unlock()
	for _, c := range drop {
		_ = c.Close()
	}
}

// Mode returns the proxy's mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Close stops the proxy and closes every connection it carries.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.changed) // releases hung pumps
	p.changed = make(chan struct{})
	conns := p.conns
	p.conns = map[net.Conn]struct{}{}
	p.mu.Unlock()
	err := p.ln.Close()
	for c := range conns {
		_ = c.Close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.Mode() == Refuse {
			_ = c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve carries one client connection to the target.
func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = client.Close()
		return
	}
	if !p.track(client, server) {
		_ = client.Close()
		_ = server.Close()
		return
	}
	defer p.untrack(client, server)
	done := make(chan struct{}, 2)
	go func() { p.pump(server, client); done <- struct{}{} }()
	go func() { p.pump(client, server); done <- struct{}{} }()
	<-done
	// One side ended: end the other, so its pump returns too.
	_ = client.Close()
	_ = server.Close()
	<-done
}

func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.mode == Refuse {
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		delete(p.conns, c)
	}
}

// pump copies src to dst chunk by chunk, passing each chunk through the gate.
func (p *Proxy) pump(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return
			}
			// Half-close: the other direction may still be answering.
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

// gate holds a chunk as the mode says, and reports whether to forward it.
func (p *Proxy) gate() bool {
	for {
		p.mu.Lock()
		mode, latency, changed, closed := p.mode, p.latency, p.changed, p.closed
		p.mu.Unlock()
		switch {
		case closed || mode == Refuse:
			return false
		case mode == Hang:
			<-changed
		case mode == Delay && latency > 0:
			p.sleep(latency, changed)
			return true
		default:
			return true
		}
	}
}

func sleep(d time.Duration, stop <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-stop:
	}
}
