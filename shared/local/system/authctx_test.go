package system

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/authctx"
)

// authContextSecret is recognisable anywhere it might leak.
const authContextSecret = "ctx-s3cr3t-9f8e7d"

// TestAuthContexts stores an auth context with the admin key, invokes with its id, and checks that
// the secret is nowhere in the clear: not in any answer, not in DynamoDB, not in the logs.
func TestAuthContexts(t *testing.T) {
	body := `{"tenant":"default","name":"billing key","kind":"header","header":"x-billing-key","secret":"` + authContextSecret + `"}`
	if code, got := request(t, http.MethodPost, "/v1/auth-contexts", testKey, body); code != http.StatusForbidden || errCode(got) != "admin_required" {
		t.Fatalf("create with a tenant's key = %d %v", code, got)
	}
	code, created := request(t, http.MethodPost, "/v1/auth-contexts", testAdminKey, body)
	if code != http.StatusCreated {
		t.Fatalf("create = %d %v", code, created)
	}
	id, _ := created["id"].(string)
	if _, err := uuid.Parse(id); err != nil || created["tenant"] != "default" || created["kind"] != "header" || created["header"] != "X-Billing-Key" {
		t.Fatalf("created = %v", created)
	}
	answers := []map[string]any{created}

	code, got := request(t, http.MethodGet, "/v1/auth-contexts/"+id+"?tenant=default", testAdminKey, "")
	if code != http.StatusOK || got["id"] != id || got["name"] != "billing key" {
		t.Fatalf("get = %d %v", code, got)
	}
	answers = append(answers, got)

	// The tenant's invocation names it; the task runs.
	code, accepted := post(t, "/v1/agents/echo/invoke-async", `{"message":"with a context","auth_context_id":"`+strings.ToUpper(id)+`"}`)
	if code != http.StatusOK {
		t.Fatalf("invoke with the context = %d %v", code, accepted)
	}
	done := waitFor(t, "/v1/receipts/"+accepted["receipt_id"].(string), "succeeded", "failed")
	answers = append(answers, accepted, done)

	// What the worker will resolve: the secret, through the real table and the local key.
	cred, err := sys.AuthContexts.Resolve(context.Background(), "default", id)
	if err != nil || cred.Kind != authctx.Header || cred.Header != "X-Billing-Key" || cred.Secret != authContextSecret {
		t.Fatalf("Resolve = %v, %v", cred, err)
	}

	// The item holds the secret sealed, and nothing anywhere holds it in the clear.
	out, err := sys.DynamoDB.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(sys.Table), Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "AUTHCTX#default#" + id}, "sk": &types.AttributeValueMemberS{Value: "AUTHCTX"},
		},
	})
	if err != nil || len(out.Item) == 0 {
		t.Fatalf("the context's item: %v, %v", out, err)
	}
	var item map[string]any
	if err := attributevalue.UnmarshalMap(out.Item, &item); err != nil {
		t.Fatal(err)
	}
	if sealed, _ := item["sealed"].([]byte); len(sealed) == 0 || strings.Contains(string(sealed), authContextSecret) {
		t.Errorf("sealed = %q, want the secret sealed", sealed)
	}
	dump := scanTable(t)
	if !strings.Contains(dump, id) {
		t.Fatal("the table dump does not hold the context; the scan proves nothing")
	}
	if strings.Contains(dump, authContextSecret) {
		t.Error("the secret is stored in DynamoDB in the clear")
	}
	if strings.Contains(logs.String(), authContextSecret) {
		t.Error("the secret is in the logs")
	}
	for _, a := range answers {
		if b, _ := json.Marshal(a); strings.Contains(string(b), authContextSecret) || strings.Contains(string(b), `"secret"`) {
			t.Errorf("an answer shows the secret: %s", b)
		}
	}

	// Deleted, it is unknown to every route, and invocations naming it queue nothing.
	if code, got := request(t, http.MethodDelete, "/v1/auth-contexts/"+id+"?tenant=default", testAdminKey, ""); code != http.StatusOK || got["id"] != id {
		t.Fatalf("delete = %d %v", code, got)
	}
	if code, got := request(t, http.MethodGet, "/v1/auth-contexts/"+id+"?tenant=default", testAdminKey, ""); code != http.StatusNotFound || errCode(got) != "auth_context_not_found" {
		t.Fatalf("get after delete = %d %v", code, got)
	}
	if _, err := sys.AuthContexts.Resolve(context.Background(), "default", id); !errors.Is(err, authctx.ErrNotFound) {
		t.Errorf("Resolve after delete = %v", err)
	}
	if code, got := post(t, "/v1/agents/echo/invoke-async", `{"message":"x","auth_context_id":"`+id+`"}`); code != http.StatusNotFound || errCode(got) != "auth_context_not_found" {
		t.Fatalf("invoke with a deleted context = %d %v", code, got)
	}
}

// TestUnknownAuthContext: an auth_context_id the caller's tenant does not have, unknown or another
// tenant's, is a 404 in ServiceNet's shape, and nothing is queued.
func TestUnknownAuthContext(t *testing.T) {
	code, theirs := request(t, http.MethodPost, "/v1/auth-contexts", testAdminKey,
		`{"tenant":"someone-else","name":"theirs","kind":"bearer","secret":"`+authContextSecret+`"}`)
	if code != http.StatusCreated {
		t.Fatalf("create = %d %v", code, theirs)
	}
	for name, id := range map[string]string{"unknown": uuid.NewString(), "another tenant's": theirs["id"].(string)} {
		t.Run(name, func(t *testing.T) {
			thread := "authctx-" + uuid.NewString()
			code, got := post(t, "/v1/agents/echo/invoke-async", `{"message":"x","context_id":"`+thread+`","auth_context_id":"`+id+`"}`)
			e, _ := got["error"].(map[string]any)
			if code != http.StatusNotFound || e["code"] != "auth_context_not_found" || len(got) != 1 {
				t.Fatalf("invoke = %d %v, want 404 auth_context_not_found in ServiceNet's shape", code, got)
			}
			if strings.Contains(scanTable(t), thread) {
				t.Error("a refused invocation left a task")
			}
		})
	}
}

// scanTable renders every item of the table as JSON.
func scanTable(t *testing.T) string {
	t.Helper()
	var dump strings.Builder
	p := dynamodb.NewScanPaginator(sys.DynamoDB, &dynamodb.ScanInput{TableName: aws.String(sys.Table)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var items []map[string]any
		if err := attributevalue.UnmarshalListOfMaps(page.Items, &items); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(items)
		dump.Write(b)
	}
	return dump.String()
}
