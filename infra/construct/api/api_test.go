package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/agentq/agentq/shared/progresskey"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/construct/api"
	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/construct/storage"
	"github.com/agentq/agentq/infra/internal/infratest"
	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/keystore"
	"github.com/agentq/agentq/shared/receipt"
	"github.com/agentq/agentq/shared/receiptkey"
	"github.com/agentq/agentq/shared/registry"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/webhook"
	"github.com/agentq/agentq/shared/webhook/settings"
)

const (
	testKeys      = "acme:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testAdminKeys = "ops:" + "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	testAgents    = `[{"id":"echo"}]`
)

var (
	once      sync.Once
	templates map[api.Kind]*infratest.Template
	synthErr  error
)

// template synthesizes both API flavours once for the whole package: the HTTP one with API and
// admin keys and receipts signed by the sealed key's second generation, the REST one without
// keys and with receipts signed by the KMS key.
func template(t *testing.T, kind api.Kind) *infratest.Template {
	t.Helper()
	once.Do(func() {
		templates = map[api.Kind]*infratest.Template{}
		synthErr = func() error {
			lambdaDir, err := infratest.StubLambdaDir("invoke", "poll", "stream")
			if err != nil {
				return err
			}
			defer os.RemoveAll(lambdaDir)
			for _, kind := range []api.Kind{api.HTTP, api.REST} {
				out, err := os.MkdirTemp("", "agentq-cdk-*")
				if err != nil {
					return err
				}
				defer os.RemoveAll(out)
				s := infratest.NewStack(out)
				var sp *storage.Props
				if kind == api.REST {
					sp = &storage.Props{ReceiptKMS: true}
				}
				table := storage.New(s, "Storage", sp)
				q := awssqs.NewQueue(s, jsii.String("WorkQueue"), nil)
				webhooks := awssqs.NewQueue(s, jsii.String("WebhookQueue"), nil)
				keys, admins := testKeys, testAdminKeys
				if kind == api.REST {
					keys, admins = "", ""
				}
				api.New(s, "Api", &api.Props{
					Kind:             kind,
					Table:            table.Table,
					Queue:            q,
					WebhookQueue:     webhooks,
					Payloads:         table.Payloads,
					SealKey:          table.SealKey,
					ReceiptKey:       table.ReceiptKey,
					AdminKeyHashes:   admins,
					InvokeCodeDir:    filepath.Join(lambdaDir, "invoke"),
					PollCodeDir:      filepath.Join(lambdaDir, "poll"),
					StreamCodeDir:    filepath.Join(lambdaDir, "stream"),
					Environment:      map[string]string{golambda.EnvTaskTTL: "24h"},
					APIKeyHashes:     keys,
					AgentsJSON:       testAgents,
					LogRemovalPolicy: awscdk.RemovalPolicy_DESTROY,

					// Rotated once: the second generation signs (ignored with the KMS key).
					ReceiptKeyGeneration: 2,
				})
				if templates[kind], err = infratest.Synth(s); err != nil {
					return fmt.Errorf("synth %s: %w", kind, err)
				}
			}
			return nil
		}()
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
	return templates[kind]
}

type functions struct {
	invoke, poll                        infratest.Resource
	table, queue, webhooks, bucket, key string
	receiptKey                          string
}

func lookup(t *testing.T, tpl *infratest.Template) functions {
	return functions{
		invoke:   tpl.Only(t, "AWS::Lambda::Function", "ApiInvoke"),
		poll:     tpl.Only(t, "AWS::Lambda::Function", "ApiPoll"),
		table:    tpl.Only(t, "AWS::DynamoDB::Table", "Storage").ID,
		queue:    tpl.Only(t, "AWS::SQS::Queue", "WorkQueue").ID,
		webhooks: tpl.Only(t, "AWS::SQS::Queue", "WebhookQueue").ID,
		bucket:   tpl.Only(t, "AWS::S3::Bucket", "StoragePayloads").ID,
		key:      tpl.Only(t, "AWS::KMS::Key", "StorageSealKey").ID,
		// receiptKey signs receipts with the KMS option (REST here): both functions Sign and
		// GetPublicKey, nothing else. Empty where the sealed key signs.
		receiptKey: receiptKeyID(tpl),
	}
}

func receiptKeyID(tpl *infratest.Template) string {
	for _, k := range tpl.Resources("AWS::KMS::Key") {
		if strings.HasPrefix(k.ID, "StorageReceiptKey") {
			return k.ID
		}
	}
	return ""
}

func TestFunctions(t *testing.T) {
	for _, kind := range []api.Kind{api.HTTP, api.REST} {
		t.Run(string(kind), func(t *testing.T) {
			tpl := template(t, kind)
			f := lookup(t, tpl)
			for _, c := range []struct {
				fn              infratest.Resource
				memory, timeout float64
			}{
				{f.invoke, api.InvokeMemoryMB, api.InvokeTimeoutSeconds},
				{f.poll, api.PollMemoryMB, api.PollTimeoutSeconds},
			} {
				infratest.CheckGoFunction(t, c.fn)
				if got := infratest.Number(c.fn.Properties["MemorySize"]); got != c.memory {
					t.Errorf("%s: MemorySize = %v, want %v", c.fn.ID, got, c.memory)
				}
				if got := infratest.Number(c.fn.Properties["Timeout"]); got != c.timeout || got > api.GatewayTimeoutSeconds {
					t.Errorf("%s: Timeout = %v, want %v (at most API Gateway's %d s)", c.fn.ID, got, c.timeout, api.GatewayTimeoutSeconds)
				}
				env := infratest.Env(c.fn)
				if infratest.Ref(env[golambda.EnvTable]) != f.table {
					t.Errorf("%s: %s = %v, want the table", c.fn.ID, golambda.EnvTable, env[golambda.EnvTable])
				}
				if env[golambda.EnvTaskTTL] != "24h" {
					t.Errorf("%s: %s = %v, want 24h", c.fn.ID, golambda.EnvTaskTTL, env[golambda.EnvTaskTTL])
				}
				keys, ok := env[golambda.EnvAPIKeys]
				switch {
				case kind == api.HTTP && keys != testKeys:
					t.Errorf("%s: %s = %v, want %q", c.fn.ID, golambda.EnvAPIKeys, keys, testKeys)
				case kind == api.REST && ok:
					t.Errorf("%s: %s set without keys: %v", c.fn.ID, golambda.EnvAPIKeys, keys)
				}
				// Admin keys enable the admin routes in both functions; without them, neither has any.
				admins, ok := env[golambda.EnvAdminKeys]
				switch {
				case kind == api.HTTP && admins != testAdminKeys:
					t.Errorf("%s: %s = %v, want %q", c.fn.ID, golambda.EnvAdminKeys, admins, testAdminKeys)
				case kind == api.REST && ok:
					t.Errorf("%s: %s set without admin keys: %v", c.fn.ID, golambda.EnvAdminKeys, admins)
				}
				if infratest.Ref(env[golambda.EnvResultsBucket]) != f.bucket {
					t.Errorf("%s: %s = %v, want the payload bucket", c.fn.ID, golambda.EnvResultsBucket, env[golambda.EnvResultsBucket])
				}
				// The key's ARN, which enables auth contexts: invoke seals, poll serves metadata.
				if ga, _ := env[golambda.EnvKMSKeyID].(map[string]any)["Fn::GetAtt"].([]any); len(ga) != 2 || ga[0] != f.key || ga[1] != "Arn" {
					t.Errorf("%s: %s = %v, want the seal key's Arn", c.fn.ID, golambda.EnvKMSKeyID, env[golambda.EnvKMSKeyID])
				}
				// A local seal key next to a KMS key stops the function at start.
				if v, ok := env[golambda.EnvSealKey]; ok {
					t.Errorf("%s: %s = %v; the stack seals with KMS only", c.fn.ID, golambda.EnvSealKey, v)
				}
			}

			invokeEnv := infratest.Env(f.invoke)
			if infratest.Ref(invokeEnv[golambda.EnvQueueURL]) != f.queue {
				t.Errorf("invoke: %s = %v, want the work queue", golambda.EnvQueueURL, invokeEnv[golambda.EnvQueueURL])
			}
			if invokeEnv[golambda.EnvAgents] != testAgents {
				t.Errorf("invoke: %s = %v, want %s", golambda.EnvAgents, invokeEnv[golambda.EnvAgents], testAgents)
			}
			// A replay sends the delivery to the webhook queue.
			if infratest.Ref(invokeEnv[golambda.EnvWebhookQueueURL]) != f.webhooks {
				t.Errorf("invoke: %s = %v, want the webhook queue", golambda.EnvWebhookQueueURL, invokeEnv[golambda.EnvWebhookQueueURL])
			}
			for _, name := range []string{golambda.EnvWebhookSecret, golambda.EnvWebhookDLQURL, golambda.EnvEventBus} {
				if v, ok := invokeEnv[name]; ok {
					t.Errorf("invoke gets %s = %v", name, v)
				}
			}
			pollEnv := infratest.Env(f.poll)
			for _, name := range []string{golambda.EnvQueueURL, golambda.EnvAgents, golambda.EnvDLQARN, golambda.EnvWebhookQueueURL, golambda.EnvWebhookSecret} {
				if _, ok := pollEnv[name]; ok {
					t.Errorf("poll gets %s; it does not need it", name)
				}
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	tpl := template(t, api.HTTP)
	f := lookup(t, tpl)
	invokeRole, pollRole := tpl.RoleOf(t, f.invoke), tpl.RoleOf(t, f.poll)

	// invoke: exactly InvokeTableActions on the table, and sending to the work queue.
	invoke := tpl.Actions(invokeRole)
	for _, a := range api.InvokeTableActions {
		if !slices.Contains(invoke[a], f.table) {
			t.Errorf("invoke lacks %s on the table", a)
		}
	}
	// TransactWriteItems has no IAM action of its own: its Put, Update and ConditionCheck
	// elements are authorized as PutItem, UpdateItem and ConditionCheckItem.
	// Query (every task write is followed by its event, numbered after the log's tail) is granted
	// apart, on the table and two indexes only: see below.
	for _, a := range []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:BatchGetItem"} {
		if !slices.Contains(api.InvokeTableActions, a) {
			t.Errorf("InvokeTableActions lacks %s, which the accept, sync-wait and stop paths use", a)
		}
	}
	if !slices.Contains(invoke["sqs:SendMessage"], f.queue) {
		t.Errorf("invoke lacks sqs:SendMessage on the work queue")
	}
	// A replayed webhook delivery: SendMessage on the webhook queue, nothing else there.
	var onWebhooks []string
	for _, st := range tpl.PolicyStatements(invokeRole) {
		if st.Effect == "Allow" && slices.Contains(infratest.ResourcePaths(st.Resource), f.webhooks) {
			onWebhooks = append(onWebhooks, st.Actions...)
		}
	}
	if !slices.Equal(onWebhooks, []string{"sqs:SendMessage"}) {
		t.Errorf("invoke may %v on the webhook queue, want [sqs:SendMessage]", onWebhooks)
	}
	for a := range invoke {
		if strings.HasPrefix(a, "dynamodb:") && !slices.Contains(api.InvokeTableActions, a) && a != "dynamodb:DeleteItem" && a != "dynamodb:Query" {
			t.Errorf("invoke may %s; it may only %v, DeleteItem and Query", a, api.InvokeTableActions)
		}
		if strings.HasPrefix(a, "sqs:") && !slices.Contains([]string{"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}, a) {
			t.Errorf("invoke may %s; it only sends", a)
		}
	}
	// Deletes only under api.InvokeDeleteKeyPrefixes (a draft, an auth context, a tenant's limits, a task and its records).
	checkKeyGrant(t, tpl, invokeRole, f.table, "dynamodb:DeleteItem", api.InvokeDeleteKeyPrefixes...)
	// Query on the table (an event log's tail) and the indexes a delete reads, and nothing else: not by_tenant.
	var queried []string
	for _, st := range tpl.PolicyStatements(invokeRole) {
		if st.Effect == "Allow" && slices.Contains(st.Actions, "dynamodb:Query") {
			if len(st.Actions) != 1 {
				t.Errorf("Query shares a statement with %v", st.Actions)
			}
			queried = append(queried, infratest.ResourcePaths(st.Resource)...)
		}
	}
	wantQueried := []string{f.table} // an event log's tail
	for _, ix := range api.InvokeQueryIndexes {
		wantQueried = append(wantQueried, f.table+"/index/"+ix)
	}
	slices.Sort(queried)
	slices.Sort(wantQueried)
	if !slices.Equal(queried, wantQueried) {
		t.Errorf("invoke may Query %v, want %v", queried, wantQueried)
	}

	// Payloads and the seal key, exactly: invoke stages requests and reads payloads back, and seals
	// (Encrypt: auth contexts' secrets, tenants' webhook signing secrets) but never opens
	// (Decrypt) a secret.
	wantInvoke := map[string][]string{
		"s3:PutObject":  {f.bucket + "/" + storage.RequestsPrefix + "*"},
		"s3:GetObject":  {f.bucket, f.bucket + "/*"},
		"s3:ListBucket": {f.bucket, f.bucket + "/*"},
		"kms:Encrypt":   {f.key},
		// Receipts are answered signed (a verdict, a stop), by the sealed key: Decrypt of the
		// receipt keys only (checkSealedReceiptGrants).
		"kms:Decrypt": {f.key},
	}
	if got := only(tpl.Grants(invokeRole), "s3:", "kms:"); !maps.EqualFunc(got, wantInvoke, slices.Equal) {
		t.Errorf("invoke may %v on the bucket and key, want %v", got, wantInvoke)
	}

	// poll: reads only, including Query on both GSIs (lists of tasks and agents: by_tenant, threads:
	// by_thread), and payloads; nothing on the seal key (auth contexts' metadata only).
	poll := tpl.Actions(pollRole)
	for _, a := range []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"} {
		if !slices.Contains(poll[a], f.table) {
			t.Errorf("poll lacks %s on the table", a)
		}
	}
	if !tpl.OnIndexes(pollRole, "dynamodb:Query", f.table) {
		t.Errorf("poll may not Query the table's indexes")
	}
	for a := range poll {
		if strings.HasPrefix(a, "sqs:") || slices.Contains([]string{
			"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
		}, a) {
			t.Errorf("poll may %s; it only reads", a)
		}
	}
	// Its one write: the tenants' request counts, and the sealed receipt key's item (created by
	// whoever signs first); never a task's item.
	checkKeyGrant(t, tpl, pollRole, f.table, "dynamodb:UpdateItem", api.PollCountKeyPrefix, api.PollReceiptKeyPrefix)
	wantPoll := map[string][]string{
		"s3:GetObject":  {f.bucket, f.bucket + "/*"},
		"s3:ListBucket": {f.bucket, f.bucket + "/*"},
		// Receipts are answered signed by the sealed key: open it, and create it when first, on
		// the seal key and under the receipt keys' encryption context only.
		"kms:Decrypt": {f.key},
		"kms:Encrypt": {f.key},
	}
	if got := only(tpl.Grants(pollRole), "s3:", "kms:"); !maps.EqualFunc(got, wantPoll, slices.Equal) {
		t.Errorf("poll may %v on the bucket and key, want %v", got, wantPoll)
	}
	checkSealedReceiptGrants(t, tpl, invokeRole, pollRole)
	for _, fn := range []infratest.Resource{f.invoke, f.poll} {
		if env := infratest.Env(fn); env[golambda.EnvReceiptKeyGeneration] != "2" || env[golambda.EnvReceiptKeyID] != nil {
			t.Errorf("%s signs with %v/%v, want the sealed key's generation 2", fn.ID, env[golambda.EnvReceiptKeyGeneration], env[golambda.EnvReceiptKeyID])
		}
	}
	if id := receiptKeyID(tpl); id != "" {
		t.Errorf("the sealed key signs, yet the stack defines the KMS receipt key %s", id)
	}
	tpl.CheckLeastPrivilege(t)
}

// checkSealedReceiptGrants: with the sealed receipt key (generation 2), both functions may
// Decrypt only the receipt keys' records, generations 1 and 2, and poll may Encrypt only the
// current one's; invoke's Encrypt stays the unconditioned one it seals secrets with.
func checkSealedReceiptGrants(t *testing.T, tpl *infratest.Template, invokeRole, pollRole string) {
	t.Helper()
	all := map[string]any{"StringEquals": map[string]any{storage.ProgressKeyContext: []any{receiptkey.BindingID(1), receiptkey.BindingID(2)}}}
	current := map[string]any{"StringEquals": map[string]any{storage.ProgressKeyContext: receiptkey.BindingID(2)}}
	for _, c := range []struct {
		name, role, action string
		want               []map[string]any
	}{
		{"invoke", invokeRole, "kms:Decrypt", []map[string]any{all}},
		{"poll", pollRole, "kms:Decrypt", []map[string]any{all}},
		{"poll", pollRole, "kms:Encrypt", []map[string]any{current}},
		{"invoke", invokeRole, "kms:Encrypt", []map[string]any{nil}},
	} {
		if got := tpl.Conditions(c.role, c.action); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s may %s under %v, want %v", c.name, c.action, got, c.want)
		}
	}
	for _, role := range []string{invokeRole, pollRole} {
		for _, a := range []string{"kms:Sign", "kms:GetPublicKey"} {
			if len(tpl.Conditions(role, a)) > 0 {
				t.Errorf("%s may %s with the sealed receipt key", role, a)
			}
		}
	}
}

// TestReceiptKMSPermissions: with the KMS option (the REST template), both functions Sign and
// GetPublicKey with the receipt key and open nothing; poll may update tasks' items.
func TestReceiptKMSPermissions(t *testing.T) {
	tpl := template(t, api.REST)
	f := lookup(t, tpl)
	if f.receiptKey == "" {
		t.Fatal("the KMS option defines no receipt key")
	}
	tpl.HasResourceProperties(t, "AWS::KMS::Key", map[string]any{"KeySpec": "ECC_NIST_EDWARDS25519", "KeyUsage": "SIGN_VERIFY"})
	for name, role := range map[string]string{"invoke": tpl.RoleOf(t, f.invoke), "poll": tpl.RoleOf(t, f.poll)} {
		got := only(tpl.Grants(role), "kms:Sign", "kms:GetPublicKey", "kms:Decrypt")
		want := map[string][]string{"kms:Sign": {f.receiptKey}, "kms:GetPublicKey": {f.receiptKey}}
		if !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%s may %v, want %v", name, got, want)
		}
		if env := infratest.Env(map[string]infratest.Resource{"invoke": f.invoke, "poll": f.poll}[name]); env[golambda.EnvReceiptKeyGeneration] != nil || env[golambda.EnvReceiptKeyID] == nil {
			t.Errorf("%s's environment %v: want the receipt key's id, no generation", name, env)
		}
	}
	checkKeyGrant(t, tpl, tpl.RoleOf(t, f.poll), f.table, "dynamodb:UpdateItem", api.PollCountKeyPrefix, api.PollUpdateKeyPrefix)
	tpl.CheckLeastPrivilege(t)
}

// only keeps the grants whose action has one of the prefixes.
func only(grants map[string][]string, prefixes ...string) map[string][]string {
	out := map[string][]string{}
	for a, r := range grants {
		for _, p := range prefixes {
			if strings.HasPrefix(a, p) {
				out[a] = r
			}
		}
	}
	return out
}

// checkKeyGrant: role's one statement for action names the table alone (no index) and holds
// the LeadingKeys condition of prefixes, so the action reaches no other item.
func checkKeyGrant(t *testing.T, tpl *infratest.Template, role, table, action string, prefixes ...string) {
	t.Helper()
	var found int
	for _, st := range tpl.PolicyStatements(role) {
		if !slices.Contains(st.Actions, action) {
			continue
		}
		found++
		if st.Effect != "Allow" || len(st.Actions) != 1 {
			t.Errorf("%s shares a statement with %v (%s): it needs a condition of its own", action, st.Actions, st.Effect)
		}
		if got := infratest.ResourcePaths(st.Resource); !slices.Equal(got, []string{table}) {
			t.Errorf("%s on %v, want the table %s only", action, got, table)
		}
		var want []any
		for _, p := range prefixes {
			want = append(want, p+"*")
		}
		like, _ := st.Condition["ForAllValues:StringLike"].(map[string]any)
		got, _ := like["dynamodb:LeadingKeys"].([]any)
		if len(st.Condition) != 1 || len(like) != 1 || !slices.Equal(got, want) {
			t.Errorf("%s condition = %v, want ForAllValues:StringLike dynamodb:LeadingKeys %v", action, st.Condition, want)
		}
	}
	if found != 1 {
		t.Errorf("%s has %d %s statements, want 1", role, found, action)
	}
}

// TestInvokeDeletesOnlyPrefixedKeys runs every delete the invoke function's code makes, a publish
// (which deletes the draft in its transaction) and an auth context's deletion, against a fake
// table, and checks that each deleted partition key matches api.InvokeDeleteKeyPrefixes: a key
// that did not would be refused by IAM in production only.
func TestInvokeDeletesOnlyPrefixedKeys(t *testing.T) {
	ctx := context.Background()
	db := newFakeTable()
	reg := registry.New(db, "tasks", 0)
	if err := reg.PutDraft(ctx, agent.Agent{ID: "billing", Protocol: agent.HTTP, Endpoint: "https://billing.example/"}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Publish(ctx, "billing"); err != nil {
		t.Fatal(err)
	}
	sealer, err := authctx.NewLocalKey(bytes.Repeat([]byte{1}, authctx.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	contexts := authctx.New(db, "tasks", sealer)
	c, err := contexts.Create(ctx, "acme", authctx.Input{Name: "k", Kind: authctx.Bearer, Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if err := contexts.Delete(ctx, "acme", c.ID); err != nil {
		t.Fatal(err)
	}
	// A task's deletion: the task and its conversation's record.
	if err := store.New(db, "tasks").Delete(ctx, []*task.Task{{ID: "t-1", Tenant: "acme", ThreadID: "conv-1"}}); err != nil {
		t.Fatal(err)
	}
	if len(db.deleted) != 4 {
		t.Fatalf("deleted %v, want the draft, the auth context, the task and its conversation", db.deleted)
	}
	for _, pk := range db.deleted {
		if !slices.ContainsFunc(api.InvokeDeleteKeyPrefixes, func(p string) bool { return strings.HasPrefix(pk, p) }) {
			t.Errorf("invoke deletes %q, outside api.InvokeDeleteKeyPrefixes %v", pk, api.InvokeDeleteKeyPrefixes)
		}
	}
}

// fakeTable keeps what is put, answers GetItem from it, and records the partition keys deleted.
type fakeTable struct {
	items   map[string]map[string]types.AttributeValue
	deleted []string
}

var (
	_ registry.DynamoDB = (*fakeTable)(nil)
	_ authctx.DynamoDB  = (*fakeTable)(nil)
	_ store.DynamoDB    = (*fakeTable)(nil)
)

func newFakeTable() *fakeTable {
	return &fakeTable{items: map[string]map[string]types.AttributeValue{}}
}

func itemKey(item map[string]types.AttributeValue) (pk, id string) {
	var k struct {
		PK string `dynamodbav:"pk"`
		SK string `dynamodbav:"sk"`
	}
	_ = attributevalue.UnmarshalMap(item, &k)
	return k.PK, k.PK + "|" + k.SK
}

func (f *fakeTable) put(item map[string]types.AttributeValue) {
	_, id := itemKey(item)
	f.items[id] = item
}

func (f *fakeTable) del(key map[string]types.AttributeValue) {
	pk, id := itemKey(key)
	delete(f.items, id)
	f.deleted = append(f.deleted, pk)
}

func (f *fakeTable) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	_, id := itemKey(in.Key)
	return &dynamodb.GetItemOutput{Item: f.items[id]}, nil
}

func (f *fakeTable) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.put(in.Item)
	return &dynamodb.PutItemOutput{}, nil
}

func (f *fakeTable) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return &dynamodb.UpdateItemOutput{}, nil
}

func (f *fakeTable) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	f.del(in.Key)
	return &dynamodb.DeleteItemOutput{}, nil
}

func (f *fakeTable) BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return &dynamodb.BatchGetItemOutput{}, nil
}

func (f *fakeTable) Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return &dynamodb.QueryOutput{}, nil
}

func (f *fakeTable) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	for _, it := range in.TransactItems {
		switch {
		case it.Put != nil:
			f.put(it.Put.Item)
		case it.Delete != nil:
			f.del(it.Delete.Key)
		}
	}
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// TestTimeoutsCoverWaits: a sync invoke or a long poll waits up to httpapi.MaxWait; the function
// must outlast that wait and the gateway must outlast the function.
func TestTimeoutsCoverWaits(t *testing.T) {
	if got := time.Duration(api.MaxWaitSeconds) * time.Second; got != httpapi.MaxWait {
		t.Errorf("api.MaxWaitSeconds = %v, httpapi.MaxWait = %v: they must agree", got, httpapi.MaxWait)
	}
	// After the wait: the handler's one-second margin before the deadline, a last read, the
	// answer, and for a sync invoke the accept before it.
	const after = 3
	for name, timeout := range map[string]int{"invoke": api.InvokeTimeoutSeconds, "poll": api.PollTimeoutSeconds} {
		if timeout < api.MaxWaitSeconds+after || timeout > api.GatewayTimeoutSeconds {
			t.Errorf("%s: timeout %d s, want from %d s (wait %d s + %d s) to API Gateway's %d s",
				name, timeout, api.MaxWaitSeconds+after, api.MaxWaitSeconds, after, api.GatewayTimeoutSeconds)
		}
	}
	// No integration is cut shorter than its function (absent means the gateway's default: 30 s
	// for an HTTP API, 29 s for a REST API).
	httpTpl := template(t, api.HTTP)
	for _, i := range httpTpl.Resources("AWS::ApiGatewayV2::Integration") {
		if ms, ok := i.Properties["TimeoutInMillis"]; ok && infratest.Number(ms) < api.GatewayTimeoutSeconds*1000 {
			t.Errorf("%s: TimeoutInMillis = %v, shorter than the functions' timeouts", i.ID, ms)
		}
	}
	restTpl := template(t, api.REST)
	for _, m := range restTpl.Resources("AWS::ApiGateway::Method") {
		integ, _ := m.Properties["Integration"].(map[string]any)
		if ms, ok := integ["TimeoutInMillis"]; ok && infratest.Number(ms) < api.GatewayTimeoutSeconds*1000 {
			t.Errorf("%s: TimeoutInMillis = %v, shorter than the functions' timeouts", m.ID, ms)
		}
	}
}

// handlers builds the handler of each function as functions/invoke and functions/poll build it,
// with admin keys, auth contexts, API keys and webhooks on. The handlers only route and
// authenticate here: a request without a key never reaches a store.
func handlers(t *testing.T) map[api.Target]http.Handler {
	t.Helper()
	tasks := store.New(nil, "tasks")
	agents := registry.New(nil, "tasks", 0)
	admins, err := apikey.Parse(testAdminKeys)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := authctx.NewLocalKey(bytes.Repeat([]byte{1}, authctx.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	contexts := authctx.New(nil, "tasks", sealer)
	keys := keystore.New(nil, "tasks", 0)
	// Webhooks as the stack configures them: a webhook queue (AGENTQ_WEBHOOK_QUEUE_URL on invoke)
	// turns on replays; both functions keep the tenants' settings and poll reads deliveries.
	webhooks := settings.NewTenants(nil, "tasks", sealer, "")
	deliveries := webhook.New(webhook.Config{Table: "tasks", Tenants: webhooks})
	svc := accept.New(accept.Config{Store: tasks})
	// Receipts as the stack configures them: both functions sign with the receipt key.
	receipts := receipt.NewKMS(nil, "receipt-key", nil)
	return map[api.Target]http.Handler{
		api.Invoke: httpapi.New(httpapi.Config{
			Submitter: svc, Canceler: svc, Resumer: svc, Reader: tasks, Resolver: tasks, Stopper: tasks, Deleter: tasks,
			Routes: httpapi.WriteRoutes, Agents: agents, AdminKeys: admins, AuthContexts: contexts, APIKeys: keys,
			Webhooks: webhooks, Deliveries: deliveries, Receipts: receipts, ReceiptStore: tasks, Limits: keys,
		}),
		api.Poll: httpapi.New(httpapi.Config{
			Reader: tasks, Resolver: tasks, Lister: tasks, Threads: tasks, Families: tasks,
			Routes: httpapi.ReadRoutes, Agents: agents, AdminKeys: admins, AuthContexts: contexts, APIKeys: keys,
			Webhooks: webhooks, Deliveries: deliveries, Receipts: receipts, ReceiptStore: tasks, Limits: keys,
		}),
	}
}

var param = regexp.MustCompile(`\{[a-z_]+\}`)

// servedBy sends an unauthenticated request for method and path (parameters filled in) to each
// handler and returns the targets that serve it: a served route answers 401 without an API key,
// an unknown one 404 (or 405 when the path is known with another method).
func servedBy(hs map[api.Target]http.Handler, method, path string) []api.Target {
	var out []api.Target
	for target, h := range hs {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, param.ReplaceAllString(path, "x1"), nil))
		if rec.Code == http.StatusUnauthorized {
			out = append(out, target)
		}
	}
	return out
}

// TestRoutesServedByTheirFunction sends every route of api.Routes to the handler each function
// builds and checks that the route's target serves it and the other function does not: a route
// the gateway sends to a function whose handler lacks it would answer 404 in production only.
func TestRoutesServedByTheirFunction(t *testing.T) {
	hs := handlers(t)
	for _, r := range api.Routes {
		if got := servedBy(hs, r.Method, r.Path); !slices.Equal(got, []api.Target{r.Target}) {
			t.Errorf("%s %s goes to %s, but is served by %v", r.Method, r.Path, r.Target, got)
		}
	}
}

// TestEveryServedRouteIsRouted is the other direction: every route of shared/httpapi's table that
// a function's handler serves is in api.Routes, with that function as its target, and the target
// is the one the table's Write flag names. A route added to the handler but not to the gateway
// would never be reachable.
func TestEveryServedRouteIsRouted(t *testing.T) {
	registered := httpapi.Table()
	if len(registered) < len(api.Routes) {
		t.Fatalf("httpapi.Table has %d routes, fewer than api.Routes' %d", len(registered), len(api.Routes))
	}
	hs := handlers(t)
	for _, r := range registered {
		if want := map[bool]api.Target{true: api.Invoke, false: api.Poll}[r.Write]; !slices.Contains(api.Routes, api.Route{Method: r.Method, Path: r.Path, Target: want}) {
			t.Errorf("%s %s: the table says write=%v, but api.Routes does not send it to %s", r.Method, r.Path, r.Write, want)
		}
		targets := servedBy(hs, r.Method, r.Path)
		if len(targets) == 0 {
			t.Logf("%s %s: served by neither function (local runner only?)", r.Method, r.Path)
			continue
		}
		if len(targets) > 1 {
			t.Errorf("%s %s: served by both functions", r.Method, r.Path)
			continue
		}
		if !slices.Contains(api.Routes, api.Route{Method: r.Method, Path: r.Path, Target: targets[0]}) {
			t.Errorf("%s %s: served by %s but missing from api.Routes (or routed elsewhere)", r.Method, r.Path, targets[0])
		}
	}
}

func TestHTTPRoutes(t *testing.T) {
	tpl := template(t, api.HTTP)
	f := lookup(t, tpl)
	tpl.ResourceCountIs(t, "AWS::ApiGatewayV2::Api", 1)
	tpl.HasResourceProperties(t, "AWS::ApiGatewayV2::Api", map[string]any{"ProtocolType": "HTTP"})

	integrations := map[string]infratest.Resource{}
	for _, i := range tpl.Resources("AWS::ApiGatewayV2::Integration") {
		integrations[i.ID] = i
	}
	routes := tpl.Resources("AWS::ApiGatewayV2::Route")
	if len(routes) != len(api.Routes) {
		t.Errorf("got %d routes, want %d", len(routes), len(api.Routes))
	}
	for _, want := range api.Routes {
		key := want.Method + " " + want.Path
		t.Run(key, func(t *testing.T) {
			fn := f.invoke.ID
			if want.Target == api.Poll {
				fn = f.poll.ID
			}
			for _, r := range routes {
				if r.Properties["RouteKey"] != key {
					continue
				}
				integ, ok := integrations[integrationOf(r.Properties["Target"])]
				if !ok {
					t.Fatalf("route target %v is no integration", r.Properties["Target"])
				}
				if got := infratest.Ref(integ.Properties["IntegrationUri"]); got != fn {
					t.Errorf("served by %s, want %s", got, fn)
				}
				if integ.Properties["PayloadFormatVersion"] != "2.0" || integ.Properties["IntegrationType"] != "AWS_PROXY" {
					t.Errorf("integration = %v %v, want AWS_PROXY 2.0",
						integ.Properties["IntegrationType"], integ.Properties["PayloadFormatVersion"])
				}
				return
			}
			t.Errorf("no route %q", key)
		})
	}
}

// integrationOf reads the integration id out of a route target "integrations/<id>".
func integrationOf(target any) string {
	join, _ := target.(map[string]any)["Fn::Join"].([]any)
	if len(join) != 2 {
		return ""
	}
	parts, _ := join[1].([]any)
	for _, p := range parts {
		if id := infratest.Ref(p); id != "" {
			return id
		}
	}
	return ""
}

func TestHTTPStage(t *testing.T) {
	tpl := template(t, api.HTTP)
	stages := tpl.Resources("AWS::ApiGatewayV2::Stage")
	if len(stages) != 1 {
		t.Fatalf("got %d stages, want 1", len(stages))
	}
	st := stages[0].Properties
	if st["StageName"] != "$default" || st["AutoDeploy"] != true {
		t.Errorf("stage = %v auto-deploy %v, want $default auto-deployed", st["StageName"], st["AutoDeploy"])
	}
	routeSettings, _ := st["DefaultRouteSettings"].(map[string]any)
	if infratest.Number(routeSettings["ThrottlingRateLimit"]) != api.DefaultThrottleRateLimit ||
		infratest.Number(routeSettings["ThrottlingBurstLimit"]) != api.DefaultThrottleBurstLimit {
		t.Errorf("throttling = %v, want rate %d burst %d", routeSettings, api.DefaultThrottleRateLimit, api.DefaultThrottleBurstLimit)
	}
	checkAccessLog(t, tpl, st["AccessLogSettings"], "$context.routeKey")
}

func checkAccessLog(t *testing.T, tpl *infratest.Template, settings any, route string) {
	t.Helper()
	s, _ := settings.(map[string]any)
	logs := tpl.Only(t, "AWS::Logs::LogGroup", "ApiAccessLogs")
	if infratest.Ref(s["DestinationArn"]) != logs.ID {
		t.Errorf("access logs go to %v, want %s", s["DestinationArn"], logs.ID)
	}
	format, _ := s["Format"].(string)
	var line map[string]string
	if err := json.Unmarshal([]byte(format), &line); err != nil {
		t.Fatalf("access log format is not one JSON object: %v (%s)", err, format)
	}
	if line["requestId"] != "$context.requestId" || line["route"] != route || line["status"] != "$context.status" {
		t.Errorf("access log format = %s", format)
	}
	if strings.Contains(strings.ToLower(format), "header") || strings.Contains(strings.ToLower(format), "api-key") {
		t.Errorf("access log format logs headers: %s", format)
	}
}

func TestRESTRoutes(t *testing.T) {
	tpl := template(t, api.REST)
	f := lookup(t, tpl)
	tpl.ResourceCountIs(t, "AWS::ApiGateway::RestApi", 1)
	tpl.ResourceCountIs(t, "AWS::ApiGatewayV2::Api", 0)
	// No account-wide logging role is created (it would need a managed policy).
	tpl.ResourceCountIs(t, "AWS::ApiGateway::Account", 0)

	paths := restPaths(tpl)
	methods := tpl.Resources("AWS::ApiGateway::Method")
	if len(methods) != len(api.Routes) {
		t.Errorf("got %d methods, want %d", len(methods), len(api.Routes))
	}
	for _, want := range api.Routes {
		key := want.Method + " " + want.Path
		t.Run(key, func(t *testing.T) {
			fn := f.invoke.ID
			if want.Target == api.Poll {
				fn = f.poll.ID
			}
			for _, m := range methods {
				if m.Properties["HttpMethod"] != want.Method || paths[infratest.Ref(m.Properties["ResourceId"])] != want.Path {
					continue
				}
				integ, _ := m.Properties["Integration"].(map[string]any)
				if integ["Type"] != "AWS_PROXY" || integ["IntegrationHttpMethod"] != "POST" {
					t.Errorf("integration = %v via %v, want AWS_PROXY via POST", integ["Type"], integ["IntegrationHttpMethod"])
				}
				uri, _ := json.Marshal(integ["Uri"])
				if !strings.Contains(string(uri), `"`+fn+`"`) {
					t.Errorf("integration URI %s does not invoke %s", uri, fn)
				}
				return
			}
			t.Errorf("no method %q (resources: %v)", key, paths)
		})
	}
}

// restPaths maps each AWS::ApiGateway::Resource id to its full path.
func restPaths(tpl *infratest.Template) map[string]string {
	parents := map[string]string{}
	parts := map[string]string{}
	for _, r := range tpl.Resources("AWS::ApiGateway::Resource") {
		parts[r.ID], _ = r.Properties["PathPart"].(string)
		if id := infratest.Ref(r.Properties["ParentId"]); id != "" && r.Properties["ParentId"].(map[string]any)["Ref"] != nil {
			parents[r.ID] = id
		}
	}
	paths := map[string]string{}
	for id := range parts {
		p := ""
		for cur := id; cur != ""; cur = parents[cur] {
			p = "/" + parts[cur] + p
		}
		paths[id] = p
	}
	return paths
}

func TestRESTStage(t *testing.T) {
	tpl := template(t, api.REST)
	stages := tpl.Resources("AWS::ApiGateway::Stage")
	if len(stages) != 1 {
		t.Fatalf("got %d stages, want 1", len(stages))
	}
	st := stages[0].Properties
	if st["StageName"] != api.RestStageName {
		t.Errorf("StageName = %v, want %s", st["StageName"], api.RestStageName)
	}
	settings, _ := st["MethodSettings"].([]any)
	throttled := false
	for _, s := range settings {
		m, _ := s.(map[string]any)
		if m["ResourcePath"] == "/*" && m["HttpMethod"] == "*" &&
			infratest.Number(m["ThrottlingRateLimit"]) == api.DefaultThrottleRateLimit &&
			infratest.Number(m["ThrottlingBurstLimit"]) == api.DefaultThrottleBurstLimit {
			throttled = true
		}
	}
	if !throttled {
		t.Errorf("MethodSettings = %v, want stage-wide throttling", settings)
	}
	checkAccessLog(t, tpl, st["AccessLogSetting"], "$context.resourcePath")
}

func TestGatewayMayInvokeFunctions(t *testing.T) {
	for _, kind := range []api.Kind{api.HTTP, api.REST} {
		t.Run(string(kind), func(t *testing.T) {
			tpl := template(t, kind)
			f := lookup(t, tpl)
			allowed := map[string]bool{}
			for _, p := range tpl.Resources("AWS::Lambda::Permission") {
				if p.Properties["Principal"] == "apigateway.amazonaws.com" && p.Properties["Action"] == "lambda:InvokeFunction" {
					allowed[infratest.Ref(p.Properties["FunctionName"])] = true
				}
			}
			if !allowed[f.invoke.ID] || !allowed[f.poll.ID] {
				t.Errorf("API Gateway may invoke %v; want invoke and poll", allowed)
			}
		})
	}
}

// TestNoAuthorizer: neither flavour has a gateway authorizer or an authorizer function (each
// would be one more Lambda invocation per request): every HTTP API route is open at the gateway,
// and invoke and poll, which check every request's key themselves, get the keys and may read the
// table's key items.
func TestNoAuthorizer(t *testing.T) {
	for _, kind := range []api.Kind{api.HTTP, api.REST} {
		t.Run(string(kind), func(t *testing.T) {
			tpl := template(t, kind)
			if n := len(tpl.Resources("AWS::ApiGatewayV2::Authorizer")) + len(tpl.Resources("AWS::ApiGateway::Authorizer")); n != 0 {
				t.Errorf("%d authorizers, want 0", n)
			}
			for _, f := range tpl.Resources("AWS::Lambda::Function") {
				if strings.Contains(f.ID, "Authorizer") {
					t.Errorf("authorizer function %s", f.ID)
				}
			}
			for _, r := range tpl.Resources("AWS::ApiGatewayV2::Route") {
				if at, ok := r.Properties["AuthorizationType"]; ok && at != "NONE" || r.Properties["AuthorizerId"] != nil {
					t.Errorf("route %v: authorization %v by %v, want none at the gateway", r.Properties["RouteKey"], at, r.Properties["AuthorizerId"])
				}
			}
			f := lookup(t, tpl)
			for _, fn := range []infratest.Resource{f.invoke, f.poll} {
				env := infratest.Env(fn)
				if kind == api.HTTP && (env[golambda.EnvAPIKeys] != testKeys || env[golambda.EnvAdminKeys] != testAdminKeys) {
					t.Errorf("%s env = %v, want the API and admin keys", fn.ID, env)
				}
				if !slices.Contains(tpl.Actions(tpl.RoleOf(t, fn))["dynamodb:GetItem"], f.table) {
					t.Errorf("%s may not GetItem on the table: it could not look stored keys up", fn.ID)
				}
			}
		})
	}
	if n := len(template(t, api.HTTP).Resources("AWS::ApiGatewayV2::Route")); n != len(api.Routes) {
		t.Errorf("%d HTTP routes, want %d", n, len(api.Routes))
	}
}

// TestStreamFunction: the stream function is served by a response-streaming function URL that
// the handler authenticates (no IAM auth, no gateway), outlasts a stream connection's bound, and
// may accept tasks and append to their logs as invoke does, and nothing else on the table.
func TestStreamFunction(t *testing.T) {
	tpl := template(t, api.HTTP)
	f := lookup(t, tpl)
	stream := tpl.Only(t, "AWS::Lambda::Function", "ApiStream")
	infratest.CheckGoFunction(t, stream)
	if got := infratest.Number(stream.Properties["Timeout"]); got != api.StreamTimeoutSeconds || got <= 300 {
		t.Errorf("Timeout = %v, want %d (beyond the 5-minute stream bound)", got, api.StreamTimeoutSeconds)
	}
	tpl.HasResourceProperties(t, "AWS::Lambda::Url", map[string]any{"AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM"})
	actions := tpl.Actions(tpl.RoleOf(t, stream))
	for _, a := range api.InvokeTableActions {
		if !slices.Contains(actions[a], f.table) {
			t.Errorf("stream lacks %s on the table", a)
		}
	}
	for a := range actions {
		if strings.HasPrefix(a, "dynamodb:") && !slices.Contains(api.InvokeTableActions, a) {
			t.Errorf("stream may %s; it may only %v", a, api.InvokeTableActions)
		}
	}
	// KMS for the progress key alone: it checks agents' tokens with it and creates it when first.
	role := tpl.RoleOf(t, stream)
	wantCond := map[string]any{"StringEquals": map[string]any{storage.ProgressKeyContext: progresskey.BindingID}}
	for a := range actions {
		if !strings.HasPrefix(a, "kms:") {
			continue
		}
		if a != "kms:Encrypt" && a != "kms:Decrypt" {
			t.Errorf("stream may %s", a)
		}
		for _, c := range tpl.Conditions(role, a) {
			if !reflect.DeepEqual(c, wantCond) {
				t.Errorf("stream may %s under %v: only the progress key's (%v)", a, c, wantCond)
			}
		}
	}
	for _, a := range []string{"kms:Encrypt", "kms:Decrypt"} {
		if len(actions[a]) == 0 {
			t.Errorf("stream lacks %s on the progress key", a)
		}
	}
	if !slices.Contains(actions["sqs:SendMessage"], f.queue) {
		t.Error("stream lacks sqs:SendMessage on the work queue (invoke/stream)")
	}
}
