package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/agentq/agentq/shared/smoke"
)

const smokeUsage = "usage: agentq smoke -api URL [-agent echo] [-tenant T] [-webhook-url URL [-webhook-listen ADDR]] [-event-bus NAME] [-timeout 3m]  (key from AGENTQ_API_KEY)"

// runSmoke checks a running system, deployed or local, through its API: both dialects, a webhook
// and an event-triggered invocation (shared/smoke). Settings come from flags or, for `make
// smoke-aws`, the environment: API_URL, AGENTQ_API_KEY, SMOKE_AGENT, SMOKE_TENANT, WEBHOOK_URL,
// WEBHOOK_LISTEN, EVENT_BUS (and the AWS SDK's own settings for the event: credentials, region,
// AWS_ENDPOINT_URL_EVENTBRIDGE).
func runSmoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := fs.String("api", or(getenv("API_URL"), getenv("AGENTQ_API_URL")), "the API's base URL (the stack's ApiUrl output)")
	agentID := fs.String("agent", or(getenv("SMOKE_AGENT"), "echo"), "an agent that echoes its input")
	tenant := fs.String("tenant", getenv("SMOKE_TENANT"), "the tenant of AGENTQ_API_KEY, which owns the event-triggered task (default: the stack's default tenant)")
	webhookURL := fs.String("webhook-url", getenv("WEBHOOK_URL"), "a receiver URL the stack can reach (empty: skip the webhook check)")
	webhookListen := fs.String("webhook-listen", getenv("WEBHOOK_LISTEN"), "also receive the delivery on this local address")
	bus := fs.String("event-bus", getenv("EVENT_BUS"), "the stack's EventBusName output (empty: skip the event check; needs AWS credentials)")
	timeout := fs.Duration("timeout", 3*time.Minute, "how long each check may take")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *api == "" || getenv("AGENTQ_API_KEY") == "" || fs.NArg() != 0 {
		return errors.New(smokeUsage)
	}
	cfg := smoke.Config{
		APIURL: *api, APIKey: getenv("AGENTQ_API_KEY"), Agent: *agentID, Tenant: *tenant,
		WebhookURL: *webhookURL, WebhookListen: *webhookListen, Timeout: *timeout, Log: stdout,
	}
	cfg.Events, cfg.EventsSkipReason = eventPutter(ctx, *bus)
	results, err := smoke.Run(ctx, cfg)
	counts := map[smoke.Status]int{}
	for _, r := range results {
		counts[r.Status]++
	}
	fmt.Fprintf(stdout, "smoke: %d passed, %d failed, %d skipped against %s\n", counts[smoke.Pass], counts[smoke.Fail], counts[smoke.Skip], *api)
	return err
}

// eventPutter puts the event check's event on bus with the AWS SDK's default configuration, or
// says why the check is skipped: no bus named, or no credentials to put events with.
func eventPutter(ctx context.Context, bus string) (smoke.EventPutter, string) {
	if bus == "" {
		return nil, "no EVENT_BUS: set it to the stack's EventBusName output, with AWS credentials that may events:PutEvents on it"
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Sprintf("EVENT_BUS is set but the AWS configuration does not load: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := awsCfg.Credentials.Retrieve(cctx); err != nil {
		return nil, fmt.Sprintf("EVENT_BUS is set but no AWS credentials were found (%v)", err)
	}
	return &smoke.EventBridge{API: eventbridge.NewFromConfig(awsCfg), Bus: bus}, ""
}
