package config

import "fmt"

// EnvCompletionEvents says whose outcomes the notifier puts on the event bus:
// CompletionEventsRequested (the default) or CompletionEventsAll.
const EnvCompletionEvents = "AGENTQ_COMPLETION_EVENTS"

// The values of EnvCompletionEvents.
const (
	// CompletionEventsRequested publishes the outcomes of the tasks that asked for them
	// (completion_event, progress events, event triggers): task.Task.CompletionEvents.
	CompletionEventsRequested = "requested"
	// CompletionEventsAll publishes every task's outcome, for operators who audit everything
	// from the bus ($1.00 per million tasks).
	CompletionEventsAll = "all"
)

// CompletionEvents reads EnvCompletionEvents: CompletionEventsRequested when unset.
func CompletionEvents(getenv func(string) string) (string, error) {
	switch v := getenv(EnvCompletionEvents); v {
	case "", CompletionEventsRequested:
		return CompletionEventsRequested, nil
	case CompletionEventsAll:
		return CompletionEventsAll, nil
	default:
		return "", fmt.Errorf("%s: %q is neither %q nor %q", EnvCompletionEvents, v, CompletionEventsRequested, CompletionEventsAll)
	}
}

// loadCompletionEvents reads EnvCompletionEvents into c.CompletionEvents.
func (c *Config) loadCompletionEvents(getenv func(string) string) error {
	v, err := CompletionEvents(getenv)
	c.CompletionEvents = v
	return err
}
