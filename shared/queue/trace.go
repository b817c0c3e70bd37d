package queue

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// TraceAttribute is the SQS message system attribute that carries X-Ray trace context. Lambda's
// SQS event source reads it to link the consumer's invocation to the sender's trace, and hands it
// to the consumer in the record's attributes.
const TraceAttribute = "AWSTraceHeader"

// lambdaTraceKey is the context key under which aws-lambda-go puts the invocation's X-Ray trace
// header (Lambda-Runtime-Trace-Id): a plain string, as that package defines it.
const lambdaTraceKey = "x-amzn-trace-id"

// traceKey carries a trace header taken from a received message.
type traceKey struct{}

// WithTraceHeader returns ctx carrying header ("Root=…;Parent=…;Sampled=…") as the trace the work
// done under it belongs to: a message sent under ctx carries it on. An empty header leaves ctx as is.
func WithTraceHeader(ctx context.Context, header string) context.Context {
	if header == "" {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, header)
}

// TraceHeader returns the trace header of ctx: one set by WithTraceHeader (a received message's),
// else the Lambda invocation's, else "".
func TraceHeader(ctx context.Context) string {
	if h, ok := ctx.Value(traceKey{}).(string); ok && h != "" {
		return h
	}
	h, _ := ctx.Value(lambdaTraceKey).(string)
	return h
}

// TraceRoot returns the Root=… part of a trace header (the trace id), or "" when it has none.
func TraceRoot(header string) string {
	for part := range strings.SplitSeq(header, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "Root="); ok {
			return v
		}
	}
	return ""
}

// traceAttributes is the system attribute carrying ctx's trace header, or nil when it has none.
func traceAttributes(ctx context.Context) map[string]types.MessageSystemAttributeValue {
	h := TraceHeader(ctx)
	if h == "" {
		return nil
	}
	return map[string]types.MessageSystemAttributeValue{
		TraceAttribute: {DataType: aws.String("String"), StringValue: aws.String(h)},
	}
}
