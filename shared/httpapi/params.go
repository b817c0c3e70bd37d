package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/dialect"
)

// Bounds of query parameters and headers.
const (
	// MaxWait is the longest wait (long poll or sync invoke), under API Gateway's 30 s.
	MaxWait = 25 * time.Second
	// MaxIdempotencyKeyBytes bounds the Idempotency-Key header: the accept core's bound.
	MaxIdempotencyKeyBytes = accept.MaxIdempotencyKeyBytes
	// maxIDBytes bounds an id in a path or a query: a task id is a UUID, a thread id a caller's
	// string of at most 1 KiB.
	maxIDBytes = 1 << 10
)

// params reads a request's query parameters and headers, collecting every problem so that one
// answer lists them all, in the dialect's validation_failed shape.
type params struct {
	r        *http.Request
	query    map[string][]string
	problems []dialect.Problem
}

func newParams(r *http.Request) *params {
	return &params{r: r, query: r.URL.Query()}
}

func (p *params) add(where, name, msg, typ string) {
	p.problems = append(p.problems, dialect.Problem{Loc: []string{where, name}, Msg: msg, Type: typ})
}

// get returns a query parameter and whether it was given. A parameter given twice is a problem:
// which one counts would be a guess.
func (p *params) get(name string) (string, bool) {
	vs, ok := p.query[name]
	if !ok {
		return "", false
	}
	if len(vs) > 1 {
		p.add("query", name, "must be given once", "duplicate")
	}
	return vs[0], true
}

// wait reads the wait parameter in whole seconds, 0 to MaxWait; def when absent.
func (p *params) wait(def time.Duration) time.Duration {
	v, ok := p.get("wait")
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || time.Duration(n)*time.Second > MaxWait {
		p.add("query", "wait", "must be a whole number of seconds from 0 to "+strconv.Itoa(int(MaxWait/time.Second)), "range")
		return def
	}
	return time.Duration(n) * time.Second
}

// version reads the agent version to invoke: "" (latest), "latest", "draft" or a version name.
func (p *params) version() string {
	v, ok := p.get("version")
	if !ok || v == "" {
		return ""
	}
	if !accept.ValidVersion(v) {
		p.add("query", "version", "must be 1 to 64 letters, digits, '.', '_' or '-'", "pattern")
		return ""
	}
	return v
}

// idempotencyKey reads the Idempotency-Key header.
func (p *params) idempotencyKey() string {
	k := strings.TrimSpace(p.r.Header.Get("Idempotency-Key"))
	if len(k) > MaxIdempotencyKeyBytes {
		p.add("header", "Idempotency-Key", "must be at most "+strconv.Itoa(MaxIdempotencyKeyBytes)+" characters", "too_long")
		return ""
	}
	return k
}

// text reads a free-form parameter of at most maxIDBytes.
func (p *params) text(name string) string {
	v, _ := p.get(name)
	if len(v) > maxIDBytes {
		p.add("query", name, "must be at most "+strconv.Itoa(maxIDBytes)+" bytes", "too_long")
		return ""
	}
	return v
}

// time reads an RFC 3339 timestamp.
func (p *params) time(name string) time.Time {
	v, ok := p.get(name)
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		p.add("query", name, "must be an RFC 3339 timestamp such as 2026-02-07T02:13:26Z", "datetime")
		return time.Time{}
	}
	return t
}

// whole reads a whole number from lo to hi; def when absent.
func (p *params) whole(name string, def, lo, hi int) int {
	v, ok := p.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.add("query", name, "must be a whole number from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi), "range")
		return def
	}
	return n
}

// err returns the problems found, or nil.
func (p *params) err() error {
	if len(p.problems) == 0 {
		return nil
	}
	return &dialect.ValidationError{Problems: p.problems}
}
