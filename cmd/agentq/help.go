package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
)

// command is one `agentq` command: what `agentq help` says of it and what completion offers.
type command struct {
	name  string
	usage string
	// summary is one line for the command list; help the rest of `agentq help NAME`.
	summary, help string
	// subs are the command's verbs and flags its options, for completion.
	subs, flags []string
	// run runs an API command; nil for the commands main dispatches itself (run, worker, …).
	run func(context.Context, *apiEnv, []string) error
}

// commands are every command, API commands first. (Set in init: the API commands' functions
// read the table for their usage lines.)
var commands []command

func init() {
	commands = commandTable()
}

func commandTable() []command {
	return []command{
		{name: "invoke", usage: "agentq invoke AGENT [TEXT] [--input JSON] [--wait] [--follow] [--thread ID] [--version V] [--idempotency-key K] [-o json]",
			summary: "invoke an agent (xpander dialect); --wait or --follow for its outcome",
			help: "Submits an invocation and prints the task. --input sends a whole xpander input object\n" +
				"(TEXT, when given, sets its text). --wait waits for the outcome, showing the status as it\n" +
				"changes; --follow also shows the task's progress messages as they arrive. The answer goes\n" +
				"to stdout, progress to stderr: one line redrawn on a terminal, plain lines otherwise.",
			flags: []string{"--input", "--wait", "--follow", "--thread", "--version", "--idempotency-key", "-o"}, run: runInvoke},
		{name: "get", usage: "agentq get ID [--wait] [-o json]", summary: "read a task (by task or thread id)",
			help: "--wait waits until the task ends or pauses, showing its status as it changes.", flags: []string{"--wait", "-o"}, run: runGet},
		{name: "list", usage: "agentq list [--status S[,S…]] [--agent A] [--thread ID] [--limit N] [-o json]", summary: "list your tasks, newest first",
			help: "Follows the list's pages until --limit tasks (default 20) are shown.", flags: []string{"--status", "--agent", "--thread", "--limit", "-o"}, run: runList},
		{name: "stop", usage: "agentq stop ID [-o json]", summary: "stop a task that has not ended", flags: []string{"-o"}, run: runStop},
		{name: "delete", usage: "agentq delete ID", summary: "delete a task, or a whole conversation by its thread id", run: runDelete},
		{name: "thread", usage: "agentq thread ID [-o json]", summary: "print a task's conversation, oldest first", flags: []string{"-o"}, run: runThread},
		{name: "events", usage: "agentq events ID [--follow] [--after N]", summary: "print a task's events, one JSON object a line",
			help: "--follow streams them until the task finishes, resuming after every dropped connection.", flags: []string{"--follow", "--after"}, run: runEvents},
		{name: "receipts", usage: "agentq receipts get ID [--wait] | list [--agent A] [--verification V] [--mode sync|async] [--limit N] | verify ID  [-o json]",
			summary: "read, list and verify ServiceNet receipts",
			help: "verify checks the receipt's Ed25519 signature here, over its canonical JSON, with the key its\n" +
				"receipt_issuer_did names, and that this DID is one of the service's published keys\n" +
				"(GET /v1/receipt-issuer); a receipt that fails exits 1.",
			subs: []string{"get", "list", "verify"}, flags: []string{"--wait", "--agent", "--verification", "--mode", "--limit", "-o"}, run: runReceipts},
		{name: "agents", usage: "agentq agents list | get ID | put ID --file FILE | publish ID  [-o json]",
			summary: "the agent registry; put and publish take AGENTQ_ADMIN_KEY",
			help: "put writes an agent's draft from a JSON definition (--file - reads stdin); publish makes the\n" +
				"draft the agent's next version.", subs: []string{"list", "get", "put", "publish"}, flags: []string{"--file", "-o"}, run: runAgents},
		{name: "help", usage: "agentq help [COMMAND]", summary: "say how a command is used"},
		{name: "completion", usage: "agentq completion bash|zsh", summary: "print a shell completion script",
			help: "bash: source <(agentq completion bash)\nzsh:  source <(agentq completion zsh)", subs: []string{"bash", "zsh"}},
		{name: "run", usage: "agentq run [-addr 127.0.0.1:8042] [-data DIR] [-log-level info] [-state FILE] [-no-worker] [-sweep-every 5m]",
			summary: "start the whole system on this machine", flags: []string{"-addr", "-data", "-log-level", "-state", "-no-worker", "-sweep-every"}},
		{name: "worker", usage: "agentq worker [-state FILE] [-pollers 4]", summary: "run a worker on the system `agentq run` started", flags: []string{"-state", "-log-level", "-pollers"}},
		{name: "soak", usage: "agentq soak [-n 2000] [-c 32] [-kills 3]", summary: "a bounded load test on 127.0.0.1", flags: []string{"-n", "-c", "-kills"}},
		{name: "keys", usage: keysUsage, summary: "create, list and revoke tenants' API keys (AGENTQ_ADMIN_KEY)", subs: []string{"create", "list", "revoke"}, flags: []string{"-tenant", "-name", "-api"}},
		{name: "receipt-keys", usage: "agentq receipt-keys list|rotate", summary: "list or rotate the local keys receipts are signed with", subs: []string{"list", "rotate"}},
		{name: "dev", usage: "agentq dev send-event FILE", summary: "send a test event to the local event bus", subs: []string{"send-event"}},
		{name: "smoke", usage: smokeUsage, summary: "check a running system end to end through its API"},
	}
}

const environment = `Environment:
  AGENTQ_API_URL    the API (default http://127.0.0.1:8042)
  AGENTQ_API_KEY    your API key
  AGENTQ_ADMIN_KEY  the admin key (agents put/publish, keys)

Exit codes: 0 done; 1 the task failed, errored or was stopped, or the API refused the request;
2 the command line is wrong; 3 the API did not answer.`

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func commandUsage(name string) string {
	c, _ := lookup(name)
	return c.usage
}

// printHelp prints `agentq help NAME`, or the command list when name is empty.
func printHelp(w io.Writer, name string) {
	name, _, _ = strings.Cut(name, " ")
	if c, ok := lookup(name); ok {
		fmt.Fprintf(w, "usage: %s\n\n%s\n", c.usage, c.summary)
		if c.help != "" {
			fmt.Fprintf(w, "\n%s\n", c.help)
		}
		if c.run != nil {
			fmt.Fprintf(w, "\n%s\n", environment)
		}
		return
	}
	fmt.Fprintln(w, "usage: agentq COMMAND [ARGS]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\n`agentq help COMMAND` says more.\n\n%s\n", environment)
}

func runHelp(args []string, stdout io.Writer) error {
	switch {
	case len(args) == 0:
		printHelp(stdout, "")
	case len(args) == 1:
		if _, ok := lookup(args[0]); !ok {
			return usagef("help %s: no such command; `agentq help` lists them", args[0])
		}
		printHelp(stdout, args[0])
	default:
		return usagef("usage: %s", commandUsage("help"))
	}
	return nil
}

// runCompletion prints the completion script of a shell, built from the command table.
func runCompletion(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usagef("usage: %s", commandUsage("completion"))
	}
	var names []string
	var cases strings.Builder
	for _, c := range commands {
		names = append(names, c.name)
		words := append(append([]string{}, c.subs...), c.flags...)
		if c.name == "help" {
			words = nil
			for _, o := range commands {
				words = append(words, o.name)
			}
		}
		if len(words) > 0 {
			fmt.Fprintf(&cases, "    %s) words=%q ;;\n", c.name, strings.Join(words, " "))
		}
	}
	sort.Strings(names)
	switch args[0] {
	case "bash":
		fmt.Fprintf(stdout, bashCompletion, strings.Join(names, " "), cases.String())
	case "zsh":
		fmt.Fprintf(stdout, "#compdef agentq\nautoload -U +X bashcompinit && bashcompinit\n"+bashCompletion, strings.Join(names, " "), cases.String())
	default:
		return usagef("completion %s: bash or zsh", args[0])
	}
	return nil
}

// bashCompletion completes the command name, then its verbs and flags; zsh runs it through
// bashcompinit.
const bashCompletion = `# agentq completion
_agentq() {
  local cur=${COMP_WORDS[COMP_CWORD]} words
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "%s" -- "$cur"))
    return
  fi
  case ${COMP_WORDS[1]} in
%s    *) words="" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _agentq agentq
`
