package events

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdadestinations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsscheduler"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsschedulertargets"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/construct/storage"
)

// Sizing and retries of the trigger and its sources.
const (
	// TriggerMemoryMB: the accept path of invoke (decode, policy, a conditional write, an SQS
	// send), per event; the same 256 MB as invoke.
	TriggerMemoryMB = 256
	// TriggerTimeoutSeconds: one event is tens of milliseconds; an ingest batch of ten is
	// submitted concurrently. 30 s covers SDK retries against a throttled table or queue.
	TriggerTimeoutSeconds = 30
	// IngestBatchSize: ten is one ReceiveMessage, submitted concurrently; no batching window, so
	// an invocation is not delayed.
	IngestBatchSize = 10
	// IngestMaxConcurrency caps the trigger invocations the ingest queue starts: 50 submissions in
	// flight is hundreds of tasks a second, past what agents would take, and a flood on the queue
	// waits there instead of taking the account's concurrency from the API.
	IngestMaxConcurrency = 5
	// EventRetryAttempts and EventMaxEventAgeHours: EventBridge and Scheduler retry handing an
	// event to the trigger (throttling, Lambda unavailable) as long as they can, 185 times over a
	// day, before dead-lettering it.
	EventRetryAttempts    = 185
	EventMaxEventAgeHours = 24
	// AsyncRetryAttempts and AsyncMaxEventAgeHours: both invoke the trigger asynchronously, so
	// once an event is handed over, a failing invocation (the table or queue unavailable) is
	// Lambda's to retry: twice, the most it does, within six hours, its limit. Then the event and
	// the error go to the trigger dead-letter queue instead of being dropped.
	AsyncRetryAttempts    = 2
	AsyncMaxEventAgeHours = 6
)

// TriggerTableActions is what the trigger may do on the table: exactly invoke's accept path
// (api.InvokeTableActions, without which a triggered task could not be what an API one is).
// GetItem and BatchGetItem read idempotency records, threads, agents, auth contexts and tenants'
// webhook settings; a task is one conditional PutItem, a thread turn or an idempotent request one
// TransactWriteItems (PutItem, UpdateItem, ConditionCheckItem); UpdateItem also fails a task whose
// message could not be sent. No Query: a task's creation writes no event (its log's created event
// is implied by the task record), so the trigger never reads a log's tail. No Scan or deletes.
var TriggerTableActions = []string{
	"dynamodb:GetItem",
	"dynamodb:BatchGetItem",
	"dynamodb:PutItem",
	"dynamodb:UpdateItem",
	"dynamodb:ConditionCheckItem",
}

// newTrigger defines the trigger function, its dead-letter queue and its three sources: the
// rule on the bus, the ingest queue and the schedules.
func (e *Events) newTrigger(props *Props) {
	e.TriggerDeadLetterQueue = deadLetterQueue(e.Construct, "TriggerDeadLetterQueue")

	e.Trigger = golambda.New(e.Construct, "Trigger", &golambda.Props{
		CodeDir:     props.TriggerCodeDir,
		Description: "agentq trigger: turns EventBridge events, schedules and ingest messages into tasks",
		MemorySize:  TriggerMemoryMB,
		Timeout:     awscdk.Duration_Seconds(jsii.Number(TriggerTimeoutSeconds)),
		Environment: environment(props, map[string]string{
			golambda.EnvTable:         *props.Table.TableName(),
			golambda.EnvQueueURL:      *props.WorkQueue.QueueUrl(),
			golambda.EnvTriggerDLQURL: *e.TriggerDeadLetterQueue.QueueUrl(),
			golambda.EnvResultsBucket: *props.Payloads.BucketName(),
			golambda.EnvAgents:        props.AgentsJSON,
			golambda.EnvDefaultTenant: props.DefaultTenant,
			// Auth contexts are checked (their items must exist), never opened: no right on
			// the key.
			golambda.EnvKMSKeyID: *props.SealKey.KeyArn(),
		}),
		RemovalPolicy: props.LogRemovalPolicy,
	}).Function

	// Least privilege: invoke's accept path and nothing of its admin routes: TriggerTableActions,
	// a task's message on the work queue, a large request staged under requests/ and payloads
	// read back (a thread's earlier turns). Sending rejections to the dead-letter queue comes
	// with the asynchronous invocations' failure destination below, and consuming the ingest
	// queue with its event source.
	props.Table.Grant(e.Trigger, *jsii.Strings(TriggerTableActions...)...)
	props.WorkQueue.Grant(e.Trigger, jsii.String("sqs:SendMessage"))
	storage.GrantWritePayloads(props.Payloads, e.Trigger, storage.RequestsPrefix)
	storage.GrantReadPayloads(props.Payloads, e.Trigger)

	// Asynchronous invocations (the rule's and the schedules') that fail every retry end in the
	// dead-letter queue, with the event and the error. Lambda sends them as the function's role:
	// the destination grants it SendMessage on the queue (with GetQueueAttributes and
	// GetQueueUrl), the right the trigger's own rejections need too.
	e.Trigger.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{
		RetryAttempts: jsii.Number(AsyncRetryAttempts),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(AsyncMaxEventAgeHours)),
		OnFailure:     awslambdadestinations.NewSqsDestination(e.TriggerDeadLetterQueue),
	})

	// (a) "Invoke Agent" events on the bus. Adding the target lets the rule invoke the trigger
	// and lets EventBridge send to the dead-letter queue, for this rule only (a queue policy
	// conditioned on aws:SourceArn).
	e.InvokeRule = awsevents.NewRule(e.Construct, jsii.String("InvokeRule"), &awsevents.RuleProps{
		Description:  jsii.String("agentq: Invoke Agent events to the trigger"),
		EventBus:     e.Bus,
		EventPattern: &awsevents.EventPattern{DetailType: jsii.Strings(DetailTypeInvoke)},
	})
	e.InvokeRule.AddTarget(awseventstargets.NewLambdaFunction(e.Trigger, &awseventstargets.LambdaFunctionProps{
		RetryAttempts:   jsii.Number(EventRetryAttempts),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(EventMaxEventAgeHours)),
		DeadLetterQueue: e.TriggerDeadLetterQueue,
	}))

	// (b) The ingest queue, for systems that speak SQS. Partial batch responses; a message the
	// trigger fails on queue.MaxReceiveCount times moves to the ingest dead-letter queue (one it
	// rejects goes to the trigger's, with the reason, and is deleted).
	e.IngestDeadLetterQueue = deadLetterQueue(e.Construct, "IngestDeadLetterQueue")
	e.IngestQueue = sourceQueue(e.Construct, "IngestQueue", e.IngestDeadLetterQueue, TriggerTimeoutSeconds)
	e.IngestSource = awslambdaeventsources.NewSqsEventSource(e.IngestQueue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(IngestBatchSize),
		MaxConcurrency:          jsii.Number(IngestMaxConcurrency),
		ReportBatchItemFailures: jsii.Bool(true),
	})
	e.Trigger.AddEventSource(e.IngestSource)

	// (c) The schedules.
	e.newSchedules(props)
}

// newSchedules defines one EventBridge Scheduler schedule per config.Schedule, each invoking the
// trigger with ScheduleInput, and the role they run as.
func (e *Events) newSchedules(props *Props) {
	if len(props.Schedules) == 0 {
		return
	}
	// One role for every schedule, which Scheduler may assume for this account's schedules only
	// (the confused-deputy guard AWS documents). The targets add its rights: invoking the trigger
	// (its ARN and its versions'), and sending to the trigger dead-letter queue, which Scheduler
	// does as this role.
	e.SchedulerRole = awsiam.NewRole(e.Construct, jsii.String("SchedulerRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
			Conditions: &map[string]any{
				"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Stack_Of(e.Construct).Account()},
			},
		}),
		Description: jsii.String("agentq schedules: invoke the trigger"),
	})
	for _, s := range props.Schedules {
		detail, err := s.Detail()
		input, merr := ScheduleInput(detail)
		if err == nil {
			err = merr
		}
		if err != nil { // config.Load checked them; a hand-built one may still be bad
			awscdk.Annotations_Of(e.Construct).AddError(jsii.String(fmt.Sprintf("schedule %q: %v", s.Name, err)))
			continue
		}
		target := awsschedulertargets.NewLambdaInvoke(e.Trigger, &awsschedulertargets.ScheduleTargetBaseProps{
			Role:            e.SchedulerRole,
			Input:           awsscheduler.ScheduleTargetInput_FromText(jsii.String(input)),
			RetryAttempts:   jsii.Number(EventRetryAttempts),
			MaxEventAge:     awscdk.Duration_Hours(jsii.Number(EventMaxEventAgeHours)),
			DeadLetterQueue: e.TriggerDeadLetterQueue,
		})
		e.Schedules = append(e.Schedules, awsscheduler.NewSchedule(e.Construct, jsii.String("Schedule-"+s.Name), &awsscheduler.ScheduleProps{
			Description: jsii.String(fmt.Sprintf("agentq schedule %s: invokes agent %s", s.Name, s.AgentID)),
			Schedule:    awsscheduler.ScheduleExpression_Expression(jsii.String(s.Expression), awscdk.TimeZone_Of(jsii.String(s.Timezone))),
			Target:      target,
			Enabled:     jsii.Bool(s.Enabled),
		}))
	}
}

// ScheduleInput is what a schedule hands the trigger: an EventBridge-shaped envelope (source
// SourceScheduler, detail-type DetailTypeScheduled) around the invocation, whose id, time and
// resources Scheduler fills in at each run from its context attributes. The execution id is the
// envelope's id, from which the trigger derives the idempotency key when the body names none, so
// Scheduler's retries of one run make one task. The body's values are kept as written (json.Marshal
// of raw messages), which CDK's object input would round through JavaScript numbers.
// Scheduler takes at most 8,192 characters of input; config.MaxScheduleDetailBytes leaves room
// for the envelope.
func ScheduleInput(detail map[string]json.RawMessage) (string, error) {
	envelope := struct {
		Version    string                     `json:"version"`
		ID         string                     `json:"id"`
		DetailType string                     `json:"detail-type"`
		Source     string                     `json:"source"`
		Time       string                     `json:"time"`
		Resources  []string                   `json:"resources"`
		Detail     map[string]json.RawMessage `json:"detail"`
	}{
		Version:    "0",
		ID:         *awsscheduler.ContextAttribute_ExecutionId(),
		DetailType: DetailTypeScheduled,
		Source:     SourceScheduler,
		Time:       *awsscheduler.ContextAttribute_ScheduledTime(),
		Resources:  []string{*awsscheduler.ContextAttribute_ScheduleArn()},
		Detail:     detail,
	}
	// Scheduler replaces the placeholders as text: they must keep their < and >, which
	// json.Marshal would escape as \u003c and \u003e.
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(envelope); err != nil {
		return "", fmt.Errorf("schedule input: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}
