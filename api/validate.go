package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/agentq/agentq/shared/sse"
)

// Load returns the parsed document, its references resolved and the document validated (its
// examples included). It is parsed once; callers must not change it.
func Load() (*openapi3.T, error) {
	c, err := contract()
	if err != nil {
		return nil, err
	}
	return c.doc, nil
}

// Operation is one documented route: a method on a path template.
type Operation struct {
	Method string
	// Path is the template as documented, such as /v1/tasks/{task_id}.
	Path     string
	PathItem *openapi3.PathItem
	Op       *openapi3.Operation
	segments []string
}

// Operations lists the documented routes, sorted by path and method.
func Operations() ([]Operation, error) {
	c, err := contract()
	if err != nil {
		return nil, err
	}
	return slices.Clone(c.ops), nil
}

type loaded struct {
	doc *openapi3.T
	ops []Operation
}

var contract = sync.OnceValues(func() (*loaded, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(Spec)
	if err != nil {
		return nil, fmt.Errorf("load api/openapi.yaml: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("api/openapi.yaml is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	c := &loaded{doc: doc}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			c.ops = append(c.ops, Operation{Method: method, Path: path, PathItem: item, Op: op, segments: strings.Split(path, "/")})
		}
	}
	slices.SortFunc(c.ops, func(a, b Operation) int {
		return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method)
	})
	return c, nil
})

// match reports whether an escaped request path fits the template, and its path parameters.
// A parameter takes one whole, non-empty segment. It also says how many segments were literal,
// so that the most specific template wins.
func (o *Operation) match(escapedPath string) (map[string]string, int, bool) {
	segs := strings.Split(escapedPath, "/")
	if len(segs) != len(o.segments) {
		return nil, 0, false
	}
	params := map[string]string{}
	literal := 0
	for i, tmpl := range o.segments {
		if name, ok := strings.CutPrefix(tmpl, "{"); ok && strings.HasSuffix(name, "}") {
			v, err := url.PathUnescape(segs[i])
			if err != nil || v == "" {
				return nil, 0, false
			}
			params[strings.TrimSuffix(name, "}")] = v
			continue
		}
		if segs[i] != tmpl {
			return nil, 0, false
		}
		literal++
	}
	return params, literal, true
}

// errNoPath means that no documented path matches the request.
var errNoPath = errors.New("no documented path matches")

// find returns the documented operation for a method and path, with its path parameters. When
// the path is documented but not the method, it returns errMethod and one of the path's
// operations (they share their 405 answer).
func (c *loaded) find(method, escapedPath string) (*Operation, map[string]string, error) {
	var (
		best       *Operation
		bestParams map[string]string
		bestLit    = -1
		pathOnly   *Operation
	)
	for i := range c.ops {
		o := &c.ops[i]
		params, lit, ok := o.match(escapedPath)
		if !ok {
			continue
		}
		if o.Method != method && !(method == http.MethodHead && o.Method == http.MethodGet) {
			if pathOnly == nil {
				pathOnly = o
			}
			continue
		}
		if lit > bestLit {
			best, bestParams, bestLit = o, params, lit
		}
	}
	switch {
	case best != nil:
		return best, bestParams, nil
	case pathOnly != nil:
		params, _, _ := pathOnly.match(escapedPath)
		return pathOnly, params, errMethod
	}
	return nil, nil, errNoPath
}

var errMethod = errors.New("method not documented on this path")

// FindOperation returns the documented operation a request is for.
func FindOperation(method, path string) (*Operation, bool) {
	c, err := contract()
	if err != nil {
		return nil, false
	}
	u, err := url.Parse(path)
	if err != nil {
		return nil, false
	}
	o, _, err := c.find(method, u.EscapedPath())
	return o, err == nil
}

func (c *loaded) route(o *Operation) *routers.Route {
	return &routers.Route{Spec: c.doc, Path: o.Path, PathItem: o.PathItem, Method: o.Method, Operation: o.Op}
}

// CheckResponse checks an answer to req against the document: that its route is documented,
// that its status is one the operation documents, and that its headers and body fit that
// response. An answer of 405 to a method a documented path does not take is checked against
// that path's 405; an answer to an undocumented path must be 404 route_not_found.
func CheckResponse(req *http.Request, status int, header http.Header, body []byte) error {
	c, err := contract()
	if err != nil {
		return err
	}
	o, params, err := c.find(req.Method, req.URL.EscapedPath())
	switch {
	case errors.Is(err, errNoPath):
		return checkRouteNotFound(c.doc, status, header, body)
	case errors.Is(err, errMethod) && status != http.StatusMethodNotAllowed:
		return fmt.Errorf("%s %s is not documented (the path takes %s), and the answer is %d, not 405",
			req.Method, req.URL.Path, o.Method, status)
	}
	switch {
	case status == http.StatusNoContent:
		// No content: the document's 204s declare none, which the validator checks.
		if len(body) != 0 {
			return fmt.Errorf("%s %s: answer 204 has a body", req.Method, req.URL.Path)
		}
	case len(body) == 0:
		return fmt.Errorf("%s %s: answer %d has no body", req.Method, req.URL.Path, status)
	case header.Get("Content-Type") == sse.ContentType:
		return checkEventStream(c.doc, *o, status, body)
	case header.Get("Content-Type") != "application/json":
		// The validator decodes a body by the documented media type: make sure it is what was sent.
		return fmt.Errorf("%s %s: answer %d has Content-Type %q, want application/json", req.Method, req.URL.Path, status, header.Get("Content-Type"))
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: c.route(o)},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s (%s %s): answer %d does not fit the document: %w\nbody: %s",
			req.Method, req.URL.Path, o.Method, o.Path, status, err, truncate(body))
	}
	return nil
}

// checkEventStream checks an answer streamed as Server-Sent Events: the operation documents a
// text/event-stream answer with that status, and the data of each event fits its schema (the
// schema of an event's data, by the document's convention), or StreamReconnect for the
// reconnect event that ends a bounded connection; every other event has its sequence as id.
func checkEventStream(doc *openapi3.T, o Operation, status int, body []byte) error {
	ref := o.Op.Responses.Status(status)
	if ref == nil || ref.Value == nil || ref.Value.Content.Get(sse.ContentType) == nil {
		return fmt.Errorf("%s %s: answer %d is an event stream, which the document does not give it", o.Method, o.Path, status)
	}
	schema := ref.Value.Content.Get(sse.ContentType).Schema
	r := sse.NewReader(bytes.NewReader(body))
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		want := schema
		if ev.Name == "reconnect" {
			want = doc.Components.Schemas["StreamReconnect"]
		} else if _, err := strconv.ParseInt(ev.ID, 10, 64); err != nil {
			return fmt.Errorf("%s %s: event %q has no sequence number as id", o.Method, o.Path, ev.Name)
		}
		var v any
		if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
			return fmt.Errorf("%s %s: event %q: data is not JSON: %w", o.Method, o.Path, ev.Name, err)
		}
		if err := want.Value.VisitJSON(v); err != nil {
			return fmt.Errorf("%s %s: event %q does not fit the document: %w\ndata: %s", o.Method, o.Path, ev.Name, err, ev.Data)
		}
	}
}

// checkRouteNotFound checks the answer to a path the document does not have.
func checkRouteNotFound(doc *openapi3.T, status int, header http.Header, body []byte) error {
	if status != http.StatusNotFound {
		return fmt.Errorf("no documented path matches, and the answer is %d, not 404 route_not_found", status)
	}
	ref := doc.Components.Schemas["RouteNotFound"]
	if ref == nil {
		return errors.New("the document has no RouteNotFound schema")
	}
	if header.Get("X-Request-Id") == "" || header.Get("Content-Type") != "application/json" {
		return fmt.Errorf("route_not_found answer lacks X-Request-Id or Content-Type: %v", header)
	}
	var v any
	if err := jsonDecode(body, &v); err != nil {
		return fmt.Errorf("route_not_found answer is not JSON: %w", err)
	}
	if err := ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
		return fmt.Errorf("route_not_found answer does not fit the document: %w\nbody: %s", err, truncate(body))
	}
	return nil
}

// ValidateResponse fails t (without stopping it) when an answer to req does not fit the
// document; see CheckResponse. req is the request as sent; only its method and URL are read.
func ValidateResponse(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	if err := CheckResponse(req, status, header, body); err != nil {
		t.Error(err)
	}
}

// CheckRequest checks a request against the document: its route, path and query parameters,
// headers, credentials (an x-api-key or a bearer token, where the operation asks for one) and
// body. The request's own body is not read: body is what it carries.
func CheckRequest(req *http.Request, body []byte) error {
	c, err := contract()
	if err != nil {
		return err
	}
	o, params, err := c.find(req.Method, req.URL.EscapedPath())
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(body))
	in := &openapi3filter.RequestValidationInput{
		Request: r, PathParams: params, Route: c.route(o),
		Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: authenticate},
	}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s (%s %s): request does not fit the document: %w", req.Method, req.URL.Path, o.Method, o.Path, err)
	}
	return nil
}

// ValidateRequest fails t (without stopping it) when a request does not fit the document; see
// CheckRequest.
func ValidateRequest(t testing.TB, req *http.Request, body []byte) {
	t.Helper()
	if err := CheckRequest(req, body); err != nil {
		t.Error(err)
	}
}

// authenticate checks that a request carries the credential a security scheme names.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header
	s := in.SecurityScheme
	switch {
	case s.Type == "apiKey" && s.In == "header":
		if h.Get(s.Name) == "" {
			return fmt.Errorf("no %s header", s.Name)
		}
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		if v, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer "); !ok || strings.TrimSpace(v) == "" {
			return errors.New("no bearer token")
		}
	default:
		return fmt.Errorf("unknown security scheme %s/%s", s.Type, s.Scheme)
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}

func jsonDecode(b []byte, v any) error { return json.Unmarshal(b, v) }
