// Package events defines how agentq talks with the rest of an AWS account, both ways.
//
// Out: the notify function reads the task table's stream and, for every task that ends or pauses,
// puts a completion event on the agentq EventBridge bus (source Source, one of the Detail*
// detail-types) and queues the webhook deliveries it owes; the deliver function sends them,
// signed, retrying on its own schedule, and puts those that fail every attempt on the webhook
// dead-letter queue. The bus keeps an archive of the completion events, so a consumer that missed
// some can have them replayed.
//
// In: the trigger function turns events into tasks, through the same accept path as the API. Three
// sources feed it: "Invoke Agent" events on the bus (a rule), messages on the ingest queue (for
// systems that speak SQS), and EventBridge Scheduler schedules kept as code (infra/config). What
// it refuses, and what no retry could hand to it, ends in the trigger dead-letter queue.
//
// Nothing here is lost silently: every source has a retry policy and a dead-letter queue, and
// each dead-letter queue is exported for monitoring (construct/monitoring alarms on all of them).
package events

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/config"
	"github.com/agentq/agentq/infra/construct/monitoring"
	"github.com/agentq/agentq/shared/queue"
)

// The events on the bus. Completion events are the notifier's (shared/notify puts them; the
// events test reads its source to keep both in step); "Invoke Agent" events are anyone's who may
// put events on the bus, and the envelope a schedule sends is shaped like one (shared/trigger).
const (
	// Source of every completion event.
	Source = "agentq"
	// DetailCompleted, DetailFailed, DetailStopped and DetailPaused are the completion events'
	// detail-types: a task succeeded; failed, errored or was rejected; was canceled; paused for
	// input.
	DetailCompleted = "Agent Task Completed"
	DetailFailed    = "Agent Task Failed"
	DetailStopped   = "Agent Task Stopped"
	DetailPaused    = "Agent Task Paused"
	// DetailProgress is the detail-type of the progress events of tasks that opted in to them.
	DetailProgress = "Agent Task Progress"
	// DetailTypeInvoke is the detail-type the trigger's rule matches.
	DetailTypeInvoke = "Invoke Agent"
	// DetailTypeScheduled and SourceScheduler mark the envelope a schedule sends the trigger.
	DetailTypeScheduled = "Scheduled Agent Invocation"
	SourceScheduler     = "aws.scheduler"
)

// Retention of the bus archive and the queues.
const (
	// ArchiveRetentionDays: the archive keeps the completion events a week, long enough to notice
	// over a weekend that a subscriber (a rule in this or another stack) missed some and replay
	// them to it, short enough that the archive stays small. Only completion events are archived:
	// replaying one tells a subscriber again, which it must bear anyway (EventBridge delivers at
	// least once), whereas replaying an "Invoke Agent" event would run an agent again and spend.
	ArchiveRetentionDays = 7
	// DeadLetterRetention: every dead-letter queue here keeps its messages the SQS maximum, two
	// weeks for an operator to look, as the work queue's does.
	DeadLetterRetention = queue.DeadLetterRetentionPeriod
	// QueueRetention: the ingest and webhook queues keep a message as long as the work queue does.
	// Both are drained within seconds by their functions; a message still there after days means
	// the function has been failing for days, and it has moved to the dead-letter queue long
	// before (after queue.MaxReceiveCount receives).
	QueueRetention = queue.RetentionPeriod
	// VisibilityTimeoutFactor: AWS asks for a source queue's visibility timeout to be at least
	// six times its function's timeout, so a batch retried after a throttled or timed-out
	// invocation is not handed to a second invocation while the first still holds it.
	VisibilityTimeoutFactor = 6
)

// Props configures the events.
type Props struct {
	// Table is the task table, with its stream (storage.Storage.Table): notify reads the stream,
	// and every function here reads or writes items.
	Table awsdynamodb.ITable
	// Payloads is the bucket for large payloads: notify reads answers under results/, the trigger
	// stages large requests under requests/ and reads earlier turns.
	Payloads awss3.IBucket
	// SealKey seals the secrets in the table: deliver opens tenants' webhook signing secrets.
	SealKey awskms.IKey
	// WorkQueue is the pipeline's work queue, where the trigger queues the tasks it accepts.
	WorkQueue awssqs.IQueue
	// BusName names the bus; empty lets CDK derive one from the construct's path.
	BusName string
	// AgentsJSON is the agents kept as code (AGENTQ_AGENTS), which the trigger resolves like
	// invoke does.
	AgentsJSON string
	// DefaultTenant owns triggered invocations that name none (AGENTQ_DEFAULT_TENANT).
	DefaultTenant string
	// CompletionEvents says whose outcomes notify puts on the bus (AGENTQ_COMPLETION_EVENTS):
	// shared/config.CompletionEventsAll, or CompletionEventsRequested (also when empty).
	CompletionEvents string
	// Schedules are the schedules to deploy, checked (config.CheckSchedules).
	Schedules []config.Schedule
	// TriggerCodeDir, NotifyCodeDir and DeliverCodeDir hold the three bootstraps.
	TriggerCodeDir, NotifyCodeDir, DeliverCodeDir string
	// Environment holds the settings every function shares (task TTL, log level).
	Environment map[string]string
	// LogRemovalPolicy applies to the functions' log groups.
	LogRemovalPolicy awscdk.RemovalPolicy
}

// Events holds the bus, the notifier, the webhook deliveries and the trigger.
type Events struct {
	constructs.Construct
	// Bus carries completion events out and "Invoke Agent" events in; its name reaches notify in
	// AGENTQ_EVENT_BUS and is a stack output, for whoever subscribes or puts events.
	Bus awsevents.EventBus
	// Archive keeps the bus's completion events ArchiveRetentionDays, for replays.
	Archive awsevents.Archive

	// Notify reads the table's stream and announces tasks that end or pause.
	Notify awslambda.Function
	// NotifySource is its stream event source.
	NotifySource awslambdaeventsources.DynamoEventSource
	// NotifyDeadLetterQueue receives what the stream source gave up on: the batch's shard and
	// sequence numbers (not the records, which the stream keeps 24 hours).
	NotifyDeadLetterQueue awssqs.Queue

	// WebhookQueue holds webhook deliveries: notify sends first attempts, deliver its retries
	// (delayed messages), invoke a replay.
	WebhookQueue awssqs.Queue
	// WebhookDeadLetterQueue ends both what SQS redrives after queue.MaxReceiveCount receives and
	// the deliveries deliver gave up on (AGENTQ_WEBHOOK_DLQ_URL); see newWebhooks.
	WebhookDeadLetterQueue awssqs.Queue
	// Deliver sends the deliveries.
	Deliver awslambda.Function
	// DeliverSource is its queue event source.
	DeliverSource awslambdaeventsources.SqsEventSource

	// Trigger turns events into tasks.
	Trigger awslambda.Function
	// TriggerDeadLetterQueue receives the events the trigger rejects (with the reason), the
	// events EventBridge or Scheduler could not hand to it, and the invocations Lambda gave up
	// on after its asynchronous retries.
	TriggerDeadLetterQueue awssqs.Queue
	// InvokeRule sends the bus's "Invoke Agent" events to the trigger.
	InvokeRule awsevents.Rule
	// IngestQueue takes invocations from systems that speak SQS; IngestDeadLetterQueue its
	// messages after queue.MaxReceiveCount receives.
	IngestQueue, IngestDeadLetterQueue awssqs.Queue
	// IngestSource is the trigger's event source on the ingest queue.
	IngestSource awslambdaeventsources.SqsEventSource
	// SchedulerRole is what Scheduler assumes to run the schedules: it may invoke the trigger and
	// send to its dead-letter queue, nothing else.
	SchedulerRole awsiam.Role
	// Schedules are the deployed schedules, in config order.
	Schedules []awsscheduler.Schedule
}

// New defines the bus and its archive, the notifier, the webhook deliveries and the trigger, and
// grants each function exactly what it needs.
func New(scope constructs.Construct, id string, props *Props) *Events {
	this := constructs.NewConstruct(scope, jsii.String(id))
	e := &Events{Construct: this}

	var name *string
	if props.BusName != "" {
		name = jsii.String(props.BusName)
	}
	e.Bus = awsevents.NewEventBus(this, jsii.String("Bus"), &awsevents.EventBusProps{
		EventBusName: name,
		Description:  jsii.String("agentq: task completion events out, Invoke Agent events in"),
	})
	e.Archive = e.Bus.Archive(jsii.String("Archive"), &awsevents.BaseArchiveProps{
		Description:  jsii.String("agentq completion events, for replays"),
		EventPattern: &awsevents.EventPattern{Source: jsii.Strings(Source)},
		Retention:    awscdk.Duration_Days(jsii.Number(ArchiveRetentionDays)),
	})
	// CDK writes "KmsKeyIdentifier": "" for an archive without a customer key, which some regions
	// refuse (GeneralServiceException). Absent, the archive uses an AWS-owned key, as intended.
	e.Archive.Node().DefaultChild().(awsevents.CfnArchive).AddPropertyDeletionOverride(jsii.String("KmsKeyIdentifier"))

	e.newWebhooks(props)
	e.newNotify(props)
	e.newTrigger(props)
	return e
}

// WatchedQueues are the dead-letter queues monitoring alarms on, with what a message in each
// means. Nothing consumes them: any visible message is something given up on.
func (e *Events) WatchedQueues() []monitoring.WatchedQueue {
	return []monitoring.WatchedQueue{
		{Name: "Notify", Queue: e.NotifyDeadLetterQueue, Description: "The agentq notifier gave up on table stream records " +
			"(the messages name the shard and sequence numbers; the stream keeps the records 24 hours): " +
			"those tasks' completion events and webhooks were not sent."},
		{Name: "Webhook", Queue: e.WebhookDeadLetterQueue, Description: "agentq webhook deliveries failed every attempt " +
			"(or crashed the deliver function): read the messages, mend the cause, replay the deliveries."},
		{Name: "Trigger", Queue: e.TriggerDeadLetterQueue, Description: "Events meant to run agentq agents were rejected " +
			"(the message says why) or never reached the trigger function: no task was created for them."},
		{Name: "Ingest", Queue: e.IngestDeadLetterQueue, Description: "Messages on the agentq ingest queue failed the trigger " +
			"function every time: no task was created for them."},
	}
}

// WatchedStreams are the stream consumers monitoring alarms on when they fall behind: the
// notifier.
func (e *Events) WatchedStreams() []monitoring.WatchedStream {
	return []monitoring.WatchedStream{
		{Name: "Notify", Function: e.Notify, Description: "The agentq notifier is behind on the table stream: " +
			"completion events and webhooks are late, and changes older than 24 hours are lost."},
	}
}

// environment returns the shared settings and the given ones, the given ones winning.
func environment(props *Props, own map[string]string) map[string]string {
	env := map[string]string{}
	for k, v := range props.Environment {
		env[k] = v
	}
	for k, v := range own {
		env[k] = v
	}
	return env
}

// deadLetterQueue is a queue nothing consumes: an operator reads it; SSE and TLS only, like every
// queue here.
func deadLetterQueue(scope constructs.Construct, id string) awssqs.Queue {
	return awssqs.NewQueue(scope, jsii.String(id), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Seconds(jsii.Number(DeadLetterRetention.Seconds())),
	})
}

// sourceQueue is a queue a function consumes, redriving to dlq after queue.MaxReceiveCount
// receives, with a visibility timeout VisibilityTimeoutFactor times the function's timeout.
func sourceQueue(scope constructs.Construct, id string, dlq awssqs.IQueue, timeoutSeconds float64) awssqs.Queue {
	return awssqs.NewQueue(scope, jsii.String(id), &awssqs.QueueProps{
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		RetentionPeriod:   awscdk.Duration_Seconds(jsii.Number(QueueRetention.Seconds())),
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(timeoutSeconds * VisibilityTimeoutFactor)),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           dlq,
			MaxReceiveCount: jsii.Number(queue.MaxReceiveCount),
		},
	})
}
