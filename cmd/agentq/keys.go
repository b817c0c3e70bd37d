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
	"net/url"
	"strings"
	"time"
)

const keysUsage = "usage: agentq keys create -tenant T -name N | agentq keys list -tenant T | agentq keys revoke ID | " +
	"agentq keys limits -tenant T [-rate N -max-in-flight N | -reset]  [-api URL]  (admin key from AGENTQ_ADMIN_KEY)"

// runKeys creates, lists and revokes tenants' API keys through the API of a running system, with
// the admin key. It prints the API's JSON answer; create's holds the key, shown this once.
func runKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	verb := args[0]
	fs := flag.NewFlagSet("keys "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := fs.String("api", or(getenv("AGENTQ_API_URL"), "http://127.0.0.1:8042"), "the API's base URL")
	tenant := fs.String("tenant", "", "the tenant that owns the keys")
	name := fs.String("name", "", "what the new key is for (create)")
	rate := fs.Int("rate", -1, "the tenant's own requests per second, 0 unbounded (limits)")
	inFlight := fs.Int("max-in-flight", -1, "the tenant's own cap of tasks in flight, 0 unbounded (limits)")
	reset := fs.Bool("reset", false, "remove the tenant's own limits: the defaults apply (limits)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	adminKey := getenv("AGENTQ_ADMIN_KEY")
	if adminKey == "" {
		return errors.New("agentq keys: set AGENTQ_ADMIN_KEY to the admin key")
	}
	var (
		method, path string
		body         []byte
	)
	switch {
	case verb == "create" && fs.NArg() == 0 && *tenant != "" && *name != "":
		method, path = http.MethodPost, "/v1/api-keys"
		body, _ = json.Marshal(map[string]string{"tenant": *tenant, "name": *name})
	case verb == "list" && fs.NArg() == 0 && *tenant != "":
		method, path = http.MethodGet, "/v1/api-keys?tenant="+url.QueryEscape(*tenant)
	case verb == "limits" && fs.NArg() == 0 && *tenant != "" && *reset:
		method, path = http.MethodDelete, "/v1/tenants/"+url.PathEscape(*tenant)+"/limits"
	case verb == "limits" && fs.NArg() == 0 && *tenant != "" && *rate >= 0 && *inFlight >= 0:
		method, path = http.MethodPut, "/v1/tenants/"+url.PathEscape(*tenant)+"/limits"
		body, _ = json.Marshal(map[string]int{"rate": *rate, "max_in_flight": *inFlight})
	case verb == "limits" && fs.NArg() == 0 && *tenant != "" && *rate < 0 && *inFlight < 0:
		method, path = http.MethodGet, "/v1/tenants/"+url.PathEscape(*tenant)+"/limits"
	case verb == "revoke" && fs.NArg() == 1:
		method, path = http.MethodDelete, "/v1/api-keys/"+url.PathEscape(fs.Arg(0))
	default:
		return errors.New(keysUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(*api, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("agentq keys %s: %w", verb, err)
	}
	req.Header.Set("x-api-key", adminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("agentq keys %s: %w", verb, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("agentq keys %s: %w", verb, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("agentq keys %s: %s: %s", verb, resp.Status, bytes.TrimSpace(raw))
	}
	var out bytes.Buffer
	if json.Indent(&out, raw, "", "  ") != nil {
		out.Reset()
		out.Write(raw)
	}
	fmt.Fprintln(stdout, out.String())
	if verb == "create" {
		fmt.Fprintln(stderr, "agentq: the key is shown this once; only its hash is stored")
	}
	return nil
}
