// Package worksource holds how the work queue's event source feeds the worker, in one place for
// both that read it: the stack (infra/construct/pipeline) configures the event source mapping
// with these constants, and the bench (shared/local/bench) runs its worker with as many pollers
// as the mapping allows batches at once, so that its tasks wait in the queue as deployed ones
// would, no longer (a bench with fewer pollers than the stack queues tasks the stack would run,
// and every long poll then holds through that wait too).
package worksource

const (
	// BatchSize: the worker runs a batch's records concurrently, so a larger batch means more agent
	// calls per invocation (cheaper); ten is the most one ReceiveMessage returns, so no batching
	// window (which would add latency to every task) is needed, and a timed-out invocation returns
	// at most ten messages to the queue.
	BatchSize = 10
	// MaxConcurrency caps the concurrent worker invocations the work queue's event source starts:
	// 20 x BatchSize = 200 agent calls in flight at most. A backlog then drains at a steady pace
	// instead of stampeding the agents, and the account's concurrency stays free for the API.
	MaxConcurrency = 20
)
