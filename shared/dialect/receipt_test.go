package dialect_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/receipt"
	"github.com/agentq/agentq/shared/task"
)

func snTask(s task.State) *task.Task {
	return &task.Task{ID: "f1e2d3c4-0000-0000-0000-000000000002", AgentID: "stripe-agent", Tenant: "org-1",
		State: s, ThreadID: "ctx-7f3a", Attempts: 2, CostUnits: 3, CreatedAt: created, UpdatedAt: finished,
		Request: json.RawMessage(`{"message":"pay","input":{"amount":15},"auth_context_id":"x"}`)}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The receipt object has exactly the reference's fields, omitted (never null) when empty; the
// answer's output and stderr sit beside it, with agentq's facts.
func TestServiceNetReceipt(t *testing.T) {
	reqDigest, _ := receipt.RequestDigest(json.RawMessage(`{"message":"pay","input":{"amount":15}}`))
	always := []string{"agent_id", "invoke_mode", "provider_id", "receipt_id", "request_digest", "started_at", "status", "verification", "cost_units"}
	tests := []struct {
		name       string
		task       func() *task.Task
		status     string
		extra      []string // receipt fields besides the ones always there
		output     any
		stderr     any
		topLevel   []string
		resultText string // what result_digest covers, as canonical JSON
	}{
		{"queued", func() *task.Task { return snTask(task.Queued) }, "running", nil, nil, nil, []string{"attempts", "context_id", "receipt", "task_id"}, ""},
		{"paused", func() *task.Task {
			tk := snTask(task.Paused)
			tk.HITL = json.RawMessage(`{"question":"which card?"}`)
			return tk
		}, "running", nil, nil, nil, []string{"attempts", "context_id", "hitl_request", "receipt", "task_id"}, ""},
		{"succeeded with JSON", func() *task.Task {
			tk := snTask(task.Succeeded)
			tk.Result, tk.Output = "link created", json.RawMessage(`{"url": "https://pay.example/x","output":"link created"}`)
			return tk
		}, "succeeded", []string{"completed_at", "result_digest"}, map[string]any{"output": "link created", "url": "https://pay.example/x"}, nil,
			[]string{"attempts", "context_id", "output", "receipt", "task_id"}, `{"output":"link created","url":"https://pay.example/x"}`},
		{"succeeded with text", func() *task.Task {
			tk := snTask(task.Succeeded)
			tk.Result = "plain \"quoted\" text"
			return tk
		}, "succeeded", []string{"completed_at", "result_digest"}, "plain \"quoted\" text", nil,
			[]string{"attempts", "context_id", "output", "receipt", "task_id"}, `"plain \"quoted\" text"`},
		{"succeeded, answer not loaded", func() *task.Task {
			tk := snTask(task.Succeeded)
			tk.ResultRef = "blob/x"
			return tk
		}, "succeeded", []string{"completed_at"}, nil, nil, []string{"attempts", "context_id", "receipt", "task_id"}, ""},
		{"failed", func() *task.Task {
			tk := snTask(task.Failed)
			tk.Reason, tk.ReasonMessage = task.ReasonAgentRejected, "agent answered 400"
			return tk
		}, "failed", []string{"completed_at"}, nil, "agent answered 400", []string{"attempts", "context_id", "error", "receipt", "stderr", "task_id"}, ""},
		{"error without message", func() *task.Task {
			tk := snTask(task.Error)
			tk.Reason = task.ReasonDeadLettered
			return tk
		}, "failed", []string{"completed_at"}, nil, "dead_lettered", []string{"attempts", "context_id", "error", "receipt", "stderr", "task_id"}, ""},
		{"canceled", func() *task.Task {
			tk := snTask(task.Canceled)
			tk.Reason, tk.ReasonMessage = task.ReasonCanceled, "stopped by the caller"
			return tk
		}, "failed", []string{"completed_at"}, nil, "stopped by the caller", []string{"attempts", "context_id", "error", "receipt", "stderr", "task_id"}, ""},
		{"rejected", func() *task.Task {
			tk := snTask(task.Rejected)
			tk.Reason, tk.ReasonMessage = "approval_required", "set confirm_risky"
			return tk
		}, "rejected", []string{"completed_at"}, nil, "set confirm_risky", []string{"attempts", "context_id", "error", "receipt", "stderr", "task_id"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := tt.task()
			_, got := marshal(t, dialect.ServiceNet(tk))
			if k := keys(got); !reflect.DeepEqual(k, tt.topLevel) {
				t.Errorf("top-level fields %v, want %v", k, tt.topLevel)
			}
			r, _ := got["receipt"].(map[string]any)
			want := append(slices.Clone(always), tt.extra...)
			slices.Sort(want)
			if k := keys(r); !reflect.DeepEqual(k, want) {
				t.Errorf("receipt fields %v, want %v", k, want)
			}
			if r["receipt_id"] != tk.ID || r["agent_id"] != "stripe-agent" || r["provider_id"] != dialect.ProviderID || r["status"] != tt.status ||
				r["invoke_mode"] != "async" || r["verification"] != "not_required" || r["cost_units"] != float64(3) || r["request_digest"] != reqDigest {
				t.Errorf("receipt = %v", r)
			}
			if r["started_at"] != "2026-02-07T02:13:26.325626Z" {
				t.Errorf("started_at = %v", r["started_at"])
			}
			if tk.State.Terminal() && r["completed_at"] != "2026-02-07T02:13:41.325626Z" {
				t.Errorf("completed_at = %v", r["completed_at"])
			}
			if tt.resultText != "" {
				if d, _ := receipt.Digest(json.RawMessage(tt.resultText)); r["result_digest"] != d {
					t.Errorf("result_digest = %v, want the digest of %s", r["result_digest"], tt.resultText)
				}
			}
			if !reflect.DeepEqual(got["output"], tt.output) || !reflect.DeepEqual(got["stderr"], tt.stderr) {
				t.Errorf("output, stderr = %#v, %#v; want %#v, %#v", got["output"], got["stderr"], tt.output, tt.stderr)
			}
			if got["task_id"] != tk.ID || got["context_id"] != "ctx-7f3a" || got["attempts"] != float64(2) {
				t.Errorf("agentq's facts wrong: %v", got)
			}
		})
	}
}

func TestServiceNetReceiptFacts(t *testing.T) {
	tk := snTask(task.Running)
	tk.Sync, tk.CallerAgentID, tk.CallerPublicID, tk.Verification, tk.CostUnits = true, "caller-1", "pub-1", receipt.Verified, 0
	_, got := marshal(t, dialect.ServiceNet(tk))
	r := got["receipt"].(map[string]any)
	if r["invoke_mode"] != "sync" || r["caller_agent_id"] != "caller-1" || r["caller_public_id"] != "pub-1" || r["verification"] != "verified" {
		t.Errorf("receipt = %v", r)
	}
	if _, ok := r["cost_units"]; ok {
		t.Error("cost_units shown for an agent that costs nothing")
	}
}

func TestServiceNetInvoked(t *testing.T) {
	withHITL := snTask(task.Paused)
	withHITL.HITL = json.RawMessage(`{"q":"?"}`)
	ok := snTask(task.Succeeded)
	ok.Result, ok.Output = "done", json.RawMessage(`{"output":"done"}`)
	text := snTask(task.Succeeded)
	text.Result = "done"
	failed := snTask(task.Failed)
	failed.Reason, failed.ReasonMessage = task.ReasonAgentRejected, "agent answered 400"
	tests := []struct {
		name    string
		task    *task.Task
		status  string
		message string
		output  any
		raw     any
	}{
		{"running", snTask(task.Running), "running", dialect.AcceptedMessage, nil, map[string]any{}},
		{"succeeded with JSON", ok, dialect.StateCompleted, "done", map[string]any{"output": "done"}, map[string]any{"output": "done"}},
		{"succeeded with text", text, dialect.StateCompleted, "done", "done", map[string]any{"text": "done"}},
		{"input required", withHITL, dialect.StateInputRequired, "ServiceNet invocation needs input", nil, map[string]any{}},
		{"failed", failed, dialect.StateFailed, "ServiceNet invocation failed: agent answered 400", nil, map[string]any{}},
		{"canceled", snTask(task.Canceled), dialect.StateCanceled, "ServiceNet invocation failed", nil, map[string]any{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := marshal(t, dialect.ServiceNetInvoked(tt.task))
			if got["agent_id"] != "stripe-agent" || got["status"] != tt.status || got["message"] != tt.message ||
				got["receipt_id"] != tt.task.ID || got["task_id"] != tt.task.ID || got["context_id"] != "ctx-7f3a" {
				t.Errorf("answer = %v", got)
			}
			if !reflect.DeepEqual(got["output"], tt.output) || !reflect.DeepEqual(got["raw"], tt.raw) {
				t.Errorf("output, raw = %#v, %#v; want %#v, %#v", got["output"], got["raw"], tt.output, tt.raw)
			}
		})
	}
}

func TestIsServiceNet(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"message":"hi"}`, true},
		{`{"input":{"text":"hi"},"context_id":"c"}`, true},
		{`{"agent_envelope":{"source_agent_id":"a"}}`, true},
		{`{"message":"hi","webhook_url":"https://x.test","unknown":1}`, true},
		{`{"input":{"text":"hi"}}`, false},                        // only fields both define: xpander's
		{`{"input":{"text":"hi"},"message":"x","id":"t"}`, false}, // fields of both: xpander's
		{`{"message":"hi","title":"t"}`, false},
		{`{}`, false},
		{`[1]`, false},
		{`not json`, false},
	}
	for _, tt := range tests {
		if got := dialect.IsServiceNet([]byte(tt.body)); got != tt.want {
			t.Errorf("IsServiceNet(%s) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

func TestServiceNetCaller(t *testing.T) {
	long := `"` + strings.Repeat("x", 300) + `"`
	tests := []struct {
		envelope      string
		agent, public string
	}{
		{`{"source_agent_id":"a-1","extensions":{"caller_public_id":"p-ext"},"caller_public_id":"p-top"}`, "a-1", "p-ext"},
		{`{"source_agent_id":" a-1 ","caller_public_id":"p-top"}`, "a-1", "p-top"},
		{`{"source_agent_id":7,"caller_public_id":` + long + `}`, "", ""},
	}
	for _, tt := range tests {
		inv, err := dialect.DecodeServiceNet([]byte(`{"message":"hi","agent_envelope":` + tt.envelope + `}`))
		if err != nil {
			t.Fatal(err)
		}
		if inv.CallerAgentID != tt.agent || inv.CallerPublicID != tt.public {
			t.Errorf("%s: caller = %q, %q; want %q, %q", tt.envelope, inv.CallerAgentID, inv.CallerPublicID, tt.agent, tt.public)
		}
	}
	inv, err := dialect.DecodeServiceNet([]byte(`{"message":"hi","return_immediately":true}`))
	if err != nil || !inv.ReturnImmediately {
		t.Errorf("return_immediately not read: %v %v", inv, err)
	}
}
