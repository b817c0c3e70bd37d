// Package deadline is the one place where agentq's deadlines and retry bounds are set: how long
// an API request may take, how much of it is kept back to answer a failure truthfully, how long
// one AWS call attempt may hang and how often it is retried, and how long the worker keeps trying
// to record an outcome it has paid for. DESIGN.md ("Deadlines and retries") gives the reasoning
// behind each number; the package's tests pin them.
//
// Everything else derives its deadline from its caller's (an API request's, a Lambda
// invocation's remaining time) with these margins, so a hung dependency costs a bounded wait and
// an answer, never a hang.
package deadline

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// Fixed bounds of calls that have no caller's budget to derive from.
const (
	// KeyLookup bounds reading an API key that is not configured (one GetItem, its attempts
	// included): the API checks a key before any request budget applies.
	KeyLookup = 5 * time.Second
	// WebhookAttempt bounds one webhook POST, from dial to the end of the answer's headers: a
	// receiver that hangs costs this, and the attempt is retried on the delivery schedule.
	WebhookAttempt = 10 * time.Second
)

// Budget holds the deadlines and retry bounds. Default gives the production values; tests use
// shorter ones so that a slow path takes seconds, not the real budget.
type Budget struct {
	// Request bounds an API request's own work (a long poll's or sync invoke's wait comes on
	// top): every read and write it makes, and the answer.
	Request time.Duration
	// Reserve is kept back from Request at accept for the failure path: marking a task that
	// could not be queued as failed, so that the 5xx it answers is true.
	Reserve time.Duration
	// Answer is kept back from the caller's own deadline (a Lambda function's timeout) so that
	// the handler, not the platform, decides what the caller hears.
	Answer time.Duration
	// Attempt bounds one attempt of an AWS call (DynamoDB, SQS, S3, KMS, EventBridge): a hung
	// connection costs this much, not the whole budget.
	Attempt time.Duration
	// Attempts is how many attempts an AWS call makes in all; MaxBackoff caps the wait between
	// them.
	Attempts   int
	MaxBackoff time.Duration
	// LeaseMargin is how much longer than its agent call a worker's lease lasts: the time it has
	// to record the outcome while no other delivery may take the task.
	LeaseMargin time.Duration
	// Outcome bounds the worker's tries to record an outcome, backing off from OutcomeBackoff
	// (doubling, capped at a quarter of Outcome); it fits inside LeaseMargin.
	Outcome        time.Duration
	OutcomeBackoff time.Duration
	// Invocation is kept back from a worker invocation's deadline: the agent call ends this much
	// before it, so the outcome write (Outcome) and the batch's answer still fit.
	Invocation time.Duration
}

// Default is the production budget.
func Default() Budget {
	return Budget{
		Request:        10 * time.Second,
		Reserve:        3 * time.Second,
		Answer:         time.Second,
		Attempt:        2 * time.Second,
		Attempts:       3,
		MaxBackoff:     500 * time.Millisecond,
		LeaseMargin:    15 * time.Second,
		Outcome:        10 * time.Second,
		OutcomeBackoff: 100 * time.Millisecond,
		Invocation:     12 * time.Second,
	}
}

// OrDefault returns b, or Default when b is the zero Budget: a component built without a budget
// runs with the production values.
func (b Budget) OrDefault() Budget {
	if b == (Budget{}) {
		return Default()
	}
	return b
}

// ForRequest bounds an API request that may also wait up to wait (a long poll, a sync invoke):
// Request plus wait from now, and never later than the caller's own deadline less Answer.
func (b Budget) ForRequest(ctx context.Context, wait time.Duration) (context.Context, context.CancelFunc) {
	at := time.Now().Add(b.Request + wait)
	if dl, ok := ctx.Deadline(); ok && dl.Add(-b.Answer).Before(at) {
		at = dl.Add(-b.Answer)
	}
	return context.WithDeadline(ctx, at)
}

// Split divides ctx's remaining time at accept: work gets everything but the Reserve, detached
// from ctx's cancellation (a write, once started, must finish whatever the caller does, or it
// could leave a record with no message), and the failure path later gets the Reserve, detached
// too. Without a deadline on ctx, work gets Request less Reserve.
func (b Budget) Split(ctx context.Context) (work context.Context, cancel context.CancelFunc) {
	at := time.Now().Add(b.Request - b.Reserve)
	if dl, ok := ctx.Deadline(); ok {
		at = dl.Add(-b.Reserve)
	}
	return context.WithDeadline(context.WithoutCancel(ctx), at)
}

// Reserved is the failure path's context: the Reserve, from now, whatever became of the caller.
func (b Budget) Reserved(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), b.Reserve)
}

// AgentCall bounds an agent call within an invocation: the agent's own timeout, and never
// later than the invocation's deadline less Invocation. It is zero or less when no call fits.
func (b Budget) AgentCall(ctx context.Context, agentTimeout time.Duration) time.Duration {
	d := agentTimeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl)-b.Invocation)
	}
	return d
}

// OutcomeBackoffAt is the wait before the n-th retry (from 1) of an outcome write: doubling from
// OutcomeBackoff, at most a quarter of Outcome.
func (b Budget) OutcomeBackoffAt(n int) time.Duration {
	return min(b.OutcomeBackoff<<min(max(n-1, 0), 16), b.Outcome/4)
}

// AWS applies the per-attempt timeout and the retry bounds to an AWS SDK configuration: the
// clients of DynamoDB, SQS, S3, KMS and EventBridge made from it. Agent calls through Lambda are
// bounded by the agent's timeout instead, and must not use it.
func (b Budget) AWS(cfg aws.Config) aws.Config {
	cfg = cfg.Copy()
	cfg.HTTPClient = b.HTTPClient()
	cfg.RetryMaxAttempts = 0 // the retryer below decides
	attempts, backoff := b.Attempts, b.MaxBackoff
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = backoff
		})
	}
	return cfg
}

// HTTPClient is the SDK's HTTP client with the per-attempt timeout.
func (b Budget) HTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTimeout(b.Attempt)
}
