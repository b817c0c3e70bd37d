package main

import (
	"bytes"
	"testing"
	"time"
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
