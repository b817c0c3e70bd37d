package api

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/construct/storage"
)

// The stream function's sizing. A stream connection is bounded at 5 minutes
// (httpapi.DefaultStreamFor); the function outlasts it so that the connection ends with its
// reconnect event rather than a cut.
const (
	StreamMemoryMB       = 256
	StreamTimeoutSeconds = 330
)

// buildStream defines the stream function (functions/stream: the task event streams, the
// receipts dialect's, xpander's invoke/stream) behind a function URL in RESPONSE_STREAM mode:
// API Gateway's HTTP API buffers a function's answer, a response-streaming URL does not. The URL
// has no IAM auth: the handler checks API keys itself, as the functions behind the REST flavour
// do. Nothing is defined without StreamCodeDir.
func (a *API) buildStream(props *Props, shared map[string]string) {
	if props.StreamCodeDir == "" {
		return
	}
	env := map[string]string{golambda.EnvQueueURL: *props.Queue.QueueUrl(), golambda.EnvAgents: props.AgentsJSON}
	for k, v := range shared {
		env[k] = v
	}
	a.Stream = golambda.New(a.Construct, "Stream", &golambda.Props{
		CodeDir:       props.StreamCodeDir,
		Description:   "agentq stream: task events as Server-Sent Events or pages, and xpander's invoke/stream",
		MemorySize:    StreamMemoryMB,
		Timeout:       awscdk.Duration_Seconds(jsii.Number(StreamTimeoutSeconds)),
		Environment:   env,
		RemovalPolicy: props.LogRemovalPolicy,
	}).Function
	a.StreamURL = a.Stream.AddFunctionUrl(&awslambda.FunctionUrlOptions{
		AuthType:   awslambda.FunctionUrlAuthType_NONE,
		InvokeMode: awslambda.InvokeMode_RESPONSE_STREAM,
	})
	// Least privilege: read tasks and their logs (GetItem, Query), append the finished event a
	// log lacks and, for invoke/stream, accept a task as invoke does (InvokeTableActions: its
	// record, thread and idempotency writes, and the events that follow them); send the work;
	// stage and read large payloads. No deletes, no KMS (the stream names no auth context's
	// secret).
	props.Table.Grant(a.Stream, *jsii.Strings(InvokeTableActions...)...)
	props.Queue.GrantSendMessages(a.Stream)
	storage.GrantWritePayloads(props.Payloads, a.Stream, storage.RequestsPrefix)
	storage.GrantReadPayloads(props.Payloads, a.Stream)
}
