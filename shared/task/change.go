package task

import (
	"encoding/json"
	"fmt"
	"time"
)

// Change describes a state transition and what it records.
type Change struct {
	// From lists the states the task must be in; empty means every state that may move to To.
	From []State
	// Version, when not zero, is the version the task must have: the writer's proof that nothing
	// happened since it last looked.
	Version int64
	To      State
	Now     time.Time
	// Result and Output record the agent's answer. Together over InlineLimit, they are written to
	// the blob store and the item records where (result_ref).
	Result string
	Output json.RawMessage
	// Reason and ReasonMessage record why the task did not succeed (or, on a return to queued, why
	// the last attempt failed).
	Reason        string
	ReasonMessage string
	CostUnits     int
	// Usage records what the agent reported its work took.
	Usage Usage
	// RemoteTaskID records the agent's own id for its task; HITL what it asked for when pausing.
	RemoteTaskID string
	HITL         json.RawMessage
	// ReleaseLease, on a move to running, ends the writer's lease at once: the task goes on at
	// the agent, and whichever delivery comes next may take it up.
	ReleaseLease bool
}

// Sources answers the states c may move the task from: c.From, or, when it is empty, every state
// that may move to c.To. It refuses a change that names a state from which the move is illegal,
// or whose target nothing may reach, before any store looks at the task.
func (c Change) Sources() ([]State, error) {
	from := c.From
	if len(from) == 0 {
		from = Sources(c.To)
	}
	if len(from) == 0 {
		return nil, fmt.Errorf("nothing may move to %s", c.To)
	}
	for _, f := range from {
		if !CanTransition(f, c.To) {
			return nil, fmt.Errorf("%s to %s is not a legal move", f, c.To)
		}
	}
	return from, nil
}
