package dispatch

import (
	"encoding/json"

	"github.com/agentq/agentq/shared/task"
)

// reported is a usage object as agents report it, under every name usage accepts.
type reported struct {
	Prompt     int     `json:"prompt_tokens"`
	Completion int     `json:"completion_tokens"`
	Total      int     `json:"total_tokens"`
	Input      int     `json:"input_tokens"`
	Output     int     `json:"output_tokens"`
	Tokens     int     `json:"tokens"`
	Actions    int     `json:"actions"`
	Cost       float64 `json:"cost"`
}

// usage reads what an answer reports its work took, from its "usage" object (the OpenAI and
// Anthropic names most agent frameworks pass through, plus xpander's llm_usage names "tokens",
// "actions" and "cost") or its "tokens" object (xpander's task names). An answer that reports
// nothing, or nothing readable, took zero.
func usage(fields map[string]json.RawMessage) task.Usage {
	for _, k := range []string{"usage", "tokens"} {
		var u reported
		if json.Unmarshal(fields[k], &u) != nil {
			continue
		}
		// Negative counts are nonsense, not usage: they would lower a sum.
		if min(u.Prompt, u.Completion, u.Total, u.Input, u.Output, u.Tokens, u.Actions) < 0 || u.Cost < 0 {
			continue
		}
		got := task.Usage{
			Tokens:  task.Tokens{Prompt: max(u.Prompt, u.Input), Completion: max(u.Completion, u.Output), Total: max(u.Total, u.Tokens)},
			Actions: u.Actions,
			Cost:    u.Cost,
		}
		if got == (task.Usage{}) {
			continue
		}
		if got.Total == 0 {
			got.Total = got.Prompt + got.Completion
		}
		return got
	}
	return task.Usage{}
}

// MetadataUsage reads what an A2A agent reports its work took from a message's or task's
// metadata map, under the names usage knows (a "usage" or "tokens" object). It takes the map
// rather than an SDK type, so it does not depend on the A2A SDK's version.
func MetadataUsage(md map[string]any) task.Usage {
	if len(md) == 0 {
		return task.Usage{}
	}
	fields := make(map[string]json.RawMessage, 2)
	for _, k := range []string{"usage", "tokens"} {
		v, ok := md[k]
		if !ok {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			continue
		}
		fields[k] = b
	}
	return usage(fields)
}
