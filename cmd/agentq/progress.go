package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// progress shows a task's progress while a command waits on it: its status, the time since the
// wait began and the progress messages as they arrive. On a terminal it redraws one status line
// in place (messages scroll above it); elsewhere (a file, a pipe, CI) it prints a plain line per
// change, which logs read well.
type progress struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	now    func() time.Time
	start  time.Time
	label  string
	status string
	frame  int
	drawn  bool
}

// spinner frames for the terminal's status line.
var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func newProgress(w io.Writer, tty bool, now func() time.Time, label string) *progress {
	return &progress{w: w, tty: tty, now: now, start: now(), label: label}
}

func (p *progress) elapsed() string {
	return fmt.Sprintf("%.1fs", p.now().Sub(p.start).Seconds())
}

// Status records a new status: a line of its own when plain, the status line redrawn on a terminal.
func (p *progress) Status(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s == p.status {
		return
	}
	p.status = s
	if !p.tty {
		fmt.Fprintf(p.w, "%s %s %s\n", p.elapsed(), p.label, s)
		return
	}
	p.draw()
}

// Message shows a progress message from the agent.
func (p *progress) Message(m string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		fmt.Fprintf(p.w, "%s %s > %s\n", p.elapsed(), p.label, m)
		return
	}
	p.clear()
	fmt.Fprintf(p.w, "  %s\n", m)
	p.draw()
}

// Tick advances the terminal's spinner and elapsed time; plain output ignores it.
func (p *progress) Tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		p.frame++
		p.draw()
	}
}

// Run ticks every 100 ms until ctx ends, on a terminal only.
func (p *progress) Run(ctx context.Context) {
	if !p.tty {
		return
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.Tick()
		}
	}
}

// Done ends the display: the terminal's status line is replaced by a final one.
func (p *progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		p.clear()
		fmt.Fprintf(p.w, "%s %s after %s\n", p.label, p.status, p.elapsed())
	}
}

func (p *progress) clear() {
	if p.drawn {
		io.WriteString(p.w, "\r\x1b[K")
		p.drawn = false
	}
}

func (p *progress) draw() {
	p.clear()
	fmt.Fprintf(p.w, "%s %s %s  %s", spinner[p.frame%len(spinner)], p.label, p.status, p.elapsed())
	p.drawn = true
}
