package apigw

// The HTTP API's Lambda REQUEST authorizer checks the caller's API key once, before any function
// runs, and answers API Gateway's simple response, {isAuthorized, context}. The gateway does not
// cache the answer (a cached authorizer needs identity sources, and a request lacking one, a
// Bearer caller's, would never reach it), so every request reaches the authorizer, which reads
// either header. The gateway passes the context to the function as
// requestContext.authorizer.lambda, where httpapi trusts its tenant (AuthorizerTenant,
// httpapi.Config.TrustedTenant).

import (
	"context"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Authenticator maps API keys to tenants (keystore.Store, apikey.Keys).
type Authenticator interface {
	Tenant(key string) (string, bool)
}

// Context keys of an allowed answer.
const (
	// ContextTenant holds the tenant of a tenant's key.
	ContextTenant = "tenant"
	// ContextAdmin is true for an admin key; the admin routes still check the key themselves.
	ContextAdmin = "admin"
)

// Authorizer answers API Gateway's authorization requests.
type Authorizer struct {
	// Keys are the tenants' keys; AdminKeys the admins', which must pass the gateway too.
	Keys, AdminKeys Authenticator
}

// Handle allows a request whose key is a tenant's or an admin's, and denies any other. It never
// returns an error: an error would be a 500 at the gateway, and a failed lookup is a denial.
func (h *Authorizer) Handle(_ context.Context, req events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
	key := APIKey(req.Headers)
	if key == "" {
		return events.APIGatewayV2CustomAuthorizerSimpleResponse{}, nil
	}
	if h.Keys != nil {
		if tenant, ok := h.Keys.Tenant(key); ok && tenant != "" {
			return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: map[string]any{ContextTenant: tenant}}, nil
		}
	}
	if h.AdminKeys != nil {
		if _, ok := h.AdminKeys.Tenant(key); ok {
			return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: map[string]any{ContextAdmin: true}}, nil
		}
	}
	return events.APIGatewayV2CustomAuthorizerSimpleResponse{}, nil
}

// APIKey reads the key from an authorization request's headers as httpapi does: x-api-key, else a
// bearer Authorization. Header names are matched without regard to case.
func APIKey(headers map[string]string) string {
	var auth string
	for name, v := range headers {
		switch strings.ToLower(name) {
		case "x-api-key":
			if v != "" {
				return v
			}
		case "authorization":
			auth = v
		}
	}
	if scheme, v, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(v)
	}
	return ""
}
