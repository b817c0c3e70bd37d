// Package notifier builds, over the parts package backend wires, what only the notify function
// runs: the notifier that turns the table's stream into events on the bus and webhook deliveries.
// It is apart from backend so that the other functions neither link nor initialise the
// EventBridge client.
package notifier

import (
	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/notify"
)

// New returns the notifier of p's tasks that puts events on the bus named bus (through events)
// and schedules p's webhook deliveries.
func New(p *backend.Parts, events notify.EventBridge, bus string) *notify.Notifier {
	return notify.New(notify.Config{Tasks: p.Tasks, Events: events, Bus: bus, Webhooks: p.Deliveries, Logger: p.Logger, Metrics: p.Metrics})
}
