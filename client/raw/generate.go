// Package raw is the agentq HTTP API as oapi-codegen generates it from api/openapi.yaml: every
// request and response body, every operation's parameters, and a low-level client with one
// method per operation that answers the *http.Response as it came. Package client builds the
// typed client on it; callers normally use that instead.
//
// raw.gen.go is generated: edit api/openapi.yaml, then run `go generate ./client/raw` (the test
// of this package fails while the file differs from what the document generates).
package raw

//go:generate go tool oapi-codegen -config oapi-codegen.yaml -o raw.gen.go ../../api/openapi.yaml
