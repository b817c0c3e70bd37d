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

// maxBlobReads bounds the blobs one read loads at once.
const maxBlobReads = 8

// Blobs keeps large payloads. The blob store (shared/blob) implements it over S3.
type Blobs interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
}

// WithBlobs returns a store like s that keeps payloads over task.InlineLimit in b. Reads of one task
// (Get, Resolve) load them back, and so does Turns for the answers and texts it shows; List does
// not: its items keep ResultRef and RequestRef set, with Result, Output and Request left empty.
// A page may hold up to 100 tasks, each with megabytes of answer: loading them would cost a
// GET each and could outgrow the 6 MB a Lambda function may answer. A list is for finding
// tasks; reading one answers it whole.
//
// A store without blobs refuses a payload over task.InlineLimit with task.ErrTooLarge.
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

// StageRequest prepares t to be recorded: a request that does not fit (see task.RequestFits) is written
// to the blob store under requests/<task id>.json and t.RequestRef set, so that the task's item and
// its work message carry the reference instead. A request that fits is left alone at no cost, so
// the common submission stays one write. Without blobs, a request that does not fit is refused
// with task.ErrTooLarge. Create and Submit stage the task themselves; a caller that builds the work
// message calls it first, to know what the message must carry.
func (s *Store) StageRequest(ctx context.Context, t *task.Task) error {
	if t.RequestRef != "" || task.RequestFits(t) {
		return nil
	}
	if s.blobs == nil {
		return fmt.Errorf("stage request of task %s (%d bytes): %w", t.ID, task.RequestSize(t), task.ErrTooLarge)
	}
	staged := *t
	staged.RequestRef = requestKey(t.ID)
	b := requestBlob{Request: string(t.Request)}
	if _, text := task.InlineRequest(&staged); text == "" {
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
func (s *Store) putResult(ctx context.Context, id string, c task.Change) (string, error) {
	if s.blobs == nil {
		return "", fmt.Errorf("answer of %d bytes: %w", len(c.Result)+len(c.Output), task.ErrTooLarge)
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
