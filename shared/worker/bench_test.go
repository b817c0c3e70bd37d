package worker_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/task/tasktest"
	"github.com/agentq/agentq/shared/worker"
)

// slowAgent works on each task for agentTime: a synchronous agent would hold the worker that
// long; this one, like an A2A agent, answers at once that it is working, and is done when
// checked after agentTime has passed.
type slowAgent struct {
	agentTime time.Duration
	started   time.Time
	checks    atomic.Int64
}

func (a *slowAgent) Call(context.Context, dispatch.Call) (dispatch.Result, error) {
	return dispatch.Result{}, &dispatch.Pending{RemoteTaskID: "remote", State: "working"}
}

func (a *slowAgent) Check(context.Context, agent.Agent, string, dispatch.Credentials) (dispatch.Result, error) {
	a.checks.Add(1)
	if time.Since(a.started) < a.agentTime {
		return dispatch.Result{}, &dispatch.Pending{RemoteTaskID: "remote", State: "working"}
	}
	return dispatch.Result{Text: "done"}, nil
}

func (a *slowAgent) Cancel(context.Context, agent.Agent, string, dispatch.Credentials) error {
	return nil
}

// BenchmarkLongRunningTask runs a task whose agent takes agent-ms (longer than a worker's
// timeout would allow) and reports the worker's busy time per task, billed-ms: the time spent
// inside Handle, summed over the first delivery and every check. It stays near zero however long
// the agent takes, because the worker never waits on the agent.
func BenchmarkLongRunningTask(b *testing.B) {
	const agentTime = 50 * time.Millisecond
	var billed time.Duration
	checks := int64(0)
	for b.Loop() {
		st := tasktest.New(&task.Task{ID: id1, Tenant: "org-1", AgentID: "echo", State: task.Queued, Version: 1, Text: "x",
			Request: json.RawMessage(`{"input":{"text":"x"}}`), CreatedAt: now})
		ag := &slowAgent{agentTime: agentTime, started: time.Now()}
		q := &fakeQueue{}
		p := worker.New(worker.Config{Store: st, Dispatcher: ag, Queue: q, DeadLetterARN: dlqARN,
			CheckBackoff: func(int) time.Duration { return 10 * time.Millisecond }})
		m := &queue.Message{Kind: queue.KindInvoke, TaskID: id1, Tenant: "org-1", Agent: echo, Text: "x",
			Request: json.RawMessage(`{"input":{"text":"x"}}`), AcceptedAt: time.Now()}
		for st.Task(id1).State != task.Succeeded {
			body, _ := queue.Encode(m)
			rec := batch.Record{ID: "m", Body: body, Source: workARN, ReceiveCount: 1}
			start := time.Now()
			p.Handle(context.Background(), []batch.Record{rec})
			billed += time.Since(start)
			if st.Task(id1).State == task.Succeeded {
				break
			}
			// The delayed check message SQS would deliver later.
			q.mu.Lock()
			m, q.sent = q.sent[len(q.sent)-1], nil
			d := q.delays[len(q.delays)-1]
			q.mu.Unlock()
			time.Sleep(d)
		}
		checks += ag.checks.Load()
	}
	b.ReportMetric(float64(agentTime.Milliseconds()), "agent-ms")
	b.ReportMetric(float64(billed.Microseconds())/1000/float64(b.N), "billed-ms/task")
	b.ReportMetric(float64(checks)/float64(b.N), "checks/task")
}
