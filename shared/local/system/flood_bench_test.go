package system

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/tenantlimit"
)

// floodLimits bound the flooding tenant as a deployment's defaults would bound any tenant.
var floodLimits = tenantlimit.Limits{Rate: 20, MaxInFlight: 20}

// BenchmarkQuietTenantUnderFlood measures what one tenant's flood does to another's tasks: the
// quiet tenant's time to completion (p50, p99) alone, then while a tenant with floodLimits
// submits as fast as eight clients can. Each phase runs quietTasks tasks one after another; the
// flood stops with its phase. Run it with
//
//	go test -run '^$' -bench QuietTenantUnderFlood -benchtime 1x ./shared/local/system/
func BenchmarkQuietTenantUnderFlood(b *testing.B) {
	const quietTasks = 40
	floodKey := tenantKey(b, "flood", floodLimits)
	for range b.N {
		alone := quietRun(b, quietTasks)
		ctx, stop := context.WithCancel(context.Background())
		sent, refused := flood(ctx, floodKey, 8)
		flooded := quietRun(b, quietTasks)
		stop()
		b.ReportMetric(ms(percentile(alone, 50)), "quiet-p50-ms")
		b.ReportMetric(ms(percentile(alone, 99)), "quiet-p99-ms")
		b.ReportMetric(ms(percentile(flooded, 50)), "flooded-p50-ms")
		b.ReportMetric(ms(percentile(flooded, 99)), "flooded-p99-ms")
		b.ReportMetric(float64(sent()), "flood-accepted")
		b.ReportMetric(float64(refused()), "flood-refused-429")
	}
}

// quietRun submits n tasks of the default tenant one after another and returns each one's time
// from submission to completion.
func quietRun(b *testing.B, n int) []time.Duration {
	b.Helper()
	var out []time.Duration
	for range n {
		start := time.Now()
		code, body := request(b, http.MethodPost, "/v1/agents/echo/invoke/async", testKey, `{"input":{"text":"quiet"}}`)
		if code != http.StatusOK {
			b.Fatalf("quiet submit = %d %v", code, body)
		}
		id, _ := body["id"].(string)
		for {
			code, body := request(b, http.MethodGet, "/v1/tasks/"+id+"?wait=5", testKey, "")
			if code == http.StatusOK && body["status"] == "completed" {
				break
			}
			if code != http.StatusOK || time.Since(start) > time.Minute {
				b.Fatalf("quiet task %s = %d %v", id, code, body)
			}
		}
		out = append(out, time.Since(start))
	}
	return out
}

// flood submits tasks for key from clients goroutines until ctx ends; the counters report how
// many were accepted and how many refused with 429.
func flood(ctx context.Context, key string, clients int) (sent, refused func() int) {
	var mu sync.Mutex
	var ok, limited int
	for range clients {
		go func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sys.APIURL+"/v1/agents/echo/invoke/async",
					strings.NewReader(`{"input":{"text":"flood","delay_ms":200}}`))
				req.Header.Set("x-api-key", key)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				resp.Body.Close()
				mu.Lock()
				switch resp.StatusCode {
				case http.StatusOK:
					ok++
				case http.StatusTooManyRequests:
					limited++
				}
				mu.Unlock()
			}
		}()
	}
	count := func(n *int) func() int {
		return func() int { mu.Lock(); defer mu.Unlock(); return *n }
	}
	return count(&ok), count(&limited)
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
