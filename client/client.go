// Package client is the Go client of the agentq HTTP API: both public dialects (xpander's tasks
// and ServiceNet's receipts) and the admin routes (agents, auth contexts, API keys), plus webhook
// settings and deliveries and a verifier for the webhooks a receiver gets.
//
// Request and response types are generated from api/openapi.yaml into package raw and named
// here by alias (Task, Receipt, Agent, …), so the client follows the contract document: a
// change to the document regenerates them, and a test fails while the generated code is stale.
//
// Every method returns an *Error when the API answered with an error (its code, status and
// retry hint) and an *UnreachableError when no answer came at all.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/agentq/agentq/client/raw"
)

// DefaultURL is where `agentq run` serves the API.
const DefaultURL = "http://127.0.0.1:8042"

// Client calls one agentq API with one key. It is safe for concurrent use.
type Client struct {
	base  string
	key   string
	http  *http.Client
	agent string
	raw   *raw.Client
	sleep func(context.Context, time.Duration) error
	waitS int
	// back holds the accepts' Retry-After until Wait or WaitReceipt reads the task.
	back *comeBack
}

// Option configures a Client.
type Option func(*Client)

// WithAPIKey sets the key sent in x-api-key: a tenant's key, or an admin key for the admin
// routes.
func WithAPIKey(key string) Option { return func(c *Client) { c.key = key } }

// WithHTTPClient sets the HTTP client requests go through (default: a client without a
// timeout of its own, since long polls and event streams are bounded by their contexts).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.agent = ua } }

// WithLongPoll sets how many seconds one long-poll request of Wait may be held by the server,
// 1 to 25 (default 20).
func WithLongPoll(seconds int) Option { return func(c *Client) { c.waitS = seconds } }

// New returns a client of the API at baseURL (for example DefaultURL).
func New(baseURL string, opts ...Option) (*Client, error) {
	c := &Client{base: strings.TrimRight(baseURL, "/"), http: &http.Client{}, agent: "agentq-go-client", waitS: 20, sleep: sleepCtx, back: &comeBack{}}
	for _, o := range opts {
		o(c)
	}
	if c.waitS < 1 || c.waitS > 25 {
		return nil, fmt.Errorf("new client: long poll %d s is outside 1 to 25", c.waitS)
	}
	r, err := raw.NewClient(c.base, raw.WithHTTPClient(c.http), raw.WithRequestEditorFn(c.authorize))
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	c.raw = r
	return c, nil
}

// BaseURL answers the API's base URL.
func (c *Client) BaseURL() string { return c.base }

// Raw answers the generated low-level client for calls this package does not wrap; it sends the
// same key.
func (c *Client) Raw() *raw.Client { return c.raw }

func (c *Client) authorize(_ context.Context, req *http.Request) error {
	if c.key != "" {
		req.Header.Set("x-api-key", c.key)
	}
	req.Header.Set("User-Agent", c.agent)
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// maxBody bounds an answer the client reads: the API's own bodies stay far below it.
const maxBody = 32 << 20

// decode reads an answer: a status in ok decodes into a T, any other into an *Error. A request
// that got no answer is an *UnreachableError (or the context's error when it ended first).
func decode[T any](ctx context.Context, op string, resp *http.Response, err error, ok ...int) (*T, *http.Response, error) {
	if err != nil {
		return nil, nil, transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, resp, transportError(ctx, op, err)
	}
	for _, s := range ok {
		if resp.StatusCode != s {
			continue
		}
		out := new(T)
		if len(bytes.TrimSpace(body)) == 0 {
			return out, resp, nil
		}
		if err := json.Unmarshal(body, out); err != nil {
			return nil, resp, fmt.Errorf("%s: decode %d answer: %w", op, resp.StatusCode, err)
		}
		return out, resp, nil
	}
	return nil, resp, apiError(op, resp, body)
}

// empty is the answer of a route whose body the caller does not need.
type empty struct{}

// UnreachableError says a request got no answer from the API: the address is wrong, nothing
// listens there, or the connection broke.
type UnreachableError struct {
	Op  string
	Err error
}

// Error says which operation got no answer, and why.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%s: the agentq API did not answer: %v", e.Op, e.Err)
}

// Unwrap answers the transport's error.
func (e *UnreachableError) Unwrap() error { return e.Err }

func transportError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", op, ctx.Err())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return &UnreachableError{Op: op, Err: err}
}

// ptr returns a pointer to v, or nil for its zero value: optional parameters left unset.
func ptr[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}
