package main

import (
	"context"
	"flag"
	"io"

	"github.com/agentq/agentq/client"
)

// idCommand is a command that takes one id, calls the API with it and prints the answer
// (get, stop, thread, receipts get). With wait set it also takes --wait: it waits with progress
// on stderr instead, prints with printWaited, and exits as ended says.
type idCommand[T any] struct {
	// name is the command as typed; usage names its help entry when that differs.
	name, usage string
	// label names what the id is in the progress lines ("task", "receipt").
	label       string
	call        func(*client.Client, context.Context, string) (*T, error)
	wait        func(context.Context, *client.Client, string, func(status string)) (*T, error)
	print       func(io.Writer, *T)
	printWaited func(io.Writer, *T)
	ended       func(*T) error
}

func (d idCommand[T]) run(ctx context.Context, e *apiEnv, args []string) error {
	fs := newFlags(d.name, e.stderr)
	output := outputFlag(fs)
	wait := new(bool)
	if d.wait != nil {
		wait = fs.Bool("wait", false, "wait until it ends, showing its status as it changes")
	}
	id, c, err := oneID(e, fs, args, or(d.usage, d.name))
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	if !*wait {
		tctx, cancel := withTimeout(ctx)
		defer cancel()
		v, err := d.call(c, tctx, id)
		if err != nil {
			return err
		}
		return emit(e, *output, v, func(w io.Writer) { d.print(w, v) })
	}
	v, err := withProgress(ctx, e, d.label+" "+id, func(ctx context.Context, p *progress) (*T, error) {
		return d.wait(ctx, c, id, p.Status)
	})
	if err != nil {
		return err
	}
	if err := emit(e, *output, v, func(w io.Writer) { d.printWaited(w, v) }); err != nil {
		return err
	}
	return d.ended(v)
}

// oneID parses a command line that names one id, and answers it with a client.
func oneID(e *apiEnv, fs *flag.FlagSet, args []string, usage string) (string, *client.Client, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", nil, err
	}
	if len(pos) != 1 {
		return "", nil, usagef("usage: %s", commandUsage(usage))
	}
	c, err := e.client(false)
	return pos[0], c, err
}

// withProgress runs wait with a progress display on stderr to report to.
func withProgress[T any](ctx context.Context, e *apiEnv, label string, wait func(context.Context, *progress) (*T, error)) (*T, error) {
	p := newProgress(e.stderr, e.tty, e.now, label)
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	go p.Run(pctx)
	v, err := wait(ctx, p)
	stop()
	p.Done()
	return v, err
}
