package telemetry

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestMetricsEMF(t *testing.T) {
	var buf bytes.Buffer
	m := NewMetrics(&buf)
	m.now = func() time.Time { return time.UnixMilli(1700000000000) }
	m.Count(Accepted, 2)
	m.Duration(AgentDuration, 1500*time.Millisecond)

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	tests := []struct {
		name, unit string
		value      float64
	}{{Accepted, "Count", 2}, {AgentDuration, "Milliseconds", 1500}}
	for i, tt := range tests {
		var rec struct {
			AWS struct {
				Timestamp         int64
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name, Unit string }
				}
			} `json:"_aws"`
			Service string
		}
		if err := json.Unmarshal(lines[i], &rec); err != nil {
			t.Fatal(err)
		}
		var values map[string]any
		_ = json.Unmarshal(lines[i], &values)
		cw := rec.AWS.CloudWatchMetrics[0]
		if rec.AWS.Timestamp != 1700000000000 || cw.Namespace != Namespace || cw.Metrics[0].Name != tt.name ||
			cw.Metrics[0].Unit != tt.unit || values[tt.name] != tt.value || rec.Service != "agentq" || cw.Dimensions[0][0] != "Service" {
			t.Errorf("line %d = %s", i, lines[i])
		}
	}
}

func TestNilMetricsDiscard(t *testing.T) {
	var m *Metrics
	m.Count(Accepted, 1) // must not panic
}
