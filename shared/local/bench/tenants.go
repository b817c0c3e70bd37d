package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// tenants calls the API as many tenants: a submission goes to the next tenant in turn (a thread
// turn to the tenant of its thread) and a read to the tenant whose task it is. The bench's system
// applies a deployment's tenant limits, so its load is spread as a deployment's callers are: one
// tenant per client of the end-to-end run keeps each well within the request rate.
type tenants struct {
	mu      sync.Mutex
	clients []*client
	next    int
	// owner is the client of each task id and thread id submitted.
	owner map[string]*client
	// refused counts the requests answered 429 (and tried again after Retry-After).
	refused atomic.Int64
}

// newTenants answers callers of the API as first (the system's own tenant, whose key the
// functions' memory run is configured with) and n-1 more tenants, each with a key of its own.
func newTenants(ctx context.Context, url string, first *client, n int, create func(ctx context.Context, tenant string) (string, error)) (*tenants, error) {
	t := &tenants{clients: []*client{first}, owner: map[string]*client{}}
	first.refused = &t.refused
	for i := 1; i < n; i++ {
		key, err := create(ctx, fmt.Sprintf("bench-%03d", i))
		if err != nil {
			return nil, fmt.Errorf("create tenant %d: %w", i, err)
		}
		c := newClient(url, key)
		c.refused = &t.refused
		t.clients = append(t.clients, c)
	}
	return t, nil
}

// warm makes one request as each tenant, so that the API has looked up every tenant's key and
// limits before anything is timed, as a busy deployment has (both are cached for a while).
func (t *tenants) warm(ctx context.Context) {
	for _, c := range t.clients {
		_, _, _ = c.status(ctx, "00000000-0000-0000-0000-000000000000", false, 0) // 404: only the lookups count
	}
}

// key is the first tenant's API key.
func (t *tenants) key() string { return t.clients[0].key }

func (t *tenants) submit(ctx context.Context, s submission) (accepted, error) {
	t.mu.Lock()
	c := t.owner[s.thread]
	if c == nil {
		c = t.clients[t.next%len(t.clients)]
		t.next++
	}
	t.mu.Unlock()
	a, err := c.submit(ctx, s)
	if err == nil {
		t.mu.Lock()
		t.owner[a.id] = c
		if a.thread != "" {
			t.owner[a.thread] = c
		}
		if s.thread != "" {
			t.owner[s.thread] = c
		}
		t.mu.Unlock()
	}
	return a, err
}

func (t *tenants) status(ctx context.Context, id string, servicenet bool, wait time.Duration) (bool, time.Duration, error) {
	t.mu.Lock()
	c := t.owner[id]
	t.mu.Unlock()
	if c == nil {
		c = t.clients[0]
	}
	return c.status(ctx, id, servicenet, wait)
}
