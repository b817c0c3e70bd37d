package emulators

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// errPortTaken means DynamoDB Local could not bind the port it was given.
var errPortTaken = errors.New("port taken")

// bindAttempts is how many ports startDynamoDB tries. DynamoDB Local cannot
// pick its own port, so another process may take the free port it is given
// before it binds.
const bindAttempts = 3

// startDynamoDB starts DynamoDB Local on a free port and waits until it
// answers ListTables there.
func startDynamoDB(ctx context.Context, p paths, dataDir string, out *lineWriter) (*process, string, error) {
	for attempt := 1; ; attempt++ {
		proc, endpoint, err := tryDynamoDB(ctx, p, dataDir, out)
		if errors.Is(err, errPortTaken) && attempt < bindAttempts {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("start dynamodb local: %w", err)
		}
		return proc, endpoint, nil
	}
}

func tryDynamoDB(ctx context.Context, p paths, dataDir string, out *lineWriter) (*process, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	args := []string{
		// Start-up speed matters more than peak throughput here.
		"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Djava.library.path=" + p.jarLib,
		"-jar", p.jar,
		"-port", strconv.Itoa(port),
		"-disableTelemetry", // documented, but 1.25.1 ignores it: see DDB_LOCAL_TELEMETRY below
		"-sharedDb",         // one database whatever the client's credentials and region
	}
	if dataDir == "" {
		args = append(args, "-inMemory")
	} else {
		args = append(args, "-dbPath", dataDir)
	}
	cmd := exec.Command(p.java, args...)
	// DynamoDB Local 1.25.1 turns telemetry off only for DDB_LOCAL_TELEMETRY=0.
	// Otherwise it resolves and calls cognito-identity.us-east-1.amazonaws.com
	// at start, and writes dynamodb-local-metadata.json to its working
	// directory.
	cmd.Env = append(os.Environ(), "DDB_LOCAL_TELEMETRY=0")
	cmd.Dir = filepath.Dir(p.jar)

	// On a taken port DynamoDB Local logs a BindException and keeps running.
	bindFailed := make(chan struct{})
	var once sync.Once
	proc, err := spawn("dynamodb-local", cmd, false, out, func(line string) {
		if strings.Contains(line, "Failed to bind") || strings.Contains(line, "BindException") {
			once.Do(func() { close(bindFailed) })
		}
	})
	if err != nil {
		return nil, "", err
	}

	endpoint := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = proc.stop()
			return nil, "", fmt.Errorf("not ready on port %d: %w%s", port, context.Cause(ctx), proc.lastOutput())
		case <-proc.exited:
			return nil, "", proc.exitError()
		case <-bindFailed:
			_ = proc.stop()
			return nil, "", fmt.Errorf("port %d: %w", port, errPortTaken)
		case <-tick.C:
			// listensOn makes sure that the answer came from this process.
			if answersListTables(ctx, client, endpoint) && listensOn(cmd.Process.Pid, port) {
				return proc, endpoint, nil
			}
		}
	}
}

// answersListTables reports whether a DynamoDB API at endpoint answers a
// ListTables call. DynamoDB Local wants an Authorization header but does not
// check the signature.
func answersListTables(ctx context.Context, client *http.Client, endpoint string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/", strings.NewReader("{}"))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64*1024))
	return err == nil && resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"TableNames"`)
}

// freePort returns a TCP port that is free on 127.0.0.1 at the time of the
// call.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
