// Package monitoring defines agentq's alarms and its CloudWatch dashboard. The alarms watch the
// places where accepted work can stall or be lost (dead letters, worker crashes, a growing
// backlog, server errors at the API, events in and out that were given up on, a stream consumer
// falling behind); the dashboard shows the pipeline's health at a glance, including the task
// metrics the functions emit in CloudWatch Embedded Metric Format.
package monitoring

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/shared/telemetry"
)

// The functions' Embedded Metric Format contract (shared/telemetry writes the records): every
// metric is published in Namespace with the single dimension ServiceDimension=ServiceName.
const (
	// Namespace of the task metrics.
	Namespace = telemetry.Namespace
	// ServiceDimension is the one dimension of every task metric.
	ServiceDimension = "Service"
	// ServiceName is ServiceDimension's value.
	ServiceName = "agentq"
)

// Task metric names (counts).
const (
	// MetricAccepted counts tasks written and queued by invoke.
	MetricAccepted = telemetry.Accepted
	// MetricStarted counts tasks claimed by the worker.
	MetricStarted = telemetry.Started
	// MetricSucceeded counts tasks that reached succeeded.
	MetricSucceeded = telemetry.Succeeded
	// MetricFailed counts tasks that reached failed or error.
	MetricFailed = telemetry.Failed
	// MetricDeadLettered counts tasks marked failed from the dead-letter queue.
	MetricDeadLettered = telemetry.DeadLettered
)

// Task metric names (milliseconds).
const (
	// MetricQueueWait is the time from acceptance to the worker's claim.
	MetricQueueWait = telemetry.QueueWait
	// MetricAgentDuration is the time an agent call took.
	MetricAgentDuration = telemetry.AgentDuration
)

// Alarm thresholds.
const (
	// DefaultOldestMessageAgeSeconds: past half an hour the oldest message is no longer a burst
	// being drained, it is a stuck or starved worker. (A retried message keeps its age, and a
	// crashed invocation hides it for the 30-minute visibility timeout, so lower would be noise.)
	DefaultOldestMessageAgeSeconds = 1800
	// DefaultServerErrorRatePercent of API requests answered 5xx in two of three 5-minute periods.
	DefaultServerErrorRatePercent = 5
	// DefaultMaxIteratorAgeSeconds: a stream consumer whose newest batch is older than five
	// minutes is stuck or failing, not busy (a healthy notifier stays within seconds, its batching
	// window is one). The table's stream keeps 24 hours, so five minutes leaves most of a day to
	// act before a change could be lost.
	DefaultMaxIteratorAgeSeconds = 300
)

// WatchedQueue is a dead-letter queue to alarm on: anything in it was given up on by its
// consumer and needs a look.
type WatchedQueue struct {
	// Name prefixes the alarm's id: <Name>DeadLetterDepth.
	Name string
	// Queue is the dead-letter queue.
	Queue awssqs.IQueue
	// Description is the alarm's: what a message there means and where to look.
	Description string
}

// WatchedStream is a stream consumer whose iterator age to alarm on.
type WatchedStream struct {
	// Name prefixes the alarm's id: <Name>IteratorAge.
	Name string
	// Function consumes the stream.
	Function awslambda.IFunction
	// Description is the alarm's.
	Description string
}

var period = awscdk.Duration_Minutes(jsii.Number(5))

// Props configures monitoring.
type Props struct {
	// Queue and DeadLetterQueue are the pipeline's queues.
	Queue, DeadLetterQueue awssqs.IQueue
	// Worker is the pipeline's worker function.
	Worker awslambda.IFunction
	// Functions are shown on the dashboard, by name.
	Functions map[string]awslambda.IFunction
	// APIRequests and APIServerErrors are the API's request and 5xx counts; APILatency its
	// latency.
	APIRequests, APIServerErrors, APILatency awscloudwatch.Metric
	// OldestMessageAgeSeconds overrides DefaultOldestMessageAgeSeconds when positive.
	OldestMessageAgeSeconds float64
	// ServerErrorRatePercent overrides DefaultServerErrorRatePercent when positive.
	ServerErrorRatePercent float64
	// DeadLetterQueues are more dead-letter queues to alarm on (events in and out), each when
	// any message is visible.
	DeadLetterQueues []WatchedQueue
	// Streams are stream consumers to alarm on when their iterator age passes
	// MaxIteratorAgeSeconds.
	Streams []WatchedStream
	// MaxIteratorAgeSeconds overrides DefaultMaxIteratorAgeSeconds when positive.
	MaxIteratorAgeSeconds float64
}

// Monitoring holds the alarms, their topic and the dashboard.
type Monitoring struct {
	constructs.Construct
	// AlarmTopic receives every alarm's ALARM transition; subscribe a pager or a mailbox to it.
	AlarmTopic awssns.Topic
	// DeadLetterDepth fires when messages sit in the dead-letter queue: the worker's DLQ handler
	// drains it, so anything that stays there means that handler is failing too.
	DeadLetterDepth awscloudwatch.Alarm
	// DeadLettered fires when the worker marked a task failed from the dead-letter queue: the
	// DLQ's depth alone misses those, since the handler consumes them within seconds.
	DeadLettered awscloudwatch.Alarm
	// WorkerErrors fires on failed worker invocations (crashes, timeouts). Record-level failures
	// are partial batch responses and are not errors.
	WorkerErrors awscloudwatch.Alarm
	// OldestMessageAge fires on a sustained backlog.
	OldestMessageAge awscloudwatch.Alarm
	// APIServerErrorRate fires when too many requests answer 5xx.
	APIServerErrorRate awscloudwatch.Alarm
	// DeadLetterAlarms holds one alarm per Props.DeadLetterQueues entry, by name.
	DeadLetterAlarms map[string]awscloudwatch.Alarm
	// IteratorAgeAlarms holds one alarm per Props.Streams entry, by name.
	IteratorAgeAlarms map[string]awscloudwatch.Alarm
	// Dashboard shows the pipeline.
	Dashboard awscloudwatch.Dashboard
}

// TaskMetric returns one of the functions' EMF metrics over five minutes.
func TaskMetric(name, statistic string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(Namespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &map[string]*string{ServiceDimension: jsii.String(ServiceName)},
		Statistic:     jsii.String(statistic),
		Period:        period,
	})
}

// New defines the topic, the alarms and the dashboard.
func New(scope constructs.Construct, id string, props *Props) *Monitoring {
	this := constructs.NewConstruct(scope, jsii.String(id))
	m := &Monitoring{Construct: this}

	m.AlarmTopic = awssns.NewTopic(this, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("agentq alarms"),
		// TLS only: a Deny on aws:SecureTransport false for publishers and subscribers alike.
		EnforceSSL: jsii.Bool(true),
	})
	action := awscloudwatchactions.NewSnsAction(m.AlarmTopic)
	alarm := func(id, description string, metric awscloudwatch.IMetric, threshold, periods, datapoints float64) awscloudwatch.Alarm {
		a := awscloudwatch.NewAlarm(this, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			EvaluationPeriods:  jsii.Number(periods),
			DatapointsToAlarm:  jsii.Number(datapoints),
			// No data means no traffic, which is healthy for every alarm here.
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
		return a
	}

	m.DeadLetterDepth = alarm("DeadLetterDepth",
		"Messages are waiting in the agentq dead-letter queue: the worker's DLQ handler is failing to mark their tasks failed.",
		props.DeadLetterQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Statistic: jsii.String("Maximum"), Period: period,
		}), 0, 1, 1)
	m.DeadLettered = alarm("DeadLettered",
		"agentq tasks were dead-lettered (failed after every retry) and marked failed.",
		TaskMetric(MetricDeadLettered, "Sum"), 0, 1, 1)
	m.WorkerErrors = alarm("WorkerErrors",
		"agentq worker invocations failed (crash or timeout): their batches return to the queue.",
		props.Worker.MetricErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period}),
		0, 1, 1)

	age := props.OldestMessageAgeSeconds
	if age <= 0 {
		age = DefaultOldestMessageAgeSeconds
	}
	m.OldestMessageAge = alarm("OldestMessageAge",
		"The oldest message on the agentq work queue has waited too long for 15 minutes: the worker is stuck or starved.",
		props.Queue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{
			Statistic: jsii.String("Maximum"), Period: period,
		}), age, 3, 3)

	rate := props.ServerErrorRatePercent
	if rate <= 0 {
		rate = DefaultServerErrorRatePercent
	}
	errorRate := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("IF(requests > 0, 100 * errors / requests, 0)"),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"errors":   props.APIServerErrors,
			"requests": props.APIRequests,
		},
		Label:  jsii.String("5xx rate (%)"),
		Period: period,
	})
	m.APIServerErrorRate = alarm("ApiServerErrorRate",
		"The agentq API answers too many requests with a 5xx status.",
		errorRate, rate, 3, 2)

	m.addEventAlarms(props, alarm)

	m.Dashboard = newDashboard(this, m, props, errorRate)
	return m
}

// alarmFunc defines an alarm that notifies the alarm topic.
type alarmFunc func(id, description string, metric awscloudwatch.IMetric, threshold, periods, datapoints float64) awscloudwatch.Alarm

// addEventAlarms defines the alarms of the event paths: one per extra dead-letter queue, and one
// per stream-fed function on its iterator age.
func (m *Monitoring) addEventAlarms(props *Props, alarm alarmFunc) {
	m.DeadLetterAlarms = map[string]awscloudwatch.Alarm{}
	for _, q := range props.DeadLetterQueues {
		m.DeadLetterAlarms[q.Name] = alarm(q.Name+"DeadLetterDepth", q.Description,
			q.Queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
				Statistic: jsii.String("Maximum"), Period: period,
			}), 0, 1, 1)
	}
	maxAge := props.MaxIteratorAgeSeconds
	if maxAge <= 0 {
		maxAge = DefaultMaxIteratorAgeSeconds
	}
	m.IteratorAgeAlarms = map[string]awscloudwatch.Alarm{}
	for _, st := range props.Streams {
		// Lambda reports IteratorAge in milliseconds.
		m.IteratorAgeAlarms[st.Name] = alarm(st.Name+"IteratorAge", st.Description,
			st.Function.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{
				Statistic: jsii.String("Maximum"), Period: period,
			}), maxAge*1000, 1, 1)
	}
}

func newDashboard(scope constructs.Construct, m *Monitoring, props *Props, errorRate awscloudwatch.IMetric) awscloudwatch.Dashboard {
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	task := func(name, stat, label string) awscloudwatch.IMetric {
		return TaskMetric(name, stat).With(&awscloudwatch.MetricOptions{Period: minute, Label: jsii.String(label)})
	}
	counts := func(stat string) *[]awscloudwatch.IMetric {
		return &[]awscloudwatch.IMetric{
			task(MetricAccepted, stat, MetricAccepted),
			task(MetricStarted, stat, MetricStarted),
			task(MetricSucceeded, stat, MetricSucceeded),
			task(MetricFailed, stat, MetricFailed),
			task(MetricDeadLettered, stat, MetricDeadLettered),
		}
	}
	queueOpts := func(label string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: minute, Label: jsii.String(label)}
	}

	names := make([]string, 0, len(props.Functions))
	for name := range props.Functions {
		names = append(names, name)
	}
	sort.Strings(names)
	var fnErrors, fnDuration, fnConcurrency []awscloudwatch.IMetric
	for _, name := range names {
		fn := props.Functions[name]
		fnErrors = append(fnErrors,
			fn.MetricErrors(&awscloudwatch.MetricOptions{Period: minute, Label: jsii.String(name + " errors")}),
			fn.MetricThrottles(&awscloudwatch.MetricOptions{Period: minute, Label: jsii.String(name + " throttles")}))
		fnDuration = append(fnDuration, fn.MetricDuration(&awscloudwatch.MetricOptions{
			Statistic: jsii.String("p99"), Period: minute, Label: jsii.String(name + " p99"),
		}))
		fnConcurrency = append(fnConcurrency, fn.Metric(jsii.String("ConcurrentExecutions"), &awscloudwatch.MetricOptions{
			Statistic: jsii.String("Maximum"), Period: minute, Label: jsii.String(name),
		}))
	}

	alarms := []interfacesawscloudwatch.IAlarmRef{
		m.DeadLettered, m.DeadLetterDepth, m.WorkerErrors, m.OldestMessageAge, m.APIServerErrorRate,
	}
	var eventQueues, iteratorAges []awscloudwatch.IMetric
	for _, q := range props.DeadLetterQueues {
		alarms = append(alarms, m.DeadLetterAlarms[q.Name])
		eventQueues = append(eventQueues, q.Queue.MetricApproximateNumberOfMessagesVisible(queueOpts(q.Name+" DLQ visible")))
	}
	for _, st := range props.Streams {
		alarms = append(alarms, m.IteratorAgeAlarms[st.Name])
		iteratorAges = append(iteratorAges, st.Function.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{
			Statistic: jsii.String("Maximum"), Period: minute, Label: jsii.String(st.Name + " iterator age (ms)"),
		}))
	}
	graph := func(title string, left, right []awscloudwatch.IMetric, width float64) awscloudwatch.IWidget {
		p := &awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Width: jsii.Number(width), Height: jsii.Number(6), Left: &left}
		if len(right) > 0 {
			p.Right = &right
		}
		return awscloudwatch.NewGraphWidget(p)
	}

	rows := []*[]awscloudwatch.IWidget{
		{
			awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
				Markdown: jsii.String("## agentq pipeline\nAPI → invoke → work queue → worker → agent. " +
					"Tasks that fail every retry go to the dead-letter queue and are marked failed (**DeadLettered**)."),
				Width: jsii.Number(24), Height: jsii.Number(2),
			}),
		},
		{
			awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
				Title: jsii.String("Alarms"), Alarms: &alarms, Width: jsii.Number(12), Height: jsii.Number(4),
			}),
			awscloudwatch.NewSingleValueWidget(&awscloudwatch.SingleValueWidgetProps{
				Title:                jsii.String("Tasks in the selected range"),
				Metrics:              counts("Sum"),
				SetPeriodToTimeRange: jsii.Bool(true),
				Width:                jsii.Number(12), Height: jsii.Number(4),
			}),
		},
		{
			graph("Tasks per minute", *counts("Sum"), nil, 12),
			graph("Queue wait and agent duration (ms)", []awscloudwatch.IMetric{
				task(MetricQueueWait, "p50", "QueueWait p50"),
				task(MetricQueueWait, "p99", "QueueWait p99"),
				task(MetricAgentDuration, "p50", "AgentDuration p50"),
				task(MetricAgentDuration, "p99", "AgentDuration p99"),
			}, nil, 12),
		},
		{
			graph("Work queue", []awscloudwatch.IMetric{
				props.Queue.MetricApproximateNumberOfMessagesVisible(queueOpts("visible")),
				props.Queue.MetricApproximateNumberOfMessagesNotVisible(queueOpts("in flight")),
				props.Queue.Metric(jsii.String("ApproximateNumberOfMessagesDelayed"), queueOpts("delayed (checks)")),
			}, []awscloudwatch.IMetric{
				props.Queue.MetricApproximateAgeOfOldestMessage(queueOpts("oldest message age (s)")),
			}, 12),
			graph("Dead letters", []awscloudwatch.IMetric{
				props.DeadLetterQueue.MetricApproximateNumberOfMessagesVisible(queueOpts("DLQ visible")),
				task(MetricDeadLettered, "Sum", MetricDeadLettered),
			}, nil, 12),
		},
		{
			graph("API", []awscloudwatch.IMetric{
				props.APIRequests.With(&awscloudwatch.MetricOptions{Period: minute, Label: jsii.String("requests")}),
				props.APIServerErrors.With(&awscloudwatch.MetricOptions{Period: minute, Label: jsii.String("5xx")}),
			}, []awscloudwatch.IMetric{
				props.APILatency.With(&awscloudwatch.MetricOptions{
					Statistic: jsii.String("p99"), Period: minute, Label: jsii.String("latency p99 (ms)"),
				}),
			}, 12),
			graph("API 5xx rate (%)", []awscloudwatch.IMetric{errorRate}, nil, 12),
		},
		{
			graph("Function errors and throttles", fnErrors, nil, 8),
			graph("Function duration p99 (ms)", fnDuration, nil, 8),
			graph("Function concurrency", fnConcurrency, nil, 8),
		},
	}
	if len(eventQueues)+len(iteratorAges) > 0 {
		row := []awscloudwatch.IWidget{}
		if len(eventQueues) > 0 {
			row = append(row, graph("Events in and out: dead letters", eventQueues, nil, 12))
		}
		if len(iteratorAges) > 0 {
			row = append(row, graph("Stream consumers: iterator age (ms)", iteratorAges, nil, 12))
		}
		rows = append(rows, &row)
	}

	return awscloudwatch.NewDashboard(scope, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
		Widgets:         &rows,
	})
}
