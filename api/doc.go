// Package api holds agentq's HTTP API contract: openapi.yaml, an OpenAPI 3.1 document of every
// route of shared/httpapi in both dialects (xpander and ServiceNet), and the contract tests that
// keep the document and the handler in step.
//
// Other packages' tests validate the answers they get against the document with
// [ValidateResponse] (and the requests they send with [ValidateRequest]).
package api

import _ "embed"

// Spec is the OpenAPI 3.1 document, api/openapi.yaml.
//
//go:embed openapi.yaml
var Spec []byte
