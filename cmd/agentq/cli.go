package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"time"

	"github.com/agentq/agentq/client"
)

// Exit codes of the API commands (and of every command: any other failure exits 1).
const (
	exitFailed      = 1 // the task failed, errored or was stopped; or the API refused the request
	exitUsage       = 2 // the command line is wrong
	exitUnreachable = 3 // the API did not answer
)

// usageError is a command line the command cannot run.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// taskEndedError is a task that ended without completing: the command printed it, and exits 1.
type taskEndedError struct{ id, status string }

func (e *taskEndedError) Error() string { return fmt.Sprintf("task %s ended %s", e.id, e.status) }

// exitCode maps a command's error to the process's exit code.
func exitCode(err error) int {
	var u *usageError
	var unreachable *client.UnreachableError
	switch {
	case err == nil || errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &u):
		return exitUsage
	case errors.As(err, &unreachable):
		return exitUnreachable
	}
	return exitFailed
}

// report tells the error, if any, on stderr and answers the exit code.
func report(err error, stderr io.Writer) int {
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stderr, "agentq:", err)
	}
	return exitCode(err)
}

// apiEnv is what an API command runs with: the environment, the output streams, whether the
// progress stream is a terminal, and the clock.
type apiEnv struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	tty            bool
	now            func() time.Time
}

// isTerminal reports whether w is a terminal (a character device), where progress is redrawn in
// place; anything else gets plain lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// apiURL is AGENTQ_API_URL, or where `agentq run` serves.
func (e *apiEnv) apiURL() string { return or(e.getenv("AGENTQ_API_URL"), client.DefaultURL) }

// client answers a client with the tenant's key (AGENTQ_API_KEY), or the admin key when admin.
func (e *apiEnv) client(admin bool) (*client.Client, error) {
	key, name := e.getenv("AGENTQ_API_KEY"), "AGENTQ_API_KEY"
	if admin {
		key, name = e.getenv("AGENTQ_ADMIN_KEY"), "AGENTQ_ADMIN_KEY"
	}
	if key == "" {
		return nil, usagef("set %s to your %s", name, map[bool]string{false: "API key", true: "admin key"}[admin])
	}
	return client.New(e.apiURL(), client.WithAPIKey(key), client.WithUserAgent("agentq-cli"))
}

// outputFlag adds -o (text or json) to fs.
func outputFlag(fs *flag.FlagSet) *string {
	return fs.String("o", "text", "output: text or json")
}

// parseArgs parses flags wherever they stand among the positional arguments (`agentq invoke
// echo hi --wait` as well as `agentq invoke --wait echo hi`) and answers the positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// newFlags is a flag set that reports its errors to the caller rather than exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printHelp(stderr, name) }
	return fs
}

// emit prints v as indented JSON (-o json) or with text, its human form.
func emit(e *apiEnv, output string, v any, text func(io.Writer)) error {
	switch output {
	case "json":
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "text":
		text(e.stdout)
		return nil
	}
	return usagef("-o %s: want text or json", output)
}

// checkOutput refuses an unknown -o before anything is sent.
func checkOutput(output string) error {
	if output != "text" && output != "json" {
		return usagef("-o %s: want text or json", output)
	}
	return nil
}

// withTimeout bounds a command that does not wait on a task.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 60*time.Second)
}

// collect takes the items of a list, page after page, until limit of them.
func collect[T any](list iter.Seq2[*T, error], limit int) ([]T, error) {
	items := []T{}
	for it, err := range list {
		if err != nil {
			return nil, err
		}
		if items = append(items, *it); len(items) == limit {
			break
		}
	}
	return items, nil
}
