package trigger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/trigger"
)

// FuzzHandle feeds the Lambda entry point any payload. With a submitter and a dead-letter queue
// that never fail, every payload is handled (no error, no panic); what is submitted is a complete
// submission; and what is dead-lettered is a bounded JSON message with no credential in it.
func FuzzHandle(f *testing.F) {
	files, err := filepath.Glob("../../events/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no sample events found (%v)", err)
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `{"detail":{}}`, `{"Records":[{"eventSource":"aws:sqs","body":"{}"}]}`,
		`{"Records":[{"eventSource":"aws:sqs","messageId":"m","body":"{\"agent_id\":\"echo\",\"AUTH_TOKEN\":\"x\",\"input\":{\"text\":\"t\"}}"}]}`,
		string(ebEvent("e", `{"agent_id":"echo","dialect":"servicenet","message":"m","auth_token":"x","tenant":"t","agent_version":"1","idempotency_key":"k"}`)),
		string(ebEvent("e", `{"agent_id":"echo","Agent_Id":"x","input":{"text":"t"}}`)),
		string(ebEvent("e", `{"agent_id":"echo","input":{"text":"t"},"user_tokens":{"a":"b"},"nested":[{"user_oidc_token":"x"}]}`)),
		`{"detail-type":"Invoke Agent","source":"aws.scheduler","id":"x","detail":{"agent_id":"e","input":{"text":"\ud800"}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fx := newFixture(t)
		out, err := fx.h.Handle(context.Background(), raw)
		if err != nil {
			t.Fatalf("Handle failed with dependencies that do not: %v", err)
		}
		switch out.(type) {
		case trigger.Result, events.SQSEventResponse:
		default:
			t.Fatalf("Handle answered a %T", out)
		}
		for _, s := range fx.subs.all() {
			if !agent.ValidID(s.AgentID) || s.Tenant == "" || s.Invocation == nil || len(s.IdempotencyKey) > trigger.MaxIdempotencyKeyBytes ||
				(s.Source != "eventbridge" && s.Source != "scheduler" && s.Source != "sqs") {
				t.Fatalf("incomplete submission %+v", s)
			}
			// The dialect's own credential fields never reach the task's body (as over HTTP).
			var top map[string]json.RawMessage
			if err := json.Unmarshal(s.Invocation.Body, &top); err != nil {
				t.Fatalf("body is not an object: %s", s.Invocation.Body)
			}
			secrets := map[task.Dialect][]string{task.Xpander: {"user_tokens", "user_oidc_token"}, task.ServiceNet: {"auth_token"}}[s.Invocation.Dialect]
			for k := range top {
				for _, n := range secrets {
					if strings.EqualFold(k, n) {
						t.Fatalf("credential %s reached the task's body: %s", k, s.Invocation.Body)
					}
				}
			}
		}
		for _, r := range fx.rejects.all() {
			body, err := r.Encode()
			if err != nil || len(body) > trigger.MaxRejectionBytes || !json.Valid(body) || r.Reason == "" {
				t.Fatalf("dead-letter message (%v, %d bytes): %.300s", err, len(body), body)
			}
			if r.Event != nil {
				dec := json.NewDecoder(bytes.NewReader(r.Event))
				dec.UseNumber()
				var v any
				if err := dec.Decode(&v); err != nil {
					t.Fatalf("dead-lettered event is not JSON: %v", err)
				}
				if path, ok := unredacted(v, "$"); ok {
					t.Fatalf("dead-lettered event keeps a credential at %s: %s", path, r.Event)
				}
			}
		}
	})
}

// unredacted finds a credential field whose value is not trigger.Redacted.
func unredacted(v any, path string) (string, bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			switch strings.ToLower(k) {
			case "auth_token", "user_tokens", "user_oidc_token":
				if x != trigger.Redacted {
					return path + "." + k, true
				}
				continue
			}
			if p, ok := unredacted(x, path+"."+k); ok {
				return p, true
			}
		}
	case []any:
		for _, x := range v {
			if p, ok := unredacted(x, path+"[]"); ok {
				return p, true
			}
		}
	}
	return "", false
}
