// Package api defines agentq's public API: the invoke and poll functions and the API Gateway that
// fronts them, an HTTP API by default (payload format 2.0) or a REST API (payload format 1.0) for
// LocalStack's free image. Both flavours serve the same Routes, log every request to one access
// log group, and throttle at the stage. Invoke serves the routes that write (invokes, stops, the
// admin's agent and auth context changes, webhook settings and replays), poll those that read.
package api

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/construct/storage"
	"github.com/agentq/agentq/shared/lambdamemory"
	"github.com/agentq/agentq/shared/receiptkey"
	"github.com/agentq/agentq/shared/table"
)

// Kind selects the API Gateway flavour.
type Kind string

const (
	// HTTP is an API Gateway HTTP API: cheaper and faster than REST, payload format 2.0.
	HTTP Kind = "http"
	// REST is an API Gateway REST API with Lambda proxy integrations, payload format 1.0. It
	// exists for LocalStack's free image, which does not emulate HTTP APIs.
	REST Kind = "rest"
)

// Sizing of the API functions and stage.
const (
	// InvokeMemoryMB: the accept path decodes a small body and makes a few concurrent calls
	// (DynamoDB reads and a write, SQS SendMessage). 256 MB doubles the CPU of 128 MB, which shows
	// in cold starts (TLS set-up, SDK clients) where the latency is paid by the caller; its
	// measured peak is 27 MB (lambdamemory).
	InvokeMemoryMB = lambdamemory.Invoke
	// InvokeTimeoutSeconds: a sync invoke (POST /v1/agents/{agent_id}/invoke) waits up to
	// MaxWaitSeconds for its task to end, after the accept (tens of milliseconds) and before its
	// last read; the handler stops waiting a second before the function's deadline. 29 s covers
	// that with room for SDK retries and stays under API Gateway's integration limit (HTTP API 30 s,
	// the REST API's default 29 s), so the function, not the gateway, decides what the caller
	// hears: the answer leaves by about 26 s, the timeout is only the backstop.
	InvokeTimeoutSeconds = 29
	// PollMemoryMB: one strongly consistent read or a Query page per request, or a long poll's
	// wait; measured peak 25 MB (lambdamemory).
	PollMemoryMB = lambdamemory.Poll
	// PollTimeoutSeconds covers a long poll (`?wait=`, at most MaxWaitSeconds) the same way.
	PollTimeoutSeconds = 29
	// MaxWaitSeconds is the handler's longest wait, long poll or sync invoke (httpapi.MaxWait;
	// api_test checks that they agree and that both timeouts leave room after it).
	MaxWaitSeconds = 25
	// GatewayTimeoutSeconds is the lower of API Gateway's two integration limits (REST 29 s by
	// default, HTTP API 30 s): no function behind the API may have a longer timeout.
	GatewayTimeoutSeconds = 29
	// DefaultThrottleRateLimit is the stage's steady request rate (requests per second, all
	// tenants together). The accept path costs one DynamoDB write and one SQS send and would take
	// far more; the limit is a cost and blast-radius guard against a runaway client. Per-tenant
	// quotas belong to the handler.
	DefaultThrottleRateLimit = 100
	// DefaultThrottleBurstLimit absorbs a short burst, such as a batch of tasks submitted at once.
	DefaultThrottleBurstLimit = 200
	// RestStageName is the REST API's stage; an HTTP API uses its $default stage.
	RestStageName = "prod"
)

// PollUpdateKeyPrefix is a partition key poll may write (UpdateItem) where receipts are signed
// with the KMS key: tasks' items, whose receipt signature it once kept.
const PollUpdateKeyPrefix = "TASK#"

// PollReceiptKeyPrefix is a partition key poll may write (UpdateItem) where receipts are signed
// with the sealed key: that key's item, which poll creates when it signs first.
const PollReceiptKeyPrefix = receiptkey.Partition

// InvokeTableActions is what the invoke function may do on any item of the task table. A single
// task is one conditional PutItem; a thread turn or an idempotent request is one
// TransactWriteItems, which IAM authorizes by its elements' actions (Put: PutItem, Update:
// UpdateItem, ConditionCheck: ConditionCheckItem). GetItem and BatchGetItem read idempotency keys,
// threads, the task a sync invoke waits on or a stop changes (a consistent BatchGetItem resolves
// thread or task id), agents (a lookup, and publish reads the draft) and auth contexts (an
// invocation's must exist) and API keys (every request's key not configured, and revoke);
// UpdateItem also marks a task failed when its message cannot be sent,
// stops it, and writes an agent's head record (draft, unpublish); PutItem also writes agent
// versions, auth contexts and API keys' hashes (in a TransactWriteItems). Every task transition
// (a stop, a resume) is followed by its event in the task's log (shared/tasklog): a Query of the
// table reads the log's tail (the last event's number; granted with InvokeQueryIndexes, not on
// every index), an UpdateItem that may only create writes the next; a task's creation writes
// none (created is implied by the task record). No Scan or
// BatchWriteItem; deletes only as
// InvokeDeleteKeyPrefixes allow.
var InvokeTableActions = []string{
	"dynamodb:GetItem",
	"dynamodb:BatchGetItem",
	"dynamodb:PutItem",
	"dynamodb:UpdateItem",
	"dynamodb:ConditionCheckItem",
}

// InvokeDeleteKeyPrefixes are the partition keys invoke may delete (dynamodb:DeleteItem under a
// dynamodb:LeadingKeys condition): an agent's draft, which publishing deletes in its
// TransactWriteItems (shared/registry), an auth context (DELETE /v1/auth-contexts/{id},
// shared/authctx), a tenant's own limits (DELETE /v1/tenants/{tenant}/limits, kept in its keys'
// partition by shared/keystore), and tasks with their conversations' records (DELETE
// /v1/tasks/{id}, store.Delete). Idempotency records, API keys and webhook settings are never
// deleted.
var InvokeDeleteKeyPrefixes = []string{"AGENT#", "AUTHCTX#", "APIKEYS#", "TASK#", "THREAD#"}

// InvokeQueryIndexes are the indexes invoke may Query: a delete finds the conversation's turns
// (by_thread) and their sub-tasks (by_parent). The table itself and the other indexes, never.
var InvokeQueryIndexes = []string{table.Indexes[1].Name, table.IndexParent}

// PollCountKeyPrefix is a partition key poll may write (UpdateItem): the tenants' request counts
// of shared/tenantlimit, one item per tenant and second, since every read spends its tenant's
// rate.
const PollCountKeyPrefix = "TENANTRATE#"

// Props configures the API.
type Props struct {
	// Kind is HTTP (default) or REST.
	Kind Kind
	// Table is the task table: invoke reads and writes tasks, agents and auth contexts, poll reads
	// them.
	Table awsdynamodb.ITable
	// Queue is the work queue invoke sends to.
	Queue awssqs.IQueue
	// WebhookQueue is the webhook delivery queue (events.Events.WebhookQueue): invoke sends a
	// delivery to it when a caller replays one. Nil leaves AGENTQ_WEBHOOK_QUEUE_URL unset, and
	// replays unavailable.
	WebhookQueue awssqs.IQueue
	// Payloads is the bucket for payloads too large for a task's item (storage.Storage.Payloads):
	// invoke stages large requests and both read them back with their answers.
	Payloads awss3.IBucket
	// SealKey seals auth contexts' secrets (storage.Storage.SealKey): invoke seals them when an
	// admin creates one; poll only names it, to serve the contexts' metadata, and may not use it.
	SealKey awskms.IKey
	// ReceiptKey signs ServiceNet receipts (storage.Storage.ReceiptKey, the KMS option): both
	// functions answer receipts, so both sign with it. Nil signs them with the sealed receipt key
	// kept in the table under SealKey (shared/receiptkey), of generation ReceiptKeyGeneration.
	ReceiptKey awskms.IKey
	// ReceiptKeyGeneration is the sealed receipt key's generation that signs (0 is 1); the
	// earlier generations stay listed. Unused with ReceiptKey.
	ReceiptKeyGeneration int
	// InvokeCodeDir and PollCodeDir hold the two bootstraps.
	InvokeCodeDir, PollCodeDir string
	// StreamCodeDir holds the stream function's bootstrap; empty defines no stream function.
	StreamCodeDir string
	// Environment holds the settings every function shares (task TTL, log level).
	Environment map[string]string
	// APIKeyHashes is the tenant:sha256hex list of accepted keys. Empty sets no AGENTQ_API_KEYS,
	// and the functions then reject every request.
	APIKeyHashes string
	// AdminKeyHashes is the tenant:sha256hex list of admin keys. Empty sets no AGENTQ_ADMIN_KEYS,
	// and the functions then leave out the admin routes (agent registry, auth contexts); the
	// gateway still sends them, and they answer 404.
	AdminKeyHashes string
	// AgentsJSON is the agent registry handed to invoke.
	AgentsJSON string
	// CreateLogRole, for the REST flavour, makes the stack create API Gateway's account-wide
	// CloudWatch Logs role (config.RestLogRoleCreate), which the stage's access logs need on AWS.
	CreateLogRole bool
	// ThrottleRateLimit and ThrottleBurstLimit override the stage defaults when positive.
	ThrottleRateLimit, ThrottleBurstLimit float64
	// LogRemovalPolicy applies to the function and access log groups.
	LogRemovalPolicy awscdk.RemovalPolicy
}

// API is the public API construct.
type API struct {
	constructs.Construct
	// Kind is the flavour that was built.
	Kind Kind
	// Invoke serves the routes that write: invokes, stops, agent and auth context changes.
	Invoke awslambda.Function
	// Poll serves the GET routes: tasks, receipts, threads, lists, agents, auth contexts.
	Poll awslambda.Function
	// Stream serves the streaming routes through StreamURL, a response-streaming function URL;
	// both nil without Props.StreamCodeDir.
	Stream    awslambda.Function
	StreamURL awslambda.FunctionUrl
	// HTTPAPI and HTTPStage are set for the HTTP flavour.
	HTTPAPI   awsapigatewayv2.HttpApi
	HTTPStage awsapigatewayv2.HttpStage
	// RestAPI is set for the REST flavour.
	RestAPI awsapigateway.RestApi
	// AccessLogs receives one JSON line per request.
	AccessLogs awslogs.LogGroup
	// URL is the base URL of the deployed stage, ending in a slash.
	URL *string
	// ID is the API's id (HTTP API id or REST API id).
	ID *string
	// StageName is "$default" for HTTP and RestStageName for REST.
	StageName string
}

// New defines the functions, the API and its routes, and grants each function only what its path
// needs.
func New(scope constructs.Construct, id string, props *Props) *API {
	this := constructs.NewConstruct(scope, jsii.String(id))
	a := &API{Construct: this, Kind: props.Kind}
	if a.Kind == "" {
		a.Kind = HTTP
	}

	shared := map[string]string{
		golambda.EnvTable:         *props.Table.TableName(),
		golambda.EnvAPIKeys:       props.APIKeyHashes,
		golambda.EnvAdminKeys:     props.AdminKeyHashes,
		golambda.EnvResultsBucket: *props.Payloads.BucketName(),
		golambda.EnvKMSKeyID:      *props.SealKey.KeyArn(),
	}
	if props.ReceiptKey != nil {
		shared[golambda.EnvReceiptKeyID] = *props.ReceiptKey.KeyArn()
	} else {
		shared[golambda.EnvReceiptKeyGeneration] = strconv.Itoa(receiptGeneration(props))
	}
	for k, v := range props.Environment {
		shared[k] = v
	}
	invokeEnv := map[string]string{
		golambda.EnvQueueURL: *props.Queue.QueueUrl(),
		golambda.EnvAgents:   props.AgentsJSON,
	}
	if props.WebhookQueue != nil {
		invokeEnv[golambda.EnvWebhookQueueURL] = *props.WebhookQueue.QueueUrl()
	}
	for k, v := range shared {
		invokeEnv[k] = v
	}

	a.Invoke = golambda.New(this, "Invoke", &golambda.Props{
		CodeDir:       props.InvokeCodeDir,
		Description:   "agentq invoke: accepts, queues and stops tasks; publishes agents; keeps auth contexts and webhooks",
		MemorySize:    InvokeMemoryMB,
		Timeout:       awscdk.Duration_Seconds(jsii.Number(InvokeTimeoutSeconds)),
		Environment:   invokeEnv,
		RemovalPolicy: props.LogRemovalPolicy,
	}).Function
	a.Poll = golambda.New(this, "Poll", &golambda.Props{
		CodeDir:       props.PollCodeDir,
		Description:   "agentq poll: serves tasks, receipts, threads, lists, agents, auth contexts, webhooks and deliveries",
		MemorySize:    PollMemoryMB,
		Timeout:       awscdk.Duration_Seconds(jsii.Number(PollTimeoutSeconds)),
		Environment:   shared,
		RemovalPolicy: props.LogRemovalPolicy,
	}).Function

	a.grant(props)
	a.buildStream(props, shared)

	removal := props.LogRemovalPolicy
	if removal == "" {
		removal = awscdk.RemovalPolicy_RETAIN
	}
	a.AccessLogs = awslogs.NewLogGroup(this, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		Retention:     awslogs.RetentionDays_ONE_MONTH,
		RemovalPolicy: removal,
	})

	rate, burst := float64(DefaultThrottleRateLimit), float64(DefaultThrottleBurstLimit)
	if props.ThrottleRateLimit > 0 {
		rate = props.ThrottleRateLimit
	}
	if props.ThrottleBurstLimit > 0 {
		burst = props.ThrottleBurstLimit
	}

	switch a.Kind {
	case HTTP:
		a.buildHTTP(rate, burst)
	case REST:
		a.buildREST(rate, burst, props.CreateLogRole)
	default:
		panic(fmt.Sprintf("api: unknown kind %q", a.Kind))
	}
	return a
}

// grant grants the invoke and poll functions exactly what their paths need.
func (a *API) grant(props *Props) {
	// invoke accepts, waits on, stops, resumes and deletes tasks, publishes agents and keeps auth
	// contexts: exactly InvokeTableActions on the table (and its indexes), Query on
	// InvokeQueryIndexes only, DeleteItem on the items of InvokeDeleteKeyPrefixes only, sends to
	// the work queue, writes large requests under
	// requests/ and reads payloads (a sync invoke answers with the task), seals secrets (KMS
	// Encrypt, never Decrypt: the worker opens auth contexts', deliver webhooks'), sends a
	// replayed webhook delivery to the webhook queue, and nothing else.
	props.Table.Grant(a.Invoke, *jsii.Strings(InvokeTableActions...)...)
	grantOnKeys(a.Invoke, "dynamodb:DeleteItem", props.Table, InvokeDeleteKeyPrefixes...)
	// Query: the table itself (an event log's tail) and the indexes a delete reads.
	indexes := []*string{props.Table.TableArn()}
	for _, ix := range InvokeQueryIndexes {
		indexes = append(indexes, jsii.String(*props.Table.TableArn()+"/index/"+ix))
	}
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee: a.Invoke, Actions: jsii.Strings("dynamodb:Query"), ResourceArns: &indexes,
	})
	props.Queue.GrantSendMessages(a.Invoke)
	if props.WebhookQueue != nil {
		props.WebhookQueue.Grant(a.Invoke, jsii.String("sqs:SendMessage"))
	}
	storage.GrantWritePayloads(props.Payloads, a.Invoke, storage.RequestsPrefix)
	storage.GrantReadPayloads(props.Payloads, a.Invoke)
	storage.GrantSeal(props.SealKey, a.Invoke)
	// poll reads: GetItem, BatchGetItem, and Query on the table and its GSIs (by_tenant for
	// the task and agent lists, by_thread for a thread's turns, a task's delivery log), and
	// payloads. Auth contexts' metadata and webhook settings are read without their secrets: no
	// KMS.
	props.Table.GrantReadData(a.Poll)
	storage.GrantReadPayloads(props.Payloads, a.Poll)
	// poll's one write, UpdateItem, reaches two kinds of items only: the tenants' request counts
	// (every read spends its tenant's rate) and either, with the KMS receipt key, tasks' items
	// (PollUpdateKeyPrefix), or the sealed receipt key's item, which it creates when it is the
	// first to sign. Both answer receipts, signed: with the KMS key, KMS Sign and GetPublicKey on
	// it; with the sealed key, KMS Decrypt of the receipt keys (and Encrypt of the current one)
	// under the seal key, and of no other secret.
	pollWrites := []string{PollCountKeyPrefix}
	if props.ReceiptKey != nil {
		storage.GrantSignReceipts(props.ReceiptKey, a.Invoke)
		storage.GrantSignReceipts(props.ReceiptKey, a.Poll)
		pollWrites = append(pollWrites, PollUpdateKeyPrefix)
	} else {
		a.grantSealedReceipts(props)
		pollWrites = append(pollWrites, PollReceiptKeyPrefix)
	}
	grantOnKeys(a.Poll, "dynamodb:UpdateItem", props.Table, pollWrites...)

}

// receiptGeneration is the sealed receipt key's generation that signs.
func receiptGeneration(props *Props) int { return max(props.ReceiptKeyGeneration, 1) }

// grantSealedReceipts lets both functions open every listed generation of the sealed receipt
// key (Decrypt) and create the current one (Encrypt: invoke may seal any secret already).
func (a *API) grantSealedReceipts(props *Props) {
	gen := receiptGeneration(props)
	all := make([]int, 0, gen)
	for g := 1; g <= gen; g++ {
		all = append(all, g)
	}
	storage.GrantReceiptKey(props.SealKey, a.Invoke, all, storage.OpenActions...)
	storage.GrantReceiptKey(props.SealKey, a.Poll, all, storage.OpenActions...)
	storage.GrantReceiptKey(props.SealKey, a.Poll, []int{gen}, storage.SealActions...)
}

func (a *API) target(t Target) awslambda.Function {
	if t == Poll {
		return a.Poll
	}
	return a.Invoke
}

// grantOnKeys lets grantee make action on the table's items whose partition keys start with one
// of the prefixes, and no others: every partition key a request touches must match (one, for a
// single-item action or a transaction's element).
func grantOnKeys(grantee awsiam.IGrantable, action string, table awsdynamodb.ITable, prefixes ...string) {
	leading := make([]any, len(prefixes))
	for i, p := range prefixes {
		leading[i] = p + "*"
	}
	awsiam.Grant_AddToPrincipal(&awsiam.GrantOnPrincipalOptions{
		Grantee:      grantee,
		Actions:      jsii.Strings(action),
		ResourceArns: jsii.Strings(*table.TableArn()),
		Conditions: &map[string]*map[string]any{
			"ForAllValues:StringLike": {"dynamodb:LeadingKeys": leading},
		},
	})
}

func (a *API) buildHTTP(rate, burst float64) {
	a.HTTPAPI = awsapigatewayv2.NewHttpApi(a.Construct, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		Description: jsii.String("agentq public API"),
		// The default stage is added below, with throttling and access logs.
		CreateDefaultStage: jsii.Bool(false),
	})
	// One integration per function, shared by its routes.
	integrations := map[Target]awsapigatewayv2.HttpRouteIntegration{}
	for _, t := range []Target{Invoke, Poll} {
		id := "InvokeIntegration"
		if t == Poll {
			id = "PollIntegration"
		}
		integrations[t] = awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(id), a.target(t),
			&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
				PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
			})
	}
	// No gateway authorizer: the functions check every request's key themselves, as on REST
	// (an uncached Lambda authorizer, the only kind that lets a key come in x-api-key or as
	// Bearer, would be one more Lambda invocation per request; see DESIGN.md "Deploy").
	for _, r := range Routes {
		a.HTTPAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(r.Path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
			Integration: integrations[r.Target],
		})
	}
	a.HTTPStage = a.HTTPAPI.AddStage(jsii.String("DefaultStage"), &awsapigatewayv2.HttpStageOptions{
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit:  jsii.Number(rate),
			BurstLimit: jsii.Number(burst),
		},
		AccessLogSettings: &accessLogSettings{
			destination: awsapigatewayv2.NewLogGroupLogDestination(a.AccessLogs),
			format:      awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat("$context.routeKey"))),
		},
	})
	a.URL = a.HTTPStage.Url()
	a.ID = a.HTTPAPI.ApiId()
	a.StageName = "$default"
}

func (a *API) buildREST(rate, burst float64, createLogRole bool) {
	restProps := &awsapigateway.RestApiProps{
		Description:   jsii.String("agentq public API (REST flavour)"),
		EndpointTypes: &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL},
		// Access logs need API Gateway's account-wide CloudWatch role on AWS. The stack sets it
		// only when told to (-c restLogRole=create): it is the account's, shared by every REST API
		// in the region, so it is retained when the stack goes.
		CloudWatchRole: jsii.Bool(createLogRole),
		DeployOptions: &awsapigateway.StageOptions{
			// X-Ray traces the request through the gateway into the functions' traces.
			TracingEnabled:       jsii.Bool(true),
			StageName:            jsii.String(RestStageName),
			ThrottlingRateLimit:  jsii.Number(rate),
			ThrottlingBurstLimit: jsii.Number(burst),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(a.AccessLogs),
			AccessLogFormat:      awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat("$context.resourcePath"))),
		},
	}
	if createLogRole {
		restProps.CloudWatchRoleRemovalPolicy = awscdk.RemovalPolicy_RETAIN
	}
	a.RestAPI = awsapigateway.NewRestApi(a.Construct, jsii.String("RestApi"), restProps)
	integrations := map[Target]awsapigateway.LambdaIntegration{}
	for _, t := range []Target{Invoke, Poll} {
		// Proxy integration: the function gets the whole request (payload format 1.0) and shapes
		// the whole response, exactly as behind the HTTP API.
		integrations[t] = awsapigateway.NewLambdaIntegration(a.target(t), &awsapigateway.LambdaIntegrationOptions{
			Proxy:           jsii.Bool(true),
			AllowTestInvoke: jsii.Bool(false),
		})
	}
	for _, r := range Routes {
		a.RestAPI.Root().ResourceForPath(jsii.String(r.Path)).
			AddMethod(jsii.String(r.Method), integrations[r.Target], nil)
	}
	a.URL = a.RestAPI.Url()
	a.ID = a.RestAPI.RestApiId()
	a.StageName = RestStageName
}

// MetricServerErrors is the API's count of 5xx answers.
func (a *API) MetricServerErrors(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	if a.RestAPI != nil {
		return a.RestAPI.MetricServerError(opts)
	}
	return a.HTTPAPI.MetricServerError(opts)
}

// MetricRequests is the API's count of requests.
func (a *API) MetricRequests(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	if a.RestAPI != nil {
		return a.RestAPI.MetricCount(opts)
	}
	return a.HTTPAPI.MetricCount(opts)
}

// MetricLatency is the API's end-to-end latency.
func (a *API) MetricLatency(opts *awscloudwatch.MetricOptions) awscloudwatch.Metric {
	if a.RestAPI != nil {
		return a.RestAPI.MetricLatency(opts)
	}
	return a.HTTPAPI.MetricLatency(opts)
}

// accessLogFormat is one JSON line per request. Headers are left out on purpose: x-api-key
// must never reach a log.
func accessLogFormat(route string) string {
	fields := [][2]string{
		{"requestId", "$context.requestId"},
		{"requestTime", "$context.requestTime"},
		{"ip", "$context.identity.sourceIp"},
		{"method", "$context.httpMethod"},
		{"route", route},
		{"path", "$context.path"},
		{"status", "$context.status"},
		{"protocol", "$context.protocol"},
		{"responseLength", "$context.responseLength"},
		{"latencyMs", "$context.responseLatency"},
		{"integrationLatencyMs", "$context.integrationLatency"},
		{"integrationError", "$context.integrationErrorMessage"},
		{"error", "$context.error.message"},
	}
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = fmt.Sprintf("%q:%q", f[0], f[1])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// accessLogSettings implements awsapigatewayv2.IAccessLogSettings.
type accessLogSettings struct {
	destination awsapigatewayv2.IAccessLogDestination
	format      awsapigateway.AccessLogFormat
}

// Destination is the access log group.
func (s *accessLogSettings) Destination() awsapigatewayv2.IAccessLogDestination {
	return s.destination
}

// Format is the access log line format.
func (s *accessLogSettings) Format() awsapigateway.AccessLogFormat { return s.format }
