// Package stack composes agentq's constructs into one CloudFormation stack: the storage (table,
// payload bucket, seal key), the pipeline (queues and worker), the API (invoke and poll behind API
// Gateway), the events (the bus, completion events and webhooks out, triggers in) and monitoring.
// The stack only wires: every resource and its settings live in a construct package.
package stack

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/config"
	"github.com/agentq/agentq/infra/construct/api"
	"github.com/agentq/agentq/infra/construct/events"
	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/construct/monitoring"
	"github.com/agentq/agentq/infra/construct/pipeline"
	"github.com/agentq/agentq/infra/construct/storage"
)

// Output names of the stack.
const (
	// OutputAPIURL is the base URL of the API, ending in a slash.
	OutputAPIURL = "ApiUrl"
	// OutputAPIID is the API's id, from which LocalStack's URL is built.
	OutputAPIID = "ApiId"
	// OutputAPIStage is the API's stage name.
	OutputAPIStage = "ApiStage"
	// OutputTableName is the generated table name.
	OutputTableName = "TableName"
	// OutputQueueURL is the work queue URL.
	OutputQueueURL = "QueueUrl"
	// OutputDeadLetterQueueURL is the dead-letter queue URL.
	OutputDeadLetterQueueURL = "DeadLetterQueueUrl"
	// OutputAlarmTopicARN is the topic the alarms publish to.
	OutputAlarmTopicARN = "AlarmTopicArn"
	// OutputDashboardName is the generated dashboard name.
	OutputDashboardName = "DashboardName"
	// OutputPayloadBucketName is the bucket holding large requests and answers.
	OutputPayloadBucketName = "PayloadBucketName"
	// OutputSealKeyARN is the KMS key that seals auth contexts' secrets.
	OutputSealKeyARN = "SealKeyArn"
	// OutputEventBusName and OutputEventBusARN are the agentq bus: completion events come out on
	// it, "Invoke Agent" events put on it run agents.
	OutputEventBusName = "EventBusName"
	OutputEventBusARN  = "EventBusArn"
	// OutputIngestQueueURL is the queue systems that speak SQS send invocations to.
	OutputIngestQueueURL = "IngestQueueUrl"
	// OutputTriggerDeadLetterQueueURL holds the events the trigger rejected or never got.
	OutputTriggerDeadLetterQueueURL = "TriggerDeadLetterQueueUrl"
	// OutputWebhookDeadLetterQueueURL holds the webhook deliveries that failed every attempt.
	OutputWebhookDeadLetterQueueURL = "WebhookDeadLetterQueueUrl"
	// OutputStreamURL is the stream function's URL: task event streams (Server-Sent Events) and
	// xpander's invoke/stream, with the same API keys.
	OutputStreamURL = "StreamUrl"
)

// Props configures the stack.
type Props struct {
	awscdk.StackProps
	// Config holds the checked context flags.
	Config config.Config
}

// Stack is the agentq stack.
type Stack struct {
	awscdk.Stack
	// Storage holds the table, the payload bucket and the seal key.
	Storage *storage.Storage
	// Pipeline holds the queues and the worker.
	Pipeline *pipeline.Pipeline
	// API holds the invoke and poll functions and API Gateway.
	API *api.API
	// Events holds the bus, the notifier, the webhook deliveries and the trigger.
	Events *events.Events
	// Monitoring holds the alarms and the dashboard.
	Monitoring *monitoring.Monitoring
}

// New defines the stack. Leave props.Env unset for an environment-agnostic stack: synthesis then
// needs no AWS account or credentials.
func New(scope constructs.Construct, id string, props *Props) *Stack {
	sprops := props.StackProps
	if sprops.Description == nil {
		sprops.Description = jsii.String("agentq: asynchronous AI-agent calls (API Gateway, Lambda, SQS, DynamoDB)")
	}
	s := &Stack{Stack: awscdk.NewStack(scope, jsii.String(id), &sprops)}
	cfg := props.Config
	// Every resource is tagged but the dashboard: CloudFormation's published schema for
	// AWS::CloudWatch::Dashboard (which cfn-lint checks against) has no Tags, and a property the
	// schema lacks may fail the deploy.
	awscdk.Tags_Of(s.Stack).Add(jsii.String("project"), jsii.String("agentq"), &awscdk.TagProps{
		ExcludeResourceTypes: jsii.Strings("AWS::CloudWatch::Dashboard"),
	})

	// A throwaway stack deletes its logs with it; a real one keeps them.
	logRemoval := awscdk.RemovalPolicy_RETAIN
	if cfg.Ephemeral {
		logRemoval = awscdk.RemovalPolicy_DESTROY
	}
	env := map[string]string{
		golambda.EnvTaskTTL:  cfg.TaskTTL,
		golambda.EnvLogLevel: cfg.LogLevel,
	}
	code := func(name string) string { return filepath.Join(cfg.LambdaDir, name) }

	// config.Load checked the TTL; a hand-built Config with a bad one fails synthesis here.
	ttl, err := time.ParseDuration(cfg.TaskTTL)
	if cfg.TaskTTL != "" && (err != nil || ttl <= 0) {
		awscdk.Annotations_Of(s.Stack).AddError(jsii.String(fmt.Sprintf("task TTL %q is not a positive duration", cfg.TaskTTL)))
	}
	s.Storage = storage.New(s.Stack, "Storage", &storage.Props{
		Ephemeral: cfg.Ephemeral, TaskTTL: ttl, ReceiptKMS: cfg.ReceiptSigner == config.ReceiptSignerKMS,
	})
	s.Pipeline = pipeline.New(s.Stack, "Pipeline", &pipeline.Props{
		Table:            s.Storage.Table,
		Payloads:         s.Storage.Payloads,
		SealKey:          s.Storage.SealKey,
		LambdaAgentARNs:  cfg.LambdaAgentARNs,
		WorkerCodeDir:    code("worker"),
		SweeperCodeDir:   code("sweeper"),
		AgentsJSON:       cfg.AgentsJSON,
		Environment:      env,
		LogRemovalPolicy: logRemoval,
	})
	// config.Load defaults the tenant; a hand-built Config says the same as the functions would.
	tenant := cfg.DefaultTenant
	if tenant == "" {
		tenant = config.DefaultTenant
	}
	s.Events = events.New(s.Stack, "Events", &events.Props{
		Table:            s.Storage.Table,
		Payloads:         s.Storage.Payloads,
		SealKey:          s.Storage.SealKey,
		WorkQueue:        s.Pipeline.Queue,
		BusName:          "agentq-" + id,
		AgentsJSON:       cfg.AgentsJSON,
		DefaultTenant:    tenant,
		Schedules:        cfg.Schedules,
		TriggerCodeDir:   code("trigger"),
		NotifyCodeDir:    code("notify"),
		DeliverCodeDir:   code("deliver"),
		Environment:      env,
		LogRemovalPolicy: logRemoval,
	})
	s.defineAPI(cfg, env, code, logRemoval)
	s.connectProgress()
	s.monitor()
	s.outputs()
	suppressNagFindings(s)
	return s
}

// connectProgress tells the worker where agents report progress: the stream function's URL. The
// key the tokens derive from is kept sealed in the table (shared/progresskey), so no key is in any
// environment. The worker depends on the URL, and nothing the URL depends on depends on the
// worker, so there is no cycle.
func (s *Stack) connectProgress() {
	if s.API.StreamURL == nil {
		return
	}
	s.Pipeline.Worker.AddEnvironment(jsii.String(golambda.EnvStreamURL), s.API.StreamURL.Url(), nil)
}

// monitor defines the alarms and the dashboard over every function, queue and stream.
func (s *Stack) monitor() {
	monitored := map[string]awslambda.IFunction{
		"invoke":  s.API.Invoke,
		"poll":    s.API.Poll,
		"stream":  s.API.Stream,
		"worker":  s.Pipeline.Worker,
		"sweeper": s.Pipeline.Sweeper,
		"trigger": s.Events.Trigger,
		"notify":  s.Events.Notify,
		"deliver": s.Events.Deliver,
	}
	s.Monitoring = monitoring.New(s.Stack, "Monitoring", &monitoring.Props{
		Queue:            s.Pipeline.Queue,
		DeadLetterQueue:  s.Pipeline.DeadLetterQueue,
		Worker:           s.Pipeline.Worker,
		Functions:        monitored,
		APIRequests:      s.API.MetricRequests(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum")}),
		APIServerErrors:  s.API.MetricServerErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum")}),
		APILatency:       s.API.MetricLatency(nil),
		DeadLetterQueues: s.Events.WatchedQueues(),
		Streams:          s.Events.WatchedStreams(),
	})
}

// outputs defines the stack's outputs: what a caller or an operator looks up after a deploy.
func (s *Stack) outputs() {
	output := func(name string, value *string, description string) {
		awscdk.NewCfnOutput(s.Stack, jsii.String(name), &awscdk.CfnOutputProps{
			Value: value, Description: jsii.String(description),
		})
	}
	output(OutputAPIURL, s.API.URL, "Base URL of the agentq API (ends in /)")
	output(OutputAPIID, s.API.ID, "API Gateway id")
	output(OutputAPIStage, jsii.String(s.API.StageName), "API Gateway stage")
	output(OutputTableName, s.Storage.Table.TableName(), "DynamoDB table")
	output(OutputQueueURL, s.Pipeline.Queue.QueueUrl(), "SQS work queue")
	output(OutputDeadLetterQueueURL, s.Pipeline.DeadLetterQueue.QueueUrl(), "SQS dead-letter queue")
	output(OutputAlarmTopicARN, s.Monitoring.AlarmTopic.TopicArn(), "SNS topic the alarms publish to")
	output(OutputDashboardName, s.Monitoring.Dashboard.DashboardName(), "CloudWatch dashboard")
	output(OutputPayloadBucketName, s.Storage.Payloads.BucketName(), "S3 bucket for large requests and answers")
	output(OutputSealKeyARN, s.Storage.SealKey.KeyArn(), "KMS key that seals auth contexts' and webhooks' secrets")
	output(OutputEventBusName, s.Events.Bus.EventBusName(), "EventBridge bus: completion events out, Invoke Agent events in")
	output(OutputEventBusARN, s.Events.Bus.EventBusArn(), "EventBridge bus ARN")
	output(OutputIngestQueueURL, s.Events.IngestQueue.QueueUrl(), "SQS queue that takes invocations")
	output(OutputTriggerDeadLetterQueueURL, s.Events.TriggerDeadLetterQueue.QueueUrl(), "SQS queue of events the trigger rejected or never got")
	output(OutputWebhookDeadLetterQueueURL, s.Events.WebhookDeadLetterQueue.QueueUrl(), "SQS queue of webhook deliveries that failed every attempt")
	output(OutputStreamURL, s.API.StreamURL.Url(), "Function URL of the task event streams (GET /v1/tasks/{id}/events) and invoke/stream")
}

// defineAPI defines the API of the configured flavour and its functions.
func (s *Stack) defineAPI(cfg config.Config, env map[string]string, code func(string) string, logRemoval awscdk.RemovalPolicy) {
	kind := api.Kind(cfg.API)
	if kind == "" {
		kind = api.HTTP
	}
	s.API = api.New(s.Stack, "Api", &api.Props{
		Kind:             kind,
		Table:            s.Storage.Table,
		Queue:            s.Pipeline.Queue,
		WebhookQueue:     s.Events.WebhookQueue,
		Payloads:         s.Storage.Payloads,
		SealKey:          s.Storage.SealKey,
		ReceiptKey:       s.Storage.ReceiptKey,
		InvokeCodeDir:    code("invoke"),
		PollCodeDir:      code("poll"),
		StreamCodeDir:    code("stream"),
		Environment:      env,
		APIKeyHashes:     cfg.APIKeyHashes,
		AdminKeyHashes:   cfg.AdminKeyHashes,
		AgentsJSON:       cfg.AgentsJSON,
		LogRemovalPolicy: logRemoval,
		CreateLogRole:    kind == api.REST && cfg.RestLogRole == config.RestLogRoleCreate,

		// Without the KMS option, receipts are signed by the sealed key of this generation.
		ReceiptKeyGeneration: cfg.ReceiptKeyGeneration,
	})
	if cfg.APIKeyHashes == "" {
		awscdk.Annotations_Of(s.API.Construct).AddWarningV2(jsii.String("agentq:no-api-keys"), jsii.String(
			"no -c apiKeyHashes given: the deployed API rejects every request until keys are configured"))
	}
}
