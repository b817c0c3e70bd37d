package faults

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Process controls a child process started by the caller: an emulator or an `agentq worker`.
// Only processes the test itself started may be given to it.
type Process struct {
	pid  int
	name string

	mu     sync.Mutex
	frozen bool
}

// NewProcess controls the process pid; name is used in errors.
func NewProcess(name string, pid int) *Process { return &Process{pid: pid, name: name} }

// PID is the process id.
func (p *Process) PID() int { return p.pid }

// Name is the name it was given.
func (p *Process) Name() string { return p.name }

// Freeze stops the process (SIGSTOP): it keeps its sockets, so its clients see connections that
// open and never answer, the failure a timeout must bound.
func (p *Process) Freeze() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := syscall.Kill(p.pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("freeze %s (pid %d): %w", p.name, p.pid, err)
	}
	p.frozen = true
	return nil
}

// Thaw lets a frozen process run again (SIGCONT). Thawing a process that is not frozen does
// nothing, so it is safe in a cleanup.
func (p *Process) Thaw() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.frozen {
		return nil
	}
	err := syscall.Kill(p.pid, syscall.SIGCONT)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("thaw %s (pid %d): %w", p.name, p.pid, err)
	}
	p.frozen = false
	return nil
}

// Kill ends the process at once (SIGKILL): what it was doing stays undone.
func (p *Process) Kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	err := syscall.Kill(p.pid, syscall.SIGKILL)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s (pid %d): %w", p.name, p.pid, err)
	}
	p.frozen = false
	return nil
}

// Frozen reports whether the kernel has the process stopped, read from /proc; false where /proc
// cannot tell.
func (p *Process) Frozen() bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return false
	}
	return stateOf(b) == 'T'
}

// stateOf reads the state field of /proc/PID/stat: the first field after the command name,
// which is in parentheses and may itself hold spaces or parentheses.
func stateOf(stat []byte) byte {
	for i := len(stat) - 1; i >= 0; i-- {
		if stat[i] == ')' {
			if i+2 < len(stat) {
				return stat[i+2]
			}
			return 0
		}
	}
	return 0
}
