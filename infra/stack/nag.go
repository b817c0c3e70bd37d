package stack

import (
	"regexp"
	"strings"

	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Suppression is one accepted cdk-nag finding.
type Suppression struct {
	// Rule is the finding's rule id, such as AwsSolutions-IAM5.
	Rule string
	// AppliesTo narrows a granular rule to these parts of the finding (a "/…/" string is a
	// regular expression, any other is literal); none accepts the whole rule on the construct.
	AppliesTo []string
	// Reason is why the finding is right for agentq, as a reviewer would read it.
	Reason string
}

// Reasons of the suppressions, one per kind of finding: what a reviewer needs to accept it.
const (
	reasonIndexes = "DynamoDB grants name the table's indexes as <table>/index/*: the GSIs are the table's own " +
		"(shared/store.Indexes) and hold its items only; the actions are exact (storage and api tests pin them)."
	reasonPayloadsRead = "Reads of every payload (s3:GetObject, s3:ListBucket): a task's or thread's read may need " +
		"any of its requests/ or results/ objects, whose keys are task ids known only at run time; the bucket holds payloads only."
	reasonPayloadsWrite = "s3:PutObject under the one prefix this function writes (requests/ or results/); the " +
		"keys below are task ids known only at run time."
	reasonPayloadsGet     = "s3:GetObject under results/ only: the answers whose keys completed tasks name."
	reasonTriggerVersions = "Scheduler invokes the trigger function: <function ARN>:* names that one function's " +
		"versions and aliases, which Scheduler may call qualified; no other function."
	reasonSyncLambda = "Invoked synchronously by API Gateway: the caller receives the error and retries; a " +
		"function dead-letter queue only applies to asynchronous invocations."
	reasonStreamLambda = "Invoked synchronously through its response-streaming function URL: the client " +
		"receives the error and resumes the stream; a function dead-letter queue only applies to asynchronous invocations."
	reasonSourceLambda = "Invoked by event source mappings only: a record that keeps failing is redriven by its " +
		"queue to a dead-letter queue, or sent by the stream source to its on-failure queue; a function dead-letter " +
		"queue only applies to asynchronous invocations."
	reasonTriggerDLQ = "Asynchronous failures go to the trigger dead-letter queue through the function's " +
		"on-failure destination (EventInvokeConfig), which carries the error too and supersedes a function DLQ."
	reasonSweeperDLQ = "Run every few minutes by a schedule rule: a failed run is retried by the next one, and " +
		"a dead-lettered tick would carry nothing to act on."
	reasonSQSDestination = "SQS event source mappings take no on-failure destination (that is for streams and " +
		"Kafka): the source queue's redrive policy moves a record that keeps failing to its dead-letter queue."
	reasonDeadLetterSource = "The worker's source on the work queue's dead-letter queue has no further queue: a record its handler " +
		"fails stays on that queue, where the dead-letter depth alarm reports it; a further queue would only hide it."
	reasonSweepRuleDLQ = "The sweeper's schedule target: the next run, minutes later, is the retry; a " +
		"dead-lettered tick would carry nothing to act on."
	reasonTracing = "Resource * only for X-Ray's xray:PutTraceSegments and xray:PutTelemetryRecords, which take no " +
		"resource (active tracing); every other grant names its resource (infratest.CheckLeastPrivilege)."
	reasonListStreams     = "Resource * also for dynamodb:ListStreams, the stream source's discovery call, which takes no resource."
	reasonDeadLetterQueue = "A dead-letter queue itself: a further redrive would only move what was given up on " +
		"out of sight; an alarm fires on any message in it."
	reasonRestValidation = "The functions decode every body strictly and answer a bad one with the API's own " +
		"machine-readable 4xx (shared/httpapi); a gateway validator would keep a second copy of the schemas and answer in another shape."
	reasonRestAuth = "The REST flavour (LocalStack's community image has no HTTP API) has no gateway authorizer: " +
		"invoke and poll check every request's key themselves (x-api-key or Bearer, against the configured hashes " +
		"and the keys table) before any work; Cognito is not how agentq callers authenticate."
	reasonHTTPAuth = "No gateway authorizer on the HTTP API either: a key comes in x-api-key or as Bearer, which only an " +
		"uncached Lambda authorizer could take (one more invocation per request), so invoke and poll check every " +
		"request's key themselves (configured hashes, then the keys table, cached 30 s) before any work, as on REST; " +
		"the stage's throttling bounds unauthenticated traffic (DESIGN.md, Deploy)."
	reasonRestExecutionLogs = "Access logs are on (one JSON line per request, no headers); execution logs would " +
		"write request headers, API keys included, to CloudWatch."
	reasonRestLogRole = "AWS's own policy for API Gateway's account-wide logging role " +
		"(AmazonAPIGatewayPushToCloudWatchLogs), created only with -c restLogRole=create, as API Gateway documents it."
	reasonFailureQueue = "A dead-letter queue itself (a function's or the stream source's on-failure destination, " +
		"the Invoke Agent rule's and the schedules' DLQ): nothing consumes it, and an alarm fires on any message."
)

// NagSuppressions are the cdk-nag findings the stack accepts, by the construct path (below the
// stack) they apply to, children included. TestNag runs the AwsSolutions and Serverless packs on
// both API flavours and fails on any finding not listed here.
var NagSuppressions = withSharedSuppressions(map[string][]Suppression{
	"Api/Invoke": {
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{indexes}, Reason: reasonIndexes},
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{payloads("*")}, Reason: reasonPayloadsRead},
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{payloads("requests/*")}, Reason: reasonPayloadsWrite},
		{Rule: "Serverless-LambdaDLQ", Reason: reasonSyncLambda},
	},
	"Api/Poll": {
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{indexes}, Reason: reasonIndexes},
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{payloads("*")}, Reason: reasonPayloadsRead},
		{Rule: "Serverless-LambdaDLQ", Reason: reasonSyncLambda},
	},
	"Api/Stream": {
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{indexes}, Reason: reasonIndexes},
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{payloads("*")}, Reason: reasonPayloadsRead},
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{payloads("requests/*")}, Reason: reasonPayloadsWrite},
		{Rule: "Serverless-LambdaDLQ", Reason: reasonStreamLambda},
	},
	"Pipeline/Worker": {
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{indexes}, Reason: reasonIndexes},
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{payloads("*")}, Reason: reasonPayloadsRead},
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{payloads("results/*")}, Reason: reasonPayloadsWrite},
		{Rule: "Serverless-LambdaDLQ", Reason: reasonSourceLambda},
		{Rule: "Serverless-LambdaEventSourceMappingDestination", Reason: reasonSQSDestination + " " + reasonDeadLetterSource},
	},
	"Pipeline/Sweeper": {
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{indexes}, Reason: reasonIndexes},
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{payloads("*")}, Reason: reasonPayloadsRead},
		{Rule: "Serverless-LambdaDLQ", Reason: reasonSweeperDLQ},
	},
	"Pipeline/SweepSchedule": {
		{Rule: "Serverless-EventBusDLQ", Reason: reasonSweepRuleDLQ},
	},
	"Events/Trigger": {
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{indexes}, Reason: reasonIndexes},
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{payloads("*")}, Reason: reasonPayloadsRead},
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{payloads("requests/*")}, Reason: reasonPayloadsWrite},
		{Rule: "Serverless-LambdaDLQ", Reason: reasonTriggerDLQ},
		{Rule: "Serverless-LambdaEventSourceMappingDestination", Reason: reasonSQSDestination},
	},
	"Events/Notify": {
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{indexes}, Reason: reasonIndexes},
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{payloads("results/*")}, Reason: reasonPayloadsGet},
		{Rule: "Serverless-LambdaDLQ", Reason: reasonSourceLambda},
	},
	"Events/Deliver": {
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{indexes}, Reason: reasonIndexes},
		{Rule: "Serverless-LambdaDLQ", Reason: reasonSourceLambda},
		{Rule: "Serverless-LambdaEventSourceMappingDestination", Reason: reasonSQSDestination},
	},
	"Api/RestApi": {
		{Rule: "AwsSolutions-APIG2", Reason: reasonRestValidation},
		{Rule: "AwsSolutions-APIG4", Reason: reasonRestAuth},
		{Rule: "AwsSolutions-COG4", Reason: reasonRestAuth},
		{Rule: "AwsSolutions-APIG6", Reason: reasonRestExecutionLogs},
	},
	"Api/HttpApi": {
		{Rule: "AwsSolutions-APIG4", Reason: reasonHTTPAuth},
	},
	"Api/RestApi/CloudWatchRole": {
		{Rule: "AwsSolutions-IAM4", AppliesTo: []string{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"}, Reason: reasonRestLogRole},
	},
	"Events/SchedulerRole": {
		{Rule: "AwsSolutions-IAM5", AppliesTo: []string{`/^Resource::<EventsTriggerFunction[0-9A-F]{8}\.Arn>:\*$/`}, Reason: reasonTriggerVersions},
	},
	"Events/NotifyDeadLetterQueue": {
		{Rule: "AwsSolutions-SQS3", Reason: reasonFailureQueue},
	},
	"Events/TriggerDeadLetterQueue": {
		{Rule: "AwsSolutions-SQS3", Reason: reasonFailureQueue},
	},
})

// withSharedSuppressions adds to m the findings every construct of a kind shares: each function's
// X-Ray grant (golambda turns active tracing on everywhere; notify's also covers ListStreams), and
// each dead-letter queue's lack of a further one.
func withSharedSuppressions(m map[string][]Suppression) map[string][]Suppression {
	for _, fn := range []string{"Api/Invoke", "Api/Poll", "Api/Stream", "Pipeline/Worker", "Pipeline/Sweeper", "Events/Trigger", "Events/Deliver"} {
		m[fn] = append(m[fn], Suppression{Rule: "AwsSolutions-IAM5", AppliesTo: []string{"Resource::*"}, Reason: reasonTracing})
	}
	m["Events/Notify"] = append(m["Events/Notify"],
		Suppression{Rule: "AwsSolutions-IAM5", AppliesTo: []string{"Resource::*"}, Reason: reasonTracing + " " + reasonListStreams})
	for _, q := range []string{"Pipeline/DeadLetterQueue", "Events/IngestDeadLetterQueue", "Events/NotifyDeadLetterQueue", "Events/TriggerDeadLetterQueue", "Events/WebhookDeadLetterQueue"} {
		m[q] = append(m[q], Suppression{Rule: "Serverless-SQSRedrivePolicy", Reason: reasonDeadLetterQueue})
	}
	return m
}

// indexes matches the table's index wildcard in an IAM5 finding.
const indexes = `/^Resource::<StorageTable[0-9A-F]{8}\.Arn>\/index\/\*$/`

// payloads matches the payload bucket's objects under suffix (a prefix and "*") in an IAM5 finding.
func payloads(suffix string) string {
	return `/^Resource::<StoragePayloads[0-9A-F]{8}\.Arn>\/` + strings.ReplaceAll(regexp.QuoteMeta(suffix), "/", `\/`) + `$/`
}

// suppressNagFindings records NagSuppressions in the stack's metadata, where cdk-nag reads them.
// A path that names no construct (a flavour without it) is skipped.
func suppressNagFindings(s *Stack) {
	for path, list := range NagSuppressions {
		target := findPath(s.Stack, path)
		if target == nil {
			continue
		}
		sups := make([]*cdknag.NagPackSuppression, len(list))
		for i, sup := range list {
			sups[i] = &cdknag.NagPackSuppression{Id: jsii.String(sup.Rule), Reason: jsii.String(sup.Reason)}
			if len(sup.AppliesTo) > 0 {
				applies := make([]any, len(sup.AppliesTo))
				for j, a := range sup.AppliesTo {
					if strings.HasPrefix(a, "/") {
						applies[j] = cdknag.RegexAppliesTo{Regex: jsii.String(a)}
					} else {
						applies[j] = a
					}
				}
				sups[i].AppliesTo = &applies
			}
		}
		cdknag.NagSuppressions_AddResourceSuppressions(target, &sups, jsii.Bool(true))
	}
}

// findPath walks a slash-separated construct path below scope, or returns nil.
func findPath(scope constructs.IConstruct, path string) constructs.IConstruct {
	node := scope
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		child := node.Node().TryFindChild(jsii.String(path[start:i]))
		if child == nil {
			return nil
		}
		node = child
		start = i + 1
	}
	return node
}
