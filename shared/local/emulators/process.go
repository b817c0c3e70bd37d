package emulators

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	// stopGrace is how long stop waits after SIGTERM before SIGKILL.
	stopGrace = 10 * time.Second
	// tailLines is how many lines of a process's output errors quote.
	tailLines = 40
)

// process is a running emulator.
type process struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.Closer     // the write end of the child's stdin pipe, or nil
	exited chan struct{} // closed once the process has exited and its output is read
	err    error         // what cmd.Wait returned; set before exited is closed

	mu   sync.Mutex
	tail []string // the last tailLines lines of output
}

// spawn starts cmd. Each line of its combined stdout and stderr goes to out
// and to onLine, which runs on one goroutine. With pipeStdin the child's stdin
// is a pipe that stays open until stop, otherwise it is /dev/null.
func spawn(name string, cmd *exec.Cmd, pipeStdin bool, out *lineWriter, onLine func(string)) (*process, error) {
	p := &process{name: name, cmd: cmd, exited: make(chan struct{})}
	if pipeStdin {
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		p.stdin = stdin
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	configure(cmd)
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return nil, err
	}

	read := make(chan struct{})
	go func() {
		defer close(read)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			p.remember(line)
			out.writeLine(name, line)
			onLine(line)
		}
		_, _ = io.Copy(io.Discard, r) // after an over-long line
	}()
	go func() {
		err := cmd.Wait()
		select {
		case <-read:
		case <-time.After(2 * time.Second): // a descendant holds the pipe open
		}
		p.err = err
		close(p.exited)
	}()
	return p, nil
}

// remember keeps line for lastOutput.
func (p *process) remember(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tail) == tailLines {
		p.tail = append(p.tail[:0], p.tail[1:]...)
	}
	p.tail = append(p.tail, line)
}

// lastOutput returns the last lines of output, ready to append to an error.
func (p *process) lastOutput() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tail) == 0 {
		return " (no output)"
	}
	return "; last output:\n\t" + strings.Join(p.tail, "\n\t")
}

// exitError describes a process that exited when it should not have.
func (p *process) exitError() error {
	return fmt.Errorf("%s exited (%v)%s", p.name, p.err, p.lastOutput())
}

// stop ends the process: its stdin is closed, it gets SIGTERM, and SIGKILL if
// it is still running after stopGrace. stop returns once it has exited. A nil
// process is already stopped.
func (p *process) stop() error {
	if p == nil {
		return nil
	}
	if p.stdin != nil {
		p.stdin.Close()
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err == nil || errors.Is(err, os.ErrProcessDone) {
		select {
		case <-p.exited:
			return nil
		case <-time.After(stopGrace):
		}
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	<-p.exited
	return nil
}

// lineWriter serialises the emulators' output lines to w, if w is not nil.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lineWriter) writeLine(name, line string) {
	if lw.w == nil {
		return
	}
	lw.mu.Lock()
	defer lw.mu.Unlock()
	fmt.Fprintf(lw.w, "%s: %s\n", name, line)
}
