// Package work builds, over the parts package backend wires, what only the worker function runs:
// the agent dispatcher (HTTP, A2A and Lambda agents) and the worker. It is apart from backend so
// that the other functions neither link nor initialise the A2A client, the Lambda client or the
// output-schema validator.
package work

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/worker"
)

// The auth context store is what the worker's interface asks for.
var _ worker.AuthContexts = (*authctx.Store)(nil)

// LambdaClient returns the client that invokes Lambda agents. They are invoked once per delivery:
// SQS redelivery, not the SDK, retries them.
func LambdaClient(cfg aws.Config) *lambda.Client {
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.RetryMaxAttempts = 1 })
}

// Dispatcher returns a client that calls agents of every protocol, reaching only what p's
// Options.AgentGuard allows and invoking Lambda agents through invoker (nil: they fail).
func Dispatcher(p *backend.Parts, invoker dispatch.LambdaInvoker) *dispatch.Client {
	o := p.Options()
	opts := []dispatch.Option{dispatch.WithA2AWait(o.A2AWait)}
	if invoker != nil {
		opts = append(opts, dispatch.WithLambda(invoker))
	}
	return dispatch.New(dispatch.HTTPClient(o.AgentGuard), opts...)
}

// Worker returns the processor of the work queue and its dead-letter queue (the configuration's
// DLQARN), calling agents through Dispatcher(p, invoker); nil without a work queue.
func Worker(p *backend.Parts, invoker dispatch.LambdaInvoker) *worker.Processor {
	if p.Queue == nil {
		return nil
	}
	o := p.Options()
	wc := worker.Config{
		Store: p.Tasks, Requests: p.Tasks, Queue: p.Queue, Dispatcher: Dispatcher(p, invoker),
		AuthContexts: backend.AuthContexts[worker.AuthContexts](p), DeadLetterARN: p.Config().DLQARN,
		Logger: p.Logger, Metrics: p.Metrics, Backoff: o.Backoff, CheckBackoff: o.CheckBackoff,
		Events: p.Events, Budget: o.Budget,
	}
	// Only a worker that knows where agents reach the progress routes hands tokens out.
	if p.ProgressKeys != nil && p.Config().StreamURL != "" {
		wc.Progress = dispatch.ProgressTargets(p.ProgressKeys, p.Config().StreamURL)
	}
	return worker.New(wc)
}
