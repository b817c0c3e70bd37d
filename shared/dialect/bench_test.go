package dialect_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/task"
)

var benchXpander = []byte(`{"input":{"text":"Analyze competitor pricing for Q1 2026","user":{"id":"u1","email":"a@b.c"}},
"id":"a37db9a1-e483-4544-9136-b32120ae8c81","output_format":"json","output_schema":{"type":"object"},
"instructions_override":"be brief","title":"Q4 Sales Analysis","think_mode":"harder","user_oidc_token":"t"}`)

var benchServiceNet = []byte(`{"message":"Create a payment link for 15 AUD","auth_token":"secret-token","region":"AU","max_cost_units":5}`)

func BenchmarkDecodeXpander(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dialect.DecodeXpander(benchXpander); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeServiceNet(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dialect.DecodeServiceNet(benchServiceNet); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProjectXpander(b *testing.B) {
	inv, err := dialect.DecodeXpander(benchXpander)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	t := &task.Task{ID: "81250b20-e9d7-4b3b-9995-07dc72b4bb59", AgentID: "echo", State: task.Succeeded,
		Request: inv.Body, Result: "done", CreatedAt: now, StartedAt: now, FinishedAt: now, Attempts: 1}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(dialect.Xpander(t)); err != nil {
			b.Fatal(err)
		}
	}
}
