package events_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/config"
	"github.com/agentq/agentq/infra/construct/api"
	"github.com/agentq/agentq/infra/construct/events"
	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/construct/storage"
	"github.com/agentq/agentq/infra/internal/infratest"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/trigger"
)

var (
	once     sync.Once
	shared   *infratest.Template
	built    *events.Events
	synthErr error
)

const testAgents = `[{"id":"echo"}]`

// nightly is an enabled schedule next to the disabled example.
var nightly = config.Schedule{
	Name: "nightly", Expression: "cron(0 2 * * ? *)", Timezone: "Europe/Berlin", AgentID: "summarize",
	Dialect: "servicenet", Body: `{"message":"summarize the day","tenant":"acme","n":12345678901234567890}`, Enabled: true,
}

func template(t *testing.T) *infratest.Template {
	t.Helper()
	once.Do(func() {
		synthErr = func() error {
			lambdaDir, err := infratest.StubLambdaDir("trigger", "notify", "deliver")
			if err != nil {
				return err
			}
			defer os.RemoveAll(lambdaDir)
			out, err := os.MkdirTemp("", "agentq-cdk-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(out)
			schedules, err := config.CheckSchedules(append(append([]config.Schedule{}, config.Schedules...), nightly))
			if err != nil {
				return err
			}
			s := infratest.NewStack(out)
			st := storage.New(s, "Storage", nil)
			work := awssqs.NewQueue(s, jsii.String("WorkQueue"), nil)
			built = events.New(s, "Events", &events.Props{
				Table:            st.Table,
				Payloads:         st.Payloads,
				SealKey:          st.SealKey,
				WorkQueue:        work,
				BusName:          "agentq-Test",
				AgentsJSON:       testAgents,
				DefaultTenant:    "ops",
				Schedules:        schedules,
				TriggerCodeDir:   filepath.Join(lambdaDir, "trigger"),
				NotifyCodeDir:    filepath.Join(lambdaDir, "notify"),
				DeliverCodeDir:   filepath.Join(lambdaDir, "deliver"),
				Environment:      map[string]string{golambda.EnvTaskTTL: "720h", golambda.EnvLogLevel: ""},
				LogRemovalPolicy: awscdk.RemovalPolicy_DESTROY,
			})
			shared, err = infratest.Synth(s)
			return err
		}()
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
	return shared
}

// ids are the logical ids of the resources the tests look at.
type ids struct {
	table, bucket, key, work                                       string
	bus, rule                                                      string
	notifyDLQ, webhooks, webhookDLQ, triggerDLQ, ingest, ingestDLQ string
	notify, deliver, trigger                                       infratest.Resource
}

func load(t *testing.T) (*infratest.Template, ids) {
	t.Helper()
	tpl := template(t)
	q := func(prefix string) string { return tpl.Only(t, "AWS::SQS::Queue", prefix).ID }
	return tpl, ids{
		table:      tpl.Only(t, "AWS::DynamoDB::Table", "Storage").ID,
		bucket:     tpl.Only(t, "AWS::S3::Bucket", "StoragePayloads").ID,
		key:        tpl.Only(t, "AWS::KMS::Key", "StorageSealKey").ID,
		work:       q("WorkQueue"),
		bus:        tpl.Only(t, "AWS::Events::EventBus", "EventsBus").ID,
		rule:       tpl.Only(t, "AWS::Events::Rule", "EventsInvokeRule").ID,
		notifyDLQ:  q("EventsNotifyDeadLetterQueue"),
		webhooks:   q("EventsWebhookQueue"),
		webhookDLQ: q("EventsWebhookDeadLetterQueue"),
		triggerDLQ: q("EventsTriggerDeadLetterQueue"),
		ingest:     q("EventsIngestQueue"),
		ingestDLQ:  q("EventsIngestDeadLetterQueue"),
		notify:     tpl.Only(t, "AWS::Lambda::Function", "EventsNotify"),
		deliver:    tpl.Only(t, "AWS::Lambda::Function", "EventsDeliver"),
		trigger:    tpl.Only(t, "AWS::Lambda::Function", "EventsTrigger"),
	}
}

// TestBusAndArchive: a named bus, and an archive of the completion events only (source agentq)
// kept a week: replaying those tells subscribers again, replaying Invoke Agent events would run
// agents again.
func TestBusAndArchive(t *testing.T) {
	tpl, f := load(t)
	tpl.ResourceCountIs(t, "AWS::Events::EventBus", 1)
	tpl.HasResourceProperties(t, "AWS::Events::EventBus", map[string]any{"Name": "agentq-Test"})
	tpl.ResourceCountIs(t, "AWS::Events::Archive", 1)
	archive := tpl.Only(t, "AWS::Events::Archive", "EventsBusArchive")
	if got := infratest.Ref(archive.Properties["SourceArn"]); got != f.bus {
		t.Errorf("archive of %v, want the bus %s", archive.Properties["SourceArn"], f.bus)
	}
	pattern, _ := json.Marshal(archive.Properties["EventPattern"])
	if string(pattern) != `{"source":["agentq"]}` {
		t.Errorf("archive pattern = %s, want the completion events' source only", pattern)
	}
	if got := infratest.Number(archive.Properties["RetentionDays"]); got != events.ArchiveRetentionDays || got < 1 {
		t.Errorf("archive RetentionDays = %v, want %d", got, events.ArchiveRetentionDays)
	}
	// CDK writes "KmsKeyIdentifier": "" without a customer key, which some regions refuse.
	if v, ok := archive.Properties["KmsKeyIdentifier"]; ok {
		t.Errorf("archive KmsKeyIdentifier = %q; want none (an AWS-owned key)", v)
	}
	if _, ok := archive.Properties["ArchiveName"]; ok {
		t.Errorf("fixed ArchiveName %v; want a generated one", archive.Properties["ArchiveName"])
	}
}

// TestQueues: every queue SQS-managed SSE with a generated name; dead-letter queues keep two weeks
// and redrive nowhere; the ingest and webhook queues keep four days, redrive after
// queue.MaxReceiveCount receives, and hide a message six times their function's timeout.
func TestQueues(t *testing.T) {
	tpl, f := load(t)
	tpl.ResourceCountIs(t, "AWS::SQS::Queue", 7) // six here and the test's work queue
	for _, id := range []string{f.notifyDLQ, f.webhooks, f.webhookDLQ, f.triggerDLQ, f.ingest, f.ingestDLQ} {
		q := resource(t, tpl, id)
		if q.Properties["SqsManagedSseEnabled"] != true {
			t.Errorf("%s: SqsManagedSseEnabled = %v, want true", id, q.Properties["SqsManagedSseEnabled"])
		}
		if _, ok := q.Properties["QueueName"]; ok {
			t.Errorf("%s: fixed QueueName; want a generated one", id)
		}
	}
	for _, id := range []string{f.notifyDLQ, f.webhookDLQ, f.triggerDLQ, f.ingestDLQ} {
		q := resource(t, tpl, id)
		if got, want := infratest.Number(q.Properties["MessageRetentionPeriod"]), queue.DeadLetterRetentionPeriod.Seconds(); got != want || got != 14*24*3600 {
			t.Errorf("%s: retention %v s, want 14 days (%v s)", id, got, want)
		}
		if _, ok := q.Properties["RedrivePolicy"]; ok {
			t.Errorf("%s: a dead-letter queue redrives further", id)
		}
	}
	for src, c := range map[string]struct {
		dlq string
		fn  infratest.Resource
	}{f.webhooks: {f.webhookDLQ, f.deliver}, f.ingest: {f.ingestDLQ, f.trigger}} {
		q := resource(t, tpl, src)
		redrive, _ := q.Properties["RedrivePolicy"].(map[string]any)
		if infratest.Ref(redrive["deadLetterTargetArn"]) != c.dlq || infratest.Number(redrive["maxReceiveCount"]) != queue.MaxReceiveCount {
			t.Errorf("%s redrives %v, want to %s after %d receives", src, redrive, c.dlq, queue.MaxReceiveCount)
		}
		if got, want := infratest.Number(q.Properties["MessageRetentionPeriod"]), queue.RetentionPeriod.Seconds(); got != want {
			t.Errorf("%s: retention %v s, want %v s", src, got, want)
		}
		timeout := infratest.Number(c.fn.Properties["Timeout"])
		if got := infratest.Number(q.Properties["VisibilityTimeout"]); got != 6*timeout || timeout <= 0 {
			t.Errorf("%s: VisibilityTimeout = %v s, want 6 x %s's timeout (%v s)", src, got, c.fn.ID, timeout)
		}
	}
}

func resource(t *testing.T, tpl *infratest.Template, id string) infratest.Resource {
	t.Helper()
	res, _ := tpl.JSON["Resources"].(map[string]any)
	r, ok := res[id].(map[string]any)
	if !ok {
		t.Fatalf("no resource %s", id)
	}
	props, _ := r["Properties"].(map[string]any)
	typ, _ := r["Type"].(string)
	return infratest.Resource{ID: id, Type: typ, Properties: props, Raw: r}
}

// TestFunctions: three Go functions with the sizing of the package's constants and exactly the
// environment each reads, referencing the right resources.
func TestFunctions(t *testing.T) {
	tpl, f := load(t)
	tpl.ResourceCountIs(t, "AWS::Lambda::Function", 3)
	ref := func(id string) any { return map[string]any{"Ref": id} }
	arn := func(id string) any { return map[string]any{"Fn::GetAtt": []any{id, "Arn"}} }
	for _, c := range []struct {
		fn              infratest.Resource
		memory, timeout float64
		env             map[string]any
	}{
		{f.notify, events.NotifyMemoryMB, events.NotifyTimeoutSeconds, map[string]any{
			golambda.EnvTable: ref(f.table), golambda.EnvEventBus: ref(f.bus), golambda.EnvWebhookQueueURL: ref(f.webhooks),
			golambda.EnvResultsBucket: ref(f.bucket), golambda.EnvKMSKeyID: arn(f.key), golambda.EnvTaskTTL: "720h",
			// Props leave it unset: the functions' default, written out.
			golambda.EnvCompletionEvents: "requested",
		}},
		{f.deliver, events.DeliverMemoryMB, events.DeliverTimeoutSeconds, map[string]any{
			golambda.EnvTable: ref(f.table), golambda.EnvWebhookQueueURL: ref(f.webhooks), golambda.EnvWebhookDLQURL: ref(f.webhookDLQ),
			golambda.EnvKMSKeyID: arn(f.key), golambda.EnvTaskTTL: "720h",
		}},
		{f.trigger, events.TriggerMemoryMB, events.TriggerTimeoutSeconds, map[string]any{
			golambda.EnvTable: ref(f.table), golambda.EnvQueueURL: ref(f.work), golambda.EnvTriggerDLQURL: ref(f.triggerDLQ),
			golambda.EnvResultsBucket: ref(f.bucket), golambda.EnvAgents: testAgents, golambda.EnvDefaultTenant: "ops",
			golambda.EnvKMSKeyID: arn(f.key), golambda.EnvTaskTTL: "720h",
		}},
	} {
		infratest.CheckGoFunction(t, c.fn)
		if got := infratest.Number(c.fn.Properties["MemorySize"]); got != c.memory {
			t.Errorf("%s: MemorySize = %v, want %v", c.fn.ID, got, c.memory)
		}
		if got := infratest.Number(c.fn.Properties["Timeout"]); got != c.timeout {
			t.Errorf("%s: Timeout = %v, want %v", c.fn.ID, got, c.timeout)
		}
		if got := infratest.Env(c.fn); !reflect.DeepEqual(got, c.env) {
			t.Errorf("%s: environment\n got %v\nwant %v", c.fn.ID, got, c.env)
		}
	}
	// A delivery's POST is cut at 10 s and a batch runs concurrently: a minute at least.
	if events.DeliverTimeoutSeconds < 60 {
		t.Errorf("DeliverTimeoutSeconds = %d, want at least 60", events.DeliverTimeoutSeconds)
	}
}

// mapping returns the one event source mapping whose source is the resource with logical id src.
func mapping(t *testing.T, tpl *infratest.Template, src string) infratest.Resource {
	t.Helper()
	var found []infratest.Resource
	for _, m := range tpl.Resources("AWS::Lambda::EventSourceMapping") {
		if infratest.Ref(m.Properties["EventSourceArn"]) == src {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d event source mappings on %s, want 1", len(found), src)
	}
	return found[0]
}

// TestNotifySource: the table's stream (its StreamArn) feeds notify from the trim horizon, in
// batches of about a hundred with a short window, bisecting failed batches, reporting partial
// failures, retrying a bounded number of times within the stream's 24 hours, then describing the
// failure in the notify dead-letter queue; and only task items that reach a notified state pass.
func TestNotifySource(t *testing.T) {
	tpl, f := load(t)
	tpl.ResourceCountIs(t, "AWS::Lambda::EventSourceMapping", 3)
	m := mapping(t, tpl, f.table)
	if ga, _ := m.Properties["EventSourceArn"].(map[string]any)["Fn::GetAtt"].([]any); len(ga) != 2 || ga[1] != "StreamArn" {
		t.Errorf("EventSourceArn = %v, want the table's StreamArn", m.Properties["EventSourceArn"])
	}
	if infratest.Ref(m.Properties["FunctionName"]) != f.notify.ID {
		t.Errorf("the stream feeds %v, want notify", m.Properties["FunctionName"])
	}
	want := map[string]any{
		"StartingPosition":               "TRIM_HORIZON",
		"BatchSize":                      float64(events.NotifyBatchSize),
		"MaximumBatchingWindowInSeconds": float64(events.NotifyBatchingWindowSeconds),
		"BisectBatchOnFunctionError":     true,
		"MaximumRetryAttempts":           float64(events.NotifyRetryAttempts),
		"MaximumRecordAgeInSeconds":      float64(24 * 3600),
		"FunctionResponseTypes":          []any{"ReportBatchItemFailures"},
	}
	for k, v := range want {
		if !reflect.DeepEqual(m.Properties[k], v) {
			t.Errorf("%s = %v, want %v", k, m.Properties[k], v)
		}
	}
	if n := events.NotifyRetryAttempts; n < 10 || n > 1000 {
		t.Errorf("NotifyRetryAttempts = %d: want bounded but generous", n)
	}
	if w := events.NotifyBatchingWindowSeconds; w < 1 || w > 5 {
		t.Errorf("NotifyBatchingWindowSeconds = %d: want a short window", w)
	}
	dest, _ := m.Properties["DestinationConfig"].(map[string]any)
	onFailure, _ := dest["OnFailure"].(map[string]any)
	if infratest.Ref(onFailure["Destination"]) != f.notifyDLQ {
		t.Errorf("on-failure destination = %v, want the notify dead-letter queue", dest)
	}

	filters, _ := m.Properties["FilterCriteria"].(map[string]any)["Filters"].([]any)
	if len(filters) != 2 {
		t.Fatalf("filters = %v, want two (outcomes, progress events)", m.Properties["FilterCriteria"])
	}
	var pattern, progress map[string]any
	if err := json.Unmarshal([]byte(filters[0].(map[string]any)["Pattern"].(string)), &pattern); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(filters[1].(map[string]any)["Pattern"].(string)), &progress); err != nil {
		t.Fatal(err)
	}
	wantProgress := map[string]any{
		"eventName": []any{"INSERT"},
		"dynamodb": map[string]any{
			"Keys": map[string]any{"sk": map[string]any{"S": []any{map[string]any{"prefix": "EV#"}}}},
			"NewImage": map[string]any{
				"notify": map[string]any{"BOOL": []any{true}},
				"type":   map[string]any{"S": []any{map[string]any{"anything-but": []any{"finished", "paused"}}}},
			},
		},
	}
	if !reflect.DeepEqual(progress, wantProgress) {
		t.Errorf("progress filter pattern = %v, want %v", progress, wantProgress)
	}
	wantPattern := map[string]any{
		"eventName": []any{"INSERT", "MODIFY"},
		"dynamodb": map[string]any{
			"Keys":     map[string]any{"sk": map[string]any{"S": []any{"TASK"}}},
			"NewImage": map[string]any{"state": map[string]any{"S": []any{"succeeded", "failed", "error", "canceled", "rejected", "paused"}}},
		},
	}
	if !reflect.DeepEqual(pattern, wantPattern) {
		t.Errorf("filter pattern = %v, want %v", pattern, wantPattern)
	}
	record := func(event, sk, state string) map[string]any {
		keys := map[string]any{"pk": map[string]any{"S": "TASK#t1"}, "sk": map[string]any{"S": sk}}
		image := map[string]any{"pk": map[string]any{"S": "TASK#t1"}, "sk": map[string]any{"S": sk}, "state": map[string]any{"S": state}}
		return map[string]any{"eventName": event, "dynamodb": map[string]any{"Keys": keys, "NewImage": image}}
	}
	// event is the record of a log event item; marked: its task opted in to progress events.
	event := func(name, typ string, marked bool) map[string]any {
		keys := map[string]any{"pk": map[string]any{"S": "TASK#t1"}, "sk": map[string]any{"S": "EV#0000000003"}}
		image := map[string]any{"pk": keys["pk"], "sk": keys["sk"], "seq": map[string]any{"N": "3"}, "type": map[string]any{"S": typ}}
		if marked {
			image["notify"] = map[string]any{"BOOL": true}
		}
		return map[string]any{"eventName": name, "dynamodb": map[string]any{"Keys": keys, "NewImage": image}}
	}
	for _, c := range []struct {
		name   string
		record map[string]any
		want   bool
	}{
		{"task succeeded", record("MODIFY", "TASK", "succeeded"), true},
		{"task paused", record("MODIFY", "TASK", "paused"), true},
		{"task rejected at accept", record("INSERT", "TASK", "rejected"), true},
		{"task canceled", record("MODIFY", "TASK", "canceled"), true},
		{"task claimed", record("MODIFY", "TASK", "running"), false},
		{"task accepted", record("INSERT", "TASK", "queued"), false},
		{"task expired by TTL", record("REMOVE", "TASK", "succeeded"), false},
		{"another item type", record("MODIFY", "THREAD", "succeeded"), false},
		{"an opted-in task's status event", event("INSERT", "status", true), true},
		{"an opted-in task's created event", event("INSERT", "created", true), true},
		{"an event of a task not opted in", event("INSERT", "status", false), false},
		{"an opted-in task's finished event (its outcome is announced)", event("INSERT", "finished", true), false},
		{"an opted-in task's paused event (announced as paused)", event("INSERT", "paused", true), false},
		{"an event expired by TTL", event("REMOVE", "status", true), false},
	} {
		if got := matches(pattern, c.record) || matches(progress, c.record); got != c.want {
			t.Errorf("%s: passes the filter = %v, want %v", c.name, got, c.want)
		}
	}
}

// matches is Lambda's event filtering for the patterns used here: a list matches a scalar equal to
// one of its elements or matching one of its operators ({"prefix": s}, {"anything-but": list}),
// an object matches when each of its keys matches.
func matches(pattern any, event any) bool {
	switch p := pattern.(type) {
	case []any:
		for _, v := range p {
			if v == event || operator(v, event) {
				return true
			}
		}
		return false
	case map[string]any:
		ev, ok := event.(map[string]any)
		if !ok {
			return false
		}
		for k, sub := range p {
			if !matches(sub, ev[k]) {
				return false
			}
		}
		return true
	}
	return false
}

// operator is the match of a filter's operator: {"prefix": s} or {"anything-but": list}, of a
// present string.
func operator(op any, event any) bool {
	o, ok := op.(map[string]any)
	s, isString := event.(string)
	if !ok || !isString {
		return false
	}
	if prefix, ok := o["prefix"].(string); ok {
		return strings.HasPrefix(s, prefix)
	}
	if but, ok := o["anything-but"].([]any); ok {
		return !slices.Contains(but, any(s))
	}
	return false
}

// TestNotifyStates: the notifier is woken for exactly the terminal states and paused.
func TestNotifyStates(t *testing.T) {
	for _, s := range []task.State{task.Queued, task.Running, task.Paused, task.Succeeded, task.Failed, task.Error, task.Canceled, task.Rejected} {
		want := s.Terminal() || s == task.Paused
		if got := slices.Contains(events.NotifyStates, string(s)); got != want {
			t.Errorf("state %s notified = %v, want %v", s, got, want)
		}
	}
	if events.TaskSortKey != "TASK" {
		t.Errorf("TaskSortKey = %q", events.TaskSortKey)
	}
}

// TestQueueSources: deliver consumes the webhook queue, the trigger the ingest queue, both in
// batches of ten with a bounded concurrency and partial batch responses.
func TestQueueSources(t *testing.T) {
	tpl, f := load(t)
	for _, c := range []struct {
		queue              string
		fn                 infratest.Resource
		batch, concurrency float64
	}{
		{f.webhooks, f.deliver, events.DeliverBatchSize, events.DeliverMaxConcurrency},
		{f.ingest, f.trigger, events.IngestBatchSize, events.IngestMaxConcurrency},
	} {
		m := mapping(t, tpl, c.queue)
		if infratest.Ref(m.Properties["FunctionName"]) != c.fn.ID {
			t.Errorf("%s feeds %v, want %s", c.queue, m.Properties["FunctionName"], c.fn.ID)
		}
		if got := infratest.Number(m.Properties["BatchSize"]); got != c.batch || got != 10 {
			t.Errorf("%s: BatchSize = %v, want 10", c.queue, got)
		}
		scaling, _ := m.Properties["ScalingConfig"].(map[string]any)
		if got := infratest.Number(scaling["MaximumConcurrency"]); got != c.concurrency || got < 2 {
			t.Errorf("%s: MaximumConcurrency = %v, want %v", c.queue, got, c.concurrency)
		}
		if types, _ := m.Properties["FunctionResponseTypes"].([]any); !slices.Equal(types, []any{"ReportBatchItemFailures"}) {
			t.Errorf("%s: FunctionResponseTypes = %v, want ReportBatchItemFailures", c.queue, types)
		}
	}
}

// TestPermissions: each role may do exactly what its function needs (logs aside, which golambda's
// test pins), and no statement anywhere grants a wildcard action.
func TestPermissions(t *testing.T) {
	tpl, f := load(t)
	table := []string{f.table, f.table + "/index/*"}
	sorted := func(ss ...string) []string { return slices.Sorted(slices.Values(ss)) }
	on := func(actions []string, resources []string, into map[string][]string) {
		for _, a := range actions {
			into[a] = sorted(append(into[a], resources...)...)
		}
	}

	notify := map[string][]string{
		"s3:GetObject":           {f.bucket + "/" + storage.ResultsPrefix + "*"},
		"events:PutEvents":       {f.bus},
		"sqs:SendMessage":        sorted(f.webhooks, f.notifyDLQ),
		"sqs:GetQueueAttributes": {f.notifyDLQ},
		"sqs:GetQueueUrl":        {f.notifyDLQ},
		// Reading the stream; ListStreams takes no resource but "*".
		"dynamodb:ListStreams":      {"*"},
		"dynamodb:DescribeStream":   {f.table},
		"dynamodb:GetRecords":       {f.table},
		"dynamodb:GetShardIterator": {f.table},
	}
	on(events.NotifyTableActions, table, notify)

	deliver := map[string][]string{
		"sqs:SendMessage": sorted(f.webhooks, f.webhookDLQ),
		"kms:Decrypt":     {f.key},
	}
	on(events.DeliverTableActions, table, deliver)
	on([]string{"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}, []string{f.webhooks}, deliver)

	trigger := map[string][]string{
		"sqs:SendMessage": sorted(f.work, f.triggerDLQ),
		"s3:PutObject":    {f.bucket + "/" + storage.RequestsPrefix + "*"},
		"s3:GetObject":    sorted(f.bucket, f.bucket+"/*"),
		"s3:ListBucket":   sorted(f.bucket, f.bucket+"/*"),
	}
	on(events.TriggerTableActions, table, trigger)
	on([]string{"sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:DeleteMessage"}, []string{f.ingest}, trigger)
	on([]string{"sqs:GetQueueAttributes", "sqs:GetQueueUrl"}, []string{f.ingest, f.triggerDLQ}, trigger)

	for _, c := range []struct {
		fn   infratest.Resource
		want map[string][]string
	}{{f.notify, notify}, {f.deliver, deliver}, {f.trigger, trigger}} {
		got := map[string][]string{}
		for a, r := range tpl.Grants(tpl.RoleOf(t, c.fn)) {
			// Its own logs and X-Ray's tracing actions are golambda's, tested there.
			if !strings.HasPrefix(a, "logs:") && !slices.Contains(infratest.TracingActions, a) {
				got[a] = r
			}
		}
		if !maps.EqualFunc(got, c.want, slices.Equal) {
			t.Errorf("%s may\n %v\nwant\n %v", c.fn.ID, got, c.want)
		}
	}
	// The trigger's table actions are invoke's accept path, no more.
	if !slices.Equal(events.TriggerTableActions, api.InvokeTableActions) {
		t.Errorf("TriggerTableActions = %v, invoke's = %v", events.TriggerTableActions, api.InvokeTableActions)
	}
	tpl.CheckLeastPrivilege(t)
}

// TestInvokeRule: Invoke Agent events on the bus reach the trigger, retried by EventBridge 185
// times over a day, then dead-lettered into a queue EventBridge may send to for this rule only.
func TestInvokeRule(t *testing.T) {
	tpl, f := load(t)
	tpl.ResourceCountIs(t, "AWS::Events::Rule", 1)
	rule := tpl.Only(t, "AWS::Events::Rule", "EventsInvokeRule")
	if infratest.Ref(rule.Properties["EventBusName"]) != f.bus || rule.Properties["State"] != "ENABLED" {
		t.Errorf("rule on %v (%v), want the agentq bus, enabled", rule.Properties["EventBusName"], rule.Properties["State"])
	}
	pattern, _ := json.Marshal(rule.Properties["EventPattern"])
	if string(pattern) != `{"detail-type":["Invoke Agent"]}` {
		t.Errorf("rule pattern = %s", pattern)
	}
	targets, _ := rule.Properties["Targets"].([]any)
	if len(targets) != 1 {
		t.Fatalf("targets = %v, want the trigger", targets)
	}
	target := targets[0].(map[string]any)
	dlc, _ := target["DeadLetterConfig"].(map[string]any)
	retry, _ := target["RetryPolicy"].(map[string]any)
	if infratest.Ref(target["Arn"]) != f.trigger.ID || infratest.Ref(dlc["Arn"]) != f.triggerDLQ ||
		infratest.Number(retry["MaximumRetryAttempts"]) != 185 || infratest.Number(retry["MaximumEventAgeInSeconds"]) != 86400 {
		t.Errorf("target = %v, want the trigger, 185 retries over 24 h, the trigger dead-letter queue", target)
	}
	if _, ok := target["Input"]; ok {
		t.Errorf("target rewrites the event: %v", target["Input"])
	}

	invokable := false
	for _, p := range tpl.Resources("AWS::Lambda::Permission") {
		if infratest.Ref(p.Properties["FunctionName"]) == f.trigger.ID && p.Properties["Principal"] == "events.amazonaws.com" &&
			p.Properties["Action"] == "lambda:InvokeFunction" && infratest.Ref(p.Properties["SourceArn"]) == rule.ID {
			invokable = true
		}
	}
	if !invokable {
		t.Error("the rule may not invoke the trigger")
	}

	// The dead-letter queue's policy: EventBridge may send, for this rule only (and, like every
	// queue's, it refuses any request without TLS: the stack test checks them all).
	tpl.ResourceCountIs(t, "AWS::SQS::QueuePolicy", 6)
	policy := tpl.Only(t, "AWS::SQS::QueuePolicy", "EventsTriggerDeadLetterQueue")
	if queues, _ := policy.Properties["Queues"].([]any); len(queues) != 1 || infratest.Ref(queues[0]) != f.triggerDLQ {
		t.Errorf("queue policy on %v, want the trigger dead-letter queue", policy.Properties["Queues"])
	}
	var stmts []infratest.Statement
	for _, st := range tpl.ResourcePolicyStatements() {
		if st.Policy == policy.ID && st.Effect == "Allow" {
			stmts = append(stmts, st)
		}
	}
	if len(stmts) != 1 {
		t.Fatalf("queue policy's Allow statements = %+v, want one", stmts)
	}
	st := stmts[0]
	principal, _ := json.Marshal(st.Principal)
	arnEquals, _ := st.Condition["ArnEquals"].(map[string]any)
	if st.Effect != "Allow" || !slices.Equal(st.Actions, []string{"sqs:SendMessage"}) || string(principal) != `{"Service":"events.amazonaws.com"}` ||
		infratest.Ref(st.Resource) != f.triggerDLQ || len(st.Condition) != 1 || infratest.Ref(arnEquals["aws:SourceArn"]) != rule.ID {
		t.Errorf("queue policy statement = %+v, want events.amazonaws.com SendMessage when aws:SourceArn is the rule", st)
	}
}

// TestAsyncInvokeFailures: the rule and the schedules invoke the trigger asynchronously; what
// fails Lambda's retries goes to the trigger dead-letter queue, not nowhere.
func TestAsyncInvokeFailures(t *testing.T) {
	tpl, f := load(t)
	tpl.ResourceCountIs(t, "AWS::Lambda::EventInvokeConfig", 1)
	c := tpl.Only(t, "AWS::Lambda::EventInvokeConfig", "EventsTrigger")
	dest, _ := c.Properties["DestinationConfig"].(map[string]any)
	onFailure, _ := dest["OnFailure"].(map[string]any)
	if infratest.Ref(c.Properties["FunctionName"]) != f.trigger.ID || infratest.Ref(onFailure["Destination"]) != f.triggerDLQ ||
		infratest.Number(c.Properties["MaximumRetryAttempts"]) != events.AsyncRetryAttempts ||
		infratest.Number(c.Properties["MaximumEventAgeInSeconds"]) != events.AsyncMaxEventAgeHours*3600 {
		t.Errorf("async invoke config = %v, want the trigger's failures to its dead-letter queue", c.Properties)
	}
}

// TestSchedules: one schedule per config entry, with its expression, time zone and state (the
// example disabled), targeting the trigger with the envelope shared/trigger builds (placeholders
// intact, the body's numbers unrounded), retried over a day, dead-lettered; run as a role that
// only Scheduler of this account may assume and that may only invoke the trigger and
// dead-letter.
func TestSchedules(t *testing.T) {
	tpl, f := load(t)
	tpl.ResourceCountIs(t, "AWS::Scheduler::Schedule", 2)
	role := tpl.Only(t, "AWS::IAM::Role", "EventsSchedulerRole")
	checked, err := config.CheckSchedules(append(append([]config.Schedule{}, config.Schedules...), nightly))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range checked {
		t.Run(s.Name, func(t *testing.T) {
			r := tpl.Only(t, "AWS::Scheduler::Schedule", "EventsSchedule"+strings.ReplaceAll(s.Name, "-", ""))
			state := "DISABLED"
			if s.Enabled {
				state = "ENABLED"
			}
			p := r.Properties
			if p["ScheduleExpression"] != s.Expression || p["ScheduleExpressionTimezone"] != s.Timezone || p["State"] != state {
				t.Errorf("schedule %v in %v, %v; want %s in %s, %s", p["ScheduleExpression"], p["ScheduleExpressionTimezone"], p["State"], s.Expression, s.Timezone, state)
			}
			if _, ok := p["Name"]; ok {
				t.Errorf("fixed Name %v; want a generated one", p["Name"])
			}
			target, _ := p["Target"].(map[string]any)
			dlc, _ := target["DeadLetterConfig"].(map[string]any)
			retry, _ := target["RetryPolicy"].(map[string]any)
			if infratest.Ref(target["Arn"]) != f.trigger.ID || infratest.Ref(target["RoleArn"]) != role.ID || infratest.Ref(dlc["Arn"]) != f.triggerDLQ ||
				infratest.Number(retry["MaximumEventAgeInSeconds"]) != 86400 || infratest.Number(retry["MaximumRetryAttempts"]) != events.EventRetryAttempts {
				t.Errorf("target = %v, want the trigger as the scheduler role, 24 h of retries, the trigger dead-letter queue", target)
			}

			input, _ := target["Input"].(string)
			for _, placeholder := range []string{"<aws.scheduler.execution-id>", "<aws.scheduler.scheduled-time>", "<aws.scheduler.schedule-arn>"} {
				if !strings.Contains(input, `"`+placeholder+`"`) {
					t.Errorf("input %s lacks %s", input, placeholder)
				}
			}
			if len(input) > 8192 {
				t.Errorf("input takes %d characters, more than Scheduler's 8192", len(input))
			}
			detail, err := s.Detail()
			if err != nil {
				t.Fatal(err)
			}
			rawDetail, _ := json.Marshal(detail)
			want, _ := json.Marshal(trigger.ScheduleInput(decode(t, string(rawDetail)).(map[string]any)))
			if got := decode(t, input); !reflect.DeepEqual(got, decode(t, string(want))) {
				t.Errorf("input\n %s\nwant shared/trigger's\n %s", input, want)
			}
		})
	}
	if !strings.Contains(fmt.Sprint(tpl.Only(t, "AWS::Scheduler::Schedule", "EventsSchedulenightly").Properties["Target"]), "12345678901234567890") {
		t.Errorf("the body's large number was rounded")
	}

	trust, _ := json.Marshal(role.Properties["AssumeRolePolicyDocument"])
	if string(trust) != `{"Statement":[{"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":{"Ref":"AWS::AccountId"}}},"Effect":"Allow","Principal":{"Service":"scheduler.amazonaws.com"}}],"Version":"2012-10-17"}` {
		t.Errorf("scheduler role trust = %s", trust)
	}
	got := tpl.Grants(role.ID)
	want := map[string][]string{
		"lambda:InvokeFunction": {f.trigger.ID, f.trigger.ID + ":*"},
		"sqs:SendMessage":       {f.triggerDLQ},
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("scheduler role may %v, want %v", got, want)
	}
}

// decode reads JSON keeping numbers as written.
func decode(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

// TestScheduleInputKeepsPlaceholders: Scheduler replaces its context attributes as text, so the
// input must carry them with their angle brackets, not JSON-escaped.
func TestScheduleInputKeepsPlaceholders(t *testing.T) {
	in, err := events.ScheduleInput(map[string]json.RawMessage{"agent_id": json.RawMessage(`"a<b>"`)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(in, `\u003c`) || !strings.Contains(in, `"id":"<aws.scheduler.execution-id>"`) || strings.HasSuffix(in, "\n") {
		t.Errorf("input = %q", in)
	}
}

// TestEventNamesMatchTheCode: the bus's event names are the ones the functions use: the trigger's
// (shared/trigger, imported) and the notifier's (shared/notify, read from its source so that this
// test does not depend on that package building).
func TestEventNamesMatchTheCode(t *testing.T) {
	for got, want := range map[string]string{
		events.DetailTypeInvoke:    trigger.DetailTypeInvoke,
		events.DetailTypeScheduled: trigger.DetailTypeScheduled,
		events.SourceScheduler:     trigger.SourceScheduler,
	} {
		if got != want {
			t.Errorf("events has %q, shared/trigger %q", got, want)
		}
	}
	consts := stringConsts(t, filepath.Join("..", "..", "..", "shared", "notify"))
	for name, want := range map[string]string{
		"Source": events.Source, "DetailCompleted": events.DetailCompleted, "DetailFailed": events.DetailFailed,
		"DetailStopped": events.DetailStopped, "DetailPaused": events.DetailPaused, "DetailProgress": events.DetailProgress,
	} {
		if consts[name] != want {
			t.Errorf("shared/notify's %s = %q, events has %q", name, consts[name], want)
		}
	}
}

// stringConsts returns the string constants declared in the Go files of dir (tests aside).
func stringConsts(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", dir, err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							out[n.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	return out
}

// TestWatched: monitoring gets every dead-letter queue here, each once with a description, and
// the notifier as the stream consumer.
func TestWatched(t *testing.T) {
	template(t)
	path := func(c interface{ Node() constructs.Node }) string { return *c.Node().Path() }
	var got []string
	for _, q := range built.WatchedQueues() {
		if q.Name == "" || q.Description == "" {
			t.Errorf("watched queue %+v lacks a name or description", q)
		}
		got = append(got, path(q.Queue))
	}
	want := []string{
		path(built.NotifyDeadLetterQueue), path(built.WebhookDeadLetterQueue),
		path(built.TriggerDeadLetterQueue), path(built.IngestDeadLetterQueue),
	}
	if !slices.Equal(got, want) {
		t.Errorf("watched queues %v, want %v", got, want)
	}
	streams := built.WatchedStreams()
	if len(streams) != 1 || path(streams[0].Function) != path(built.Notify) || streams[0].Description == "" {
		t.Errorf("watched streams %+v, want the notifier", streams)
	}
}
