package events

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/construct/storage"
	sharedconfig "github.com/agentq/agentq/shared/config"
	"github.com/agentq/agentq/shared/lambdamemory"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tasklog"
)

// Sizing of the notify function and its stream event source.
const (
	// NotifyMemoryMB: a batch is decoded images, a few reads (tenants' webhook settings, answers
	// kept in S3) and batched writes (PutEvents takes ten entries a call); 256 MB gives the CPU
	// to decode a hundred images without stretching the batch.
	NotifyMemoryMB = lambdamemory.Notify
	// NotifyTimeoutSeconds: a full batch is a few dozen calls, seconds in all; a minute absorbs
	// SDK retries against a throttled EventBridge or SQS without the batch timing out (a timeout
	// retries the whole batch).
	NotifyTimeoutSeconds = 60
	// NotifyBatchSize: events go out in batches (PutEvents takes ten entries), so more records
	// per invocation is cheaper; a hundred is the stream's default and, with bisection, takes
	// seven splits to isolate one bad record.
	NotifyBatchSize = 100
	// NotifyBatchingWindowSeconds: wait at most a second to fill a batch. Completion events and
	// webhooks are what callers wait on, so a longer window would add latency to every one.
	NotifyBatchingWindowSeconds = 1
	// NotifyRetryAttempts bounds the retries of a failing batch. Bisection isolates a bad record
	// in seven of them; the rest ride out an outage of EventBridge, SQS or DynamoDB. A record that
	// fails for good then holds its shard (and the changes behind it) for minutes, not the day the
	// stream keeps it, and goes to the notify dead-letter queue.
	NotifyRetryAttempts = 50
	// NotifyMaxRecordAgeHours: the stream keeps a change 24 hours; a record never retried past
	// that is one the stream has already dropped.
	NotifyMaxRecordAgeHours = 24
)

// NotifyStates are the task states whose arrival the notifier announces: the terminal ones and
// paused (the agent asks for input). The stream source's filter lets only task items in these
// states through, so every other write (a claim, a lease renewal, a delivery record) costs no
// invocation.
var NotifyStates = []string{
	string(task.Succeeded), string(task.Failed), string(task.Error), string(task.Canceled), string(task.Rejected),
	string(task.Paused),
}

// TaskSortKey is the sort key of a task's item (shared/store): NotifyFilter passes these items
// only (ProgressFilter passes marked event items).
const TaskSortKey = "TASK"

// NotifyTableActions is what notify may do on the table: read a tenant's webhook settings and a
// task's earlier deliveries (GetItem, Query), and record the deliveries it owes before it queues
// them (PutItem, UpdateItem, conditional so a retried batch does not owe them twice).
var NotifyTableActions = []string{"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"}

// NotifyFilter is the stream source's filter pattern: a task item (sort key TaskSortKey) written
// (INSERT, MODIFY; never a TTL REMOVE) whose new state is one of NotifyStates. The old state is
// the function's to compare: a filter cannot compare two fields, and a MODIFY that keeps a task
// paused or terminal is rare and answered by the notifier with nothing.
func NotifyFilter() map[string]any {
	return map[string]any{
		"eventName": []any{"INSERT", "MODIFY"},
		"dynamodb": map[string]any{
			"Keys":     map[string]any{table.AttrSK: map[string]any{"S": []any{TaskSortKey}}},
			"NewImage": map[string]any{"state": map[string]any{"S": toAny(NotifyStates)}},
		},
	}
}

// ProgressFilter is the stream source's second filter pattern: an event item of a task's log
// (sort key prefix tasklog.EventKeyPrefix) inserted with the notify mark (tasklog.AttrNotify, set
// at append on the events of tasks that opted in to progress events), of a type the completion
// events do not announce (finished, paused). Events of tasks that did not opt in, and every
// event of a deployment where none does, cost no invocation.
func ProgressFilter() map[string]any {
	return map[string]any{
		"eventName": []any{"INSERT"},
		"dynamodb": map[string]any{
			"Keys": map[string]any{table.AttrSK: map[string]any{"S": []any{map[string]any{"prefix": tasklog.EventKeyPrefix}}}},
			"NewImage": map[string]any{
				tasklog.AttrNotify: map[string]any{"BOOL": []any{true}},
				"type":             map[string]any{"S": []any{map[string]any{"anything-but": []any{string(tasklog.Finished), string(tasklog.Paused)}}}},
			},
		},
	}
}

// completionEvents is notify's AGENTQ_COMPLETION_EVENTS: the setting, or the functions' default
// written out, so the deployed value is visible on the function.
func completionEvents(v string) string {
	if v == "" {
		return sharedconfig.CompletionEventsRequested
	}
	return v
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// newNotify defines the notify function, its stream source and its dead-letter queue.
func (e *Events) newNotify(props *Props) {
	e.NotifyDeadLetterQueue = deadLetterQueue(e.Construct, "NotifyDeadLetterQueue")

	e.Notify = golambda.New(e.Construct, "Notify", &golambda.Props{
		CodeDir:     props.NotifyCodeDir,
		Description: "agentq notify: announces tasks that end or pause (EventBridge, webhooks)",
		MemorySize:  NotifyMemoryMB,
		Timeout:     awscdk.Duration_Seconds(jsii.Number(NotifyTimeoutSeconds)),
		Environment: environment(props, map[string]string{
			golambda.EnvTable:            *props.Table.TableName(),
			golambda.EnvEventBus:         *e.Bus.EventBusName(),
			golambda.EnvCompletionEvents: completionEvents(props.CompletionEvents),
			golambda.EnvWebhookQueueURL:  *e.WebhookQueue.QueueUrl(),
			golambda.EnvResultsBucket:    *props.Payloads.BucketName(),
			// Named as on every function (shared/config builds the same parts everywhere);
			// notify never opens or seals a secret and has no right on the key.
			golambda.EnvKMSKeyID: *props.SealKey.KeyArn(),
		}),
		RemovalPolicy: props.LogRemovalPolicy,
	}).Function

	// Least privilege: NotifyTableActions, answers kept under results/ (an event carries the
	// answer; GetObject only), events on this bus only, first attempts on the webhook queue.
	// Reading the stream, and sending a failed batch's description to the dead-letter queue,
	// come with the event source.
	props.Table.Grant(e.Notify, *jsii.Strings(NotifyTableActions...)...)
	storage.GrantGetPayloads(props.Payloads, e.Notify, storage.ResultsPrefix)
	e.Bus.GrantPutEventsTo(e.Notify, nil)
	e.WebhookQueue.Grant(e.Notify, jsii.String("sqs:SendMessage"))

	filter, progress := NotifyFilter(), ProgressFilter()
	// TRIM_HORIZON: a new mapping (a first deploy, a replaced one) starts with the oldest change
	// the stream keeps rather than skipping what happened while it was away. Partial batch
	// responses checkpoint past the records that succeeded; bisection splits a failing batch to
	// find the one that fails; a record given up on is described in the dead-letter queue.
	e.NotifySource = awslambdaeventsources.NewDynamoEventSource(props.Table, &awslambdaeventsources.DynamoEventSourceProps{
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(NotifyBatchSize),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(NotifyBatchingWindowSeconds)),
		ReportBatchItemFailures: jsii.Bool(true),
		BisectBatchOnError:      jsii.Bool(true),
		RetryAttempts:           jsii.Number(NotifyRetryAttempts),
		MaxRecordAge:            awscdk.Duration_Hours(jsii.Number(NotifyMaxRecordAgeHours)),
		OnFailure:               awslambdaeventsources.NewSqsDlq(e.NotifyDeadLetterQueue),
		Filters:                 &[]*map[string]any{awslambda.FilterCriteria_Filter(&filter), awslambda.FilterCriteria_Filter(&progress)},
	})
	e.Notify.AddEventSource(e.NotifySource)
}
