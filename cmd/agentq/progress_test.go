package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/agentq/agentq/client"
	"github.com/agentq/agentq/client/raw"
)

// clock is a test clock that moves only when told.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func TestProgressRendering(t *testing.T) {
	play := func(p *progress, c *clock) {
		p.Status("pending")
		c.add(300 * time.Millisecond)
		p.Status("executing")
		p.Status("executing") // unchanged: nothing new
		c.add(200 * time.Millisecond)
		p.Tick()
		p.Message("reading the pricing pages")
		c.add(1500 * time.Millisecond)
		p.Tick()
		p.Status("completed")
		p.Done()
	}
	cases := []struct {
		name string
		tty  bool
		want string
	}{
		{"plain lines when not a terminal", false, "" +
			"0.0s task t1 pending\n" +
			"0.3s task t1 executing\n" +
			"0.5s task t1 > reading the pricing pages\n" +
			"2.0s task t1 completed\n"},
		{"one redrawn line on a terminal", true, "" +
			"⠋ task t1 pending  0.0s" +
			"\r\x1b[K⠋ task t1 executing  0.3s" +
			"\r\x1b[K⠙ task t1 executing  0.5s" +
			"\r\x1b[K  reading the pricing pages\n" +
			"⠙ task t1 executing  0.5s" +
			"\r\x1b[K⠹ task t1 executing  2.0s" +
			"\r\x1b[K⠹ task t1 completed  2.0s" +
			"\r\x1b[Ktask t1 completed after 2.0s\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			c := newClock()
			play(newProgress(&out, tc.tty, c.now, "task t1"), c)
			if out.String() != tc.want {
				t.Fatalf("got\n%q\nwant\n%q", out.String(), tc.want)
			}
		})
	}
}

// TestFollowShowsEvents: --follow turns the log's events into statuses and messages.
func TestFollowShowsEvents(t *testing.T) {
	events := []struct {
		typ  string
		data map[string]any
	}{
		{"created", map[string]any{"state": "queued"}},
		{"attempt", map[string]any{"attempt": 1}},
		{"status", map[string]any{"message": "reading the pricing pages"}},
		{"retry", map[string]any{"reason": "agent_unavailable"}},
		{"tool_call_request", map[string]any{"tool_name": "search"}},
		{"chunk", map[string]any{"text": "Prices rose"}},
		{"usage", map[string]any{"tokens": 12}},
		{"paused", map[string]any{"question": "which currency?"}},
		{"resumed", nil},
		{"finished", map[string]any{"state": "succeeded"}},
	}
	var out bytes.Buffer
	c := newClock()
	p := newProgress(&out, false, c.now, "task t1")
	for i, ev := range events {
		e := &client.Event{Seq: i + 1, Type: raw.TaskEventType(ev.typ)}
		if ev.data != nil {
			e.Data = &ev.data
		}
		showEvent(p, e)
	}
	want := "" +
		"0.0s task t1 pending\n" +
		"0.0s task t1 executing\n" +
		"0.0s task t1 > reading the pricing pages\n" +
		"0.0s task t1 > retrying: agent_unavailable\n" +
		"0.0s task t1 > calls search\n" +
		"0.0s task t1 > Prices rose\n" +
		"0.0s task t1 paused\n" +
		"0.0s task t1 > the agent asks: which currency?\n" +
		"0.0s task t1 executing\n" +
		"0.0s task t1 succeeded\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}
