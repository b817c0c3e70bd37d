package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/agentq/agentq/shared/local/eventbus"
	"github.com/agentq/agentq/shared/local/system"
	"github.com/agentq/agentq/shared/trigger"
)

const devUsage = "usage: agentq dev send-event [-bus URL] [-state FILE] FILE"

const sendEventDoc = `agentq dev send-event [-bus URL] [-state FILE] FILE

Hands FILE, a Lambda payload for the trigger function, to the trigger of the system
` + "`agentq run`" + ` started, as Lambda would: an EventBridge event (detail-type "Invoke Agent"),
a schedule's envelope (source aws.scheduler) or an SQS event from the ingest queue (see
events/*.json and events/README.md). It prints what became of each event: the task it made,
or why it was rejected (the HTTP API's reason code; the event went to the trigger's
dead-letter queue), and exits non-zero when an event was rejected or failed.

The bus is found in the state file ` + "`agentq run`" + ` wrote, unless -bus (or AGENTQ_BUS_URL) names it.

Example:
  go run ./cmd/agentq dev send-event events/eventbridge-invoke.json
  accepted  task 81250b20-e9d7-4b3b-9995-07dc72b4bb59  (agent echo, tenant acme, source eventbridge, state queued)

Flags:
`

// runDev runs the developer tools on a running local system.
func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(devUsage)
	}
	switch args[0] {
	case "send-event":
		err := sendEvent(ctx, args[1:], getenv, stdout, stderr)
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	return errors.New(devUsage)
}

// sendEvent posts a Lambda payload to the local bus's trigger route and prints the outcome.
func sendEvent(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev send-event", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), sendEventDoc)
		fs.PrintDefaults()
	}
	bus := fs.String("bus", getenv("AGENTQ_BUS_URL"), "the local event bus's URL (default: from the state file)")
	state := fs.String("state", or(getenv("AGENTQ_STATE"), defaultState), "the state file `agentq run` wrote")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the trigger")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New(devUsage)
	}
	file := fs.Arg(0)
	payload, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("agentq dev send-event: %w", err)
	}
	if !json.Valid(payload) {
		return fmt.Errorf("agentq dev send-event: %s is not JSON", file)
	}
	url := *bus
	if url == "" {
		if url, err = busURL(*state); err != nil {
			return fmt.Errorf("agentq dev send-event: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(url, "/")+eventbus.TriggerPath, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("agentq dev send-event: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("agentq dev send-event: is `agentq run` running? %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("agentq dev send-event: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = string(bytes.TrimSpace(raw))
		}
		return fmt.Errorf("agentq dev send-event: the trigger failed (%s): %s", resp.Status, e.Error)
	}
	return printOutcome(raw, stdout)
}

// busURL reads the local bus's URL from the state file `agentq run` wrote.
func busURL(state string) (string, error) {
	wo, err := system.ReadState(state)
	if err != nil {
		return "", err
	}
	if wo.BusURL == "" {
		return "", fmt.Errorf("%s names no event bus: start the system with a newer `agentq run`, or pass -bus", state)
	}
	return wo.BusURL, nil
}

// printOutcome prints the trigger's answer: a trigger.Result (an EventBridge event), a
// trigger.Report (what Handler.HandleVerbose answers), or a bare SQS batch response.
func printOutcome(raw []byte, stdout io.Writer) error {
	var ans struct {
		Outcome           string                `json:"outcome"`
		Results           []trigger.Result      `json:"results"`
		BatchItemFailures []trigger.ItemFailure `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return fmt.Errorf("agentq dev send-event: the trigger answered %.200s", raw)
	}
	results := ans.Results
	if ans.Outcome != "" {
		var r trigger.Result
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("agentq dev send-event: the trigger answered %.200s", raw)
		}
		results = []trigger.Result{r}
	}
	bad := 0
	for _, r := range results {
		switch r.Outcome {
		case trigger.Accepted:
			fmt.Fprintf(stdout, "accepted  task %s  (agent %s, tenant %s, source %s, state %s)\n", r.TaskID, r.AgentID, r.Tenant, r.Source, r.TaskState)
		case trigger.Rejected:
			bad++
			fmt.Fprintf(stdout, "rejected  %s: %s  (%s event %s; sent to the trigger's dead-letter queue)\n", r.Reason, r.Message, r.Source, r.EventID)
		default:
			bad++
			fmt.Fprintf(stdout, "failed    %s  (%s event %s; it would be retried)\n", r.Message, r.Source, r.EventID)
		}
	}
	if len(results) == 0 {
		for _, f := range ans.BatchItemFailures {
			bad++
			fmt.Fprintf(stdout, "failed    SQS message %s  (it would be redelivered)\n", f.ItemIdentifier)
		}
		if bad == 0 {
			fmt.Fprintln(stdout, "handled   every record")
		}
	}
	if bad > 0 {
		return fmt.Errorf("agentq dev send-event: %d event(s) rejected or failed", bad)
	}
	return nil
}
