package system

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/backend/notifier"
	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/local/esm"
	"github.com/agentq/agentq/shared/local/eventbus"
	"github.com/agentq/agentq/shared/notify"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/trigger"
	"github.com/agentq/agentq/shared/webhook"
)

// eventQueue names a queue of events in and out after the work queue, so that two systems on one
// SQS keep apart: agentq-work gives agentq-webhooks, agentq-ingest and agentq-trigger-dlq.
func eventQueue(work, name string) string { return strings.TrimSuffix(work, "-work") + "-" + name }

// startEventQueues creates the queues of events in and out.
func (s *System) startEventQueues(ctx context.Context, o Options) error {
	var err error
	if s.Events.Webhooks, err = queue.Create(ctx, s.SQS, eventQueue(o.Queue, "webhooks"), webhook.VisibilityTimeout); err != nil {
		return err
	}
	if s.Events.Ingest, err = queue.Create(ctx, s.SQS, eventQueue(o.Queue, "ingest"), o.Visibility); err != nil {
		return err
	}
	// A dead-letter queue itself: nothing consumes it, so it needs no redrive of its own.
	dlq, err := s.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(eventQueue(o.Queue, "trigger-dlq"))})
	if err != nil {
		return fmt.Errorf("create trigger dead-letter queue: %w", err)
	}
	s.Events.TriggerDLQURL = aws.ToString(dlq.QueueUrl)
	return nil
}

// runEvents starts the local bus and the event source mappings of events in and out: the table's
// stream to the notifier, the webhook queue to the deliverer, the ingest queue to the trigger.
func (s *System) runEvents(ctx, runCtx context.Context, o Options, p *backend.Parts) error {
	var err error
	s.Bus, err = eventbus.Start(runCtx, eventbus.Options{
		OnInvoke: func(ctx context.Context, e eventbus.Event) error {
			res := e.Resources
			if res == nil {
				res = []string{}
			}
			// As a Lambda target receives it.
			_, err := s.Trigger.HandleEvent(ctx, trigger.Event{Version: "0", ID: e.ID, DetailType: e.DetailType, Source: e.Source,
				Account: e.Account, Time: e.Time, Region: e.Region, Resources: res, Detail: e.Detail})
			return err
		},
		Trigger: s.Trigger.HandleVerbose,
		Logger:  o.Logger,
	})
	if err != nil {
		return err
	}
	table, err := s.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(o.Table)})
	if err != nil {
		return fmt.Errorf("describe table %s: %w", o.Table, err)
	}
	streamARN := aws.ToString(table.Table.LatestStreamArn)
	if streamARN == "" {
		return fmt.Errorf("table %s has no stream: it was made before completion events existed; remove the data directory or the table", o.Table)
	}
	// Stream reads are not metered: Lambda's reads of a table's stream are free.
	bus := eventbridge.NewFromConfig(localAWS(o.Budget, o.APIOptions...), func(eo *eventbridge.Options) { eo.BaseEndpoint = aws.String(s.busEndpoint(o)) })
	ntf := notifier.New(p, bus, s.Bus.Name)
	// The stream poller waits on long reads of its own: it keeps the SDK's default timeouts.
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	streams := dynamodbstreams.NewFromConfig(cfg, func(so *dynamodbstreams.Options) { so.BaseEndpoint = aws.String(s.DynamoDBEndpoint) })

	run := func(name string, f func(context.Context) error) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := f(runCtx); err != nil && runCtx.Err() == nil {
				o.Logger.Error("event source stopped", "source", name, "err", err)
			}
		}()
	}
	stream := &esm.StreamMapping{API: streams, StreamARN: streamARN, Handler: timedStream(ntf.Handle, o.OnInvocation), Filter: notify.Wanted, Idle: 100 * time.Millisecond, Logger: o.Logger}
	run("stream", stream.Run)
	for _, m := range []*esm.Mapping{
		{API: s.SQS, QueueURL: s.Events.Webhooks.URL, QueueARN: s.Events.Webhooks.ARN, Region: "us-east-1", Handler: s.Deliveries.Handle, Pollers: 2, Logger: o.Logger},
		{API: s.SQS, QueueURL: s.Events.Ingest.URL, QueueARN: s.Events.Ingest.ARN, Region: "us-east-1", Handler: s.Trigger.HandleSQS, Pollers: 1, Logger: o.Logger},
	} {
		run(m.QueueURL, m.Run)
	}
	return nil
}

// busEndpoint is where the notifier publishes: the local bus, or what Options.NotifyVia puts in
// front of it.
func (s *System) busEndpoint(o Options) string {
	if o.NotifyVia != nil {
		return o.NotifyVia(s.Bus.URL)
	}
	return s.Bus.URL
}

// timedStream tells onInvocation how long each stream batch took in h, as the notify function
// would be billed.
func timedStream(h batch.StreamHandler, onInvocation func(string, time.Duration)) batch.StreamHandler {
	if onInvocation == nil {
		return h
	}
	return func(ctx context.Context, recs []batch.StreamRecord) (string, error) {
		start := time.Now()
		defer func() { onInvocation("notify", time.Since(start)) }()
		return h(withFunction(ctx, "notify"), recs)
	}
}
