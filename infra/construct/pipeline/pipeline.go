// Package pipeline defines agentq's work pipeline: the SQS work queue, its dead-letter queue, and
// the worker function fed by both. The invoke function sends one message per accepted task; the
// worker claims the task, calls the agent and records the outcome; after queue.MaxReceiveCount
// failed receives SQS moves the message to the dead-letter queue, whose records the same worker
// recognizes (by event source ARN) and marks failed.
//
// A sweeper function, run by an EventBridge schedule every SweepEveryMinutes, finds tasks whose
// message was lost and sends it again (or fails them with reason lost; see shared/sweeper).
//
// Lambda agents are invoked by function ARN; the worker may invoke exactly the ARNs it is given
// (context lambdaAgentArns and the agents file's lambda agents) and nothing when none are.
package pipeline

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/construct/storage"
	"github.com/agentq/agentq/shared/lambdamemory"
	"github.com/agentq/agentq/shared/worksource"
	"github.com/agentq/agentq/shared/queue"
)

// Sizing of the worker and its event sources. Each value is a trade-off explained beside it.
const (
	// WorkerMemoryMB: the worker is I/O-bound (agent calls, DynamoDB, SQS): it waits on agents,
	// and its CPU time (about 12 ms a task, measured by agentq bench) costs the same at any size,
	// so 256 MB bills about half of 512 for a batch; its measured peak is 29 MB (lambdamemory).
	WorkerMemoryMB = lambdamemory.Worker
	// WorkerTimeoutSeconds: a batch's slowest agent call bounds the invocation. Five minutes covers
	// synchronous agents; anything longer answers with a task id and is followed by delayed check
	// messages instead of being waited on, so a longer timeout would only slow redelivery.
	WorkerTimeoutSeconds = 300
	// VisibilityTimeoutFactor: AWS asks for a visibility timeout of at least six times the function
	// timeout, so that a batch retried after a throttled or timed-out invocation is not handed to
	// a second worker while the first still holds it.
	VisibilityTimeoutFactor = 6
	// BatchSize is the work queue's event source's batch (worksource.BatchSize, which the bench
	// reads too; the reason is there).
	BatchSize = worksource.BatchSize
	// MaxConcurrency caps the concurrent worker invocations the work queue's event source starts
	// (worksource.MaxConcurrency: the bench runs as many worker pollers).
	MaxConcurrency = worksource.MaxConcurrency
	// DeadLetterBatchSize: a dead-lettered record is one conditional UpdateItem; batch them freely.
	DeadLetterBatchSize = 10
	// DeadLetterMaxConcurrency is the smallest value SQS event sources accept: dead letters are
	// rare and cheap to handle.
	DeadLetterMaxConcurrency = 2
	// SweepEveryMinutes: how often the sweeper runs. A lost message is noticed StaleAfter (30
	// minutes by default) after its task's last write, plus at most this.
	SweepEveryMinutes = 5
	// SweeperMemoryMB and SweeperTimeoutSeconds: a run's walk passes at most
	// sweeper.DefaultPassLimit tasks (pages of 100, a few seconds), and it reads at most
	// sweeper.DefaultLimit watched tasks, writing or sending one message for each; a minute is
	// ample, and a run cut short is simply picked up by the next (the walk's position moves
	// only past pages dealt with).
	SweeperMemoryMB       = 256
	SweeperTimeoutSeconds = 60
)

// Props configures the pipeline.
type Props struct {
	// Table holds the tasks the worker claims and completes, and the auth contexts it resolves.
	Table awsdynamodb.ITable
	// Payloads is the bucket for payloads too large for a task's item (storage.Storage.Payloads):
	// the worker reads large requests and earlier answers, and writes large answers.
	Payloads awss3.IBucket
	// SealKey seals auth contexts' secrets (storage.Storage.SealKey): the worker opens the one a
	// task names when it calls the agent.
	SealKey awskms.IKey
	// LambdaAgentARNs are the functions the worker may invoke as Lambda agents, exactly as given
	// (a qualified ARN grants that version or alias only). None grants nothing.
	LambdaAgentARNs []string
	// WorkerCodeDir holds the worker's bootstrap.
	WorkerCodeDir string
	// SweeperCodeDir holds the sweeper's bootstrap.
	SweeperCodeDir string
	// AgentsJSON is the agents kept as code (AGENTQ_AGENTS): the sweeper looks up the agent
	// version a task pinned to rebuild its message.
	AgentsJSON string
	// Environment holds the settings every function shares (task TTL, log level).
	Environment map[string]string
	// LogRemovalPolicy applies to the worker's log group.
	LogRemovalPolicy awscdk.RemovalPolicy
}

// Pipeline is the queue pair and the worker.
type Pipeline struct {
	constructs.Construct
	// Queue is the work queue; its URL reaches the functions in AGENTQ_QUEUE_URL.
	Queue awssqs.Queue
	// DeadLetterQueue receives messages after queue.MaxReceiveCount receives.
	DeadLetterQueue awssqs.Queue
	// Worker processes both queues.
	Worker awslambda.Function
	// WorkQueueSource and DeadLetterSource are the worker's two event source mappings.
	WorkQueueSource, DeadLetterSource awslambdaeventsources.SqsEventSource
	// Sweeper mends tasks whose work message was lost; Schedule runs it.
	Sweeper  awslambda.Function
	Schedule awsevents.Rule
}

// New defines the queues, the worker and its event sources, and grants the worker what it needs.
func New(scope constructs.Construct, id string, props *Props) *Pipeline {
	this := constructs.NewConstruct(scope, jsii.String(id))

	workerTimeout := awscdk.Duration_Seconds(jsii.Number(WorkerTimeoutSeconds))
	visibility := awscdk.Duration_Seconds(jsii.Number(WorkerTimeoutSeconds * VisibilityTimeoutFactor))

	dlq := awssqs.NewQueue(this, jsii.String("DeadLetterQueue"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Seconds(jsii.Number(queue.DeadLetterRetentionPeriod.Seconds())),
		// The worker consumes this queue too, and Lambda requires a source queue's visibility
		// timeout to cover the function's timeout.
		VisibilityTimeout: visibility,
	})

	work := awssqs.NewQueue(this, jsii.String("WorkQueue"), &awssqs.QueueProps{
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		RetentionPeriod:   awscdk.Duration_Seconds(jsii.Number(queue.RetentionPeriod.Seconds())),
		VisibilityTimeout: visibility,
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           dlq,
			MaxReceiveCount: jsii.Number(queue.MaxReceiveCount),
		},
	})

	env := map[string]string{
		golambda.EnvTable:         *props.Table.TableName(),
		golambda.EnvQueueURL:      *work.QueueUrl(),
		golambda.EnvDLQARN:        *dlq.QueueArn(),
		golambda.EnvResultsBucket: *props.Payloads.BucketName(),
		golambda.EnvKMSKeyID:      *props.SealKey.KeyArn(),
	}
	for k, v := range props.Environment {
		env[k] = v
	}
	worker := golambda.New(this, "Worker", &golambda.Props{
		CodeDir:       props.WorkerCodeDir,
		Description:   "agentq worker: runs queued tasks against their agents",
		MemorySize:    WorkerMemoryMB,
		Timeout:       workerTimeout,
		Environment:   env,
		RemovalPolicy: props.LogRemovalPolicy,
	}).Function

	grantWorker(worker, props, work)

	// Both sources report partial batch failures, so one bad record never redelivers the whole
	// batch. Adding them grants the worker consume rights on each queue.
	workSource := awslambdaeventsources.NewSqsEventSource(work, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(BatchSize),
		MaxConcurrency:          jsii.Number(MaxConcurrency),
		ReportBatchItemFailures: jsii.Bool(true),
	})
	worker.AddEventSource(workSource)
	deadSource := awslambdaeventsources.NewSqsEventSource(dlq, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(DeadLetterBatchSize),
		MaxConcurrency:          jsii.Number(DeadLetterMaxConcurrency),
		ReportBatchItemFailures: jsii.Bool(true),
	})
	worker.AddEventSource(deadSource)

	sweeper, schedule := newSweeper(this, props, work, env)

	return &Pipeline{
		Sweeper:          sweeper,
		Schedule:         schedule,
		Construct:        this,
		Queue:            work,
		DeadLetterQueue:  dlq,
		Worker:           worker,
		WorkQueueSource:  workSource,
		DeadLetterSource: deadSource,
	}
}

// grantWorker grants the worker what it needs, and nothing else.
func grantWorker(worker awslambda.Function, props *Props, work awssqs.Queue) {
	// Least privilege: read task records (GetItem, and Query on the by_thread GSI for the turns of
	// a thread) and conditionally update them, nothing else on the table. Appending to a task's
	// event log is a Query of its tail and an UpdateItem that may only create the next event.
	props.Table.GrantReadData(worker)
	props.Table.Grant(worker, jsii.String("dynamodb:UpdateItem"))
	// Delayed "check" messages for agents that answer asynchronously.
	work.GrantSendMessages(worker)
	// Backoff on a retryable failure: the worker shortens or stretches a record's visibility
	// instead of waiting out the full visibility timeout.
	work.Grant(worker, jsii.String("sqs:ChangeMessageVisibility"))
	// Large answers go under results/; requests staged by invoke and earlier answers of a thread
	// are read back.
	storage.GrantWritePayloads(props.Payloads, worker, storage.ResultsPrefix)
	storage.GrantReadPayloads(props.Payloads, worker)
	// The worker opens a task's auth context at call time (KMS Decrypt); it never seals one. It
	// seals one secret only: the progress key, when it is the first to need it.
	storage.GrantOpen(props.SealKey, worker)
	storage.GrantProgressKey(props.SealKey, worker, storage.SealActions...)
	// Lambda agents: one statement naming each function, so an agent published later with a new
	// ARN is refused (AccessDenied fails its task) until the ARN is added and the stack redeployed.
	if len(props.LambdaAgentARNs) > 0 {
		awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
			Grantee:      worker,
			Actions:      jsii.Strings("lambda:InvokeFunction"),
			ResourceArns: jsii.Strings(props.LambdaAgentARNs...),
		})
	}
}

// newSweeper defines the sweeper function, its grants and the schedule that runs it.
func newSweeper(this constructs.Construct, props *Props, work awssqs.Queue, shared map[string]string) (awslambda.Function, awsevents.Rule) {
	// The settings every function shares (the same table, payloads and key names), and the agents
	// kept as code, which the sweeper looks up like invoke does.
	env := map[string]string{golambda.EnvAgents: props.AgentsJSON}
	for k, v := range shared {
		env[k] = v
	}
	fn := golambda.New(this, "Sweeper", &golambda.Props{
		CodeDir:       props.SweeperCodeDir,
		Description:   "agentq sweeper: re-sends or fails tasks whose work message was lost",
		MemorySize:    SweeperMemoryMB,
		Timeout:       awscdk.Duration_Seconds(jsii.Number(SweeperTimeoutSeconds)),
		Environment:   env,
		RemovalPolicy: props.LogRemovalPolicy,
	}).Function
	// Least privilege: read tasks and agents (Query on the by_created and by_active indexes,
	// BatchGetItem of the tasks they name, GetItem of its position, of a thread's previous turn
	// and of the registry), update its position, conditionally update a task (watch, touch, or
	// fail it), send work, and read payloads (reading a previous turn loads its large request or
	// answer; a large request is re-sent by reference). No payload writes and no KMS: the sweeper
	// never rebuilds a message that needs a secret.
	props.Table.GrantReadData(fn)
	// A task the sweeper fails gets its finished event: a Query and an UpdateItem on its log.
	props.Table.Grant(fn, jsii.String("dynamodb:UpdateItem"))
	work.GrantSendMessages(fn)
	storage.GrantReadPayloads(props.Payloads, fn)
	rule := awsevents.NewRule(this, jsii.String("SweepSchedule"), &awsevents.RuleProps{
		Description: jsii.String("runs the agentq sweeper"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(SweepEveryMinutes))),
	})
	rule.AddTarget(awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
		RetryAttempts: jsii.Number(0), // the next run is the retry
	}))
	return fn, rule
}
