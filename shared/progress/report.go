package progress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/agentq/agentq/shared/tasklog"
)

// MaxReportBytes bounds one report's body; MaxDedupe the length of its id.
const (
	MaxReportBytes = 16 << 10
	MaxDedupe      = 128
)

// Agents' report types: progress only.
var reportTypes = []tasklog.Type{tasklog.Status, tasklog.Chunk, tasklog.Artifact, tasklog.ToolCallRequest,
	tasklog.ToolCallResult, tasklog.Usage}

// Report is one progress event an agent sends.
type Report struct {
	Type tasklog.Type
	// Data is the event's payload, a compact JSON object.
	Data json.RawMessage
	// Dedupe is the report's id, when the agent gave one: a report sent again is logged once.
	Dedupe string
}

// required lists, per type, the field its data must hold as a string.
var required = map[tasklog.Type]string{
	tasklog.Status: "message", tasklog.Chunk: "text", tasklog.ToolCallRequest: "tool_name", tasklog.ToolCallResult: "tool_name",
}

// DecodeReport reads a report: {"type": ..., "data": {...}, "id": optional}. It refuses bodies
// over MaxReportBytes, types agents may not write, data that is not an object, invalid UTF-8 and
// unknown top-level fields.
func DecodeReport(body []byte) (Report, error) {
	if len(body) > MaxReportBytes {
		return Report{}, &InvalidError{fmt.Sprintf("a report is at most %d bytes", MaxReportBytes)}
	}
	if !utf8.Valid(body) {
		return Report{}, &InvalidError{"a report must be UTF-8 JSON"}
	}
	var in struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
		ID   string          `json:"id"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || dec.More() {
		return Report{}, &InvalidError{`a report is one JSON object: {"type": ..., "data": {...}, "id": optional}`}
	}
	typ := tasklog.Type(in.Type)
	if !slices.Contains(reportTypes, typ) {
		return Report{}, &InvalidError{"type must be one of status, chunk, artifact, tool_call_request, tool_call_result, usage"}
	}
	if len(in.ID) > MaxDedupe || !printable(in.ID) {
		return Report{}, &InvalidError{fmt.Sprintf("id is at most %d printable ASCII characters", MaxDedupe)}
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(in.Data, &data); err != nil || data == nil {
		return Report{}, &InvalidError{"data must be a JSON object"}
	}
	if f, ok := required[typ]; ok {
		var s string
		if json.Unmarshal(data[f], &s) != nil {
			return Report{}, &InvalidError{fmt.Sprintf("a %s report needs data.%s, a string", typ, f)}
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, in.Data); err != nil {
		return Report{}, &InvalidError{"data must be a JSON object"}
	}
	r := Report{Type: typ, Data: compact.Bytes()}
	if in.ID != "" {
		r.Dedupe = "report:" + in.ID
	}
	return r, nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
