package dispatch

import (
	"testing"

	"github.com/agentq/agentq/shared/task"
)

func TestParseAnswerTokens(t *testing.T) {
	tests := []struct {
		name string
		body string
		want task.Tokens
	}{
		{"xpander names", `{"output":"x","tokens":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`, task.Tokens{Prompt: 3, Completion: 4, Total: 7}},
		{"openai usage", `{"output":"x","usage":{"prompt_tokens":10,"completion_tokens":5}}`, task.Tokens{Prompt: 10, Completion: 5, Total: 15}},
		{"anthropic usage", `{"output":"x","usage":{"input_tokens":2,"output_tokens":1}}`, task.Tokens{Prompt: 2, Completion: 1, Total: 3}},
		{"none", `{"output":"x"}`, task.Tokens{}},
		{"not an object", `{"output":"x","usage":"lots"}`, task.Tokens{}},
		{"text answer", `plain text`, task.Tokens{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseAnswer([]byte(tt.body)).Tokens; got != tt.want {
				t.Errorf("tokens = %+v, want %+v", got, tt.want)
			}
		})
	}
}
