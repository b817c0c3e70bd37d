package events

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/construct/storage"
)

// Sizing of the deliver function and its event source.
const (
	// DeliverMemoryMB: a delivery is one signed HTTPS POST and two small writes; the function
	// waits on the network. 256 MB buys the CPU for TLS handshakes to many hosts at once.
	DeliverMemoryMB = 256
	// DeliverTimeoutSeconds: a delivery's POST is cut at 10 s (shared/webhook), and a batch's
	// deliveries run concurrently, so a batch takes the slowest POST plus the writes around it.
	// 60 s is six times that: room for slow TLS set-ups and SDK retries, never a batch cut short
	// by a receiver that answers in 10 s.
	DeliverTimeoutSeconds = 60
	// DeliverBatchSize: ten is one ReceiveMessage; the deliveries of a batch run concurrently,
	// so no batching window (which would delay every delivery) is needed.
	DeliverBatchSize = 10
	// DeliverMaxConcurrency caps concurrent deliver invocations: at most 100 POSTs in flight to
	// tenants' endpoints. A burst of completions then drains at a steady pace instead of
	// stampeding receivers (or tripping their rate limits into retries), and the account's
	// concurrency stays free for the API and the worker.
	DeliverMaxConcurrency = 10
)

// DeliverTableActions is what deliver may do on the table: read a delivery and its tenant's
// settings (GetItem), record an attempt's outcome (UpdateItem, conditional on the attempt), and
// write the delivery log entry (PutItem). No Query, Scan or deletes.
var DeliverTableActions = []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}

// newWebhooks defines the webhook queue, its dead-letter queue and the deliver function.
//
// One dead-letter queue serves both ends a delivery can come to without being delivered: SQS
// redrives a message deliver failed on queue.MaxReceiveCount times (the function crashed or timed
// out on it), and deliver itself sends one it gave up on after its last attempt
// (AGENTQ_WEBHOOK_DLQ_URL). Either way the delivery will not be tried again by itself, the
// delivery's item in the table says how far it got, and the operator's move is the same: read the
// message, mend the cause, replay the delivery (POST .../deliveries/{id}/replay). One queue means
// one place to look, one alarm and one stack output; the two kinds stay apart by their bodies
// (deliver's carries the reason).
func (e *Events) newWebhooks(props *Props) {
	e.WebhookDeadLetterQueue = deadLetterQueue(e.Construct, "WebhookDeadLetterQueue")
	e.WebhookQueue = sourceQueue(e.Construct, "WebhookQueue", e.WebhookDeadLetterQueue, DeliverTimeoutSeconds)

	// No operator default secret (AGENTQ_WEBHOOK_SECRET): it would sit in plain text in the
	// template and in the function's configuration. Tenants rotate in their own secrets, which the
	// table keeps sealed under the seal key.
	e.Deliver = golambda.New(e.Construct, "Deliver", &golambda.Props{
		CodeDir:     props.DeliverCodeDir,
		Description: "agentq deliver: sends signed webhook deliveries and retries them",
		MemorySize:  DeliverMemoryMB,
		Timeout:     awscdk.Duration_Seconds(jsii.Number(DeliverTimeoutSeconds)),
		Environment: environment(props, map[string]string{
			golambda.EnvTable:           *props.Table.TableName(),
			golambda.EnvWebhookQueueURL: *e.WebhookQueue.QueueUrl(),
			golambda.EnvWebhookDLQURL:   *e.WebhookDeadLetterQueue.QueueUrl(),
			golambda.EnvKMSKeyID:        *props.SealKey.KeyArn(),
		}),
		RemovalPolicy: props.LogRemovalPolicy,
	}).Function

	// Least privilege: DeliverTableActions on the table, a retry (a delayed message) on the
	// webhook queue, a delivery given up on to its dead-letter queue, and opening a tenant's
	// signing secret (KMS Decrypt, never Encrypt: invoke seals them). Consuming the queue comes
	// with the event source.
	props.Table.Grant(e.Deliver, *jsii.Strings(DeliverTableActions...)...)
	e.WebhookQueue.Grant(e.Deliver, jsii.String("sqs:SendMessage"))
	e.WebhookDeadLetterQueue.Grant(e.Deliver, jsii.String("sqs:SendMessage"))
	storage.GrantOpen(props.SealKey, e.Deliver)

	// Partial batch responses: one receiver's failure never redelivers its batch-mates.
	e.DeliverSource = awslambdaeventsources.NewSqsEventSource(e.WebhookQueue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(DeliverBatchSize),
		MaxConcurrency:          jsii.Number(DeliverMaxConcurrency),
		ReportBatchItemFailures: jsii.Bool(true),
	})
	e.Deliver.AddEventSource(e.DeliverSource)
}
