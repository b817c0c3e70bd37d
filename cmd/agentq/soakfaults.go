package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/local/faults"
)

// dependencyFaults freezes the emulators (SIGSTOP, then SIGCONT) while the soak sends: DynamoDB
// Local and fauxqs (SQS and S3) in turn, each times times for hold, spread evenly over the sends.
// sent tells how far the sends are. It returns when every freeze is over, or ctx ends; whatever
// it froze is thawed before it returns.
func dependencyFaults(ctx context.Context, out io.Writer, emu *emulators.Emulators, times int, hold time.Duration, n int, sent func() int64) error {
	if emu == nil || times <= 0 {
		return nil
	}
	targets := []*faults.Process{
		faults.NewProcess("DynamoDB Local", emu.DynamoDBPID()),
		faults.NewProcess("fauxqs (SQS, S3)", emu.SQSPID()),
	}
	freezes := times * len(targets)
	for k := range freezes {
		// Between the kills of the worker, which fall on quarters of the sends.
		at := int64(n * (2*k + 1) / (2*freezes + 1))
		for sent() < at && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		if ctx.Err() != nil {
			return nil
		}
		p := targets[k%len(targets)]
		if err := freezeFor(ctx, p, hold); err != nil {
			return err
		}
		fmt.Fprintf(out, "soak: froze %s (SIGSTOP) for %s after %d sends\n", p.Name(), hold, at)
	}
	return nil
}

// freezeFor freezes p for hold, and always thaws it.
func freezeFor(ctx context.Context, p *faults.Process, hold time.Duration) error {
	if err := p.Freeze(); err != nil {
		return err
	}
	defer func() { _ = p.Thaw() }() // a second thaw does nothing; this one covers a panic
	select {
	case <-ctx.Done():
	case <-time.After(hold):
	}
	return p.Thaw()
}
