package accept_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/dialect"
)

const authContextID = "3f1c2a9e-6a47-4a59-9a47-0d2f6c1b9e10"

// fakeContexts knows the auth contexts of each tenant ("tenant/id"), and counts its reads.
type fakeContexts struct {
	mu    sync.Mutex
	known map[string]bool
	err   error
	reads int
}

func (f *fakeContexts) Exists(_ context.Context, tenant, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.err != nil {
		return f.err
	}
	if !f.known[tenant+"/"+id] {
		return fmt.Errorf("read auth context %s: %w", id, authctx.ErrNotFound)
	}
	return nil
}

func withContexts(t *testing.T, c accept.AuthContexts) *harness {
	h := newHarness(t)
	h.svc = accept.New(accept.Config{
		Store: h.store, Queue: h.queue, Registry: registry, TTL: time.Hour, AuthContexts: c,
		Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }, NewID: func() string { return taskID },
	})
	return h
}

func TestSubmitCarriesAuthContext(t *testing.T) {
	contexts := &fakeContexts{known: map[string]bool{"org-1/" + authContextID: true}}
	h := withContexts(t, contexts)
	// The id may come in any case; the store keys it lower-case.
	inv := decode(t, dialect.DecodeServiceNet, `{"message":"pay","auth_context_id":"3F1C2A9E-6A47-4A59-9A47-0D2F6C1B9E10"}`)
	if _, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo", Invocation: inv}); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if len(h.queue.sent) != 1 || h.queue.sent[0].AuthContextID != authContextID {
		t.Fatalf("sent %+v, want one message naming the auth context", h.queue.sent)
	}
	if contexts.reads != 1 {
		t.Errorf("%d auth context reads, want 1", contexts.reads)
	}
}

// TestSubmitUnknownAuthContext: an auth context the tenant does not have (unknown, another
// tenant's, or any where none are configured) is refused before anything is written or sent.
func TestSubmitUnknownAuthContext(t *testing.T) {
	theirs := &fakeContexts{known: map[string]bool{"org-2/" + authContextID: true}}
	for name, c := range map[string]accept.AuthContexts{
		"unknown":          &fakeContexts{},
		"another tenant's": theirs,
		"not configured":   nil,
	} {
		t.Run(name, func(t *testing.T) {
			h := withContexts(t, c)
			inv := decode(t, dialect.DecodeServiceNet, `{"message":"pay","auth_context_id":"`+authContextID+`"}`)
			_, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo", Invocation: inv, IdempotencyKey: "k"})
			if !errors.Is(err, authctx.ErrNotFound) {
				t.Fatalf("Submit = %v, want authctx.ErrNotFound", err)
			}
			if len(h.store.created) != 0 || len(h.queue.sent) != 0 || len(h.store.Changes()) != 0 {
				t.Errorf("wrote %d tasks, sent %d messages, made %d transitions; want nothing", len(h.store.created), len(h.queue.sent), len(h.store.Changes()))
			}
		})
	}
}

func TestSubmitAuthContextStoreDown(t *testing.T) {
	h := withContexts(t, &fakeContexts{err: errors.New("dynamodb: throttled")})
	inv := decode(t, dialect.DecodeServiceNet, `{"message":"pay","auth_context_id":"`+authContextID+`"}`)
	_, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo", Invocation: inv})
	if !errors.Is(err, accept.ErrStoreUnavailable) || errors.Is(err, authctx.ErrNotFound) {
		t.Fatalf("Submit = %v, want ErrStoreUnavailable", err)
	}
	if len(h.store.created) != 0 || len(h.queue.sent) != 0 {
		t.Errorf("wrote %d tasks and sent %d messages; want nothing", len(h.store.created), len(h.queue.sent))
	}
}

// TestSubmitWithoutAuthContextReadsNone: the common case costs no read.
func TestSubmitWithoutAuthContextReadsNone(t *testing.T) {
	contexts := &fakeContexts{}
	h := withContexts(t, contexts)
	inv := decode(t, dialect.DecodeServiceNet, `{"message":"pay"}`)
	if _, err := h.svc.Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo", Invocation: inv}); err != nil {
		t.Fatal(err)
	}
	if contexts.reads != 0 || h.queue.sent[0].AuthContextID != "" {
		t.Errorf("%d reads, message names %q; want none", contexts.reads, h.queue.sent[0].AuthContextID)
	}
}
