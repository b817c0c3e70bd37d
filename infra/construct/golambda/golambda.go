// Package golambda builds a Lambda function from one of the Go bootstrap binaries the Makefile
// cross-compiles (build/lambda/<name>/bootstrap). It holds the choices every agentq function
// shares: the provided.al2023 OS-only runtime, arm64, a log group with a retention, X-Ray active
// tracing, an environment Lambda will accept (measured as Lambda measures it), and the names of
// the environment variables the functions read.
package golambda

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	sharedconfig "github.com/agentq/agentq/shared/config"
)

// Environment variables the agentq functions read, named once in shared/config (the functions'
// side of the contract). The stack passes generated resource names through them, never fixed ones.
const (
	// EnvTable is the DynamoDB table name (all functions).
	EnvTable = sharedconfig.EnvTable
	// EnvTaskTTL is the task lifetime as a Go duration (all functions).
	EnvTaskTTL = sharedconfig.EnvTaskTTL
	// EnvLogLevel is the optional slog level (all functions).
	EnvLogLevel = sharedconfig.EnvLogLevel
	// EnvAPIKeys holds tenant:sha256hex pairs of the accepted API keys (invoke and poll).
	EnvAPIKeys = sharedconfig.EnvAPIKeys
	// EnvAdminKeys holds tenant:sha256hex pairs of the admin keys; unset leaves out the admin
	// routes, agent registry and auth contexts (invoke and poll).
	EnvAdminKeys = sharedconfig.EnvAdminKeys
	// EnvResultsBucket names the bucket for payloads too large for the task record (all functions).
	EnvResultsBucket = sharedconfig.EnvResultsBucket
	// EnvKMSKeyID names the KMS key that seals auth contexts' secrets; set, it enables auth
	// contexts (all functions: invoke seals, the worker opens, poll reads metadata only).
	EnvKMSKeyID = sharedconfig.EnvKMSKeyID
	// EnvStreamURL is where agents report progress: the stream function's URL, set on the worker.
	EnvStreamURL = sharedconfig.EnvStreamURL
	// EnvSealKey is the local alternative to EnvKMSKeyID, for development only: the stack never
	// sets it (the functions refuse both at once).
	EnvSealKey = sharedconfig.EnvSealKey
	// EnvReceiptKeyID names the KMS key ServiceNet receipts are signed with.
	EnvReceiptKeyID = sharedconfig.EnvReceiptKeyID
	// EnvReceiptKeyGeneration is the generation of the sealed receipt key that signs, without a
	// KMS receipt key.
	EnvReceiptKeyGeneration = sharedconfig.EnvReceiptKeyGeneration
	// EnvQueueURL is the work queue URL (invoke and worker).
	EnvQueueURL = sharedconfig.EnvQueueURL
	// EnvAgents is the JSON array of agent definitions (invoke).
	EnvAgents = sharedconfig.EnvAgents
	// EnvDLQARN is the dead-letter queue ARN, which tells the worker a redriven record from a
	// work record (worker).
	EnvDLQARN = sharedconfig.EnvDLQARN
	// EnvEventBus names the EventBridge bus completion events are put on (notify).
	EnvEventBus = sharedconfig.EnvEventBus
	// EnvWebhookQueueURL is the webhook delivery queue: notify sends first attempts, deliver its
	// retries, invoke a replay.
	EnvWebhookQueueURL = sharedconfig.EnvWebhookQueueURL
	// EnvWebhookDLQURL is where deliver puts a delivery that failed every attempt (deliver).
	EnvWebhookDLQURL = sharedconfig.EnvWebhookDLQURL
	// EnvWebhookSecret is the operator's default webhook signing secret. The stack never sets it:
	// a secret in a function's environment is readable by anyone who may read its configuration,
	// and the template would hold it in plain text. Tenants keep their own, sealed in the table.
	EnvWebhookSecret = sharedconfig.EnvWebhookSecret
	// EnvTriggerDLQURL is where the trigger puts the events it rejects, with the reason (trigger).
	EnvTriggerDLQURL = sharedconfig.EnvTriggerDLQURL
	// EnvDefaultTenant owns triggered invocations that name no tenant (trigger).
	EnvDefaultTenant = sharedconfig.EnvDefaultTenant
)

// Handler is the handler name of an OS-only runtime: the binary itself is called bootstrap.
const Handler = "bootstrap"

// Lambda's limit on a function's environment, and how a value not known before the deploy counts.
const (
	// MaxEnvironmentBytes is Lambda's limit: the variables serialized as one JSON object (names,
	// values, quotes and escapes), as the Lambda API measures it when the function is created.
	MaxEnvironmentBytes = 4096
	// TokenBytes is what a value CloudFormation fills in at deploy time (a generated table or
	// bucket name, a queue URL, a key or queue ARN) counts for: every one of them fits in 256
	// bytes (the longest, a DynamoDB table name, is at most 255), so a template that passes the
	// check cannot be refused for its size by the deploy.
	TokenBytes = 256
)

// token matches a CDK string token, the placeholder of a value only CloudFormation knows.
var token = regexp.MustCompile(`\$\{Token\[[^\]]*\]\}`)

// EnvironmentSize is the size Lambda measures for env: its JSON serialization, with every
// unresolved CloudFormation value counted as TokenBytes bytes.
func EnvironmentSize(env map[string]string) int {
	resolved := make(map[string]string, len(env))
	for k, v := range env {
		resolved[k] = token.ReplaceAllLiteralString(v, strings.Repeat("x", TokenBytes))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// The Lambda API escapes quotes and backslashes, not <, > and &.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resolved); err != nil {
		return 0 // a map of strings always encodes
	}
	return len(bytes.TrimRight(buf.Bytes(), "\n"))
}

// environmentError says why env is too large for Lambda, naming its largest variables, or is
// empty when it fits.
func environmentError(env map[string]string) string {
	size := EnvironmentSize(env)
	if size <= MaxEnvironmentBytes {
		return ""
	}
	names := make([]string, 0, len(env))
	for k := range env {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if len(env[names[i]]) != len(env[names[j]]) {
			return len(env[names[i]]) > len(env[names[j]])
		}
		return names[i] < names[j]
	})
	var largest []string
	for _, k := range names[:min(3, len(names))] {
		largest = append(largest, fmt.Sprintf("%s %d bytes", k, EnvironmentSize(map[string]string{k: env[k]})))
	}
	return fmt.Sprintf("environment is %d bytes as Lambda measures it (JSON, each name CloudFormation fills in counted as %d), over Lambda's %d; largest: %s. "+
		"Keep agents in the registry (PUT /v1/agents/{agent_id}) and tenants' keys in the table (POST /v1/api-keys) instead of the agentsFile and apiKeyHashes context",
		size, TokenBytes, MaxEnvironmentBytes, strings.Join(largest, ", "))
}

// Props configures one function.
type Props struct {
	// CodeDir is the directory holding the bootstrap binary.
	CodeDir string
	// Description shows in the console next to the generated function name.
	Description string
	// MemorySize in MB; Lambda gives CPU in proportion to it.
	MemorySize float64
	// Timeout of one invocation.
	Timeout awscdk.Duration
	// Environment variables; empty values are dropped, so optional settings can be passed as is.
	Environment map[string]string
	// LogRetention of the function's log group; one month when zero.
	LogRetention awslogs.RetentionDays
	// RemovalPolicy of the log group: RETAIN keeps the logs of a deleted stack for an audit.
	RemovalPolicy awscdk.RemovalPolicy
}

// Function is a Go Lambda function and its log group.
type Function struct {
	constructs.Construct
	// Function is the Lambda function; its name is generated by CloudFormation.
	Function awslambda.Function
	// LogGroup receives the function's logs, including its EMF metrics.
	LogGroup awslogs.LogGroup
	// Role is the execution role; the constructs that use the function add grants to it.
	Role awsiam.Role
}

// New defines the function. A missing bootstrap is reported as a synthesis error on the construct,
// so `cdk synth` fails naming the file instead of deploying a function that cannot start.
func New(scope constructs.Construct, id string, props *Props) *Function {
	this := constructs.NewConstruct(scope, jsii.String(id))

	bootstrap := filepath.Join(props.CodeDir, Handler)
	if st, err := os.Stat(bootstrap); err != nil || !st.Mode().IsRegular() {
		awscdk.Annotations_Of(this).AddError(jsii.String(fmt.Sprintf(
			"lambda binary %s not found: run `make build` first", bootstrap)))
	}

	retention := props.LogRetention
	if retention == "" {
		retention = awslogs.RetentionDays_ONE_MONTH
	}
	removal := props.RemovalPolicy
	if removal == "" {
		removal = awscdk.RemovalPolicy_RETAIN
	}
	logGroup := awslogs.NewLogGroup(this, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: removal,
	})

	// An execution role with no managed policy: CDK's default attaches AWSLambdaBasicExecutionRole,
	// which may create log groups and write to any of them. This one may only write to its own.
	role := awsiam.NewRole(this, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String(props.Description),
	})
	logGroup.GrantWrite(role)

	env := map[string]*string{}
	set := map[string]string{}
	for k, v := range props.Environment {
		if v != "" {
			env[k] = jsii.String(v)
			set[k] = v
		}
	}
	// The Lambda API refuses a larger environment when the function is created, half-way through
	// a deploy; refused here, the synth fails before anything is deployed.
	if msg := environmentError(set); msg != "" {
		awscdk.Annotations_Of(this).AddError(jsii.String(msg))
	}

	fn := awslambda.NewFunction(this, jsii.String("Function"), &awslambda.FunctionProps{
		Description: jsii.String(props.Description),
		// OS-only runtime: the Go binary is the runtime, so a cold start is a process start.
		Runtime: awslambda.Runtime_PROVIDED_AL2023(),
		// Graviton: about 20% cheaper per GB-second than x86 and at least as fast for Go.
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String(Handler),
		Code:         awslambda.Code_FromAsset(jsii.String(props.CodeDir), nil),
		MemorySize:   jsii.Number(props.MemorySize),
		Timeout:      props.Timeout,
		Environment:  &env,
		LogGroup:     logGroup,
		Role:         role,
		// X-Ray active tracing: a sampled invocation is traced even when no caller sent a trace
		// header, and the SQS event sources link the sender's trace (AWSTraceHeader).
		Tracing: awslambda.Tracing_ACTIVE,
	})

	return &Function{Construct: this, Function: fn, LogGroup: logGroup, Role: role}
}
