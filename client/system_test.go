package client_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/agentq/agentq/client"
	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/local/system"
)

// The tests run against one local system on 127.0.0.1 that TestMain starts: apiURL serves it,
// apiKey is the tenant "default"'s key and adminKey its admin key.
var (
	apiURL string
	sys    *system.System
	routes = &routeLog{seen: map[string]bool{}}
)

const (
	apiKey   = "aq_client_test_key"
	adminKey = "aq_client_test_admin"
	// webhookSecret signs deliveries of tenants without their own secret.
	webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

func TestMain(m *testing.M) {
	if err := emulators.CheckInstalled(emulators.Options{}); err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("skipping the client's tests on the local system:", err)
		os.Exit(0)
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	sys, err = system.Start(ctx, system.Options{
		Addr: "127.0.0.1:0", APIKey: apiKey, AdminKey: adminKey,
		WebhookSecret: webhookSecret, AllowLoopbackWebhooks: true,
		WebhookSchedule: []time.Duration{20 * time.Millisecond},
		Logger:          slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start local system:", err)
		return 1
	}
	defer sys.Close()
	apiURL = sys.APIURL
	code := m.Run()
	// Only a run of every test must reach every route.
	if code == 0 && flag.Lookup("test.run").Value.String() == "" {
		if missing := routes.missing("../api/openapi.yaml"); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: the client's tests call no route for: %s\n", strings.Join(missing, ", "))
			return 1
		}
	}
	return code
}

// newClient answers a client with key whose requests are logged, so TestMain can check that
// the tests reached every route of the document.
func newClient(t testing.TB, key string, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithAPIKey(key), client.WithHTTPClient(&http.Client{Transport: routes})}, opts...)
	c, err := client.New(apiURL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// routeLog is a RoundTripper that remembers each request's method and path.
type routeLog struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (l *routeLog) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.seen[r.Method+" "+r.URL.Path] = true
	l.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// agentFacing are the routes agents call with their task's progress token, not callers with an
// API key: the client has no business with them.
var agentFacing = map[string]bool{"reportProgress": true, "pushNotification": true}

// missing answers the document's operations that no logged request matched.
func (l *routeLog) missing(doc string) []string {
	d, err := openapi3.NewLoader().LoadFromFile(doc)
	if err != nil {
		return []string{"(load " + doc + ": " + err.Error() + ")"}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	param := regexp.MustCompile(`\\\{[^}]+\\\}`)
	for path, item := range d.Paths.Map() {
		re := regexp.MustCompile("^" + param.ReplaceAllString(regexp.QuoteMeta(path), `[^/]+`) + "$")
		for method, op := range item.Operations() {
			if agentFacing[op.OperationID] {
				continue
			}
			found := false
			for seen := range l.seen {
				m, p, _ := strings.Cut(seen, " ")
				if m == method && re.MatchString(p) {
					found = true
					break
				}
			}
			if !found {
				out = append(out, method+" "+path)
			}
		}
	}
	sort.Strings(out)
	return out
}
