package monitoring_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/construct/monitoring"
	"github.com/agentq/agentq/infra/internal/infratest"
)

var (
	once     sync.Once
	shared   *infratest.Template
	synthErr error
)

func template(t *testing.T) *infratest.Template {
	t.Helper()
	once.Do(func() {
		synthErr = func() error {
			lambdaDir, err := infratest.StubLambdaDir("worker", "notify")
			if err != nil {
				return err
			}
			defer os.RemoveAll(lambdaDir)
			out, err := os.MkdirTemp("", "agentq-cdk-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(out)
			s := infratest.NewStack(out)
			dlq := awssqs.NewQueue(s, jsii.String("DeadLetterQueue"), nil)
			work := awssqs.NewQueue(s, jsii.String("WorkQueue"), nil)
			worker := golambda.New(s, "Worker", &golambda.Props{
				CodeDir: filepath.Join(lambdaDir, "worker"), MemorySize: 128, Timeout: nil,
			}).Function
			notify := golambda.New(s, "Notify", &golambda.Props{
				CodeDir: filepath.Join(lambdaDir, "notify"), MemorySize: 128, Timeout: nil,
			}).Function
			notifyDLQ := awssqs.NewQueue(s, jsii.String("NotifyQueue"), nil)
			triggerDLQ := awssqs.NewQueue(s, jsii.String("TriggerQueue"), nil)
			apiMetric := func(name string) awscloudwatch.Metric {
				return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
					Namespace:     jsii.String("AWS/ApiGateway"),
					MetricName:    jsii.String(name),
					DimensionsMap: &map[string]*string{"ApiId": jsii.String("test")},
					Statistic:     jsii.String("Sum"),
				})
			}
			monitoring.New(s, "Monitoring", &monitoring.Props{
				Queue:           work,
				DeadLetterQueue: dlq,
				Worker:          worker,
				Functions:       map[string]awslambda.IFunction{"worker": worker},
				APIRequests:     apiMetric("Count"),
				APIServerErrors: apiMetric("5xx"),
				APILatency:      apiMetric("Latency"),
				DeadLetterQueues: []monitoring.WatchedQueue{
					{Name: "Notify", Queue: notifyDLQ, Description: "notify gave up"},
					{Name: "Trigger", Queue: triggerDLQ, Description: "trigger rejected"},
				},
				Streams: []monitoring.WatchedStream{{Name: "Notify", Function: notify, Description: "notify behind"}},
			})
			shared, err = infratest.Synth(s)
			return err
		}()
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
	return shared
}

// alarm finds the one alarm whose logical id starts with Monitoring<name>.
func alarm(t *testing.T, name string) map[string]any {
	t.Helper()
	tpl := template(t)
	a := tpl.Only(t, "AWS::CloudWatch::Alarm", "Monitoring"+name)
	topic := tpl.Only(t, "AWS::SNS::Topic", "MonitoringAlarmTopic")
	actions, _ := a.Properties["AlarmActions"].([]any)
	if len(actions) != 1 || infratest.Ref(actions[0]) != topic.ID {
		t.Errorf("%s: AlarmActions = %v, want the alarm topic", name, actions)
	}
	if a.Properties["TreatMissingData"] != "notBreaching" {
		t.Errorf("%s: TreatMissingData = %v, want notBreaching", name, a.Properties["TreatMissingData"])
	}
	return a.Properties
}

func checkThreshold(t *testing.T, a map[string]any, threshold float64) {
	t.Helper()
	if a["ComparisonOperator"] != "GreaterThanThreshold" || infratest.Number(a["Threshold"]) != threshold {
		t.Errorf("alarm is %v %v, want GreaterThanThreshold %v", a["ComparisonOperator"], a["Threshold"], threshold)
	}
}

func dimensionRef(a map[string]any, name string) string {
	dims, _ := a["Dimensions"].([]any)
	for _, d := range dims {
		m, _ := d.(map[string]any)
		if m["Name"] == name {
			return infratest.Ref(m["Value"])
		}
	}
	return ""
}

func TestAlarmCount(t *testing.T) {
	// The five of the pipeline and API, one per watched dead-letter queue, one per stream.
	template(t).ResourceCountIs(t, "AWS::CloudWatch::Alarm", 8)
}

// TestWatchedDeadLetterQueues: each queue of Props.DeadLetterQueues has its own alarm on any
// visible message, with the description given.
func TestWatchedDeadLetterQueues(t *testing.T) {
	for name, queue := range map[string]string{"Notify": "NotifyQueue", "Trigger": "TriggerQueue"} {
		t.Run(name, func(t *testing.T) {
			a := alarm(t, name+"DeadLetterDepth")
			checkThreshold(t, a, 0)
			q := template(t).Only(t, "AWS::SQS::Queue", queue)
			if a["Namespace"] != "AWS/SQS" || a["MetricName"] != "ApproximateNumberOfMessagesVisible" || a["Statistic"] != "Maximum" ||
				dimensionRef(a, "QueueName") != q.ID {
				t.Errorf("alarm watches %v/%v %v on %v, want %s's visible messages", a["Namespace"], a["MetricName"], a["Statistic"], a["Dimensions"], queue)
			}
			if infratest.Number(a["EvaluationPeriods"]) != 1 || infratest.Number(a["Period"]) != 300 {
				t.Errorf("alarm evaluates %v periods of %v s, want one of 300", a["EvaluationPeriods"], a["Period"])
			}
			if d, _ := a["AlarmDescription"].(string); d == "" {
				t.Errorf("alarm has no description")
			}
		})
	}
}

// TestIteratorAgeAlarm: a stream consumer alarms when its newest batch is older than
// DefaultMaxIteratorAgeSeconds (Lambda reports milliseconds).
func TestIteratorAgeAlarm(t *testing.T) {
	a := alarm(t, "NotifyIteratorAge")
	checkThreshold(t, a, monitoring.DefaultMaxIteratorAgeSeconds*1000)
	fn := template(t).Only(t, "AWS::Lambda::Function", "Notify")
	if a["Namespace"] != "AWS/Lambda" || a["MetricName"] != "IteratorAge" || a["Statistic"] != "Maximum" || dimensionRef(a, "FunctionName") != fn.ID {
		t.Errorf("alarm watches %v/%v %v on %v, want the notifier's maximum IteratorAge", a["Namespace"], a["MetricName"], a["Statistic"], a["Dimensions"])
	}
	if monitoring.DefaultMaxIteratorAgeSeconds != 300 {
		t.Errorf("DefaultMaxIteratorAgeSeconds = %d, want five minutes", monitoring.DefaultMaxIteratorAgeSeconds)
	}
}

func TestDeadLetterDepthAlarm(t *testing.T) {
	a := alarm(t, "DeadLetterDepth")
	checkThreshold(t, a, 0)
	dlq := template(t).Only(t, "AWS::SQS::Queue", "DeadLetterQueue")
	if a["Namespace"] != "AWS/SQS" || a["MetricName"] != "ApproximateNumberOfMessagesVisible" || dimensionRef(a, "QueueName") != dlq.ID {
		t.Errorf("alarm watches %v/%v on %v, want the DLQ's visible messages", a["Namespace"], a["MetricName"], a["Dimensions"])
	}
}

func TestDeadLetteredAlarm(t *testing.T) {
	a := alarm(t, "DeadLettered")
	checkThreshold(t, a, 0)
	dims, _ := json.Marshal(a["Dimensions"])
	if a["Namespace"] != monitoring.Namespace || a["MetricName"] != monitoring.MetricDeadLettered || a["Statistic"] != "Sum" ||
		string(dims) != `[{"Name":"Service","Value":"agentq"}]` {
		t.Errorf("alarm watches %v/%v %v %s, want agentq/DeadLettered Sum Service=agentq", a["Namespace"], a["MetricName"], a["Statistic"], dims)
	}
}

func TestWorkerErrorsAlarm(t *testing.T) {
	a := alarm(t, "WorkerErrors")
	checkThreshold(t, a, 0)
	worker := template(t).Only(t, "AWS::Lambda::Function", "Worker")
	if a["Namespace"] != "AWS/Lambda" || a["MetricName"] != "Errors" || dimensionRef(a, "FunctionName") != worker.ID {
		t.Errorf("alarm watches %v/%v on %v, want the worker's Errors", a["Namespace"], a["MetricName"], a["Dimensions"])
	}
}

func TestOldestMessageAgeAlarm(t *testing.T) {
	a := alarm(t, "OldestMessageAge")
	checkThreshold(t, a, monitoring.DefaultOldestMessageAgeSeconds)
	work := template(t).Only(t, "AWS::SQS::Queue", "WorkQueue")
	if a["MetricName"] != "ApproximateAgeOfOldestMessage" || dimensionRef(a, "QueueName") != work.ID {
		t.Errorf("alarm watches %v on %v, want the work queue's oldest message age", a["MetricName"], a["Dimensions"])
	}
}

func TestAPIServerErrorRateAlarm(t *testing.T) {
	a := alarm(t, "ApiServerErrorRate")
	checkThreshold(t, a, monitoring.DefaultServerErrorRatePercent)
	metrics, _ := json.Marshal(a["Metrics"])
	for _, want := range []string{"100 * errors / requests", `"MetricName":"5xx"`, `"MetricName":"Count"`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("rate alarm metrics %s lack %s", metrics, want)
		}
	}
}

func TestDashboardShowsTaskMetrics(t *testing.T) {
	tpl := template(t)
	tpl.ResourceCountIs(t, "AWS::CloudWatch::Dashboard", 1)
	d := tpl.Only(t, "AWS::CloudWatch::Dashboard", "MonitoringDashboard")
	if _, ok := d.Properties["DashboardName"]; ok {
		t.Errorf("fixed DashboardName; want a generated one")
	}
	body, _ := json.Marshal(d.Properties["DashboardBody"])
	for _, name := range []string{
		monitoring.MetricAccepted, monitoring.MetricStarted, monitoring.MetricSucceeded, monitoring.MetricFailed,
		monitoring.MetricDeadLettered, monitoring.MetricQueueWait, monitoring.MetricAgentDuration,
	} {
		// Each task metric appears as ["agentq","<name>","Service","agentq", ...] in the body.
		want := `[\"agentq\",\"` + name + `\",\"Service\",\"agentq\"`
		if !strings.Contains(string(body), want) {
			t.Errorf("dashboard lacks metric %s (looked for %s)", name, want)
		}
	}
	for _, want := range []string{"ApproximateAgeOfOldestMessage", "ApproximateNumberOfMessagesVisible", "alarm", "5xx", "IteratorAge", "Notify DLQ visible", "Trigger DLQ visible"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("dashboard lacks %s", want)
		}
	}
}
