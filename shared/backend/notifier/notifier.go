// Package notifier builds, over the parts package backend wires, what only the notify function
// runs: the notifier that turns the table's stream into events on the bus and webhook deliveries.
// It is apart from backend so that the other functions neither link nor initialise the
// EventBridge client.
package notifier

import (
	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/notify"
)

// New returns the notifier of p's tasks that puts events on the bus named bus (through events)
// and schedules p's webhook deliveries. Every outcome goes on the bus when p's configuration
// says AGENTQ_COMPLETION_EVENTS=all, else those of the tasks that asked.
func New(p *backend.Parts, events notify.EventBridge, bus string) *notify.Notifier {
	all := p.Config() != nil && p.Config().CompletionEvents == config.CompletionEventsAll
	return notify.New(notify.Config{Tasks: p.Tasks, Events: events, Bus: bus, AllCompletionEvents: all, Webhooks: p.Deliveries,
		Logger: p.Logger, Metrics: p.Metrics})
}
