// Package smoke checks a running agentq system end to end through its public API, the way a team
// checks a fresh deploy: an invocation in each dialect polled until it succeeds (xpander with an
// x-api-key, ServiceNet with Authorization: Bearer, so both ways of presenting a key pass the
// gateway), a webhook delivered to a receiver the caller names, and an invocation triggered by an
// "Invoke Agent" event. It speaks only HTTP to the API, so the same code checks a deployed stack's
// ApiUrl and the local system; what needs AWS credentials (putting the event on the bus) is an
// EventPutter the caller supplies, and a check whose settings are missing is skipped and says so.
package smoke

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// EventPutter puts an "Invoke Agent" event whose detail is detail (a JSON object) on the stack's
// bus. EventBridge implements it for a deployed stack.
type EventPutter interface {
	PutInvokeEvent(ctx context.Context, detail []byte) error
}

// Config says what to check and where.
type Config struct {
	// APIURL is the API's base URL (the stack's ApiUrl output).
	APIURL string
	// APIKey is a tenant's API key.
	APIKey string
	// Agent is the agent the invocations call; it must echo its input text (default "echo").
	Agent string
	// Tenant owns the event-triggered invocation: the tenant of APIKey, so that the task shows in
	// that key's list. Empty leaves the stack's default tenant to own it.
	Tenant string
	// WebhookURL receives the webhook check's delivery; empty skips the check.
	WebhookURL string
	// WebhookListen, when set, is an address this process receives the delivery on itself (a
	// tunnel's local end, or the receiver of a local system); the check then also waits for the
	// POST there.
	WebhookListen string
	// Events puts the event of the event check; nil skips it.
	Events EventPutter
	// EventsSkipReason says why Events is nil, for the report.
	EventsSkipReason string
	// Timeout bounds each check (default 3 minutes: the first calls meet cold starts).
	Timeout time.Duration
	// Interval between polls (default 2 s).
	Interval time.Duration
	// HTTP is the client (default: one with a 40 s timeout per request).
	HTTP *http.Client
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Status is a check's outcome.
type Status string

// Outcomes of a check.
const (
	Pass Status = "PASS"
	Fail Status = "FAIL"
	Skip Status = "SKIP"
)

// Result is one check's outcome and what it saw.
type Result struct {
	Check  string
	Status Status
	Detail string
}

// ErrFailed is returned when a check failed.
var ErrFailed = errors.New("smoke: a check failed")

// Run runs every check in turn and returns their results, and ErrFailed when any failed (a
// skipped check is not a failure; the results say it was skipped and why).
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if cfg.APIURL == "" || cfg.APIKey == "" {
		return nil, errors.New("smoke: the API URL and an API key are required (API_URL=… AGENTQ_API_KEY=…)")
	}
	if _, err := url.ParseRequestURI(cfg.APIURL); err != nil {
		return nil, fmt.Errorf("smoke: API URL: %w", err)
	}
	r := &runner{cfg: cfg, base: strings.TrimRight(cfg.APIURL, "/")}
	if r.cfg.Agent == "" {
		r.cfg.Agent = "echo"
	}
	if r.cfg.Timeout <= 0 {
		r.cfg.Timeout = 3 * time.Minute
	}
	if r.cfg.Interval <= 0 {
		r.cfg.Interval = 2 * time.Second
	}
	if r.cfg.HTTP == nil {
		r.cfg.HTTP = &http.Client{Timeout: 40 * time.Second}
	}
	if r.cfg.Log == nil {
		r.cfg.Log = io.Discard
	}
	checks := []struct {
		name string
		run  func(context.Context) (Status, string)
	}{
		{"xpander invoke and poll", r.xpander},
		{"servicenet invoke and poll (Bearer)", r.serviceNet},
		{"webhook delivery", r.webhook},
		{"event-triggered invocation", r.event},
	}
	var results []Result
	failed := false
	for _, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		status, detail := c.run(cctx)
		cancel()
		results = append(results, Result{Check: c.name, Status: status, Detail: detail})
		fmt.Fprintf(r.cfg.Log, "%s %s: %s\n", status, c.name, detail)
		failed = failed || status == Fail
	}
	if failed {
		return results, ErrFailed
	}
	return results, nil
}

type runner struct {
	cfg  Config
	base string
}

// auth says how a request presents the key.
type auth int

const (
	apiKeyHeader auth = iota
	bearer
)

// call sends one request and decodes a JSON answer into out. It returns the status, 0 when the
// API did not answer.
func (r *runner) call(ctx context.Context, a auth, method, path string, body any, out any) (int, string, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.base+path, rd)
	if err != nil {
		return 0, "", err
	}
	if a == bearer {
		req.Header.Set("Authorization", "Bearer "+r.cfg.APIKey)
	} else {
		req.Header.Set("x-api-key", r.cfg.APIKey)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.cfg.HTTP.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, "", err
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, string(raw), fmt.Errorf("answer is not JSON: %w", err)
		}
	}
	return resp.StatusCode, string(raw), nil
}

// get reads path into out. ok reports a 200 whose body decoded; a 4xx is final (err); anything
// else (a 5xx, no answer, a body that is not JSON) is worth another try, and seen says what it was.
func (r *runner) get(ctx context.Context, a auth, path string, out any) (ok bool, seen string, err error) {
	code, raw, err := r.call(ctx, a, http.MethodGet, path, nil, out)
	switch {
	case code >= 400 && code < 500:
		return false, "", fmt.Errorf("GET %s answered %d: %s", path, code, strings.TrimSpace(raw))
	case code == http.StatusOK && err == nil:
		return true, "", nil
	case err != nil:
		return false, err.Error(), nil
	default:
		return false, fmt.Sprintf("HTTP %d", code), nil
	}
}

// retry calls f until it reports done or a failure, or ctx ends. f's error is final; a
// "not yet" carries what was last seen.
func (r *runner) retry(ctx context.Context, what string, f func() (done bool, seen string, err error)) (string, error) {
	seen := ""
	for {
		done, s, err := f()
		if err != nil {
			return s, err
		}
		if s != "" {
			seen = s
		}
		if done {
			return seen, nil
		}
		select {
		case <-ctx.Done():
			return seen, fmt.Errorf("%s: still %s when the check's time ran out", what, orNothing(seen))
		case <-time.After(r.cfg.Interval):
		}
	}
}

func orNothing(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

// submit posts an invocation until the API accepts it: a 5xx or no answer is retried (cold
// starts), a 4xx is final.
func (r *runner) submit(ctx context.Context, a auth, path string, body any, out any) error {
	_, err := r.retry(ctx, "POST "+path, func() (bool, string, error) {
		code, raw, err := r.call(ctx, a, http.MethodPost, path, body, out)
		switch {
		case code/100 == 2 && err == nil:
			return true, "", nil
		case code/100 == 2:
			return false, "", fmt.Errorf("POST %s: %w", path, err)
		case code >= 400 && code < 500:
			return false, "", fmt.Errorf("POST %s answered %d: %s", path, code, strings.TrimSpace(raw))
		case err != nil:
			return false, err.Error(), nil
		default:
			return false, fmt.Sprintf("HTTP %d", code), nil
		}
	})
	return err
}

// await polls path until its status is done; a status in bad or a 4xx ends the wait.
func (r *runner) await(ctx context.Context, a auth, path, done string, bad ...string) (map[string]any, error) {
	var last map[string]any
	_, err := r.retry(ctx, "GET "+path, func() (bool, string, error) {
		var v map[string]any
		if ok, seen, err := r.get(ctx, a, path, &v); !ok {
			return false, seen, err
		}
		last = v
		status, _ := v["status"].(string)
		if rc, ok := v["receipt"].(map[string]any); ok { // a ServiceNet receipt's status is the receipt object's
			status, _ = rc["status"].(string)
		}
		if status == done {
			return true, status, nil
		}
		if slices.Contains(bad, status) {
			return false, status, fmt.Errorf("GET %s: the task ended %s: %v", path, status, v)
		}
		return false, "status " + status, nil
	})
	return last, err
}

// text is a unique input, so an echoed answer or a listed task is this run's.
func text(check string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "agentq smoke " + check + " " + hex.EncodeToString(b)
}

// runXpander submits an xpander invocation of the agent with a fresh text (and the extra body
// fields) and waits until its task completed with the text echoed; it returns the task's id.
func (r *runner) runXpander(ctx context.Context, check string, extra map[string]any) (string, error) {
	in := text(check)
	body := map[string]any{"input": map[string]string{"text": in}}
	for k, v := range extra {
		body[k] = v
	}
	var accepted struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	if err := r.submit(ctx, apiKeyHeader, "/v1/agents/"+url.PathEscape(r.cfg.Agent)+"/invoke/async", body, &accepted); err != nil {
		return "", err
	}
	if accepted.ID == "" || accepted.Status != "pending" {
		return "", fmt.Errorf("accepted as %+v, want an id and status pending", accepted)
	}
	got, err := r.await(ctx, apiKeyHeader, "/v1/tasks/"+url.PathEscape(accepted.ID), "completed", "failed", "error", "stopped")
	if err != nil {
		return accepted.ID, err
	}
	if got["result"] != in {
		return accepted.ID, fmt.Errorf("task %s completed with result %v, want the echoed %q", accepted.ID, got["result"], in)
	}
	return accepted.ID, nil
}

func (r *runner) xpander(ctx context.Context) (Status, string) {
	id, err := r.runXpander(ctx, "xpander", nil)
	if err != nil {
		return Fail, err.Error()
	}
	return Pass, fmt.Sprintf("task %s pending, then completed with the echoed input", id)
}

func (r *runner) serviceNet(ctx context.Context) (Status, string) {
	in := text("servicenet")
	var accepted struct {
		ReceiptID string `json:"receipt_id"`
		Status    string `json:"status"`
	}
	if err := r.submit(ctx, bearer, "/v1/agents/"+url.PathEscape(r.cfg.Agent)+"/invoke-async",
		map[string]any{"message": in}, &accepted); err != nil {
		return Fail, err.Error()
	}
	if accepted.ReceiptID == "" || accepted.Status != "running" {
		return Fail, fmt.Sprintf("accepted as %+v, want a receipt_id and status running", accepted)
	}
	if _, err := r.await(ctx, bearer, "/v1/receipts/"+url.PathEscape(accepted.ReceiptID), "succeeded", "failed", "rejected"); err != nil {
		return Fail, err.Error()
	}
	return Pass, fmt.Sprintf("receipt %s running, then succeeded (key sent as Authorization: Bearer)", accepted.ReceiptID)
}

func (r *runner) webhook(ctx context.Context) (Status, string) {
	if r.cfg.WebhookURL == "" {
		return Skip, "no WEBHOOK_URL: give a receiver URL the deployed stack can reach (the delivery log is checked; with WEBHOOK_LISTEN the POST too)"
	}
	var rcv *receiver
	if r.cfg.WebhookListen != "" {
		var err error
		if rcv, err = listen(r.cfg.WebhookListen); err != nil {
			return Fail, err.Error()
		}
		defer rcv.close()
	}
	id, err := r.runXpander(ctx, "webhook", map[string]any{"webhook_url": r.cfg.WebhookURL})
	if err != nil {
		return Fail, err.Error()
	}
	path := "/v1/tasks/" + url.PathEscape(id) + "/deliveries"
	_, err = r.retry(ctx, "GET "+path, func() (bool, string, error) {
		var page struct {
			Items []struct {
				ID    string `json:"delivery_id"`
				URL   string `json:"url"`
				State string `json:"state"`
			} `json:"items"`
		}
		if ok, seen, err := r.get(ctx, apiKeyHeader, path, &page); !ok {
			return false, seen, err
		}
		for _, d := range page.Items {
			if d.URL != r.cfg.WebhookURL {
				continue
			}
			switch d.State {
			case "succeeded":
				return true, "", nil
			case "failed":
				return false, "", fmt.Errorf("delivery %s to %s failed every attempt (GET %s shows the attempts)", d.ID, d.URL, path)
			}
			return false, "delivery " + d.State, nil
		}
		return false, "no delivery yet", nil
	})
	if err != nil {
		return Fail, err.Error()
	}
	if rcv != nil {
		select {
		case <-rcv.got(id):
		case <-ctx.Done():
			return Fail, fmt.Sprintf("the delivery log says delivered, but no POST naming task %s reached %s", id, r.cfg.WebhookListen)
		}
		return Pass, fmt.Sprintf("task %s completed; its delivery to %s succeeded and reached %s", id, r.cfg.WebhookURL, r.cfg.WebhookListen)
	}
	return Pass, fmt.Sprintf("task %s completed; its delivery to %s succeeded", id, r.cfg.WebhookURL)
}

func (r *runner) event(ctx context.Context) (Status, string) {
	if r.cfg.Events == nil {
		reason := r.cfg.EventsSkipReason
		if reason == "" {
			reason = "no event bus configured"
		}
		return Skip, reason
	}
	in := text("event")
	detail := map[string]any{"agent_id": r.cfg.Agent, "input": map[string]string{"text": in}}
	if r.cfg.Tenant != "" {
		detail["tenant"] = r.cfg.Tenant
	}
	raw, err := json.Marshal(detail)
	if err != nil {
		return Fail, err.Error()
	}
	if err := r.cfg.Events.PutInvokeEvent(ctx, raw); err != nil {
		return Fail, fmt.Sprintf("put the Invoke Agent event: %v", err)
	}
	// The trigger creates the task; the event's unique text finds it in the tenant's newest tasks.
	var id string
	_, err = r.retry(ctx, "the triggered task", func() (bool, string, error) {
		var page struct {
			Items []struct {
				ID     string `json:"id"`
				Status string `json:"status"`
				Input  struct {
					Text string `json:"text"`
				} `json:"input"`
			} `json:"items"`
		}
		if ok, seen, err := r.get(ctx, apiKeyHeader, "/v1/tasks?limit=50", &page); !ok {
			return false, seen, err
		}
		for _, t := range page.Items {
			if t.Input.Text != in {
				continue
			}
			id = t.ID
			switch t.Status {
			case "completed":
				return true, "", nil
			case "failed", "error", "stopped":
				return false, "", fmt.Errorf("the triggered task %s ended %s", t.ID, t.Status)
			}
			return false, "task " + t.ID + " " + t.Status, nil
		}
		return false, "no task for the event yet (check the trigger dead-letter queue)", nil
	})
	if err != nil {
		return Fail, err.Error()
	}
	return Pass, fmt.Sprintf("an Invoke Agent event made task %s, which completed", id)
}

// receiver takes webhook deliveries on a local address.
type receiver struct {
	srv    *http.Server
	mu     sync.Mutex
	bodies []string
	notify chan struct{}
}

func listen(addr string) (*receiver, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("webhook receiver on %s: %w", addr, err)
	}
	rcv := &receiver{notify: make(chan struct{}, 1)}
	rcv.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		rcv.mu.Lock()
		rcv.bodies = append(rcv.bodies, string(b))
		rcv.mu.Unlock()
		select {
		case rcv.notify <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = rcv.srv.Serve(ln) }()
	return rcv, nil
}

// got returns a channel that yields the first delivery naming taskID.
func (rcv *receiver) got(taskID string) <-chan string {
	out := make(chan string, 1)
	go func() {
		for range rcv.notify {
			rcv.mu.Lock()
			for _, b := range rcv.bodies {
				if strings.Contains(b, taskID) {
					rcv.mu.Unlock()
					out <- b
					return
				}
			}
			rcv.mu.Unlock()
		}
	}()
	// A delivery may have arrived before the caller asked.
	select {
	case rcv.notify <- struct{}{}:
	default:
	}
	return out
}

func (rcv *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = rcv.srv.Shutdown(ctx)
	close(rcv.notify)
}
