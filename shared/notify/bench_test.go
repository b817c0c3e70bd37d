package notify

import (
	"context"
	"fmt"
	"testing"

	"github.com/agentq/agentq/shared/batch"

	"github.com/agentq/agentq/shared/task"
)

// BenchmarkHandle measures the notifier's own work on a full stream batch of 100 task outcomes:
// converting the images, rendering each detail, putting the events ten at a time and scheduling
// the webhooks (the bus and the webhook service are fakes, so no I/O is counted). Reported per
// record.
func BenchmarkHandle(b *testing.B) {
	const size = 100
	tasks := fakeTasks{}
	recs := make([]batch.StreamRecord, size)
	for i := range size {
		id := fmt.Sprintf("t%03d", i)
		tasks[id] = newTask(id, task.Xpander)
		recs[i] = rec(fmt.Sprint(i), "TASK", id, task.Running, task.Succeeded)
	}
	bus := &fakeBus{failAt: -1}
	hooks := &fakeWebhooks{}
	n := New(Config{Tasks: tasks, Events: bus, Bus: "agentq", Webhooks: hooks})
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		bus.entries, hooks.got = bus.entries[:0], hooks.got[:0]
		if from, err := n.Handle(context.Background(), recs); err != nil || from != "" {
			b.Fatalf("Handle = %q, %v", from, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/size, "ns/record")
}
