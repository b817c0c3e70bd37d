package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/task"
)

// InlineLimit is the most a task's request (body and text), and separately its answer (result and
// output), may take in the task's item. A larger one is kept in the blob store, and the item
// records where (request_ref, result_ref).
//
// Why 96 KiB: a DynamoDB item holds at most 400 KB, attribute names included. A task item holds
// its request (at most InlineLimit), its answer (at most InlineLimit) and everything else (keys,
// index keys, ids, stamps, reason: about 2 KiB), so at most about 194 KiB, under half the limit.
// The margin is for what still comes (human-in-the-loop requests, metadata) and keeps every write
// clear of the limit without measuring items to the byte. The same bound keeps the work message,
// which carries the request, far below SQS's 256 KiB. A larger limit would also make the common
// task dearer: every write costs one WCU per KB of the item, on the table and on both indexes
// (which project every attribute), at least three times per task (create, claim, outcome). The
// S3 round trip that offloading costs instead is paid only by the rare large payloads.
const InlineLimit = 96 << 10

// maxBlobReads bounds the blobs one read loads at once.
const maxBlobReads = 8

// ErrTooLarge means a payload does not fit in the task's item and the store has no blob store to
// keep it in. Nothing was written.
var ErrTooLarge = errors.New("payload too large for the task record")

// Blobs keeps large payloads. The blob store (shared/blob) implements it over S3.
type Blobs interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
}

// WithBlobs returns a store like s that keeps payloads over InlineLimit in b. Reads of one task
// (Get, Resolve) load them back, and so does Turns for the answers and texts it shows; List does
// not: its items keep ResultRef and RequestRef set, with Result, Output and Request left empty.
// A page may hold up to 100 tasks, each with megabytes of answer: loading them would cost a
// GET each and could outgrow the 6 MB a Lambda function may answer. A list is for finding
// tasks; reading one answers it whole.
//
// A store without blobs refuses a payload over InlineLimit with ErrTooLarge.
func (s *Store) WithBlobs(b Blobs) *Store {
	c := *s
	c.blobs = b
	return &c
}

// requestBlob is what the blob of a large request holds. Both are strings, so that the body comes
// back byte for byte (encoding it as JSON would compact it). Text is left out when the item keeps it.
type requestBlob struct {
	Request string `json:"request"`
	Text    string `json:"text,omitempty"`
}

// resultBlob is what the blob of a large answer holds.
type resultBlob struct {
	Result string `json:"result"`
	Output string `json:"output,omitempty"`
}

func requestKey(taskID string) string { return "requests/" + taskID + ".json" }

// resultKey names an answer's blob after the version its write gives the task, so that a worker
// whose lease lapsed never overwrites the blob of the one that took over. A write that expects no
// version gets a name of its own.
func resultKey(taskID string, expect int64) string {
	if expect == 0 {
		return "results/" + taskID + "/" + uuid.NewString() + ".json"
	}
	return "results/" + taskID + "/" + strconv.FormatInt(expect+1, 10) + ".json"
}

// encodedLen is how many bytes v takes JSON-encoded, as the work message carries it. Escapes only
// ever add bytes, so a bound on it bounds the item's raw strings too.
func encodedLen(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		// Not JSON (a request body always is, once accepted): count the raw bytes.
		if raw, ok := v.(json.RawMessage); ok {
			return len(raw)
		}
		return 0
	}
	return len(b)
}

func requestSize(t *task.Task) int {
	n := encodedLen(t.Text)
	if len(t.Request) > 0 {
		n += encodedLen(t.Request)
	}
	return n
}

// RequestFits reports whether t's request (body and text) fits in the task's item and in the work
// message. One that does not needs a store with blobs.
func RequestFits(t *task.Task) bool { return requestSize(t) <= InlineLimit }

// InlineRequest returns the parts of t's request that the task's item and its work message carry:
// all of it while t.RequestRef is empty; once the request is staged, no body, and the text only
// when it fits InlineLimit by itself.
func InlineRequest(t *task.Task) (request json.RawMessage, text string) {
	if t.RequestRef == "" {
		return t.Request, t.Text
	}
	if encodedLen(t.Text) <= InlineLimit {
		return nil, t.Text
	}
	return nil, ""
}

// StageRequest prepares t to be recorded: a request that does not fit (see RequestFits) is written
// to the blob store under requests/<task id>.json and t.RequestRef set, so that the task's item and
// its work message carry the reference instead. A request that fits is left alone at no cost, so
// the common submission stays one write. Without blobs, a request that does not fit is refused
// with ErrTooLarge. Create and Submit stage the task themselves; a caller that builds the work
// message calls it first, to know what the message must carry.
func (s *Store) StageRequest(ctx context.Context, t *task.Task) error {
	if t.RequestRef != "" || RequestFits(t) {
		return nil
	}
	if s.blobs == nil {
		return fmt.Errorf("stage request of task %s (%d bytes): %w", t.ID, requestSize(t), ErrTooLarge)
	}
	staged := *t
	staged.RequestRef = requestKey(t.ID)
	b := requestBlob{Request: string(t.Request)}
	if _, text := InlineRequest(&staged); text == "" {
		b.Text = t.Text
	}
	data, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("stage request of task %s: %w", t.ID, err)
	}
	if err := s.blobs.Put(ctx, staged.RequestRef, data); err != nil {
		return fmt.Errorf("stage request of task %s: %w", t.ID, err)
	}
	t.RequestRef = staged.RequestRef
	return nil
}

// LoadRequest reads a staged request: the body, and the text when the item does not keep it ("").
func (s *Store) LoadRequest(ctx context.Context, ref string) (request json.RawMessage, text string, err error) {
	if s.blobs == nil {
		return nil, "", fmt.Errorf("load request %s: no blob store configured", ref)
	}
	data, err := s.blobs.Get(ctx, ref)
	if err != nil {
		return nil, "", fmt.Errorf("load request: %w", err)
	}
	var b requestBlob
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, "", fmt.Errorf("load request %s: %w", ref, err)
	}
	if b.Request != "" {
		request = json.RawMessage(b.Request)
	}
	return request, b.Text, nil
}

// putResult writes an answer too large for the item to its blob and returns the blob's key.
func (s *Store) putResult(ctx context.Context, id string, c Change) (string, error) {
	if s.blobs == nil {
		return "", fmt.Errorf("answer of %d bytes: %w", len(c.Result)+len(c.Output), ErrTooLarge)
	}
	key := resultKey(id, c.Version)
	data, err := json.Marshal(resultBlob{Result: c.Result, Output: string(c.Output)})
	if err != nil {
		return "", err
	}
	if err := s.blobs.Put(ctx, key, data); err != nil {
		return "", err
	}
	return key, nil
}

func (s *Store) loadResult(ctx context.Context, t *task.Task) error {
	if s.blobs == nil {
		return fmt.Errorf("load answer of task %s from %s: no blob store configured", t.ID, t.ResultRef)
	}
	data, err := s.blobs.Get(ctx, t.ResultRef)
	if err != nil {
		return fmt.Errorf("load answer of task %s: %w", t.ID, err)
	}
	var b resultBlob
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("load answer of task %s from %s: %w", t.ID, t.ResultRef, err)
	}
	t.Result, t.Output = b.Result, nil
	if b.Output != "" {
		t.Output = json.RawMessage(b.Output)
	}
	return nil
}

func (s *Store) loadRequest(ctx context.Context, t *task.Task) error {
	request, text, err := s.LoadRequest(ctx, t.RequestRef)
	if err != nil {
		return fmt.Errorf("task %s: %w", t.ID, err)
	}
	t.Request = request
	if text != "" {
		t.Text = text
	}
	return nil
}

// loadMode says which offloaded payloads a read loads back.
type loadMode int

const (
	// loadAll loads the answer and the request: a read of one task.
	loadAll loadMode = iota
	// loadConversation loads the answer and, when the item does not keep it, the text: what a
	// thread's turns show.
	loadConversation
)

// loadBlobs loads the offloaded payloads of ts, several at once.
func (s *Store) loadBlobs(ctx context.Context, ts []*task.Task, mode loadMode) error {
	var jobs []func() error
	for _, t := range ts {
		if t.ResultRef != "" {
			jobs = append(jobs, func() error { return s.loadResult(ctx, t) })
		}
		if t.RequestRef != "" && (mode == loadAll || t.Text == "") {
			jobs = append(jobs, func() error { return s.loadRequest(ctx, t) })
		}
	}
	switch len(jobs) {
	case 0:
		return nil
	case 1:
		return jobs[0]()
	}
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, maxBlobReads)
	var wg sync.WaitGroup
	for i, job := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = job()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
