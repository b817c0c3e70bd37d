package bench

// EveryOutcomeEvent is what one completion event per task costs per million tasks, priced with
// p as Price prices the notifier's PutEvents: what AGENTQ_COMPLETION_EVENTS=all adds to a run
// whose tasks, like the bench's, ask for none (a bench task's event is far under EventBridge's
// 64 KB billing chunk). The bench prints it beside the measured EventBridge figure, which is 0
// since completion events are published only for the tasks that ask.
func EveryOutcomeEvent(p PriceTable) float64 {
	u := newUsage()
	u.Requests["EventBridge.PutEvents"] = 1
	return Price(Used{AWS: map[string]Usage{"notify": u}}, p).Scale(1e6).EventBridge
}
