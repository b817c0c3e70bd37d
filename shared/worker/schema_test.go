package worker_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/task/tasktest"
)

func TestOutputSchema(t *testing.T) {
	const schema = `{"type":"object","required":["total"],"properties":{"total":{"type":"number"}}}`
	tests := []struct {
		name        string
		request     string
		agentSchema string
		answer      string
		want        task.State
	}{
		{"conforming answer", `{"input":{"text":"x"},"output_format":"json","output_schema":` + schema + `}`, "", `{"total": 3}`, task.Succeeded},
		{"mismatch", `{"input":{"text":"x"},"output_format":"json","output_schema":` + schema + `}`, "", `{"total": "three"}`, task.Failed},
		{"not json", `{"input":{"text":"x"},"output_format":"json","output_schema":` + schema + `}`, "", `three`, task.Failed},
		{"text format is not checked", `{"input":{"text":"x"},"output_format":"text","output_schema":` + schema + `}`, "", `three`, task.Succeeded},
		{"agent default schema", `{"input":{"text":"x"}}`, schema, `{"total": "three"}`, task.Failed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tasktest.New(newTask(id1, task.Queued)))
			h.disp.call = func(context.Context, dispatch.Call) (dispatch.Result, error) {
				return dispatch.Result{Text: tt.answer}, nil
			}
			m := message(id1)
			m.Request = json.RawMessage(tt.request)
			if tt.agentSchema != "" {
				m.Agent.OutputFormat, m.Agent.OutputSchema = "json", json.RawMessage(tt.agentSchema)
			}
			if failed := handle(t, h, record(t, m, workARN, 1)); len(failed) != 0 {
				t.Fatalf("failed = %v", failed)
			}
			got := h.store.Task(id1)
			if got.State != tt.want {
				t.Fatalf("state = %s, want %s (%s)", got.State, tt.want, got.ReasonMessage)
			}
			if tt.want == task.Failed && (got.Reason != task.ReasonOutputSchemaMismatch || !strings.Contains(got.ReasonMessage, "output_schema")) {
				t.Errorf("reason = %s %q", got.Reason, got.ReasonMessage)
			}
		})
	}
}
