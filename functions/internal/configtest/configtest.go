// Package configtest checks how a Lambda function's newHandler treats its environment: every
// valid variant builds a handler, each required variable left out is refused by name, and a bad
// operator webhook secret is refused without being quoted. It runs with AWS out of reach, so a
// handler that contacts AWS while it is built fails the test.
package configtest

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/config"
)

// Case describes one function's configuration.
type Case[H any] struct {
	// New builds the handler from the environment: the function's newHandler.
	New func(ctx context.Context, getenv func(string) string) (H, error)
	// Valid is the environment the stack gives the function, with local values.
	Valid map[string]string
	// Variants are additions to Valid that must build too.
	Variants []map[string]string
	// Required are the variables the function refuses to start without.
	Required []string
}

// BadSecrets are operator webhook secrets every function refuses: no whsec_ prefix, too short,
// not base64, and a key of 12 bytes (long enough as text, too short as a key).
var BadSecrets = []string{
	"not-a-webhook-secret-at-all",
	"whsec_c2hvcnQ=",
	"whsec_!!!!not*base64*at*all!!!!",
	"whsec_AAAAAAAAAAAAAAAA",
}

// Run checks c.
func Run[H any](t *testing.T, c Case[H]) {
	t.Helper()
	Offline(t)
	build := func(env map[string]string) error {
		t.Helper()
		h, err := c.New(context.Background(), func(k string) string { return env[k] })
		if err == nil && reflect.ValueOf(&h).Elem().IsZero() {
			t.Fatal("newHandler answered neither a handler nor an error")
		}
		return err
	}
	for _, extra := range append([]map[string]string{nil}, c.Variants...) {
		if err := build(With(c.Valid, extra)); err != nil {
			t.Errorf("valid configuration (plus %v) refused: %v", keys(extra), err)
		}
	}
	for _, name := range c.Required {
		env := With(c.Valid, nil)
		delete(env, name)
		err := build(env)
		switch {
		case err == nil:
			t.Errorf("%s unset: accepted", name)
		case !strings.Contains(err.Error(), name):
			t.Errorf("%s unset: the error does not name it: %v", name, err)
		}
	}
	for _, bad := range BadSecrets {
		err := build(With(c.Valid, map[string]string{config.EnvWebhookSecret: bad}))
		switch {
		case err == nil:
			t.Errorf("%s=%q: accepted", config.EnvWebhookSecret, bad)
		case !strings.Contains(err.Error(), config.EnvWebhookSecret):
			t.Errorf("%s=%q: the error does not name the variable: %v", config.EnvWebhookSecret, bad, err)
		case strings.Contains(err.Error(), bad):
			t.Errorf("%s=%q: the error quotes the secret: %v", config.EnvWebhookSecret, bad, err)
		}
	}
}

// Offline keeps the AWS SDK's configuration to the test (region and credentials from the
// environment, no shared files, no instance metadata) and points every AWS endpoint at a server
// on 127.0.0.1 that fails the test if it is called.
func Offline(t *testing.T) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("building the handler called AWS: %s %s (%s)", r.Method, r.URL, r.Header.Get("X-Amz-Target"))
		http.Error(w, "no AWS in this test", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": srv.URL, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
}

// With returns a copy of env with extra set.
func With(env, extra map[string]string) map[string]string {
	out := maps.Clone(env)
	maps.Copy(out, extra)
	return out
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
