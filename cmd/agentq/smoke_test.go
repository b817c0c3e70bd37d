package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/smoke"
)

// TestSmokeCommand: `agentq smoke` takes the API and key from the environment (as `make
// smoke-aws` passes them), reports each check and a summary, says why the unconfigured checks
// were skipped, and fails when a check fails. (shared/smoke's tests run the checks against the
// local system.)
func TestSmokeCommand(t *testing.T) {
	saw := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		saw["x-api-key: "+r.Header.Get("x-api-key")] = true
		saw["Authorization: "+r.Header.Get("Authorization")] = true
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"code":"invalid_api_key"}`)
	}))
	defer srv.Close()
	env := map[string]string{"API_URL": srv.URL + "/", "AGENTQ_API_KEY": "aq_wrong"}
	var out bytes.Buffer
	err := run(context.Background(), []string{"smoke", "-timeout", "5s"}, func(k string) string { return env[k] }, &out, io.Discard)
	if !errors.Is(err, smoke.ErrFailed) {
		t.Fatalf("err = %v, want smoke.ErrFailed\n%s", err, out.String())
	}
	for _, want := range []string{
		"FAIL xpander invoke and poll", "answered 401",
		"SKIP webhook delivery: no WEBHOOK_URL",
		"SKIP event-triggered invocation: no EVENT_BUS",
		"smoke: 0 passed, 2 failed, 2 skipped against " + srv.URL,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !saw["x-api-key: aq_wrong"] || !saw["Authorization: Bearer aq_wrong"] {
		t.Errorf("the API saw %v, want the key of AGENTQ_API_KEY in x-api-key and as a Bearer token", saw)
	}

	// Without a key or an API there is nothing to check.
	for _, e := range []map[string]string{{"API_URL": srv.URL}, {"AGENTQ_API_KEY": "k"}} {
		if err := run(context.Background(), []string{"smoke"}, func(k string) string { return e[k] }, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "usage: agentq smoke") {
			t.Errorf("env %v: err = %v, want the usage", e, err)
		}
	}
}
