package main

import (
	"context"
	"encoding/json"

	"github.com/agentq/agentq/client"
)

// runEvents prints a task's events, one JSON object a line. Without --follow it reads the log as
// it is (JSON pages); with --follow it streams the events as they happen, resuming from the last
// one whenever a connection ends (the server bounds each one), until the task finishes.
func runEvents(ctx context.Context, e *apiEnv, args []string) error {
	fs := newFlags("events", e.stderr)
	follow := fs.Bool("follow", false, "stream the events until the task finishes")
	after := fs.Int("after", 0, "start after this event's sequence number")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *after < 0 {
		return usagef("usage: %s", commandUsage("events"))
	}
	c, err := e.client(false)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	if *follow {
		for ev, err := range c.Events(ctx, pos[0], *after) {
			if err != nil {
				return err
			}
			if err := enc.Encode(ev); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		tctx, cancel := withTimeout(ctx)
		page, err := c.EventPage(tctx, pos[0], *after)
		cancel()
		if err != nil {
			return err
		}
		for _, ev := range page.Items {
			if err := enc.Encode(ev); err != nil {
				return err
			}
		}
		if len(page.Items) == 0 || page.Finished {
			return nil
		}
		*after = page.NextAfter
	}
}

// followTask shows a task's events as progress until it finishes, then answers the task.
func followTask(ctx context.Context, c *client.Client, id string, p *progress) (*client.Task, error) {
	for ev, err := range c.Events(ctx, id, 0) {
		if err != nil {
			return nil, err
		}
		showEvent(p, ev)
	}
	tctx, cancel := withTimeout(ctx)
	defer cancel()
	return c.Get(tctx, id)
}

// showEvent turns an event of the log into progress: the statuses it implies, and the messages
// people read (what the agent says it does, its questions, retries).
func showEvent(p *progress, ev *client.Event) {
	var d map[string]any
	if ev.Data != nil {
		d = *ev.Data
	}
	str := func(k string) string { s, _ := d[k].(string); return s }
	switch ev.Type {
	case "created":
		p.Status("pending")
	case "attempt":
		p.Status("executing")
	case "retry":
		p.Message("retrying: " + str("reason"))
	case "paused":
		p.Status("paused")
		p.Message("the agent asks: " + str("question"))
	case "resumed":
		p.Status("executing")
	case "status":
		p.Message(str("message"))
	case "chunk":
		p.Message(str("text"))
	case "tool_call_request":
		p.Message("calls " + str("tool_name"))
	case "finished":
		p.Status(str("state"))
	default:
		return
	}
}
