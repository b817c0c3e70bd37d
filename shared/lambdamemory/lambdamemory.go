// Package lambdamemory holds the memory, in MB, the stack configures for the Lambda functions
// whose cost per task the bench measures, in one place for both: the stack (infra/construct)
// sizes the functions with these constants, and the bench (shared/local/bench) bills their
// GB-seconds and prints each beside its measured peak memory. Lambda bills configured memory, not
// memory used, and gives a function CPU in proportion to it (one vCPU at 1,769 MB).
package lambdamemory

// Configured memory by function. The reasons, and the measurements they were chosen from, are in
// DESIGN.md "Cost per task".
const (
	// Invoke accepts tasks: I/O bound (a conditional write and a send, concurrently). Measured
	// peak 27 MB; kept at 256 MB for the caller's latency (its CPU share, and cold starts).
	Invoke = 256
	// Poll reads tasks, and holds a long poll: I/O bound, mostly waiting. Measured peak 25 MB;
	// 128 MB halves what a long poll costs.
	Poll = 128
	// Worker calls agents for a batch of ten concurrently and records their outcomes: waiting
	// on agents, 12 ms of CPU per task. Measured peak 29 MB; 256 MB roughly halves its billed
	// time against 512 and leaves room for large answers.
	Worker = 256
	// Notify turns the table's stream into completion events and webhook deliveries.
	Notify = 256
)

// MB is the configured memory by function name, as the bench names them.
var MB = map[string]float64{"invoke": Invoke, "poll": Poll, "worker": Worker, "notify": Notify}
