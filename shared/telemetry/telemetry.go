// Package telemetry sets up structured logs and CloudWatch Embedded Metric Format (EMF) metrics.
// Metrics are JSON lines on stdout: in Lambda, CloudWatch turns them into metrics with no API call.
package telemetry

import (
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// NewLogger returns a JSON logger at the named level ("debug", "info", "warn", "error"; default info).
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// Namespace is the CloudWatch namespace of every agentq metric.
const Namespace = "agentq"

// Metric names. The stack's dashboard and alarms use the same names.
const (
	Accepted     = "Accepted"
	Started      = "Started"
	Succeeded    = "Succeeded"
	Failed       = "Failed"
	DeadLettered = "DeadLettered"
	QueueWait    = "QueueWait"
	// OutcomesKept counts agent answers the store would not take in time, sent on in a message
	// that records them without calling the agent again.
	OutcomesKept  = "OutcomesKept"
	AgentDuration = "AgentDuration"
	// Requeued and Lost count the sweeper's work: lost messages sent again, and tasks failed
	// because their lost message could not be rebuilt.
	Requeued = "Requeued"
	Lost     = "Lost"
	// EventsPublished counts completion events put on the event bus.
	EventsPublished = "EventsPublished"
	// WebhookDelivered, WebhookAttemptFailed and WebhookDeadLettered count webhook deliveries that
	// succeeded, attempts that failed, and deliveries that failed every attempt.
	WebhookDelivered     = "WebhookDelivered"
	WebhookAttemptFailed = "WebhookAttemptFailed"
	WebhookDeadLettered  = "WebhookDeadLettered"
	// Triggered and TriggerRejected count events the trigger function turned into tasks, and
	// those it refused (sent to its dead-letter queue with the reason).
	Triggered       = "Triggered"
	TriggerRejected = "TriggerRejected"
)

// Metrics writes EMF records. A nil *Metrics discards everything, so tests and the local runner
// need not care.
type Metrics struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// NewMetrics returns a metrics writer to w.
func NewMetrics(w io.Writer) *Metrics { return &Metrics{w: w, now: time.Now} }

// Count records n occurrences of name.
func (m *Metrics) Count(name string, n int) { m.put(name, "Count", float64(n)) }

// Duration records a duration in milliseconds.
func (m *Metrics) Duration(name string, d time.Duration) {
	m.put(name, "Milliseconds", float64(d.Microseconds())/1000)
}

func (m *Metrics) put(name, unit string, v float64) {
	if m == nil {
		return
	}
	rec := map[string]any{
		"_aws": map[string]any{
			"Timestamp": m.now().UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  Namespace,
				"Dimensions": [][]string{{"Service"}},
				"Metrics":    []any{map[string]string{"Name": name, "Unit": unit}},
			}},
		},
		"Service": "agentq",
		name:      v,
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _ = m.w.Write(append(b, '\n'))
}
