package dispatch

import (
	"testing"

	"github.com/agentq/agentq/shared/task"
)

func TestParseAnswerUsage(t *testing.T) {
	tok := func(p, c, total int) task.Usage {
		return task.Usage{Tokens: task.Tokens{Prompt: p, Completion: c, Total: total}}
	}
	tests := []struct {
		name string
		body string
		want task.Usage
	}{
		{"xpander names", `{"output":"x","tokens":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`, tok(3, 4, 7)},
		{"openai usage", `{"output":"x","usage":{"prompt_tokens":10,"completion_tokens":5}}`, tok(10, 5, 15)},
		{"anthropic usage", `{"output":"x","usage":{"input_tokens":2,"output_tokens":1}}`, tok(2, 1, 3)},
		{"llm_usage names", `{"output":"x","usage":{"tokens":3842,"input_tokens":1520,"output_tokens":2322,"actions":4,"cost":0.01284}}`,
			task.Usage{Tokens: task.Tokens{Prompt: 1520, Completion: 2322, Total: 3842}, Actions: 4, Cost: 0.01284}},
		{"cost alone", `{"output":"x","usage":{"cost":0.5}}`, task.Usage{Cost: 0.5}},
		{"usage wins over tokens", `{"output":"x","usage":{"prompt_tokens":1},"tokens":{"prompt_tokens":9}}`, tok(1, 0, 1)},
		{"negative ignored", `{"output":"x","usage":{"prompt_tokens":-5,"cost":1}}`, task.Usage{}},
		{"none", `{"output":"x"}`, task.Usage{}},
		{"not an object", `{"output":"x","usage":"lots"}`, task.Usage{}},
		{"text answer", `plain text`, task.Usage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseAnswer([]byte(tt.body)).Usage; got != tt.want {
				t.Errorf("usage = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMetadataUsage(t *testing.T) {
	tests := []struct {
		name string
		md   map[string]any
		want task.Usage
	}{
		{"nil", nil, task.Usage{}},
		{"usage", map[string]any{"usage": map[string]any{"input_tokens": 2, "output_tokens": 3, "cost": 0.25, "actions": 1}},
			task.Usage{Tokens: task.Tokens{Prompt: 2, Completion: 3, Total: 5}, Actions: 1, Cost: 0.25}},
		{"tokens", map[string]any{"tokens": map[string]any{"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}},
			task.Usage{Tokens: task.Tokens{Prompt: 1, Completion: 2, Total: 3}}},
		{"other keys only", map[string]any{"trace": "x"}, task.Usage{}},
		{"unencodable", map[string]any{"usage": func() {}}, task.Usage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MetadataUsage(tt.md); got != tt.want {
				t.Errorf("MetadataUsage = %+v, want %+v", got, tt.want)
			}
		})
	}
}
