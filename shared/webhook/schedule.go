package webhook

import (
	"math/rand/v2"
	"time"
)

// DefaultSchedule is the wait before attempts 2, 3, ...: Standard Webhooks' (Svix's) schedule,
// eight attempts over about 27.6 hours. With jitter the last attempt still comes more than 25.5
// hours after the first (see nextAttempt), past the 24 hours a receiver may be down for.
var DefaultSchedule = []time.Duration{
	5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// JitterFraction is how far, either way, an attempt may move from its scheduled time: 20% of the
// wait before it, so that the retries of many deliveries that failed together spread out.
const JitterFraction = 0.2

// total sums a schedule.
func total(schedule []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range schedule {
		t += d
	}
	return t
}

// jitterOffset returns a random offset within ±JitterFraction of d.
func jitterOffset(d time.Duration) time.Duration {
	spread := time.Duration(float64(d) * JitterFraction)
	if spread <= 0 {
		return 0
	}
	return rand.N(2*spread+1) - spread
}

// nextAttempt returns when attempt n+1 is due, n attempts having been made, the first at first.
// It is anchored on the first attempt (first + the schedule's first n waits, ± jitter of the last
// of them), so that jitter does not pile up over the attempts: the span from the first attempt to
// the last is the schedule's total within ±20% of its last wait. It is never sooner than 80% of
// the wait from now, so attempts that ran late stay spaced out.
func nextAttempt(schedule []time.Duration, first time.Time, n int, now time.Time) time.Time {
	step := schedule[n-1]
	due := first.Add(total(schedule[:n])).Add(jitterOffset(step))
	return maxTime(due, now.Add(step-time.Duration(float64(step)*JitterFraction)))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
