package storage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/construct/storage"
	"github.com/agentq/agentq/infra/internal/infratest"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

var (
	once      sync.Once
	kept, tmp *infratest.Template
	synthErr  error
)

// templates synthesizes a default and an ephemeral storage once for the whole package, each with
// a role granted through every helper of the package (so the templates hold IAM policies to check).
func templates(t *testing.T) (keptTpl, ephemeralTpl *infratest.Template) {
	t.Helper()
	once.Do(func() {
		synthErr = func() error {
			for _, c := range []struct {
				props *storage.Props
				out   **infratest.Template
			}{
				{nil, &kept},
				// The ephemeral one signs receipts with the KMS option.
				{&storage.Props{Ephemeral: true, TaskTTL: 36 * time.Hour, ReceiptKMS: true}, &tmp},
			} {
				out, err := os.MkdirTemp("", "agentq-cdk-*")
				if err != nil {
					return err
				}
				defer os.RemoveAll(out)
				s := infratest.NewStack(out)
				st := storage.New(s, "Storage", c.props)
				grantAll(s, st)
				if *c.out, err = infratest.Synth(s); err != nil {
					return err
				}
			}
			return nil
		}()
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
	return kept, tmp
}

// grantAll gives one role per helper: Reader, ResultGetter, RequestWriter, Sealer, Opener,
// ReceiptKeyOpener (the sealed receipt keys of generations 1 and 2), and ReceiptSigner where the
// KMS receipt key is defined.
func grantAll(s awscdk.Stack, st *storage.Storage) {
	role := func(id string) awsiam.Role {
		return awsiam.NewRole(s, jsii.String(id), &awsiam.RoleProps{
			AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		})
	}
	storage.GrantReadPayloads(st.Payloads, role("Reader"))
	storage.GrantGetPayloads(st.Payloads, role("ResultGetter"), storage.ResultsPrefix)
	storage.GrantWritePayloads(st.Payloads, role("RequestWriter"), storage.RequestsPrefix)
	storage.GrantSeal(st.SealKey, role("Sealer"))
	storage.GrantOpen(st.SealKey, role("Opener"))
	storage.GrantReceiptKey(st.SealKey, role("ReceiptKeyOpener"), []int{1, 2}, storage.OpenActions...)
	if st.ReceiptKey != nil {
		storage.GrantSignReceipts(st.ReceiptKey, role("ReceiptSigner"))
	}
}

func TestTableKeysAndBilling(t *testing.T) {
	tpl, _ := templates(t)
	tpl.ResourceCountIs(t, "AWS::DynamoDB::Table", 1)
	tpl.HasResourceProperties(t, "AWS::DynamoDB::Table", map[string]any{
		"KeySchema": []any{
			map[string]any{"AttributeName": table.AttrPK, "KeyType": "HASH"},
			map[string]any{"AttributeName": table.AttrSK, "KeyType": "RANGE"},
		},
		"BillingMode":                      "PAY_PER_REQUEST",
		"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		"TimeToLiveSpecification":          map[string]any{"AttributeName": table.AttrExpiresAt, "Enabled": true},
	})
	// The table is created without a fixed name: CloudFormation generates it and the functions
	// get it from AGENTQ_TABLE.
	res := tpl.Only(t, "AWS::DynamoDB::Table", "Storage")
	if _, ok := res.Properties["TableName"]; ok {
		t.Errorf("table has a fixed TableName; want a generated one")
	}
}

func TestTableIndexes(t *testing.T) {
	tpl, _ := templates(t)
	res := tpl.Only(t, "AWS::DynamoDB::Table", "Storage")
	gsis, _ := res.Properties["GlobalSecondaryIndexes"].([]any)
	if len(gsis) != len(table.Indexes) {
		t.Fatalf("got %d GSIs, want %d (table.Indexes)", len(gsis), len(table.Indexes))
	}
	attrTypes := map[string]string{}
	defs, _ := res.Properties["AttributeDefinitions"].([]any)
	for _, d := range defs {
		m := d.(map[string]any)
		attrTypes[m["AttributeName"].(string)] = m["AttributeType"].(string)
	}
	for _, ix := range table.Indexes {
		t.Run(ix.Name, func(t *testing.T) {
			projection := map[string]any{"ProjectionType": string(ix.Projection)}
			if ix.Projection == table.ProjectInclude {
				projection["NonKeyAttributes"] = toAny(ix.NonKeyAttributes)
			}
			tpl.HasResourceProperties(t, "AWS::DynamoDB::Table", map[string]any{
				"GlobalSecondaryIndexes": assertions.Match_ArrayWith(&[]any{
					map[string]any{
						"IndexName": ix.Name,
						"KeySchema": []any{
							map[string]any{"AttributeName": ix.PartitionKey, "KeyType": "HASH"},
							map[string]any{"AttributeName": ix.SortKey, "KeyType": "RANGE"},
						},
						"Projection": projection,
					},
				}),
			})
			for _, a := range []string{ix.PartitionKey, ix.SortKey} {
				if attrTypes[a] != "S" {
					t.Errorf("attribute %s has type %q, want S", a, attrTypes[a])
				}
			}
		})
	}
}

// TestTableStream: the notifier reads the table's stream and needs both images (a transition is
// the old state next to the new one), in both variants.
func TestTableStream(t *testing.T) {
	k, e := templates(t)
	for name, tpl := range map[string]*infratest.Template{"default": k, "ephemeral": e} {
		t.Run(name, func(t *testing.T) {
			tpl.HasResourceProperties(t, "AWS::DynamoDB::Table", map[string]any{
				"StreamSpecification": map[string]any{"StreamViewType": "NEW_AND_OLD_IMAGES"},
			})
		})
	}
}

func TestTableIsProtectedByDefault(t *testing.T) {
	tpl, _ := templates(t)
	tpl.HasResource(t, "AWS::DynamoDB::Table", map[string]any{
		"Properties":          map[string]any{"DeletionProtectionEnabled": true},
		"DeletionPolicy":      "Retain",
		"UpdateReplacePolicy": "Retain",
	})
}

func TestEphemeralTableCanBeDeleted(t *testing.T) {
	_, tpl := templates(t)
	tpl.HasResource(t, "AWS::DynamoDB::Table", map[string]any{
		"Properties":     map[string]any{"DeletionProtectionEnabled": false},
		"DeletionPolicy": "Delete",
	})
	// Everything else stays as in a real stack.
	tpl.HasResourceProperties(t, "AWS::DynamoDB::Table", map[string]any{
		"BillingMode":             "PAY_PER_REQUEST",
		"TimeToLiveSpecification": map[string]any{"AttributeName": table.AttrExpiresAt, "Enabled": true},
	})
}

// TestAccessLogs: the payload bucket logs every request to the access log bucket, which S3 may
// write through its bucket policy (no ACLs), which is private, TLS only, and keeps the logs
// AccessLogDays.
func TestAccessLogs(t *testing.T) {
	k, _ := templates(t)
	payloads := k.Only(t, "AWS::S3::Bucket", "StoragePayloads")
	logs := k.Only(t, "AWS::S3::Bucket", "StorageAccessLogs")
	logging, _ := payloads.Properties["LoggingConfiguration"].(map[string]any)
	if infratest.Ref(logging["DestinationBucketName"]) != logs.ID || logging["LogFilePrefix"] != storage.AccessLogPrefix {
		t.Errorf("payload bucket LoggingConfiguration = %v, want %s under %q", logging, logs.ID, storage.AccessLogPrefix)
	}
	if _, ok := logs.Properties["LoggingConfiguration"]; ok {
		t.Errorf("the access log bucket logs itself: %v", logs.Properties["LoggingConfiguration"])
	}
	rules, _ := json.Marshal(logs.Properties["LifecycleConfiguration"])
	if !strings.Contains(string(rules), fmt.Sprintf(`"ExpirationInDays":%d`, storage.AccessLogDays)) {
		t.Errorf("access log lifecycle = %s, want expiry after %d days", rules, storage.AccessLogDays)
	}
	writes := false
	for _, st := range k.ResourcePolicyStatements() {
		principal, _ := json.Marshal(st.Principal)
		if st.Effect == "Allow" && strings.Contains(string(principal), "logging.s3.amazonaws.com") && slices.Equal(st.Actions, []string{"s3:PutObject"}) {
			writes = true
		}
	}
	if !writes {
		t.Error("S3's log delivery may not write to the access log bucket")
	}
	k.CheckTLSOnly(t)
}

// TestPayloadBucket: S3-managed encryption, no public access, no ACLs, unversioned, a generated
// name, and a lifecycle that outlives the task TTL by a day, in both variants.
func TestPayloadBucket(t *testing.T) {
	k, e := templates(t)
	for _, c := range []struct {
		name string
		tpl  *infratest.Template
		days int
	}{
		{"default 720h", k, 31},
		{"ephemeral 36h", e, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The payloads and their server access logs.
			c.tpl.ResourceCountIs(t, "AWS::S3::Bucket", 2)
			c.tpl.HasResourceProperties(t, "AWS::S3::Bucket", map[string]any{
				"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
					map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}},
				}},
				"PublicAccessBlockConfiguration": map[string]any{
					"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
				},
				"OwnershipControls": map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}},
				"LifecycleConfiguration": map[string]any{"Rules": []any{map[string]any{
					"Id":                             "expire-with-tasks",
					"Status":                         "Enabled",
					"ExpirationInDays":               c.days,
					"AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": storage.AbortIncompleteUploadDays},
				}}},
			})
			bucket := c.tpl.Only(t, "AWS::S3::Bucket", "StoragePayloads")
			for _, p := range []string{"BucketName", "VersioningConfiguration", "AccessControl"} {
				if v, ok := bucket.Properties[p]; ok {
					t.Errorf("bucket sets %s = %v", p, v)
				}
			}
			rules := bucket.Properties["LifecycleConfiguration"].(map[string]any)["Rules"].([]any)
			if f, ok := rules[0].(map[string]any)["Prefix"]; ok || len(rules) != 1 {
				t.Errorf("lifecycle rules %v (prefix %v): want one rule for every object", rules, f)
			}
		})
	}
}

func TestPayloadExpirationDays(t *testing.T) {
	for ttl, want := range map[time.Duration]int{
		720 * time.Hour: 31, // the default: 30 days + 1
		24 * time.Hour:  2,
		25 * time.Hour:  3, // S3 counts whole days: round the TTL up
		36 * time.Hour:  3,
		time.Minute:     2,
	} {
		if got := storage.PayloadExpirationDays(ttl); got != want {
			t.Errorf("PayloadExpirationDays(%v) = %d, want %d", ttl, got, want)
		}
		if got := time.Duration(storage.PayloadExpirationDays(ttl)) * 24 * time.Hour; got < ttl+24*time.Hour {
			t.Errorf("TTL %v: payloads expire after %v, before their task's item", ttl, got)
		}
	}
}

// TestPayloadBucketEnforcesTLS: EnforceSSL's Deny covers the bucket and its objects, and a real
// stack's bucket policy allows nothing.
func TestPayloadBucketEnforcesTLS(t *testing.T) {
	tpl, _ := templates(t)
	bucket := tpl.Only(t, "AWS::S3::Bucket", "StoragePayloads")
	policy := tpl.Only(t, "AWS::S3::BucketPolicy", "StoragePayloads")
	if infratest.Ref(policy.Properties["Bucket"]) != bucket.ID {
		t.Fatalf("bucket policy is for %v, want %s", policy.Properties["Bucket"], bucket.ID)
	}
	var denies int
	for _, st := range tpl.ResourcePolicyStatements() {
		if st.Policy != policy.ID {
			continue
		}
		if st.Effect != "Deny" {
			t.Errorf("a real stack's bucket policy allows %v to %v", st.Actions, st.Principal)
			continue
		}
		denies++
		secure, _ := st.Condition["Bool"].(map[string]any)
		if !slices.Equal(st.Actions, []string{"s3:*"}) || secure["aws:SecureTransport"] != "false" {
			t.Errorf("deny %v when %v; want s3:* when aws:SecureTransport is false", st.Actions, st.Condition)
		}
		raw, _ := json.Marshal(st.Resource)
		if !strings.Contains(string(raw), `"`+bucket.ID+`"`) || !strings.Contains(string(raw), `"/*"`) {
			t.Errorf("deny covers %s; want the bucket and its objects", raw)
		}
	}
	if denies != 1 {
		t.Errorf("got %d deny statements, want EnforceSSL's one", denies)
	}
}

func TestPayloadBucketIsRetainedByDefault(t *testing.T) {
	tpl, _ := templates(t)
	tpl.HasResource(t, "AWS::S3::Bucket", map[string]any{"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"})
	// No auto-delete provider in a real stack: nothing may empty the bucket.
	tpl.ResourceCountIs(t, "Custom::S3AutoDeleteObjects", 0)
	tpl.ResourceCountIs(t, "AWS::Lambda::Function", 0)
	bucket := tpl.Only(t, "AWS::S3::Bucket", "StoragePayloads")
	if tags, ok := bucket.Properties["Tags"]; ok {
		t.Errorf("bucket tags %v; the auto-delete tag must not be set on a real stack", tags)
	}
}

// TestEphemeralBucketIsEmptiedAndDeleted: a throwaway stack deletes its bucket, emptied first by
// CDK's auto-delete provider, whose powers are pinned here since CheckLeastPrivilege exempts it.
func TestEphemeralBucketIsEmptiedAndDeleted(t *testing.T) {
	_, tpl := templates(t)
	bucket := tpl.Only(t, "AWS::S3::Bucket", "StoragePayloads")
	if bucket.Raw["DeletionPolicy"] != "Delete" {
		t.Errorf("DeletionPolicy = %v, want Delete", bucket.Raw["DeletionPolicy"])
	}
	cleaner := tpl.Only(t, "Custom::S3AutoDeleteObjects", "StoragePayloads")
	if infratest.Ref(cleaner.Properties["BucketName"]) != bucket.ID {
		t.Errorf("auto-delete empties %v, want %s", cleaner.Properties["BucketName"], bucket.ID)
	}
	role := tpl.Only(t, "AWS::IAM::Role", infratest.AutoDeleteObjectsRole)
	managed, _ := json.Marshal(role.Properties["ManagedPolicyArns"])
	if !strings.Contains(string(managed), "service-role/AWSLambdaBasicExecutionRole") || strings.Count(string(managed), "policy/") != 1 {
		t.Errorf("auto-delete role's managed policies = %s, want AWSLambdaBasicExecutionRole only", managed)
	}
	var found bool
	for _, st := range tpl.ResourcePolicyStatements() {
		if !infratest.PrincipalIsRole(st, infratest.AutoDeleteObjectsRole) {
			continue
		}
		found = true
		want := []string{"s3:DeleteObject*", "s3:GetBucket*", "s3:List*", "s3:PutBucketPolicy"}
		if st.Type != "AWS::S3::BucketPolicy" || st.Effect != "Allow" || !slices.Equal(slices.Sorted(slices.Values(st.Actions)), want) {
			t.Errorf("auto-delete provider may %s %v in %s; want exactly Allow %v (CDK %s)", st.Effect, st.Actions, st.Type, want, "2.270.0")
		}
	}
	if !found {
		t.Errorf("no bucket-policy statement for the auto-delete provider")
	}
	tpl.CheckLeastPrivilegeExceptAutoDelete(t)
}

// TestReceiptKey: with the KMS option, an Ed25519 signing key, kept like the seal key, its
// policy the account's only; without it (the sealed key signs), no such key.
func TestReceiptKey(t *testing.T) {
	k, e := templates(t)
	if n := len(k.Resources("AWS::KMS::Key")); n != 1 {
		t.Errorf("without the KMS option: %d KMS keys, want the seal key only", n)
	}
	for _, c := range []struct {
		name, removal string
		tpl           *infratest.Template
	}{{"ephemeral, KMS option", "Delete", e}} {
		t.Run(c.name, func(t *testing.T) {
			key := c.tpl.Only(t, "AWS::KMS::Key", "StorageReceiptKey")
			if key.Properties["KeySpec"] != "ECC_NIST_EDWARDS25519" || key.Properties["KeyUsage"] != "SIGN_VERIFY" {
				t.Errorf("receipt key = %v %v, want an ECC_NIST_EDWARDS25519 SIGN_VERIFY key", key.Properties["KeySpec"], key.Properties["KeyUsage"])
			}
			if key.Raw["DeletionPolicy"] != c.removal || key.Raw["UpdateReplacePolicy"] != c.removal {
				t.Errorf("receipt key policies = %v %v, want %s", key.Raw["DeletionPolicy"], key.Raw["UpdateReplacePolicy"], c.removal)
			}
			for _, st := range c.tpl.ResourcePolicyStatements() {
				if st.Policy == key.ID && !infratest.IsAccountRootKeyStatement(st) {
					t.Errorf("key policy statement %+v besides the account root's", st)
				}
			}
		})
	}
}

func TestSealKey(t *testing.T) {
	k, e := templates(t)
	for _, c := range []struct {
		name, removal string
		tpl           *infratest.Template
		keys          int
	}{{"default", "Retain", k, 1}, {"ephemeral", "Delete", e, 2}} {
		t.Run(c.name, func(t *testing.T) {
			c.tpl.ResourceCountIs(t, "AWS::KMS::Key", c.keys) // the seal key, and the receipt key with the KMS option
			c.tpl.HasResource(t, "AWS::KMS::Key", map[string]any{
				"Properties":          map[string]any{"EnableKeyRotation": true},
				"DeletionPolicy":      c.removal,
				"UpdateReplacePolicy": c.removal,
			})
			key := c.tpl.Only(t, "AWS::KMS::Key", "StorageSealKey")
			if spec, ok := key.Properties["KeySpec"]; ok && spec != "SYMMETRIC_DEFAULT" {
				t.Errorf("KeySpec = %v, want a symmetric key", spec)
			}
			// The key policy only delegates to the account's IAM policies: the functions' grants
			// live in their roles, where the tests below can see them.
			for _, st := range c.tpl.ResourcePolicyStatements() {
				if st.Policy == key.ID && !infratest.IsAccountRootKeyStatement(st) {
					t.Errorf("key policy statement %+v besides the account root's", st)
				}
			}
		})
	}
}

// TestGrantHelpers: each helper grants exactly its actions on exactly its resources, and in the
// role's policy (same account), never in the bucket or key policy.
func TestGrantHelpers(t *testing.T) {
	k, e := templates(t)
	for name, tpl := range map[string]*infratest.Template{"default": k, "ephemeral": e} {
		t.Run(name, func(t *testing.T) {
			bucket := tpl.Only(t, "AWS::S3::Bucket", "StoragePayloads").ID
			key := tpl.Only(t, "AWS::KMS::Key", "StorageSealKey").ID
			wants := map[string]map[string][]string{
				"Reader":           {"s3:GetObject": {bucket + "/*", bucket}, "s3:ListBucket": {bucket + "/*", bucket}},
				"ResultGetter":     {"s3:GetObject": {bucket + "/" + storage.ResultsPrefix + "*"}},
				"RequestWriter":    {"s3:PutObject": {bucket + "/" + storage.RequestsPrefix + "*"}},
				"Sealer":           {"kms:Encrypt": {key}},
				"Opener":           {"kms:Decrypt": {key}},
				"ReceiptKeyOpener": {"kms:Decrypt": {key}},
			}
			if name == "ephemeral" { // the KMS option
				receiptKey := tpl.Only(t, "AWS::KMS::Key", "StorageReceiptKey").ID
				wants["ReceiptSigner"] = map[string][]string{"kms:Sign": {receiptKey}, "kms:GetPublicKey": {receiptKey}}
			}
			// The sealed receipt keys are opened under their own encryption context only.
			wantCond := map[string]any{"StringEquals": map[string]any{storage.ProgressKeyContext: []any{"receipt-key/v1", "receipt-key/v2"}}}
			if got := tpl.Conditions(tpl.Only(t, "AWS::IAM::Role", "ReceiptKeyOpener").ID, "kms:Decrypt"); !reflect.DeepEqual(got, []map[string]any{wantCond}) {
				t.Errorf("ReceiptKeyOpener may Decrypt under %v, want %v", got, wantCond)
			}
			for role, want := range wants {
				got := tpl.Grants(tpl.Only(t, "AWS::IAM::Role", role).ID)
				for a := range want {
					slices.Sort(want[a])
				}
				if !maps.EqualFunc(got, want, slices.Equal) {
					t.Errorf("%s may %v, want %v", role, got, want)
				}
			}
			tpl.CheckLeastPrivilegeExceptAutoDelete(t)
		})
	}
}

// TestNoWildcardGrants: a real stack's storage passes the strict rule, auto-delete exemption off.
func TestNoWildcardGrants(t *testing.T) {
	tpl, _ := templates(t)
	tpl.CheckLeastPrivilege(t)
}

// TestPayloadPrefixesMatchTheStore runs the store's two blob writes, a large request staged and a
// large answer recorded, and checks their keys fall under the prefixes the functions may write.
func TestPayloadPrefixesMatchTheStore(t *testing.T) {
	blobs := &recorder{}
	s := store.New(failingDB{}, "tasks").WithBlobs(blobs)
	big := strings.Repeat("x", task.InlineLimit+1)
	ctx := context.Background()

	tk := &task.Task{ID: "t1", Request: json.RawMessage(`{"input":"` + big + `"}`), Text: "hi"}
	if err := s.StageRequest(ctx, tk); err != nil {
		t.Fatal(err)
	}
	// The item write fails (no table here), after the answer's blob is written.
	_, _ = s.Transition(ctx, "t1", task.Change{To: task.Succeeded, Version: 3, Result: big, Now: time.Now()})

	if len(blobs.keys) != 2 {
		t.Fatalf("blob keys %v, want a request's and an answer's", blobs.keys)
	}
	if k := blobs.keys[0]; !strings.HasPrefix(k, storage.RequestsPrefix+"t1") || k != tk.RequestRef {
		t.Errorf("request staged under %q, want it under %q (what invoke may write)", k, storage.RequestsPrefix)
	}
	if k := blobs.keys[1]; !strings.HasPrefix(k, storage.ResultsPrefix+"t1/") {
		t.Errorf("answer kept under %q, want it under %q (what the worker may write)", k, storage.ResultsPrefix)
	}
}

type recorder struct {
	mu   sync.Mutex
	keys []string
}

func (r *recorder) Put(_ context.Context, key string, _ []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, key)
	return nil
}

func (r *recorder) Get(context.Context, string) ([]byte, error) { return nil, errors.New("not here") }

// failingDB refuses every call: the test only watches the blob writes.
type failingDB struct{ store.DynamoDB }

func (failingDB) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, errors.New("no table")
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// TestTenantIndexCopiesNoStateOrTimes: by_tenant copies only attributes a task never changes, so
// a task's transitions are no writes to it; the state and the update time must never be copied.
func TestTenantIndexCopiesNoStateOrTimes(t *testing.T) {
	tpl, _ := templates(t)
	res := tpl.Only(t, "AWS::DynamoDB::Table", "Storage")
	gsis, _ := res.Properties["GlobalSecondaryIndexes"].([]any)
	for _, g := range gsis {
		m := g.(map[string]any)
		if m["IndexName"] != table.IndexTenant {
			continue
		}
		p := m["Projection"].(map[string]any)
		if p["ProjectionType"] != "INCLUDE" {
			t.Fatalf("by_tenant projects %v, want INCLUDE", p["ProjectionType"])
		}
		for _, a := range p["NonKeyAttributes"].([]any) {
			switch a {
			case "state", "version", "updated_at", "verification", "receipt_signature", "lease_until", "result", "output":
				t.Errorf("by_tenant copies %v, which a task's writes change", a)
			}
		}
		return
	}
	t.Fatal("no by_tenant index")
}
