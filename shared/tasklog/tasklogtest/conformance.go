package tasklogtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/tasklog"
)

// Conformer is what the conformance checks exercise: a log that appends and reads.
type Conformer interface {
	tasklog.Appender
	Read(ctx context.Context, taskID string, after int64, limit int) ([]tasklog.Event, error)
}

// Conformance runs the checks every task log must pass on logs made by newLog, one per subtest.
func Conformance(t *testing.T, newLog func(t *testing.T) Conformer) {
	checks := []struct {
		name string
		run  func(t *testing.T, l Conformer)
	}{
		{"concurrent writers get every number once, in each writer's order", concurrentWriters},
		{"a read resumes from every position", resumeEverywhere},
		{"a report is logged once", dedupe},
		{"agents' reports are rate limited per task", rateLimited},
		{"a task's log holds only its own events", isolation},
		{"finished closes the log, once", closedByFinished},
		{"an opening event takes the first stored number, or the next", opening},
		{"a claimed task's events follow its implied first attempt", claimed},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.run(t, newLog(t)) })
	}
}

var at = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// firstStored is the number of a log's first stored event: created, before it, is implied.
const firstStored = tasklog.CreatedSeq + 1

func entry(task string, n int, data map[string]int) tasklog.Entry {
	raw, _ := json.Marshal(data)
	return tasklog.Entry{TaskID: task, Tenant: "t1", Type: tasklog.Status, At: at.Add(time.Duration(n) * time.Second), Data: raw}
}

// readAll reads the whole log from after, limit events a page.
func readAll(t *testing.T, l Conformer, task string, after int64, limit int) []tasklog.Event {
	t.Helper()
	var out []tasklog.Event
	for {
		evs, err := l.Read(context.Background(), task, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		out = append(out, evs...)
		after = evs[len(evs)-1].Seq
	}
}

func concurrentWriters(t *testing.T, l Conformer) {
	const writers, each = 6, 12
	task := uuid.NewString()
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for n := range each {
				if _, err := l.Append(context.Background(), entry(task, n, map[string]int{"w": w, "n": n})); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	evs := readAll(t, l, task, 0, 0)
	if len(evs) != writers*each {
		t.Fatalf("%d events, want %d", len(evs), writers*each)
	}
	next := map[int]int{}
	for i, ev := range evs {
		if ev.Seq != firstStored+int64(i) {
			t.Fatalf("event %d has seq %d: the sequence has a gap or a repeat", i, ev.Seq)
		}
		var d map[string]int
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		if d["n"] != next[d["w"]] {
			t.Fatalf("writer %d's event %d came as its %d-th: out of order", d["w"], d["n"], next[d["w"]])
		}
		next[d["w"]]++
	}
}

func resumeEverywhere(t *testing.T, l Conformer) {
	const n = 23
	task := uuid.NewString()
	for i := range n {
		if _, err := l.Append(context.Background(), entry(task, i, map[string]int{"i": i})); err != nil {
			t.Fatal(err)
		}
	}
	all := readAll(t, l, task, 0, 0)
	if len(all) != n || all[0].Seq != firstStored {
		t.Fatalf("%d events from %v, want %d from seq %d", len(all), all, n, firstStored)
	}
	for after := int64(0); after <= n+tasklog.CreatedSeq; after++ {
		got := readAll(t, l, task, after, 4)
		skip := max(after-tasklog.CreatedSeq, 0) // the stored events at or before after
		if len(got) != n-int(skip) {
			t.Fatalf("after %d: %d events, want %d", after, len(got), n-int(skip))
		}
		for i, ev := range got {
			want := all[int(skip)+i]
			if ev.Seq != want.Seq || string(ev.Data) != string(want.Data) || !ev.At.Equal(want.At) || ev.Type != want.Type {
				t.Fatalf("after %d: event %d = %+v, want %+v", after, i, ev, want)
			}
		}
	}
}

func dedupe(t *testing.T, l Conformer) {
	task, other := uuid.NewString(), uuid.NewString()
	e := entry(task, 0, map[string]int{"x": 1})
	e.Dedupe = "push:abc"
	if _, err := l.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(context.Background(), e); !errors.Is(err, tasklog.ErrDuplicate) {
		t.Fatalf("second append of one report: %v, want ErrDuplicate", err)
	}
	e.TaskID = other
	if _, err := l.Append(context.Background(), e); err != nil {
		t.Fatalf("the same name on another task: %v", err)
	}
	if evs := readAll(t, l, task, 0, 0); len(evs) != 1 {
		t.Fatalf("%d events, want the report once", len(evs))
	}
}

func rateLimited(t *testing.T, l Conformer) {
	task := uuid.NewString()
	limited := func(d time.Duration) tasklog.Entry {
		e := entry(task, 0, map[string]int{})
		e.At, e.Limited = at.Add(d), true
		return e
	}
	for i := range tasklog.RateBurst {
		if _, err := l.Append(context.Background(), limited(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
	}
	if _, err := l.Append(context.Background(), limited(500*time.Millisecond)); !errors.Is(err, tasklog.ErrRateLimited) {
		t.Fatalf("report over the burst: %v, want ErrRateLimited", err)
	}
	// agentq's own events are never refused.
	if _, err := l.Append(context.Background(), entry(task, 0, map[string]int{})); err != nil {
		t.Fatalf("an unlimited append: %v", err)
	}
	if _, err := l.Append(context.Background(), limited(tasklog.RateWindow+time.Second)); err != nil {
		t.Fatalf("a report after the window: %v", err)
	}
}

func closedByFinished(t *testing.T, l Conformer) {
	ctx := context.Background()
	task := uuid.NewString()
	if _, err := l.Append(ctx, entry(task, 0, map[string]int{"before": 1})); err != nil {
		t.Fatal(err)
	}
	finished := entry(task, 1, map[string]int{"final": 1})
	finished.Type = tasklog.Finished
	var wg sync.WaitGroup
	var written, refused int
	var mu sync.Mutex
	for range 4 {
		wg.Go(func() {
			_, err := l.Append(ctx, finished)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				written++
			case errors.Is(err, tasklog.ErrDuplicate):
				refused++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if written != 1 || refused != 3 {
		t.Fatalf("%d written, %d refused; want one finished event", written, refused)
	}
	for _, e := range []tasklog.Entry{entry(task, 2, map[string]int{"after": 1}), func() tasklog.Entry {
		e := entry(task, 3, map[string]int{"after": 2})
		e.Limited, e.Dedupe = true, "push:late"
		return e
	}()} {
		if _, err := l.Append(ctx, e); !errors.Is(err, tasklog.ErrEnded) {
			t.Fatalf("an event after finished: %v, want ErrEnded", err)
		}
	}
	evs := readAll(t, l, task, 0, 0)
	if len(evs) != 2 || evs[1].Type != tasklog.Finished || evs[1].Seq != firstStored+1 {
		t.Fatalf("log %+v, want one event and finished last", evs)
	}
}

func opening(t *testing.T, l Conformer) {
	ctx := context.Background()
	task := uuid.NewString()
	open := entry(task, 0, map[string]int{"opening": 1})
	open.Opening = true
	ev, err := l.Append(ctx, open)
	if err != nil || ev.Seq != firstStored {
		t.Fatalf("opening an empty log: %+v, %v; want seq %d", ev, err, firstStored)
	}
	// Someone wrote first: the opening event reads the tail and takes the next number.
	if ev, err = l.Append(ctx, open); err != nil || ev.Seq != firstStored+1 {
		t.Fatalf("opening a begun log: %+v, %v; want seq %d", ev, err, firstStored+1)
	}
	if evs := readAll(t, l, task, 0, 0); len(evs) != 2 || !strings.Contains(string(evs[0].Data), "opening") {
		t.Fatalf("log %+v", evs)
	}
}

func isolation(t *testing.T, l Conformer) {
	a, b := uuid.NewString(), uuid.NewString()
	for i := range 3 {
		for _, task := range []string{a, b} {
			if _, err := l.Append(context.Background(), entry(task, i, map[string]int{"i": i})); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, task := range []string{a, b} {
		evs := readAll(t, l, task, 0, 0)
		if len(evs) != 3 || evs[2].Seq != firstStored+2 {
			t.Fatalf("task %s: %v", task, evs)
		}
	}
	if evs := readAll(t, l, uuid.NewString(), 0, 0); len(evs) != 0 {
		t.Fatal(fmt.Sprint("a task without events reads ", evs))
	}
}

// claimed: once a task has been claimed its first attempt is implied at AttemptSeq, so its
// stored events start after it, limited or not, with or without a dedupe name; an opening event
// still takes AttemptSeq while it is free, even after later numbers, and only once.
func claimed(t *testing.T, l Conformer) {
	ctx := context.Background()
	for _, e := range []tasklog.Entry{{}, {Limited: true}, {Dedupe: "push:first"}} {
		task := uuid.NewString()
		first := entry(task, 0, map[string]int{"first": 1})
		first.Claimed, first.Limited, first.Dedupe = true, e.Limited, e.Dedupe
		if ev, err := l.Append(ctx, first); err != nil || ev.Seq != tasklog.AttemptSeq+1 {
			t.Fatalf("first event of a claimed task (limited %v, dedupe %q): %+v, %v; want seq %d", e.Limited, e.Dedupe, ev, err, tasklog.AttemptSeq+1)
		}
		// A writer whose record predates the claim cannot exist (the count only grows), but one
		// that does not say so still follows the stored tail.
		if ev, err := l.Append(ctx, entry(task, 1, map[string]int{"second": 1})); err != nil || ev.Seq != tasklog.AttemptSeq+2 {
			t.Fatalf("next event: %+v, %v; want seq %d", ev, err, tasklog.AttemptSeq+2)
		}
		open := entry(task, 2, map[string]int{"opening": 1})
		open.Claimed, open.Opening = true, true
		if ev, err := l.Append(ctx, open); err != nil || ev.Seq != tasklog.AttemptSeq {
			t.Fatalf("opening after later events: %+v, %v; want seq %d", ev, err, tasklog.AttemptSeq)
		}
		if ev, err := l.Append(ctx, open); err != nil || ev.Seq != tasklog.AttemptSeq+3 {
			t.Fatalf("opening again: %+v, %v; want the next, seq %d", ev, err, tasklog.AttemptSeq+3)
		}
		evs := readAll(t, l, task, 0, 2)
		for i, ev := range evs {
			if ev.Seq != tasklog.AttemptSeq+int64(i) {
				t.Fatalf("log %+v: want seq %d on, in order, without gaps", evs, tasklog.AttemptSeq)
			}
		}
		if len(evs) != 4 {
			t.Fatalf("log %+v: want 4 events", evs)
		}
	}
}
