package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/batch"

	"github.com/agentq/agentq/shared/netguard"
)

func TestDescribe(t *testing.T) {
	const raw = "https://hooks.example.com/in?token=s3cr3t"
	blocked := &url.Error{Op: "Post", URL: raw, Err: &net.OpError{Op: "dial", Net: "tcp",
		Err: fmt.Errorf("%w: 127.0.0.1 is loopback", netguard.ErrBlocked)}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"blocked", blocked, "refused: the URL leads to an address webhooks may not reach (address not allowed: 127.0.0.1 is loopback)"},
		{"timeout", &url.Error{Op: "Post", URL: raw, Err: context.DeadlineExceeded}, "no answer within 10s"},
		{"refused", &url.Error{Op: "Post", URL: raw, Err: errors.New("dial tcp 1.2.3.4:443: connect: connection refused")},
			"could not reach the receiver: dial tcp 1.2.3.4:443: connect: connection refused"},
		{"quoting the url", errors.New("oops at " + raw), "could not reach the receiver: oops at https://hooks.example.com/in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describe(tt.err, raw)
			if got != tt.want {
				t.Errorf("describe = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "s3cr3t") {
				t.Errorf("the error holds the query: %q", got)
			}
		})
	}
	if got := scrub(strings.Repeat("x", 2*maxErrorBytes), raw); len(got) > maxErrorBytes+3 {
		t.Errorf("scrub left %d bytes", len(got))
	}
}

func TestHTTPClientRefusesGuardedAddresses(t *testing.T) {
	c := HTTPClient(netguard.Policy{})
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:9/", nil)
	_, err := c.Do(req)
	if !errors.Is(err, netguard.ErrBlocked) {
		t.Fatalf("Do = %v, want ErrBlocked", err)
	}
	if got := describe(err, "http://127.0.0.1:9/"); !strings.HasPrefix(got, "refused: ") || !strings.Contains(got, "loopback") {
		t.Errorf("describe = %q", got)
	}
}

func TestScheduleTotal(t *testing.T) {
	got := total(DefaultSchedule)
	if got < 24*time.Hour {
		t.Fatalf("DefaultSchedule spans %v, less than 24h", got)
	}
	if want := 27*time.Hour + 35*time.Minute + 5*time.Second; got != want {
		t.Errorf("DefaultSchedule spans %v, want %v", got, want)
	}
	if len(DefaultSchedule)+1 > MaxAttempts {
		t.Errorf("DefaultSchedule makes more than %d attempts", MaxAttempts)
	}
}

func TestJitterBounds(t *testing.T) {
	for _, d := range []time.Duration{0, time.Nanosecond, 4 * time.Nanosecond, 5 * time.Millisecond, 5 * time.Second, 10 * time.Hour} {
		lo, hi := d-time.Duration(float64(d)*JitterFraction), d+time.Duration(float64(d)*JitterFraction)
		seenLow, seenHigh := false, false
		for range 2000 {
			got := d + jitterOffset(d)
			if got < lo || got > hi {
				t.Fatalf("jittered %v = %v, outside [%v, %v]", d, got, lo, hi)
			}
			seenLow = seenLow || got < d
			seenHigh = seenHigh || got > d
		}
		if d >= 5*time.Millisecond && (!seenLow || !seenHigh) {
			t.Errorf("jitter of %v never went both ways", d)
		}
	}
}

// The span from the first attempt to the last stays above 24 h whatever the jitter draws, and
// attempts that run on time keep the schedule's spacing within ±20%.
func TestNextAttemptSpan(t *testing.T) {
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	last := DefaultSchedule[len(DefaultSchedule)-1]
	lo := total(DefaultSchedule) - time.Duration(float64(last)*JitterFraction)
	hi := total(DefaultSchedule) + time.Duration(float64(last)*JitterFraction)
	for range 500 {
		now := first
		for n := 1; n <= len(DefaultSchedule); n++ {
			next := nextAttempt(DefaultSchedule, first, n, now)
			step := DefaultSchedule[n-1]
			if wait := next.Sub(now); wait < step*4/5-time.Nanosecond || wait > step*3/2 {
				t.Fatalf("wait before attempt %d = %v for a step of %v", n+1, wait, step)
			}
			now = next
		}
		span := now.Sub(first)
		if span < 24*time.Hour || span < lo || span > hi {
			t.Fatalf("span = %v, want within [%v, %v] and at least 24h", span, lo, hi)
		}
	}
	// An attempt made late is still followed by most of its wait.
	late := first.Add(3 * time.Hour)
	if next := nextAttempt(DefaultSchedule, first, 1, late); next.Sub(late) < 4*time.Second {
		t.Errorf("after a late attempt the next comes %v later", next.Sub(late))
	}
}

func TestMessageRoundTrip(t *testing.T) {
	in := message{DeliveryID: "dlv_1", TaskID: "t1", Attempt: 3, NotBefore: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	body, err := encodeMessage(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"kind":"webhook"`) {
		t.Errorf("body %s has no kind", body)
	}
	out, err := decodeMessage(body)
	in.Kind = MessageKind
	if err != nil || out != in {
		t.Fatalf("decode = %+v, %v; want %+v", out, err, in)
	}
	for _, bad := range []string{
		``, `{}`, `[]`, `{"kind":"invoke","delivery_id":"d","task_id":"t","attempt":1}`,
		`{"kind":"webhook","task_id":"t","attempt":1}`, `{"kind":"webhook","delivery_id":"d","task_id":"t","attempt":0}`,
		`{"kind":"webhook","delivery_id":"d","task_id":"t","attempt":51}`, strings.Repeat(" ", maxMessageBytes+1),
	} {
		if _, err := decodeMessage(bad); err == nil {
			t.Errorf("decodeMessage(%.40q) accepted it", bad)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add(`{"kind":"webhook","delivery_id":"dlv_1","task_id":"t1","attempt":1,"not_before":"2026-01-02T03:04:05Z"}`)
	f.Add(`{"kind":"webhook","attempt":-1}`)
	f.Fuzz(func(t *testing.T, body string) {
		m, err := decodeMessage(body)
		if err != nil {
			return
		}
		if m.Kind != MessageKind || m.DeliveryID == "" || m.TaskID == "" || m.Attempt < 1 || m.Attempt > MaxAttempts {
			t.Fatalf("accepted %+v", m)
		}
	})
}

// fakeSender records what is sent.
type fakeSender struct {
	mu     sync.Mutex
	bodies []string
	delays []time.Duration
}

func (f *fakeSender) Send(_ context.Context, body string, delay time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bodies, f.delays = append(f.bodies, body), append(f.delays, delay)
	return nil
}

// A message not yet due goes back to the queue, delayed by what remains (15 minutes at most); a
// malformed one is dropped. Neither reads the table.
func TestHandleNotDueAndMalformed(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	q := &fakeSender{}
	s := New(Config{Queue: q, Now: func() time.Time { return now }})
	body := func(due time.Duration) string {
		b, _ := encodeMessage(message{DeliveryID: "dlv_1", TaskID: "t", Attempt: 4, NotBefore: now.Add(due)})
		return b
	}
	failed := s.Handle(context.Background(), []batch.Record{
		{ID: "a", Body: body(5 * time.Hour)},
		{ID: "b", Body: body(10 * time.Minute)},
		{ID: "c", Body: `{"kind":"invoke"}`},
	})
	if len(failed) != 0 {
		t.Fatalf("Handle failed %v", failed)
	}
	if len(q.bodies) != 2 {
		t.Fatalf("sent %d messages, want 2", len(q.bodies))
	}
	want := map[string]time.Duration{body(5 * time.Hour): MaxDelay, body(10 * time.Minute): 10 * time.Minute}
	for i, b := range q.bodies {
		if d, ok := want[b]; !ok || q.delays[i] != d {
			t.Errorf("sent %s with delay %v", b, q.delays[i])
		}
	}
}

// TestEventIDs: a progress event's delivery and webhook ids derive from the task and the event's
// sequence number (the same on every call, so a redelivered stream record finds its delivery),
// and never equal a version's, whatever the numbers.
func TestEventIDs(t *testing.T) {
	url := "https://hooks.example.com/x"
	if eventDeliveryID("t1", 3, url) != eventDeliveryID("t1", 3, url) || eventMessageID("t1", 3) != eventMessageID("t1", 3) {
		t.Fatal("ids differ between calls")
	}
	seen := map[string]string{}
	for _, c := range []struct{ name, id string }{
		{"event 3", eventDeliveryID("t1", 3, url)}, {"event 4", eventDeliveryID("t1", 4, url)},
		{"event 3 elsewhere", eventDeliveryID("t1", 3, url+"2")}, {"event 3 of t2", eventDeliveryID("t2", 3, url)},
		{"version 3", deliveryID("t1", 3, url)},
		{"message of event 3", eventMessageID("t1", 3)}, {"message of version 3", messageID("t1", 3)},
	} {
		if other, dup := seen[c.id]; dup {
			t.Errorf("%s and %s have the same id %s", c.name, other, c.id)
		}
		seen[c.id] = c.name
	}
}
