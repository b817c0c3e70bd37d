package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/agentq/agentq/client"
)

// runAgents is `agentq agents list|get|put|publish`: the agent registry. put and publish take
// the admin key.
func runAgents(ctx context.Context, e *apiEnv, args []string) error {
	if len(args) == 0 {
		return usagef("usage: %s", commandUsage("agents"))
	}
	verb, args := args[0], args[1:]
	fs := newFlags("agents "+verb, e.stderr)
	output := outputFlag(fs)
	file := fs.String("file", "", "put: the agent definition, JSON (- reads stdin)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := checkOutput(*output); err != nil {
		return err
	}
	want := map[string]int{"list": 0, "get": 1, "put": 1, "publish": 1}
	n, known := want[verb]
	if !known || len(pos) != n || (verb == "put") != (*file != "") {
		return usagef("usage: %s", commandUsage("agents"))
	}
	c, err := e.client(verb == "put" || verb == "publish")
	if err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var one *client.AgentSummary
	switch verb {
	case "list":
		all, err := c.Agents(ctx)
		if err != nil {
			return err
		}
		return emit(e, *output, all, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AGENT\tVERSION\tPROTOCOL\tNAME")
			for _, a := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Id, a.Version, a.Protocol, deref(a.Name))
			}
			tw.Flush()
		})
	case "get":
		a, err := c.Agent(ctx, pos[0])
		if err != nil {
			return err
		}
		return emit(e, *output, a, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "agent\t%s\nname\t%s\nversion\t%s\nprotocol\t%s\ncost units\t%d\n", a.Id, deref(a.Name), a.Version, a.Protocol, a.Policy.CostUnits)
			tw.Flush()
		})
	case "put":
		var def client.AgentDefinition
		if def, err = readDefinition(*file); err != nil {
			return err
		}
		one, err = c.PutAgent(ctx, pos[0], def)
	case "publish":
		one, err = c.PublishAgent(ctx, pos[0])
	}
	if err != nil {
		return err
	}
	return emit(e, *output, one, func(w io.Writer) { printAgent(w, one) })
}

func readDefinition(file string) (client.AgentDefinition, error) {
	var def client.AgentDefinition
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return def, fmt.Errorf("read agent definition: %w", err)
	}
	if err := json.Unmarshal(b, &def); err != nil {
		return def, usagef("%s: not an agent definition: %v", file, err)
	}
	return def, nil
}

func printAgent(w io.Writer, a *client.AgentSummary) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "agent\t%s\n", a.Agent.Id)
	fmt.Fprintf(tw, "name\t%s\n", deref(a.Agent.Name))
	fmt.Fprintf(tw, "version\t%d\n", a.CurrentVersion)
	fmt.Fprintf(tw, "draft\t%v\n", a.HasDraft)
	fmt.Fprintf(tw, "protocol\t%s\n", a.Agent.Protocol)
	fmt.Fprintf(tw, "deleted\t%v\n", a.Deleted)
	tw.Flush()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
