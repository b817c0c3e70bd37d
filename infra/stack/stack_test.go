package stack_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/agentq/agentq/infra/config"
	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/internal/infratest"
	"github.com/agentq/agentq/infra/stack"
	sharedconfig "github.com/agentq/agentq/shared/config"
)

var (
	once           sync.Once
	shared, throw  *infratest.Template
	warnings, errs []string
	// unsetFlags are the feature flags the CLI would warn about (feature-flag-report).
	unsetFlags []string
	// nagErrs are cdk-nag's unsuppressed errors (AwsSolutions and Serverless packs), per variant.
	nagErrs  = map[string][]string{}
	synthErr error
)

// Context of the throwaway variant.
const (
	apiKeys   = "acme:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	adminKeys = "ops:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
	lambdaFn  = "arn:aws:lambda:eu-west-1:123456789012:function:summarize"
	tenant    = "ops"
)

// template synthesizes the whole stack as `cdk synth` would with no context flags beyond the
// binaries' location and a log level.
func template(t *testing.T) *infratest.Template {
	t.Helper()
	synthesize(t)
	return shared
}

// throwaway synthesizes it as a throwaway REST stack (ephemeral, the account's API Gateway log role
// created, as deploy-check synthesizes it), with every
// key and a Lambda agent given, and receipts signed by the KMS key (receiptSigner=kms).
func throwaway(t *testing.T) *infratest.Template {
	t.Helper()
	synthesize(t)
	return throw
}

// synthesize builds both variants once for the whole package.
func synthesize(t *testing.T) {
	t.Helper()
	once.Do(func() {
		synthErr = func() error {
			lambdaDir, err := infratest.StubLambdaDir(config.Functions...)
			if err != nil {
				return err
			}
			defer os.RemoveAll(lambdaDir)
			schedules, err := config.CheckSchedules(config.Schedules)
			if err != nil {
				return err
			}
			for _, c := range []struct {
				cfg config.Config
				tpl **infratest.Template
			}{
				{config.Config{LambdaDir: lambdaDir, TaskTTL: "720h", AgentsJSON: "[]", API: config.APIHTTP, LogLevel: "info", Schedules: schedules}, &shared},
				{config.Config{
					LambdaDir: lambdaDir, TaskTTL: "48h", AgentsJSON: "[]", API: config.APIREST, RestLogRole: config.RestLogRoleCreate, LogLevel: "info", Ephemeral: true,
					APIKeyHashes: apiKeys, AdminKeyHashes: adminKeys, LambdaAgentARNs: []string{lambdaFn}, DefaultTenant: tenant,
					Schedules: schedules, ReceiptSigner: config.ReceiptSignerKMS,
				}, &throw},
			} {
				out, err := os.MkdirTemp("", "agentq-cdk-*")
				if err != nil {
					return err
				}
				defer os.RemoveAll(out)
				app := infratest.NewApp(out)
				s := stack.New(app, "Agentq", &stack.Props{Config: c.cfg})
				// cdk-nag reports what its rule packs find as error and warning annotations, each
				// message starting with the rule's id; a suppression in the stack silences one.
				awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
				awscdk.Aspects_Of(app).Add(cdknag.NewServerlessChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
				// An error annotation (a nag finding too) fails the synthesis, as it fails `cdk
				// synth`: read them first, so a failure lists them instead of a jsii panic.
				variant := c.cfg.API
				synthErrs, err := infratest.SynthErrors(s.Stack, out)
				if err != nil {
					return err
				}
				for _, e := range synthErrs {
					if isNag(e) {
						nagErrs[variant] = append(nagErrs[variant], e)
					} else {
						errs = append(errs, e)
					}
				}
				if len(synthErrs) > 0 {
					return fmt.Errorf("synthesis of the %s variant failed:\n%s", variant, strings.Join(synthErrs, "\n"))
				}
				if *c.tpl, err = infratest.Synth(s.Stack); err != nil {
					return err
				}
				annotations := assertions.Annotations_FromStack(s.Stack)
				collect := func(msgs *[]*cxapi.SynthesisMessage) (out []string) {
					for _, m := range *msgs {
						if m.Entry != nil {
							b, _ := json.Marshal(m.Entry.Data)
							out = append(out, string(b))
						}
					}
					return out
				}
				if c.tpl == &shared {
					if unsetFlags, err = flagsNeedingAttention(out); err != nil {
						return err
					}
				}
				if c.tpl == &shared {
					for _, w := range collect(annotations.FindWarning(jsii.String("*"), assertions.Match_AnyValue())) {
						if !isNag(w) {
							warnings = append(warnings, w)
						}
					}
				}
			}
			return nil
		}()
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
}

// flagsNeedingAttention reads the feature flag report of the assembly in outdir and returns the
// flags the CDK CLI says "are not configured" at every synth: no value set, and a default that
// is not the recommended value.
func flagsNeedingAttention(outdir string) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(outdir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var manifest struct {
		Artifacts map[string]struct {
			Type       string `json:"type"`
			Properties struct {
				Flags map[string]struct {
					UserValue               any            `json:"userValue"`
					RecommendedValue        any            `json:"recommendedValue"`
					UnconfiguredBehavesLike map[string]any `json:"unconfiguredBehavesLike"`
				} `json:"flags"`
			} `json:"properties"`
		} `json:"artifacts"`
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		return nil, err
	}
	var out []string
	found := false
	for _, a := range manifest.Artifacts {
		if a.Type != "cdk:feature-flag-report" {
			continue
		}
		found = true
		for name, f := range a.Properties.Flags {
			def := any(false)
			if v, ok := f.UnconfiguredBehavesLike["v2"]; ok {
				def = v
			}
			if f.UserValue == nil && fmt.Sprint(def) != fmt.Sprint(f.RecommendedValue) {
				out = append(out, name)
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("no feature flag report in %s", outdir)
	}
	slices.Sort(out)
	return out, nil
}

// TestFeatureFlagsConfigured: cdk.json sets every feature flag whose default is not the
// recommended value, so synth warns about none and a later CDK upgrade cannot flip one under a
// deployed stack.
func TestFeatureFlagsConfigured(t *testing.T) {
	synthesize(t)
	if len(unsetFlags) > 0 {
		t.Errorf("feature flags not configured in cdk.json: %v", unsetFlags)
	}
}

// isNag tells a cdk-nag finding (its message names the rule) from the stack's own annotations.
func isNag(msg string) bool {
	return strings.Contains(msg, "AwsSolutions-") || strings.Contains(msg, "Serverless-")
}

// TestNag: cdk-nag's AwsSolutions and Serverless packs find no unsuppressed error in either
// variant; every suppression is in the stack (nag.go), naming the rule, the resource and why.
func TestNag(t *testing.T) {
	synthesize(t)
	for _, variant := range []string{config.APIHTTP, config.APIREST} {
		for _, e := range nagErrs[variant] {
			t.Errorf("%s: %s", variant, e)
		}
	}
}

func TestComposesEveryUnit(t *testing.T) {
	tpl := template(t)
	for typ, n := range map[string]int{
		"AWS::DynamoDB::Table": 1,
		// The payloads and their access logs, each TLS only.
		"AWS::S3::Bucket":       2,
		"AWS::S3::BucketPolicy": 2,
		"AWS::KMS::Key":         1, // the seal key: receipts are signed by the sealed key by default
		// Work queue and DLQ; notify DLQ; webhook queue and DLQ; trigger DLQ; ingest queue and DLQ.
		"AWS::SQS::Queue": 8,
		// TLS only on every queue; EventBridge may also dead-letter into the trigger DLQ.
		"AWS::SQS::QueuePolicy": 8,
		// invoke, poll, stream, worker, sweeper, trigger, notify, deliver: no authorizer.
		"AWS::Lambda::Function": 8,
		// The sweeper's schedule and the Invoke Agent rule.
		"AWS::Events::Rule":               2,
		"AWS::Events::EventBus":           1,
		"AWS::Events::Archive":            1,
		"AWS::Scheduler::Schedule":        len(config.Schedules),
		"AWS::Lambda::EventInvokeConfig":  1,
		"AWS::Lambda::EventSourceMapping": 5, // work queue, DLQ, table stream, webhook queue, ingest queue
		"AWS::ApiGatewayV2::Api":          1,
		// Five of the pipeline and API, four dead-letter queues of events, the stream's age.
		"AWS::CloudWatch::Alarm":     10,
		"AWS::CloudWatch::Dashboard": 1,
		// A real stack never empties its bucket.
		"Custom::S3AutoDeleteObjects": 0,
	} {
		tpl.ResourceCountIs(t, typ, n)
	}
	if len(errs) > 0 {
		t.Errorf("synthesis errors: %v", errs)
	}
}

func TestEveryFunctionIsGoOnArm(t *testing.T) {
	tpl := template(t)
	table := tpl.Only(t, "AWS::DynamoDB::Table", "Storage")
	bucket := tpl.Only(t, "AWS::S3::Bucket", "StoragePayloads")
	key := tpl.Only(t, "AWS::KMS::Key", "StorageSealKey")
	for _, fn := range tpl.Resources("AWS::Lambda::Function") {
		infratest.CheckGoFunction(t, fn)
		env := infratest.Env(fn)
		// Every function reads and writes the same table and payloads, and names the same key;
		// deliver never reads a payload.
		want := map[string]string{golambda.EnvTable: table.ID, golambda.EnvResultsBucket: bucket.ID, golambda.EnvKMSKeyID: key.ID}
		if strings.HasPrefix(fn.ID, "EventsDeliver") {
			want = map[string]string{golambda.EnvTable: table.ID, golambda.EnvKMSKeyID: key.ID}
		}
		// No function carries the operator's webhook secret: it would be plain text in the
		// template and the function's configuration.
		if v, ok := env[golambda.EnvWebhookSecret]; ok {
			t.Errorf("%s: %s = %v", fn.ID, golambda.EnvWebhookSecret, v)
		}
		for name, id := range want {
			if infratest.Ref(env[name]) != id {
				t.Errorf("%s: %s = %v, want a reference to %s", fn.ID, name, env[name], id)
			}
		}
		if env[golambda.EnvTaskTTL] != "720h" || env[golambda.EnvLogLevel] != "info" {
			t.Errorf("%s: TTL %v, log level %v", fn.ID, env[golambda.EnvTaskTTL], env[golambda.EnvLogLevel])
		}
	}
}

// TestContextReachesTheFunctions: the throwaway variant's keys, TTL and Lambda agent reach the
// functions that use them, and only those.
func TestContextReachesTheFunctions(t *testing.T) {
	tpl := throwaway(t)
	invoke := tpl.Only(t, "AWS::Lambda::Function", "ApiInvoke")
	poll := tpl.Only(t, "AWS::Lambda::Function", "ApiPoll")
	worker := tpl.Only(t, "AWS::Lambda::Function", "PipelineWorker")
	for _, fn := range []infratest.Resource{invoke, poll} {
		env := infratest.Env(fn)
		if env[golambda.EnvAPIKeys] != apiKeys || env[golambda.EnvAdminKeys] != adminKeys {
			t.Errorf("%s: API keys %v, admin keys %v", fn.ID, env[golambda.EnvAPIKeys], env[golambda.EnvAdminKeys])
		}
	}
	if _, ok := infratest.Env(worker)[golambda.EnvAdminKeys]; ok {
		t.Errorf("worker gets %s", golambda.EnvAdminKeys)
	}
	// receiptSigner=kms: both sign with the KMS receipt key, which the stack defines.
	receiptKey := tpl.Only(t, "AWS::KMS::Key", "StorageReceiptKey").ID
	for _, fn := range []infratest.Resource{invoke, poll} {
		env := infratest.Env(fn)
		if infratest.Ref(env[golambda.EnvReceiptKeyID]) != receiptKey || env[golambda.EnvReceiptKeyGeneration] != nil {
			t.Errorf("%s signs receipts with %v / generation %v, want the KMS key %s", fn.ID, env[golambda.EnvReceiptKeyID], env[golambda.EnvReceiptKeyGeneration], receiptKey)
		}
	}
	for _, fn := range tpl.Resources("AWS::Lambda::Function") {
		got, ok := infratest.Env(fn)[golambda.EnvDefaultTenant]
		if strings.HasPrefix(fn.ID, "EventsTrigger") != ok || ok && got != tenant {
			t.Errorf("%s: %s = %v; only the trigger gets it, %q", fn.ID, golambda.EnvDefaultTenant, got, tenant)
		}
	}
	// 48h: two days, and one more for the payloads.
	tpl.HasResourceProperties(t, "AWS::S3::Bucket", map[string]any{"LifecycleConfiguration": map[string]any{
		"Rules": []any{map[string]any{"Id": "expire-with-tasks", "Status": "Enabled", "ExpirationInDays": 3,
			"AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": 1}}},
	}})
	for _, fn := range []infratest.Resource{invoke, poll, worker} {
		got := tpl.Grants(tpl.RoleOf(t, fn))["lambda:InvokeFunction"]
		var want []string
		if fn.ID == worker.ID {
			want = []string{lambdaFn}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s may invoke %v, want %v", fn.ID, got, want)
		}
	}
}

// TestReceiptsSealedByDefault: without receiptSigner, invoke and poll sign with the sealed key's
// first generation, and no KMS receipt key is defined.
func TestReceiptsSealedByDefault(t *testing.T) {
	tpl := template(t)
	for _, prefix := range []string{"ApiInvoke", "ApiPoll"} {
		env := infratest.Env(tpl.Only(t, "AWS::Lambda::Function", prefix))
		if env[golambda.EnvReceiptKeyGeneration] != "1" || env[golambda.EnvReceiptKeyID] != nil {
			t.Errorf("%s signs receipts with %v / generation %v, want the sealed key's generation 1", prefix, env[golambda.EnvReceiptKeyID], env[golambda.EnvReceiptKeyGeneration])
		}
	}
}

// TestThrowawayStackIsDeletable: ephemeral deletes the data and the key, empties the bucket
// first, and lets through no wildcard grant but CDK's bucket-emptying provider's.
func TestThrowawayStackIsDeletable(t *testing.T) {
	tpl := throwaway(t)
	for _, typ := range []string{"AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::KMS::Key", "AWS::Logs::LogGroup"} {
		for _, r := range tpl.Resources(typ) {
			if r.Raw["DeletionPolicy"] != "Delete" {
				t.Errorf("%s %s: DeletionPolicy = %v, want Delete", typ, r.ID, r.Raw["DeletionPolicy"])
			}
		}
	}
	// The payload bucket and its access logs.
	tpl.ResourceCountIs(t, "Custom::S3AutoDeleteObjects", 2)
	tpl.ResourceCountIs(t, "AWS::ApiGateway::RestApi", 1)
	tpl.CheckLeastPrivilegeExcept(t, infratest.AutoDeleteObjectsRole, infratest.RestLogRole)
	tpl.CheckTLSOnly(t)
}

// TestRestLogRole: with -c restLogRole=create the REST flavour makes its role the account's API
// Gateway CloudWatch role, with AWS's policy for it and nothing else, and keeps both when the
// stack goes (other APIs of the account log through it); the stage logs and traces.
func TestRestLogRole(t *testing.T) {
	tpl := throwaway(t)
	role := tpl.Only(t, "AWS::IAM::Role", infratest.RestLogRole)
	managed, _ := json.Marshal(role.Properties["ManagedPolicyArns"])
	if !strings.Contains(string(managed), "service-role/AmazonAPIGatewayPushToCloudWatchLogs") || strings.Count(string(managed), "policy/") != 1 {
		t.Errorf("log role's managed policies = %s, want AmazonAPIGatewayPushToCloudWatchLogs only", managed)
	}
	if role.Raw["DeletionPolicy"] != "Retain" {
		t.Errorf("log role DeletionPolicy = %v, want Retain", role.Raw["DeletionPolicy"])
	}
	account := tpl.Only(t, "AWS::ApiGateway::Account", "ApiRestApi")
	if infratest.Ref(account.Properties["CloudWatchRoleArn"]) != role.ID || account.Raw["DeletionPolicy"] != "Retain" {
		t.Errorf("account setting = %v (DeletionPolicy %v), want the log role, retained", account.Properties, account.Raw["DeletionPolicy"])
	}
	for _, st := range tpl.PolicyStatements(role.ID) {
		t.Errorf("log role has a grant beyond AWS's policy: %+v", st)
	}
	stage := tpl.Only(t, "AWS::ApiGateway::Stage", "ApiRestApi")
	if stage.Properties["TracingEnabled"] != true || stage.Properties["AccessLogSetting"] == nil {
		t.Errorf("stage tracing %v, access logs %v; want both", stage.Properties["TracingEnabled"], stage.Properties["AccessLogSetting"])
	}
	// The default flavour needs no such role: its access logs are written by the HTTP API itself.
	template(t).ResourceCountIs(t, "AWS::ApiGateway::Account", 0)
}

// TestNoLambdaAgentsNoInvokeGrant: without lambda agents, no role may invoke any function, but
// the schedules' role, which may invoke the trigger and nothing else.
func TestNoLambdaAgentsNoInvokeGrant(t *testing.T) {
	tpl := template(t)
	scheduler := tpl.Only(t, "AWS::IAM::Role", "EventsSchedulerRole").ID
	trigger := tpl.Only(t, "AWS::Lambda::Function", "EventsTrigger").ID
	for _, st := range tpl.PolicyStatements("") {
		for _, a := range st.Actions {
			if !strings.HasPrefix(a, "lambda:") {
				continue
			}
			if policy := tpl.Only(t, "AWS::IAM::Policy", st.Policy); infratest.Ref(policy.Properties["Roles"].([]any)[0]) == scheduler && a == "lambda:InvokeFunction" {
				if got := infratest.ResourcePaths(st.Resource); !slices.Equal(got, []string{trigger, trigger + ":*"}) {
					t.Errorf("the schedules' role may invoke %v, want the trigger only", got)
				}
				continue
			}
			t.Errorf("policy %s grants %s on %v without any lambda agent", st.Policy, a, st.Resource)
		}
	}
}

func TestNoWildcardActions(t *testing.T) {
	template(t).CheckLeastPrivilege(t)
}

// TestTLSOnly: every queue, the alarm topic and both buckets refuse requests made without TLS.
func TestTLSOnly(t *testing.T) {
	template(t).CheckTLSOnly(t)
}

// TestTracing: every function traces with X-Ray (CheckGoFunction checks the mode).
func TestTracing(t *testing.T) {
	tpl := template(t)
	fns := tpl.Resources("AWS::Lambda::Function")
	if len(fns) != len(config.Functions) {
		t.Fatalf("%d functions, want %d", len(fns), len(config.Functions))
	}
	for _, fn := range fns {
		infratest.CheckGoFunction(t, fn)
	}
}

func TestWithoutKeysEveryRequestIsRejected(t *testing.T) {
	tpl := template(t)
	for _, fn := range tpl.Resources("AWS::Lambda::Function") {
		for _, name := range []string{golambda.EnvAPIKeys, golambda.EnvAdminKeys} {
			if _, ok := infratest.Env(fn)[name]; ok {
				t.Errorf("%s: %s set although no keys were given", fn.ID, name)
			}
		}
	}
	found := false
	for _, w := range warnings {
		found = found || strings.Contains(w, "rejects every request")
	}
	if !found {
		t.Errorf("no warning about the missing API keys; warnings: %v", warnings)
	}
}

func TestOutputs(t *testing.T) {
	tpl := template(t)
	outputs, _ := tpl.JSON["Outputs"].(map[string]any)
	for _, name := range []string{
		stack.OutputAPIURL, stack.OutputAPIID, stack.OutputAPIStage, stack.OutputTableName,
		stack.OutputQueueURL, stack.OutputDeadLetterQueueURL, stack.OutputAlarmTopicARN, stack.OutputDashboardName,
		stack.OutputPayloadBucketName, stack.OutputSealKeyARN, stack.OutputEventBusName, stack.OutputEventBusARN,
		stack.OutputIngestQueueURL, stack.OutputTriggerDeadLetterQueueURL, stack.OutputWebhookDeadLetterQueueURL, stack.OutputStreamURL,
	} {
		if _, ok := outputs[name]; !ok {
			t.Errorf("no output %s", name)
		}
	}
	// The events' outputs name the events' resources.
	for name, c := range map[string]struct{ typ, prefix, attr string }{
		stack.OutputEventBusName:              {"AWS::Events::EventBus", "EventsBus", ""},
		stack.OutputEventBusARN:               {"AWS::Events::EventBus", "EventsBus", "Arn"},
		stack.OutputIngestQueueURL:            {"AWS::SQS::Queue", "EventsIngestQueue", ""},
		stack.OutputTriggerDeadLetterQueueURL: {"AWS::SQS::Queue", "EventsTriggerDeadLetterQueue", ""},
		stack.OutputWebhookDeadLetterQueueURL: {"AWS::SQS::Queue", "EventsWebhookDeadLetterQueue", ""},
	} {
		want := map[string]any{"Ref": tpl.Only(t, c.typ, c.prefix).ID}
		if c.attr != "" {
			want = map[string]any{"Fn::GetAtt": []any{tpl.Only(t, c.typ, c.prefix).ID, c.attr}}
		}
		got, _ := outputs[name].(map[string]any)
		if a, b := fmt.Sprint(got["Value"]), fmt.Sprint(want); a != b {
			t.Errorf("output %s = %s, want %s", name, a, b)
		}
	}
	tpl.HasResourceProperties(t, "AWS::Events::EventBus", map[string]any{"Name": "agentq-Agentq"})
	url, _ := json.Marshal(outputs[stack.OutputAPIURL])
	api := tpl.Only(t, "AWS::ApiGatewayV2::Api", "Api")
	if !strings.Contains(string(url), `"`+api.ID+`"`) || !strings.Contains(string(url), "execute-api") {
		t.Errorf("ApiUrl = %s, want the HTTP API's execute-api URL", url)
	}
}

func TestEnvironmentAgnostic(t *testing.T) {
	// No account or region is baked in: the template deploys anywhere and synthesizes offline.
	raw, _ := json.Marshal(template(t).JSON)
	for _, s := range []string{"us-east-1", "eu-west-1", "000000000000"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("template contains %s", s)
		}
	}
}

// TestEventsWiring: the events reach the functions that use them: the trigger queues work on the
// pipeline's queue with the default tenant, invoke replays deliveries on the webhook queue, and
// the three new functions are on the dashboard and alarmed as they should be.
func TestEventsWiring(t *testing.T) {
	tpl := template(t)
	work := tpl.Only(t, "AWS::SQS::Queue", "PipelineWorkQueue")
	webhooks := tpl.Only(t, "AWS::SQS::Queue", "EventsWebhookQueue")
	trigger := infratest.Env(tpl.Only(t, "AWS::Lambda::Function", "EventsTrigger"))
	if infratest.Ref(trigger[golambda.EnvQueueURL]) != work.ID || trigger[golambda.EnvDefaultTenant] != config.DefaultTenant || trigger[golambda.EnvAgents] != "[]" {
		t.Errorf("trigger env = %v, want the work queue, tenant %q and the agents", trigger, config.DefaultTenant)
	}
	invoke := infratest.Env(tpl.Only(t, "AWS::Lambda::Function", "ApiInvoke"))
	if infratest.Ref(invoke[golambda.EnvWebhookQueueURL]) != webhooks.ID {
		t.Errorf("invoke: %s = %v, want the webhook queue", golambda.EnvWebhookQueueURL, invoke[golambda.EnvWebhookQueueURL])
	}
	dashboard, _ := json.Marshal(tpl.Only(t, "AWS::CloudWatch::Dashboard", "MonitoringDashboard").Properties["DashboardBody"])
	for _, fn := range []string{"EventsTrigger", "EventsNotify", "EventsDeliver"} {
		if id := tpl.Only(t, "AWS::Lambda::Function", fn).ID; !strings.Contains(string(dashboard), id) {
			t.Errorf("dashboard does not show %s", fn)
		}
	}
	for alarm, watched := range map[string]string{
		"MonitoringNotifyDeadLetterDepth":  "EventsNotifyDeadLetterQueue",
		"MonitoringWebhookDeadLetterDepth": "EventsWebhookDeadLetterQueue",
		"MonitoringTriggerDeadLetterDepth": "EventsTriggerDeadLetterQueue",
		"MonitoringIngestDeadLetterDepth":  "EventsIngestDeadLetterQueue",
		"MonitoringNotifyIteratorAge":      "EventsNotify",
	} {
		a := tpl.Only(t, "AWS::CloudWatch::Alarm", alarm)
		dims, _ := json.Marshal(a.Properties["Dimensions"])
		typ := "AWS::SQS::Queue"
		if strings.HasSuffix(alarm, "IteratorAge") {
			typ = "AWS::Lambda::Function"
		}
		if id := tpl.Only(t, typ, watched).ID; !strings.Contains(string(dims), `"`+id+`"`) {
			t.Errorf("%s watches %s, want %s", alarm, dims, id)
		}
	}
}

// TestOversizedEnvironmentRefused: fourteen agents and two key hashes, 3,220 bytes raw (which a
// raw-byte bound of 3,300 let through), are over Lambda's 4 KB once serialized as Lambda measures
// them, quotes escaped and the generated names filled in: the synth fails on the invoke function
// instead of the deploy failing half-way.
func TestOversizedEnvironmentRefused(t *testing.T) {
	var agents []string
	for i := range 14 {
		agents = append(agents, fmt.Sprintf(`{"id":"agent-%02d","protocol":"http","endpoint":"https://agents.internal.example.com/teams/billing/v1/agents/%02d/invoke","timeout":"60s","auth":"forward","description":"team agent"}`, i, i))
	}
	agentsJSON := "[" + strings.Join(agents, ",") + "]"
	if raw := len(agentsJSON) + len(apiKeys) + len(adminKeys); raw > 3300 {
		t.Fatalf("the example is %d bytes raw; it must fit the old raw bound to show the difference", raw)
	}
	lambdaDir, err := infratest.StubLambdaDir(config.Functions...)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(lambdaDir)
	out := t.TempDir()
	s := stack.New(infratest.NewApp(out), "Agentq", &stack.Props{Config: config.Config{
		LambdaDir: lambdaDir, TaskTTL: "720h", AgentsJSON: agentsJSON, API: config.APIHTTP,
		APIKeyHashes: apiKeys, AdminKeyHashes: adminKeys,
	}})
	errs, err := infratest.SynthErrors(s.Stack, out)
	if err != nil {
		t.Fatal(err)
	}
	var invoke []string
	for _, e := range errs {
		if strings.HasPrefix(e, "Agentq/Api/Invoke") {
			invoke = append(invoke, e)
		}
	}
	if len(invoke) != 1 || !strings.Contains(invoke[0], "AGENTQ_AGENTS") || !strings.Contains(invoke[0], "over Lambda's 4096") {
		t.Errorf("synth errors = %q, want one on the invoke function naming AGENTQ_AGENTS", errs)
	}
}

// TestWorkerKnowsTheStreamURL: the worker hands agents progress targets at the stream function's
// URL, and no function is given a plaintext progress key (it is kept sealed in the table).
func TestWorkerKnowsTheStreamURL(t *testing.T) {
	for name, tpl := range map[string]*infratest.Template{"http": template(t), "rest": throwaway(t)} {
		url := tpl.Only(t, "AWS::Lambda::Url", "ApiStream")
		worker := tpl.Only(t, "AWS::Lambda::Function", "PipelineWorker")
		env := infratest.Env(worker)
		got, _ := env[golambda.EnvStreamURL].(map[string]any)
		if fmt.Sprint(got) != fmt.Sprint(map[string]any{"Fn::GetAtt": []any{url.ID, "FunctionUrl"}}) {
			t.Errorf("%s: worker's %s = %v, want the stream function's URL (%s)", name, golambda.EnvStreamURL, env[golambda.EnvStreamURL], url.ID)
		}
		for _, fn := range tpl.Resources("AWS::Lambda::Function") {
			if _, ok := infratest.Env(fn)[sharedconfig.EnvProgressKey]; ok {
				t.Errorf("%s: %s is given a plaintext progress key", name, fn.ID)
			}
		}
	}
}
