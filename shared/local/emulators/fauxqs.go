package emulators

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
)

// fauxqsReady starts the line fauxqs-server.mjs prints once it listens.
const fauxqsReady = "fauxqs listening 127.0.0.1:"

// startFauxqs starts fauxqs-server.mjs on a port the kernel picks and waits
// for the line that names the port. The server exits when its stdin, kept
// open until stop, closes.
func startFauxqs(ctx context.Context, p paths, out *lineWriter) (*process, string, error) {
	cmd := exec.Command(p.node, p.fauxqsServer, "0")
	cmd.Dir = p.dir
	ports := make(chan int, 1)
	proc, err := spawn("fauxqs", cmd, true, out, func(line string) {
		rest, ok := strings.CutPrefix(line, fauxqsReady)
		if port, err := strconv.Atoi(rest); ok && err == nil {
			select {
			case ports <- port:
			default:
			}
		}
	})
	if err != nil {
		return nil, "", fmt.Errorf("start fauxqs: %w", err)
	}
	select {
	case port := <-ports:
		return proc, "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
	case <-proc.exited:
		return nil, "", fmt.Errorf("start fauxqs: %w", proc.exitError())
	case <-ctx.Done():
		_ = proc.stop()
		return nil, "", fmt.Errorf("start fauxqs: not ready: %w%s", context.Cause(ctx), proc.lastOutput())
	}
}
