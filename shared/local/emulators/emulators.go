// Package emulators starts the local AWS emulators that agentq runs against on
// one machine: DynamoDB Local (a Java jar) and fauxqs (an SQS emulator on
// Node.js), each as a child process serving on a free 127.0.0.1 port.
//
// The emulators are installed by localstack/emulators/install.sh (or make
// tools). The child processes are stopped by [Emulators.Close] and, on Linux,
// also when the Go process dies: they get SIGTERM from the kernel
// (Pdeathsig), and fauxqs also exits when its standard input, a pipe from this
// process, closes.
package emulators

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// ErrNotInstalled is returned, wrapped, by [Start] and [CheckInstalled] when
// the emulators or the runtimes they need are missing.
var ErrNotInstalled = errors.New("local AWS emulators not installed: run localstack/emulators/install.sh (or make tools)")

// errOtherFailed is why Start abandons one emulator when the other fails.
var errOtherFailed = errors.New("the other emulator failed to start")

// startTimeout bounds how long Start waits for the emulators when ctx has no
// earlier deadline. Both are usually ready within 2-3 s.
const startTimeout = 2 * time.Minute

// Options configures [Start]. The zero value is ready to use.
type Options struct {
	// Dir is the tools directory, localstack/emulators. If empty, the
	// environment variable AGENTQ_EMULATORS_DIR is used, and if that is unset,
	// localstack/emulators under the nearest directory, from the working
	// directory up, that holds a go.mod.
	Dir string
	// DataDir is where DynamoDB Local keeps its database file. Empty means in
	// memory: the data is gone when the emulators stop. SQS is always in memory.
	DataDir string
	// Stderr, if set, receives the emulators' output, each line prefixed with
	// the emulator's name.
	Stderr io.Writer
}

// Emulators are running local AWS emulators. Call Close to stop them.
type Emulators struct {
	// DynamoDBEndpoint is the DynamoDB Local URL, like http://127.0.0.1:PORT.
	DynamoDBEndpoint string
	// SQSEndpoint is the fauxqs URL, like http://127.0.0.1:PORT.
	SQSEndpoint string

	dynamodb, sqs *process
	closeOnce     sync.Once
	closeErr      error
}

// paths are the files Start runs, all found under the tools directory.
type paths struct {
	dir, java, node, jar, jarLib, fauxqsServer string
}

// Start starts DynamoDB Local and fauxqs concurrently and returns once both
// answer on 127.0.0.1. ctx bounds the start only, not the emulators'
// lifetime. It returns an error wrapping [ErrNotInstalled] when the tools are
// missing.
func Start(ctx context.Context, opts Options) (*Emulators, error) {
	p, err := locate(opts.Dir)
	if err != nil {
		return nil, err
	}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("start dynamodb local: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	// When one emulator fails, the other's start is abandoned.
	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	out := &lineWriter{w: opts.Stderr}

	e := &Emulators{}
	var wg sync.WaitGroup
	var ddbErr, sqsErr error
	wg.Go(func() {
		if e.dynamodb, e.DynamoDBEndpoint, ddbErr = startDynamoDB(ctx, p, opts.DataDir, out); ddbErr != nil {
			abort(errOtherFailed)
		}
	})
	wg.Go(func() {
		if e.sqs, e.SQSEndpoint, sqsErr = startFauxqs(ctx, p, out); sqsErr != nil {
			abort(errOtherFailed)
		}
	})
	wg.Wait()
	if ddbErr != nil || sqsErr != nil {
		_ = e.Close()
		return nil, startError(ddbErr, sqsErr)
	}
	return e, nil
}

// startError joins the errors of the emulators that failed, leaving out
// those that were abandoned because the other failed.
func startError(errs ...error) error {
	var failed []error
	for _, err := range errs {
		if err != nil && !errors.Is(err, errOtherFailed) {
			failed = append(failed, err)
		}
	}
	if len(failed) == 0 {
		return errors.Join(errs...)
	}
	return errors.Join(failed...)
}

// Close stops both emulators, with SIGTERM and then, after a grace period,
// SIGKILL, and waits for them to exit. It is safe to call more than once,
// and on a nil *Emulators.
func (e *Emulators) Close() error {
	if e == nil {
		return nil
	}
	e.closeOnce.Do(func() {
		var wg sync.WaitGroup
		var ddbErr, sqsErr error
		wg.Go(func() { ddbErr = e.dynamodb.stop() })
		wg.Go(func() { sqsErr = e.sqs.stop() })
		wg.Wait()
		e.closeErr = errors.Join(ddbErr, sqsErr)
	})
	return e.closeErr
}

// Env returns environment variables, in os/exec's KEY=value form, that point
// an AWS SDK in a child process at the emulators, with the region and the
// dummy credentials they accept.
func (e *Emulators) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_DYNAMODB=" + e.DynamoDBEndpoint,
		"AWS_ENDPOINT_URL_SQS=" + e.SQSEndpoint,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
	}
}

// DynamoDBPID and SQSPID are the emulators' process ids, for tests that freeze or kill them
// (package faults).
func (e *Emulators) DynamoDBPID() int { return e.dynamodb.cmd.Process.Pid }

// SQSPID is fauxqs's process id; it serves S3 too.
func (e *Emulators) SQSPID() int { return e.sqs.cmd.Process.Pid }

// CheckInstalled reports, with an error wrapping [ErrNotInstalled], whether
// anything Start needs is missing. It starts nothing. Only opts.Dir is used.
func CheckInstalled(opts Options) error {
	_, err := locate(opts.Dir)
	return err
}

// locate finds the tools directory and checks that everything Start runs is
// there.
func locate(dir string) (paths, error) {
	if dir == "" {
		dir = os.Getenv("AGENTQ_EMULATORS_DIR")
	}
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return paths{}, fmt.Errorf("find emulators dir: %w (set AGENTQ_EMULATORS_DIR)", err)
		}
		dir = filepath.Join(root, "localstack", "emulators")
	}
	p := paths{
		dir:          dir,
		jar:          filepath.Join(dir, ".cache", "dynamodb-local", "DynamoDBLocal.jar"),
		jarLib:       filepath.Join(dir, ".cache", "dynamodb-local", "DynamoDBLocal_lib"),
		fauxqsServer: filepath.Join(dir, "fauxqs-server.mjs"),
	}
	for _, f := range []string{p.fauxqsServer, filepath.Join(dir, "node_modules", "fauxqs", "dist", "app.js"), p.jar, p.jarLib} {
		if _, err := os.Stat(f); err != nil {
			return paths{}, fmt.Errorf("%w: %s is missing", ErrNotInstalled, f)
		}
	}
	var err error
	if p.java, err = exec.LookPath("java"); err != nil {
		return paths{}, fmt.Errorf("%w: %w", ErrNotInstalled, err)
	}
	if p.node, err = exec.LookPath("node"); err != nil {
		return paths{}, fmt.Errorf("%w: %w", ErrNotInstalled, err)
	}
	return p, nil
}

// moduleRoot returns the nearest directory, from the working directory up,
// that holds a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or above")
		}
		dir = parent
	}
}
