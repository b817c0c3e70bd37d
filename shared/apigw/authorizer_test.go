package apigw

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

type keys map[string]string

func (k keys) Tenant(key string) (string, bool) {
	t, ok := k[key]
	return t, ok
}

func authorizer() *Authorizer {
	return &Authorizer{Keys: keys{"aq_tenant_key": "acme"}, AdminKeys: keys{"aq_admin": "admin"}}
}

func TestAuthorizerFixture(t *testing.T) {
	raw, err := os.ReadFile("testdata/authorizer-request.json")
	if err != nil {
		t.Fatal(err)
	}
	var req events.APIGatewayV2CustomAuthorizerV2Request
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	resp, err := authorizer().Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(resp)
	if want := `{"isAuthorized":true,"context":{"tenant":"acme"}}`; string(out) != want {
		t.Fatalf("answer = %s, want %s", out, want)
	}
}

func TestAuthorizer(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"tenant key", map[string]string{"x-api-key": "aq_tenant_key"}, `{"isAuthorized":true,"context":{"tenant":"acme"}}`},
		{"bearer", map[string]string{"authorization": "Bearer aq_tenant_key"}, `{"isAuthorized":true,"context":{"tenant":"acme"}}`},
		{"bearer, any case", map[string]string{"Authorization": "bearer  aq_tenant_key "}, `{"isAuthorized":true,"context":{"tenant":"acme"}}`},
		{"x-api-key first", map[string]string{"X-Api-Key": "aq_tenant_key", "authorization": "Bearer nope"}, `{"isAuthorized":true,"context":{"tenant":"acme"}}`},
		{"admin key", map[string]string{"x-api-key": "aq_admin"}, `{"isAuthorized":true,"context":{"admin":true}}`},
		{"unknown key", map[string]string{"x-api-key": "nope"}, `{"isAuthorized":false}`},
		{"basic auth", map[string]string{"authorization": "Basic YTpi"}, `{"isAuthorized":false}`},
		{"no key", nil, `{"isAuthorized":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := authorizer().Handle(context.Background(), events.APIGatewayV2CustomAuthorizerV2Request{Headers: tt.headers})
			if err != nil {
				t.Fatal(err)
			}
			if out, _ := json.Marshal(resp); string(out) != tt.want {
				t.Fatalf("answer = %s, want %s", out, tt.want)
			}
		})
	}
	if resp, _ := (&Authorizer{}).Handle(context.Background(), events.APIGatewayV2CustomAuthorizerV2Request{Headers: map[string]string{"x-api-key": "k"}}); resp.IsAuthorized {
		t.Fatal("a handler without keys allowed a request")
	}
}

func FuzzAPIKey(f *testing.F) {
	f.Add("x-api-key", "k", "Bearer k")
	f.Fuzz(func(t *testing.T, name, v, auth string) {
		resp, err := authorizer().Handle(context.Background(), events.APIGatewayV2CustomAuthorizerV2Request{Headers: map[string]string{name: v, "authorization": auth}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.IsAuthorized && APIKey(map[string]string{name: v, "authorization": auth}) == "" {
			t.Fatal("allowed without a key")
		}
	})
}
