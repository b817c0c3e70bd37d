package accept_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/task"
)

// memBlobs is a blob store in memory.
type memBlobs struct {
	mu     sync.Mutex
	data   map[string][]byte
	putErr error
}

func (b *memBlobs) Put(_ context.Context, key string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.putErr != nil {
		return b.putErr
	}
	b.data[key] = data
	return nil
}

func (b *memBlobs) Get(_ context.Context, key string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.data[key], nil
}

// TestLargeRequests: a request too large for the task record is staged in the blob store before
// anything else is written, and its message carries the reference; one that cannot be kept is
// refused before anything is written or sent.
func TestLargeRequests(t *testing.T) {
	bulk := strings.Repeat("z", task.InlineLimit)
	tests := []struct {
		name string
		// stager: "blobs" is a store with a blob store, "none" a store without, "" no stager at all.
		stager  string
		putErr  error
		decode  func([]byte) (*dialect.Invocation, error)
		body    string
		wantErr error
		staged  bool
		// msgText says whether the message carries the text.
		msgText bool
	}{
		{name: "small", stager: "blobs", decode: dialect.DecodeXpander, body: `{"input":{"text":"hello"}}`, msgText: true},
		{name: "large body, small text", stager: "blobs", decode: dialect.DecodeXpander,
			body: `{"input":{"text":"hello"},"payload_extension":{"doc":"` + bulk + `"}}`, staged: true, msgText: true},
		{name: "large text", stager: "blobs", decode: dialect.DecodeServiceNet,
			body: `{"message":"` + bulk + `","auth_token":"auth-SECRET-3"}`, staged: true},
		{name: "no stager", decode: dialect.DecodeXpander,
			body: `{"input":{"text":"hello"},"payload_extension":{"doc":"` + bulk + `"}}`, wantErr: accept.ErrRequestTooLarge},
		{name: "store without blobs", stager: "none", decode: dialect.DecodeServiceNet,
			body: `{"message":"` + bulk + `"}`, wantErr: accept.ErrRequestTooLarge},
		{name: "blob store down", stager: "blobs", putErr: errors.New("SlowDown"), decode: dialect.DecodeServiceNet,
			body: `{"message":"` + bulk + `"}`, wantErr: accept.ErrStoreUnavailable},
		// Secrets are never stored, so a message they alone make too large cannot be sent at all.
		{name: "secrets too large for the message", stager: "blobs", decode: dialect.DecodeXpander,
			body: `{"input":{"text":"hello"},"user_tokens":{"big":"` + strings.Repeat("s", queue.MaxMessageBytes) + `"}}`, wantErr: accept.ErrRequestTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, q := newFakeStore(), &fakeQueue{}
			blobs := &memBlobs{data: map[string][]byte{}, putErr: tt.putErr}
			c := accept.Config{Store: st, Queue: q, Registry: registry, Logger: slog.New(slog.DiscardHandler),
				Now: func() time.Time { return now }, NewID: func() string { return taskID }}
			switch tt.stager {
			case "blobs":
				c.Requests = store.New(nil, "tasks").WithBlobs(blobs)
			case "none":
				c.Requests = store.New(nil, "tasks")
			}
			inv := decode(t, tt.decode, tt.body)
			got, err := accept.New(c).Submit(context.Background(), accept.Submission{Tenant: "org-1", AgentID: "echo", Invocation: inv})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Submit = %v, want %v", err, tt.wantErr)
				}
				if len(st.created) != 0 || len(q.sent) != 0 {
					t.Errorf("created %d tasks and sent %d messages after a refusal", len(st.created), len(q.sent))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The caller's answer echoes the request whole either way.
			if string(got.Request) != string(inv.Body) || got.Text != inv.Text {
				t.Errorf("the task answered does not carry the request")
			}
			rec, m := st.created[0], q.sent[0]
			if !tt.staged {
				if rec.RequestRef != "" || m.RequestRef != "" || len(blobs.data) != 0 || string(m.Request) != string(inv.Body) || m.Text != inv.Text {
					t.Errorf("a small request was staged: ref %q, blobs %d", m.RequestRef, len(blobs.data))
				}
				return
			}
			ref := "requests/" + taskID + ".json"
			if rec.RequestRef != ref || m.RequestRef != ref || blobs.data[ref] == nil {
				t.Fatalf("task ref %q, message ref %q, blob written %v; want %s", rec.RequestRef, m.RequestRef, blobs.data[ref] != nil, ref)
			}
			if m.Request != nil || (m.Text != "") != tt.msgText {
				t.Errorf("message carries %d bytes of body and text %v; want none and %v", len(m.Request), m.Text != "", tt.msgText)
			}
			body, err := queue.Encode(m)
			if err != nil || len(body) > task.InlineLimit+4<<10 {
				t.Errorf("message of %d bytes (%v)", len(body), err)
			}
			if strings.Contains(string(blobs.data[ref]), "SECRET") {
				t.Errorf("a secret was staged: %.200s", blobs.data[ref])
			}
		})
	}
}
