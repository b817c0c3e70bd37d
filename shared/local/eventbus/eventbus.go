// Package eventbus is a local EventBridge event bus for `make run` and tests. It serves the
// PutEvents call of the EventBridge JSON protocol, exactly as aws-sdk-go-v2's eventbridge client
// sends it, on 127.0.0.1 only; keeps the events it accepts in memory for tests to read and wait
// for; and hands invocation events (detail-type trigger.DetailTypeInvoke) to the local trigger,
// asynchronously and with retries, as the stack's rule does with its Lambda target. Tests inject
// failed entries with FailNext.
//
// It validates entries as EventBridge does: 1 to 10 entries, Source, DetailType and Detail
// required, Detail a JSON object, no "aws." sources, entries of at most 256 KiB in all (counted as
// EventBridge counts them). It is stricter in one respect: an entry naming another bus than this
// one fails (ResourceNotFoundException), so that a misconfigured bus name shows in tests.
//
// A dev-only route, POST /_agentq/trigger, hands any Lambda payload (EventBridge event,
// schedule envelope, SQS event) to Options.Trigger and answers its result: `agentq dev
// send-event` uses it.
package eventbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/agentq/agentq/shared/trigger"
)

// Defaults of Options.
const (
	DefaultName     = "default"
	DefaultRegion   = "us-east-1"
	DefaultCapacity = 1000
)

// Account is the account of the bus's ARN and of its events.
const Account = "000000000000"

// Limits of PutEvents, as EventBridge sets them.
const (
	// MaxEntries is the most entries one PutEvents call may carry.
	MaxEntries = 10
	// MaxEntriesBytes bounds the entries of one call together, counted as EventBridge counts
	// them: Source, DetailType, Detail and each of Resources in UTF-8 bytes, 14 bytes for a Time.
	MaxEntriesBytes = 256 << 10
	// timeBytes is what a Time counts for.
	timeBytes = 14
	// maxRequestBytes bounds a request body read; larger ones are refused before parsing.
	maxRequestBytes = 4 << 20
	// maxTriggerBytes bounds a payload posted to the trigger route (an SQS batch may be large).
	maxTriggerBytes = 16 << 20
)

// TriggerPath is the dev-only route that hands a Lambda payload to Options.Trigger.
const TriggerPath = "/_agentq/trigger"

// Options configures a Bus. The zero value is usable.
type Options struct {
	// Addr is where to listen: a loopback address; default 127.0.0.1:0 (a free port).
	Addr string
	// Name is the bus's name; default DefaultName. Entries may name it, or its ARN, or nothing.
	Name string
	// Region is the region of the bus's ARN and events; default DefaultRegion.
	Region string
	// Capacity is how many events the bus keeps, the latest; default DefaultCapacity.
	Capacity int
	// OnInvoke, when set, receives every accepted event whose detail-type is
	// trigger.DetailTypeInvoke, asynchronously, as a rule target would. An error is retried.
	OnInvoke func(ctx context.Context, ev Event) error
	// Retries is how many times OnInvoke is retried after an error; default 3 (negative: none).
	Retries int
	// RetryDelay is the first wait before a retry, doubling after each; default 100 ms.
	RetryDelay time.Duration
	// Trigger, when set, serves POST /_agentq/trigger: it is given the posted payload and its
	// answer is written as JSON (an error as 500 {"error": ...}).
	Trigger func(ctx context.Context, raw json.RawMessage) (any, error)
	Logger  *slog.Logger
	// Now defaults to the clock; tests replace it.
	Now func() time.Time
}

// Event is an event the bus accepted, as EventBridge would deliver it.
type Event struct {
	ID         string          `json:"id"`
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Detail     json.RawMessage `json:"detail"`
	// Bus is the name of the bus the event was put on.
	Bus         string    `json:"bus"`
	Resources   []string  `json:"resources"`
	Time        time.Time `json:"time"`
	Account     string    `json:"account"`
	Region      string    `json:"region"`
	TraceHeader string    `json:"trace_header,omitempty"`
}

// Bus is a running local event bus.
type Bus struct {
	// URL is the bus's endpoint: the BaseEndpoint of an eventbridge client.
	URL string
	// Name and ARN identify the bus.
	Name, ARN string

	o      Options
	srv    *http.Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// stopped is closed once the bus has stopped, with closeErr set.
	stopped  chan struct{}
	closeErr error

	mu      sync.Mutex
	ring    []Event
	next    int // where the next event goes in ring, once full
	changed chan struct{}
	failN   int
	failCo  string
}

// Start listens on a loopback address and serves the bus until Close, or until ctx ends.
func Start(ctx context.Context, o Options) (*Bus, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.Capacity <= 0 {
		o.Capacity = DefaultCapacity
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("start local bus: address %q: %w", o.Addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("start local bus: address %q: the local bus listens on loopback addresses only", o.Addr)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("start local bus: %w", err)
	}
	bctx, cancel := context.WithCancel(ctx)
	b := &Bus{
		URL: "http://" + ln.Addr().String(), Name: o.Name,
		ARN: "arn:aws:events:" + o.Region + ":" + Account + ":event-bus/" + o.Name,
		o:   o, ctx: bctx, cancel: cancel, changed: make(chan struct{}), stopped: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{$}", b.serveAPI)
	mux.HandleFunc("POST "+TriggerPath, b.serveTrigger)
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return bctx }}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := b.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("local bus stopped", "err", err)
		}
	}()
	go b.stopWhenDone()
	return b, nil
}

// stopWhenDone stops the bus once its context ends (Close, or Start's ctx): it stops serving,
// which ends deliveries in progress (their context is the bus's), and waits for them.
func (b *Bus) stopWhenDone() {
	<-b.ctx.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.srv.Shutdown(ctx); err != nil {
		b.closeErr = fmt.Errorf("close local bus: %w", err)
	}
	b.wg.Wait()
	close(b.stopped)
}

// Close stops the bus and waits until it has stopped. It may be called more than once.
func (b *Bus) Close() error {
	b.cancel()
	<-b.stopped
	return b.closeErr
}

// Events returns the events the bus keeps, oldest first.
func (b *Bus) Events() []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Event, 0, len(b.ring))
	if len(b.ring) == b.o.Capacity {
		out = append(out, b.ring[b.next:]...)
		return append(out, b.ring[:b.next]...)
	}
	return append(out, b.ring...)
}

// Wait returns the first kept event that match accepts, waiting for one to be put if none is
// there yet, until ctx ends.
func (b *Bus) Wait(ctx context.Context, match func(Event) bool) (Event, error) {
	for {
		b.mu.Lock()
		changed := b.changed
		b.mu.Unlock()
		for _, e := range b.Events() {
			if match(e) {
				return e, nil
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return Event{}, fmt.Errorf("wait for an event: %w", ctx.Err())
		}
	}
}

// FailNext makes the next n entries put fail with the error code (a partial failure: the call
// succeeds with FailedEntryCount > 0), whatever they hold. Codes EventBridge uses include
// InternalFailure and ThrottlingException (retryable) and InvalidArgument.
func (b *Bus) FailNext(n int, code string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failN, b.failCo = n, code
}

// keep stores an accepted event and wakes the waiters.
func (b *Bus) keep(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.ring) < b.o.Capacity {
		b.ring = append(b.ring, e)
	} else {
		b.ring[b.next] = e
		b.next = (b.next + 1) % b.o.Capacity
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

// injected returns the code of an injected failure for the next entry, if one is due.
func (b *Bus) injected() (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failN <= 0 {
		return "", false
	}
	b.failN--
	return b.failCo, true
}

// deliver hands an invocation event to OnInvoke, retrying with a doubling delay, as a rule's
// target is retried. What still fails is logged: on AWS it would go to the target's DLQ.
func (b *Bus) deliver(e Event) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		delay := b.o.RetryDelay
		attempts := 1 + max(b.o.Retries, 0)
		for i := range attempts {
			err := b.o.OnInvoke(b.ctx, e)
			if err == nil {
				return
			}
			if b.ctx.Err() != nil || i == attempts-1 {
				b.o.Logger.Error("invoke target failed; giving up", "event_id", e.ID, "attempts", i+1, "err", err)
				return
			}
			b.o.Logger.Warn("invoke target failed; retrying", "event_id", e.ID, "attempt", i+1, "err", err)
			select {
			case <-time.After(delay):
			case <-b.ctx.Done():
				return
			}
			delay *= 2
		}
	}()
}

// serveTrigger hands a Lambda payload to Options.Trigger.
func (b *Bus) serveTrigger(w http.ResponseWriter, r *http.Request) {
	if b.o.Trigger == nil {
		writeJSON(w, http.StatusNotImplemented, map[string]string{"error": "this bus has no trigger"})
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTriggerBytes))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "read the payload: " + err.Error()})
		return
	}
	res, err := b.o.Trigger(r.Context(), raw)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"the answer could not be encoded"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// isInvoke reports whether an event goes to the trigger, as the stack's rule matches it.
func isInvoke(e Event) bool { return e.DetailType == trigger.DetailTypeInvoke }

// busName returns the bus an entry names (a name or an event bus ARN), or "" for none.
func busName(v string) (string, bool) {
	if !strings.HasPrefix(v, "arn:") {
		return v, true
	}
	// arn:partition:events:region:account:event-bus/name
	parts := strings.SplitN(v, ":", 6)
	if len(parts) != 6 || parts[2] != "events" || !strings.HasPrefix(parts[5], "event-bus/") {
		return "", false
	}
	return strings.TrimPrefix(parts[5], "event-bus/"), true
}
