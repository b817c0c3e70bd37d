package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/agentq/agentq/client"
)

// runInvoke is `agentq invoke AGENT [TEXT]`: submit an xpander invocation; with --wait or
// --follow, wait for its outcome while showing progress on stderr.
func runInvoke(ctx context.Context, e *apiEnv, args []string) error {
	fs := newFlags("invoke", e.stderr)
	input := fs.String("input", "", "the whole xpander input object, as JSON (TEXT, when given, sets its text)")
	wait := fs.Bool("wait", false, "wait for the outcome, showing the status as it changes")
	follow := fs.Bool("follow", false, "wait for the outcome, showing the task's progress as it happens")
	thread := fs.String("thread", "", "continue this conversation (a thread id)")
	version := fs.String("version", "", "the agent version to run: latest (default), draft or a published version")
	idem := fs.String("idempotency-key", "", "a key that makes a repeated request answer the first task")
	output := outputFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usagef("usage: %s", commandUsage("invoke"))
	}
	req := client.InvokeRequest{}
	if *input != "" {
		if err := json.Unmarshal([]byte(*input), &req.Input); err != nil {
			return usagef("--input: not a JSON input object: %v", err)
		}
	}
	if len(pos) == 2 {
		req.Input.Text = pos[1]
	}
	if strings.TrimSpace(req.Input.Text) == "" {
		return usagef("invoke: give the TEXT, or --input with a text")
	}
	if *thread != "" {
		req.Id = thread
	}
	c, err := e.client(false)
	if err != nil {
		return err
	}
	sctx, cancel := withTimeout(ctx)
	task, err := c.Invoke(sctx, pos[0], req, client.InvokeOptions{Version: *version, IdempotencyKey: *idem})
	cancel()
	if err != nil {
		return err
	}
	if !*wait && !*follow {
		return emit(e, *output, task, func(w io.Writer) { printTask(w, task) })
	}
	return waitAndPrint(ctx, e, c, task.TaskId.String(), *output, *follow)
}

// waitAndPrint waits for a task with progress on stderr and prints its outcome; a task that did
// not complete exits 1.
// With follow the progress is the task's events (its messages too), else its status changes.
func waitAndPrint(ctx context.Context, e *apiEnv, c *client.Client, id, output string, follow bool) error {
	task, err := withProgress(ctx, e, "task "+id, func(ctx context.Context, p *progress) (*client.Task, error) {
		if follow {
			return followTask(ctx, c, id, p)
		}
		return waitTask(ctx, c, id, p.Status)
	})
	if err != nil {
		return err
	}
	if err := emit(e, output, task, func(w io.Writer) { printTaskOutcome(w, task) }); err != nil {
		return err
	}
	return taskEnded(task)
}

func waitTask(ctx context.Context, c *client.Client, id string, status func(string)) (*client.Task, error) {
	return c.Wait(ctx, id, func(t *client.Task) { status(string(t.Status)) })
}

// taskEnded is the error of a waited task that did not complete (a paused one waits for input).
func taskEnded(t *client.Task) error {
	if t.Status != "completed" && t.Status != "paused" {
		return &taskEndedError{id: t.TaskId.String(), status: string(t.Status)}
	}
	return nil
}

// runGet is `agentq get ID [--wait]`.
var runGet = idCommand[client.Task]{name: "get", label: "task", call: (*client.Client).Get, wait: waitTask,
	print: printTask, printWaited: printTaskOutcome, ended: taskEnded}.run

// runStop is `agentq stop ID`.
var runStop = idCommand[client.Task]{name: "stop", label: "task", call: (*client.Client).Stop, print: printTask}.run

// runThread is `agentq thread ID`: the conversation, oldest first.
var runThread = idCommand[client.Thread]{name: "thread", label: "thread", call: (*client.Client).Thread, print: printThread}.run

func printThread(w io.Writer, th *client.Thread) {
	for _, m := range th.Messages {
		fmt.Fprintf(w, "%-6s %s\n", m.Role, m.Content)
	}
}

// runList is `agentq list [--status S] [--agent A]`: the caller's tasks, newest first.
func runList(ctx context.Context, e *apiEnv, args []string) error {
	fs := newFlags("list", e.stderr)
	status := fs.String("status", "", "only tasks in these statuses (comma-separated)")
	agentID := fs.String("agent", "", "only this agent's tasks")
	thread := fs.String("thread", "", "only this conversation's turns")
	limit := fs.Int("limit", 20, "at most this many tasks")
	output := outputFlag(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("usage: %s", commandUsage("list"))
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	if *limit < 1 {
		return usagef("--limit %d: want 1 or more", *limit)
	}
	c, err := e.client(false)
	if err != nil {
		return err
	}
	q := client.ListQuery{AgentID: *agentID, ThreadID: *thread, Limit: min(*limit, 100)}
	if *status != "" {
		q.Status = strings.Split(*status, ",")
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	tasks, err := collect(c.Tasks(ctx, q), *limit)
	if err != nil {
		return err
	}
	return emit(e, *output, tasks, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TASK\tAGENT\tSTATUS\tCREATED")
		for _, t := range tasks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.TaskId, t.AgentId, t.Status, t.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"))
		}
		tw.Flush()
	})
}

// printTask prints a task's identity and state.
func printTask(w io.Writer, t *client.Task) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "task\t%s\n", t.TaskId)
	fmt.Fprintf(tw, "thread\t%s\n", t.Id)
	agent := t.AgentId
	if t.AgentVersion != nil {
		agent += " (version " + *t.AgentVersion + ")"
	}
	fmt.Fprintf(tw, "agent\t%s\n", agent)
	fmt.Fprintf(tw, "status\t%s\n", t.Status)
	if t.Result != nil {
		fmt.Fprintf(tw, "result\t%s\n", *t.Result)
	}
	if t.Error != nil {
		fmt.Fprintf(tw, "error\t%s\n", errorText(string(t.Error.Code), t.Error.Message))
	}
	tw.Flush()
}

// printTaskOutcome prints what a waited task came to: its answer, or why it has none.
func printTaskOutcome(w io.Writer, t *client.Task) {
	switch {
	case t.Result != nil && t.Status == "completed":
		fmt.Fprintln(w, *t.Result)
	case t.Status == "paused" && t.HitlRequest != nil:
		b, _ := json.Marshal(t.HitlRequest)
		fmt.Fprintf(w, "paused, waiting for input: %s\n", b)
	default:
		printTask(w, t)
	}
}

func errorText(code string, msg *string) string {
	if msg == nil || *msg == "" {
		return code
	}
	return code + ": " + *msg
}

// runDelete is `agentq delete ID`: the task, or a whole conversation named by its thread id.
func runDelete(ctx context.Context, e *apiEnv, args []string) error {
	fs := newFlags("delete", e.stderr)
	id, c, err := oneID(e, fs, args, "delete")
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if err := c.Delete(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "deleted %s\n", id)
	return nil
}
