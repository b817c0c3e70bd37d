package a2apush_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/a2apush"
	"github.com/agentq/agentq/shared/progress"
)

// summary lists reports as type:text-or-message, and whether each is named (Dedupe).
func summary(reports []progress.Report) string {
	var out []string
	for _, r := range reports {
		var d map[string]any
		_ = json.Unmarshal(r.Data, &d)
		s := fmt.Sprint(d["state"], "/", d["message"])
		if r.Type == "artifact" {
			s = fmt.Sprint(d["artifact_id"], "/", d["text"], d["data"], "/", d["append"])
		}
		out = append(out, fmt.Sprintf("%s:%s:%v", r.Type, s, r.Dedupe != ""))
	}
	return strings.Join(out, " ")
}

const task03 = `{"kind":"task","id":"r1","contextId":"c","status":{"state":"working","message":{"kind":"message","messageId":"m1","role":"agent","parts":[{"kind":"text","text":"step 2"}]}},` +
	`"artifacts":[{"artifactId":"a1","parts":[{"kind":"text","text":"draft"}]},{"artifactId":"a2","parts":[{"kind":"data","data":{"n":1}}]}],` +
	`"history":[{"kind":"message","messageId":"u1","role":"user","parts":[{"kind":"text","text":"the user's words"}]}]}`

func TestDecode(t *testing.T) {
	tests := []struct {
		name, body string
		remote     string
		want       string // summary, "" when refused
	}{
		{"1.0 status update", `{"statusUpdate":{"taskId":"r1","status":{"state":"TASK_STATE_WORKING","message":{"messageId":"m","role":"ROLE_AGENT","parts":[{"text":"hi"}]}}}}`,
			"r1", "status:working/hi:false"},
		{"1.0 artifact update", `{"artifactUpdate":{"taskId":"r1","artifact":{"artifactId":"a","parts":[{"text":"x"}]},"append":true}}`, "r1", "artifact:a/x<nil>/true:false"},
		{"0.3 task: status and each artifact, named, no history", task03, "r1", "status:working/step 2:true artifact:a1/draft<nil>/false:true artifact:a2/map[n:1]/false:true"},
		{"0.3 status update", `{"kind":"status-update","taskId":"r1","contextId":"c","final":false,"status":{"state":"input-required"}}`, "r1", "status:input-required/:false"},
		{"0.3 artifact update", `{"kind":"artifact-update","taskId":"r1","contextId":"c","artifact":{"artifactId":"a","parts":[{"kind":"text","text":"y"}]},"lastChunk":true}`, "r1", "artifact:a/y<nil>/false:false"},
		{"0.3 message", `{"kind":"message","messageId":"m","role":"agent","taskId":"r1","parts":[{"kind":"text","text":"note"}]}`, "r1", "status:<nil>/note:false"},
		{"0.3 unknown state", `{"kind":"task","id":"r1","contextId":"c","status":{"state":"unknown"}}`, "r1", "status:/:true"},
		{"0.3 kind unknown", `{"kind":"video","id":"r1"}`, "", ""},
		{"0.3 kind not a string", `{"kind":7}`, "", ""},
		{"0.3 part kind unknown", `{"kind":"task","id":"r1","status":{"state":"working","message":{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"video"}]}}}`, "", ""},
		{"0.3 file bytes not base64", `{"kind":"artifact-update","taskId":"r1","artifact":{"artifactId":"a","parts":[{"kind":"file","file":{"bytes":"%%%"}}]}}`, "", ""},
		{"0.3 file with neither bytes nor uri", `{"kind":"artifact-update","taskId":"r1","artifact":{"artifactId":"a","parts":[{"kind":"file","file":{}}]}}`, "", ""},
		{"0.3 artifact update without artifact", `{"kind":"artifact-update","taskId":"r1"}`, "", ""},
		{"0.3 task with too many artifacts", `{"kind":"task","id":"r1","status":{"state":"working"},"artifacts":[` +
			strings.TrimSuffix(strings.Repeat(`{"artifactId":"a","parts":[]},`, a2apush.MaxArtifacts+1), ",") + `]}`, "", ""},
		{"0.3 status not an object", `{"kind":"task","id":"r1","status":"working"}`, "", ""},
		{"not JSON", `<xml/>`, "", ""},
		{"an array", `[{"kind":"task"}]`, "", ""},
		{"neither version", `{"hello":1}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			remote, reports, err := a2apush.Decode([]byte(tt.body))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("accepted: %s", summary(reports))
				}
				if strings.Contains(err.Error(), "r1") || strings.Contains(err.Error(), "%%%") {
					t.Errorf("the error quotes the push: %v", err)
				}
				return
			}
			if err != nil || remote != tt.remote || summary(reports) != tt.want {
				t.Fatalf("Decode = %q, %q, %v; want %q, %q", remote, summary(reports), err, tt.remote, tt.want)
			}
			for _, r := range reports {
				if strings.Contains(string(r.Data), "the user's words") {
					t.Errorf("an event carries the task's history: %s", r.Data)
				}
			}
		})
	}
}

// TestDecodeNamesWhatChanged: two pushes of a 0.3 task that differ only in a grown artifact name
// their status alike and the artifact apart, so the log keeps the status once.
func TestDecodeNamesWhatChanged(t *testing.T) {
	_, first, err := a2apush.Decode([]byte(task03))
	if err != nil {
		t.Fatal(err)
	}
	_, second, err := a2apush.Decode([]byte(strings.Replace(task03, `"draft"`, `"draft, longer"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if first[0].Dedupe != second[0].Dedupe || first[1].Dedupe == second[1].Dedupe || first[2].Dedupe != second[2].Dedupe {
		t.Fatalf("names %q and %q", []string{first[0].Dedupe, first[1].Dedupe, first[2].Dedupe}, []string{second[0].Dedupe, second[1].Dedupe, second[2].Dedupe})
	}
	if len(first[1].Dedupe) > progress.MaxDedupe {
		t.Errorf("a name of %d characters", len(first[1].Dedupe))
	}
}
