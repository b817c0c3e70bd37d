package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/agentq/agentq/client"
)

const keysUsage = "usage: agentq keys create -tenant T -name N | agentq keys list -tenant T | agentq keys revoke ID | " +
	"agentq keys limits -tenant T [-rate N -max-in-flight N | -reset]  [-api URL]  (admin key from AGENTQ_ADMIN_KEY)"

// runKeys creates, lists and revokes tenants' API keys, and reads, sets and resets tenants' own
// limits, through the API of a running system, with the admin key. It prints the API's answer as JSON; create's holds the key, shown this once.
func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return &usageError{keysUsage}
	}
	verb := args[0]
	fs := flag.NewFlagSet("keys "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := fs.String("api", or(getenv("AGENTQ_API_URL"), client.DefaultURL), "the API's base URL")
	tenant := fs.String("tenant", "", "the tenant that owns the keys")
	name := fs.String("name", "", "what the new key is for (create)")
	rate := fs.Int("rate", -1, "the tenant's own requests per second, 0 unbounded (limits)")
	inFlight := fs.Int("max-in-flight", -1, "the tenant's own cap of tasks in flight, 0 unbounded (limits)")
	reset := fs.Bool("reset", false, "remove the tenant's own limits: the defaults apply (limits)")
	if err := fs.Parse(args[1:]); err != nil {
		return &usageError{err.Error()}
	}
	adminKey := getenv("AGENTQ_ADMIN_KEY")
	if adminKey == "" {
		return &usageError{"agentq keys: set AGENTQ_ADMIN_KEY to the admin key"}
	}
	c, err := client.New(*api, client.WithAPIKey(adminKey), client.WithUserAgent("agentq-cli"))
	if err != nil {
		return err
	}
	e := &apiEnv{getenv: getenv, stdout: stdout, stderr: stderr}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var out any
	switch {
	case verb == "create" && fs.NArg() == 0 && *tenant != "" && *name != "":
		out, err = c.CreateAPIKey(ctx, client.APIKeyInput{Tenant: *tenant, Name: *name})
	case verb == "list" && fs.NArg() == 0 && *tenant != "":
		out, err = c.APIKeys(ctx, *tenant)
	case verb == "limits" && fs.NArg() == 0 && *tenant != "" && *reset:
		out, err = c.ResetTenantLimits(ctx, *tenant)
	case verb == "limits" && fs.NArg() == 0 && *tenant != "" && *rate >= 0 && *inFlight >= 0:
		out, err = c.SetTenantLimits(ctx, *tenant, *rate, *inFlight)
	case verb == "limits" && fs.NArg() == 0 && *tenant != "" && *rate < 0 && *inFlight < 0:
		out, err = c.TenantLimits(ctx, *tenant)
	case verb == "revoke" && fs.NArg() == 1:
		out, err = c.RevokeAPIKey(ctx, fs.Arg(0))
	default:
		return &usageError{keysUsage}
	}
	if err != nil {
		return fmt.Errorf("agentq keys %s: %w", verb, err)
	}
	if err := emit(e, "json", out, nil); err != nil {
		return err
	}
	if verb == "create" {
		fmt.Fprintln(stderr, "agentq: the key is shown this once; only its hash is stored")
	}
	return nil
}
