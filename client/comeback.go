package client

import (
	"net/http"
	"sync"
	"time"
)

// comeBack remembers, per task, when the answer that accepted it said to come back (its
// Retry-After: the agent's expected duration), so that Wait and WaitReceipt send their first read
// then rather than a long poll the server would hold through the agent's run.
type comeBack struct {
	mu sync.Mutex
	at map[string]time.Time
}

// comeBackPrune is how many remembered tasks make note forget those whose time has passed: a task
// accepted and never waited on is forgotten once its time is up.
const comeBackPrune = 256

// comeBackMax bounds what is remembered: past it (many tasks accepted and never waited on, of
// agents that take long), a new task is not remembered, and its first read is at once.
const comeBackMax = 4096

// note remembers resp's Retry-After, if any, for the task id names.
func (c *comeBack) note(id string, resp *http.Response) {
	if resp == nil || id == "" {
		return
	}
	d := retryAfter(resp.Header)
	if d <= 0 {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at == nil {
		c.at = make(map[string]time.Time)
	}
	if len(c.at) >= comeBackPrune {
		for k, at := range c.at {
			if !at.After(now) {
				delete(c.at, k)
			}
		}
	}
	if len(c.at) < comeBackMax {
		c.at[id] = now.Add(d)
	}
}

// take answers how long is left before the task id names should be read (zero or less: at once),
// and forgets it.
func (c *comeBack) take(id string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.at[id]
	if !ok {
		return 0
	}
	delete(c.at, id)
	return time.Until(at)
}
