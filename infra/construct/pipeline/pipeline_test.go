package pipeline_test

import (
	"github.com/agentq/agentq/shared/progresskey"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/construct/pipeline"
	"github.com/agentq/agentq/infra/construct/storage"
	"github.com/agentq/agentq/infra/internal/infratest"
	"github.com/agentq/agentq/shared/queue"
)

var (
	once     sync.Once
	shared   *infratest.Template
	synthErr error
)

// Lambda agents the worker may invoke: one unqualified, one by alias (granted as given).
var lambdaAgents = []string{
	"arn:aws:lambda:eu-west-1:123456789012:function:summarize",
	"arn:aws:lambda:eu-west-1:210987654321:function:translate:prod",
}

// template synthesizes a table and the pipeline once for the whole package.
func template(t *testing.T) *infratest.Template {
	t.Helper()
	once.Do(func() {
		lambdaDir, err := infratest.StubLambdaDir("worker", "sweeper")
		if err != nil {
			synthErr = err
			return
		}
		defer os.RemoveAll(lambdaDir)
		out, err := os.MkdirTemp("", "agentq-cdk-*")
		if err != nil {
			synthErr = err
			return
		}
		defer os.RemoveAll(out)
		s := infratest.NewStack(out)
		table := storage.New(s, "Storage", nil)
		pipeline.New(s, "Pipeline", &pipeline.Props{
			Table:            table.Table,
			Payloads:         table.Payloads,
			SealKey:          table.SealKey,
			LambdaAgentARNs:  lambdaAgents,
			WorkerCodeDir:    filepath.Join(lambdaDir, "worker"),
			SweeperCodeDir:   filepath.Join(lambdaDir, "sweeper"),
			AgentsJSON:       "[]",
			Environment:      map[string]string{golambda.EnvTaskTTL: "720h", golambda.EnvLogLevel: ""},
			LogRemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		shared, synthErr = infratest.Synth(s)
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
	return shared
}

type fixture struct {
	tpl               *infratest.Template
	work, dlq, worker infratest.Resource
	table             infratest.Resource
	bucket, key       infratest.Resource
}

func load(t *testing.T) fixture {
	tpl := template(t)
	return fixture{
		tpl:    tpl,
		work:   tpl.Only(t, "AWS::SQS::Queue", "PipelineWorkQueue"),
		dlq:    tpl.Only(t, "AWS::SQS::Queue", "PipelineDeadLetterQueue"),
		worker: tpl.Only(t, "AWS::Lambda::Function", "PipelineWorker"),
		table:  tpl.Only(t, "AWS::DynamoDB::Table", "Storage"),
		bucket: tpl.Only(t, "AWS::S3::Bucket", "StoragePayloads"),
		key:    tpl.Only(t, "AWS::KMS::Key", "StorageSealKey"),
	}
}

func TestQueuesAreEncrypted(t *testing.T) {
	f := load(t)
	f.tpl.ResourceCountIs(t, "AWS::SQS::Queue", 2)
	for _, q := range []infratest.Resource{f.work, f.dlq} {
		if q.Properties["SqsManagedSseEnabled"] != true {
			t.Errorf("%s: SqsManagedSseEnabled = %v, want true", q.ID, q.Properties["SqsManagedSseEnabled"])
		}
		if _, ok := q.Properties["QueueName"]; ok {
			t.Errorf("%s: fixed QueueName; want a generated one", q.ID)
		}
	}
}

func TestRedriveToDeadLetterQueue(t *testing.T) {
	f := load(t)
	redrive, _ := f.work.Properties["RedrivePolicy"].(map[string]any)
	if infratest.Ref(redrive["deadLetterTargetArn"]) != f.dlq.ID {
		t.Errorf("work queue redrives to %v, want the dead-letter queue %s", redrive["deadLetterTargetArn"], f.dlq.ID)
	}
	n := infratest.Number(redrive["maxReceiveCount"])
	if n != queue.MaxReceiveCount {
		t.Errorf("maxReceiveCount = %v, want queue.MaxReceiveCount (%d)", n, queue.MaxReceiveCount)
	}
	if n < 5 {
		t.Errorf("maxReceiveCount = %v, want at least 5", n)
	}
	if _, ok := f.dlq.Properties["RedrivePolicy"]; ok {
		t.Errorf("the dead-letter queue must not redrive further")
	}
}

func TestRetention(t *testing.T) {
	f := load(t)
	if got, want := infratest.Number(f.work.Properties["MessageRetentionPeriod"]), queue.RetentionPeriod.Seconds(); got != want {
		t.Errorf("work queue retention = %v s, want %v s", got, want)
	}
	if got, want := infratest.Number(f.dlq.Properties["MessageRetentionPeriod"]), queue.DeadLetterRetentionPeriod.Seconds(); got != want {
		t.Errorf("dead-letter retention = %v s, want %v s", got, want)
	}
}

func TestVisibilityTimeoutIsSixTimesWorkerTimeout(t *testing.T) {
	f := load(t)
	timeout := infratest.Number(f.worker.Properties["Timeout"])
	if timeout <= 0 {
		t.Fatalf("worker Timeout = %v", f.worker.Properties["Timeout"])
	}
	for _, q := range []infratest.Resource{f.work, f.dlq} {
		vis := infratest.Number(q.Properties["VisibilityTimeout"])
		if vis < 6*timeout {
			t.Errorf("%s: VisibilityTimeout = %v s, want at least 6 x worker timeout (%v s)", q.ID, vis, 6*timeout)
		}
	}
}

func TestWorkerFunction(t *testing.T) {
	f := load(t)
	infratest.CheckGoFunction(t, f.worker)
	if got := infratest.Number(f.worker.Properties["MemorySize"]); got != pipeline.WorkerMemoryMB {
		t.Errorf("MemorySize = %v, want %d", got, pipeline.WorkerMemoryMB)
	}
	if got := infratest.Number(f.worker.Properties["Timeout"]); got != pipeline.WorkerTimeoutSeconds {
		t.Errorf("Timeout = %v, want %d", got, pipeline.WorkerTimeoutSeconds)
	}
	env := infratest.Env(f.worker)
	refs := map[string]string{
		golambda.EnvTable:         f.table.ID,
		golambda.EnvQueueURL:      f.work.ID,
		golambda.EnvDLQARN:        f.dlq.ID,
		golambda.EnvResultsBucket: f.bucket.ID,
		golambda.EnvKMSKeyID:      f.key.ID,
	}
	for name, id := range refs {
		if got := infratest.Ref(env[name]); got != id {
			t.Errorf("%s = %v, want a reference to %s", name, env[name], id)
		}
	}
	for _, name := range []string{golambda.EnvDLQARN, golambda.EnvKMSKeyID} {
		if ga, _ := env[name].(map[string]any)["Fn::GetAtt"].([]any); len(ga) != 2 || ga[1] != "Arn" {
			t.Errorf("%s = %v, want an Arn", name, env[name])
		}
	}
	if env[golambda.EnvTaskTTL] != "720h" {
		t.Errorf("%s = %v, want 720h", golambda.EnvTaskTTL, env[golambda.EnvTaskTTL])
	}
	if _, ok := env[golambda.EnvLogLevel]; ok {
		t.Errorf("empty %s should not be set", golambda.EnvLogLevel)
	}
	for _, name := range []string{golambda.EnvAPIKeys, golambda.EnvAdminKeys, golambda.EnvAgents, golambda.EnvSealKey} {
		if _, ok := env[name]; ok {
			t.Errorf("worker gets %s; only the API functions need it", name)
		}
	}
}

func TestEventSources(t *testing.T) {
	f := load(t)
	mappings := f.tpl.Resources("AWS::Lambda::EventSourceMapping")
	if len(mappings) != 2 {
		t.Fatalf("got %d event source mappings, want 2 (work queue and DLQ)", len(mappings))
	}
	want := map[string]struct{ batch, concurrency float64 }{
		f.work.ID: {pipeline.BatchSize, pipeline.MaxConcurrency},
		f.dlq.ID:  {pipeline.DeadLetterBatchSize, pipeline.DeadLetterMaxConcurrency},
	}
	for _, m := range mappings {
		src := infratest.Ref(m.Properties["EventSourceArn"])
		w, ok := want[src]
		if !ok {
			t.Errorf("%s: unexpected source %v", m.ID, m.Properties["EventSourceArn"])
			continue
		}
		delete(want, src)
		if infratest.Ref(m.Properties["FunctionName"]) != f.worker.ID {
			t.Errorf("%s: feeds %v, want the worker", m.ID, m.Properties["FunctionName"])
		}
		types, _ := m.Properties["FunctionResponseTypes"].([]any)
		if !slices.Contains(types, any("ReportBatchItemFailures")) {
			t.Errorf("%s (%s): FunctionResponseTypes = %v, want ReportBatchItemFailures", m.ID, src, types)
		}
		if got := infratest.Number(m.Properties["BatchSize"]); got != w.batch {
			t.Errorf("%s (%s): BatchSize = %v, want %v", m.ID, src, got, w.batch)
		}
		scaling, _ := m.Properties["ScalingConfig"].(map[string]any)
		if got := infratest.Number(scaling["MaximumConcurrency"]); got != w.concurrency || got < 2 {
			t.Errorf("%s (%s): MaximumConcurrency = %v, want %v", m.ID, src, got, w.concurrency)
		}
	}
	if len(want) > 0 {
		t.Errorf("queues without an event source: %v", want)
	}
}

func TestWorkerPermissions(t *testing.T) {
	f := load(t)
	role := f.tpl.RoleOf(t, f.worker)
	actions := f.tpl.Actions(role)
	wantOn := map[string][]string{
		"dynamodb:GetItem":            {f.table.ID},
		"dynamodb:Query":              {f.table.ID},
		"dynamodb:UpdateItem":         {f.table.ID},
		"sqs:SendMessage":             {f.work.ID},
		"sqs:ChangeMessageVisibility": {f.work.ID, f.dlq.ID},
		"sqs:ReceiveMessage":          {f.work.ID, f.dlq.ID},
		"sqs:DeleteMessage":           {f.work.ID, f.dlq.ID},
	}
	for action, ids := range wantOn {
		for _, id := range ids {
			if !slices.Contains(actions[action], id) {
				t.Errorf("worker lacks %s on %s (has it on %v)", action, id, actions[action])
			}
		}
	}
	// A thread's turns are read from the by_thread GSI: Query on the index ARN.
	if !f.tpl.OnIndexes(role, "dynamodb:Query", f.table.ID) {
		t.Errorf("worker may not Query the table's indexes (by_thread)")
	}
	for _, forbidden := range []string{"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "sqs:PurgeQueue", "sqs:DeleteQueue"} {
		if _, ok := actions[forbidden]; ok {
			t.Errorf("worker may %s; it should not", forbidden)
		}
	}
	if on := actions["sqs:SendMessage"]; slices.Contains(on, f.dlq.ID) {
		t.Errorf("worker may send to the dead-letter queue; only SQS redrive should")
	}

	// Payloads, the seal key and Lambda agents, exactly: large answers under results/ only, reads
	// of every payload, Decrypt to open an auth context, Encrypt for the progress key alone, and
	// the listed functions.
	want := map[string][]string{
		"s3:PutObject":          {f.bucket.ID + "/" + storage.ResultsPrefix + "*"},
		"s3:GetObject":          {f.bucket.ID, f.bucket.ID + "/*"},
		"s3:ListBucket":         {f.bucket.ID, f.bucket.ID + "/*"},
		"kms:Decrypt":           {f.key.ID},
		"kms:Encrypt":           {f.key.ID},
		"lambda:InvokeFunction": slices.Sorted(slices.Values(lambdaAgents)),
	}
	got := map[string][]string{}
	for a, on := range f.tpl.Grants(role) {
		if strings.HasPrefix(a, "s3:") || strings.HasPrefix(a, "kms:") || strings.HasPrefix(a, "lambda:") {
			got[a] = on
		}
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("worker may %v, want %v", got, want)
	}
	// The worker may seal the progress key and no other secret.
	wantCond := map[string]any{"StringEquals": map[string]any{storage.ProgressKeyContext: progresskey.BindingID}}
	if conds := f.tpl.Conditions(role, "kms:Encrypt"); len(conds) != 1 || !reflect.DeepEqual(conds[0], wantCond) {
		t.Errorf("worker's kms:Encrypt holds under %v, want only %v", conds, wantCond)
	}
	f.tpl.CheckLeastPrivilege(t)
}

func TestSweeper(t *testing.T) {
	f := load(t)
	sweeper := f.tpl.Only(t, "AWS::Lambda::Function", "PipelineSweeper")
	infratest.CheckGoFunction(t, sweeper)
	if got := infratest.Number(sweeper.Properties["Timeout"]); got != pipeline.SweeperTimeoutSeconds {
		t.Errorf("Timeout = %v, want %d", got, pipeline.SweeperTimeoutSeconds)
	}
	env := infratest.Env(sweeper)
	for name, id := range map[string]string{golambda.EnvTable: f.table.ID, golambda.EnvQueueURL: f.work.ID} {
		if got := infratest.Ref(env[name]); got != id {
			t.Errorf("%s = %v, want a reference to %s", name, env[name], id)
		}
	}
	if env[golambda.EnvAgents] != "[]" {
		t.Errorf("%s = %v, want the agents kept as code", golambda.EnvAgents, env[golambda.EnvAgents])
	}
	for _, name := range []string{golambda.EnvAPIKeys, golambda.EnvAdminKeys, golambda.EnvSealKey} {
		if _, ok := env[name]; ok {
			t.Errorf("sweeper gets %s", name)
		}
	}

	// Every 5 minutes, at the sweeper, which EventBridge may invoke.
	f.tpl.ResourceCountIs(t, "AWS::Events::Rule", 1)
	rule := f.tpl.Only(t, "AWS::Events::Rule", "PipelineSweepSchedule")
	if rule.Properties["ScheduleExpression"] != "rate(5 minutes)" || rule.Properties["State"] != "ENABLED" {
		t.Errorf("schedule %v, state %v", rule.Properties["ScheduleExpression"], rule.Properties["State"])
	}
	targets, _ := rule.Properties["Targets"].([]any)
	if len(targets) != 1 || infratest.Ref(targets[0].(map[string]any)["Arn"]) != sweeper.ID {
		t.Errorf("targets %v, want the sweeper", targets)
	}
	invokable := false
	for _, p := range f.tpl.Resources("AWS::Lambda::Permission") {
		if infratest.Ref(p.Properties["FunctionName"]) == sweeper.ID && p.Properties["Principal"] == "events.amazonaws.com" &&
			infratest.Ref(p.Properties["SourceArn"]) == rule.ID {
			invokable = true
		}
	}
	if !invokable {
		t.Error("no permission for the schedule to invoke the sweeper")
	}

	// Least privilege: read and conditionally update tasks, send work, read payloads; nothing else.
	role := f.tpl.RoleOf(t, sweeper)
	actions := f.tpl.Actions(role)
	for action, id := range map[string]string{
		"dynamodb:GetItem": f.table.ID, "dynamodb:Query": f.table.ID, "dynamodb:UpdateItem": f.table.ID, "sqs:SendMessage": f.work.ID,
	} {
		if !slices.Contains(actions[action], id) {
			t.Errorf("sweeper lacks %s on %s (has it on %v)", action, id, actions[action])
		}
	}
	if !f.tpl.OnIndexes(role, "dynamodb:Query", f.table.ID) {
		t.Errorf("sweeper may not Query the table's indexes (by_active)")
	}
	for a, on := range actions {
		switch {
		case a == "dynamodb:PutItem", a == "dynamodb:DeleteItem", a == "dynamodb:BatchWriteItem",
			strings.HasPrefix(a, "kms:"), strings.HasPrefix(a, "lambda:"), a == "s3:PutObject", a == "s3:DeleteObject",
			strings.HasPrefix(a, "sqs:") && a != "sqs:SendMessage" && !strings.HasPrefix(a, "sqs:Get"):
			t.Errorf("sweeper may %s on %v", a, on)
		case a == "sqs:SendMessage" && slices.Contains(on, f.dlq.ID):
			t.Errorf("sweeper may send to the dead-letter queue")
		}
	}
}
