// Package events_test checks the sample events in this directory: each parses into its
// aws-lambda-go type with no field left unknown, and survives a round trip through that type.
package events_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/trigger"
)

// newEvent returns a pointer to the event type a sample file holds, chosen by its name.
func newEvent(t *testing.T, name string) any {
	t.Helper()
	switch {
	case strings.HasPrefix(name, "apigw-v2-"):
		return &events.APIGatewayV2HTTPRequest{}
	case strings.HasPrefix(name, "apigw-v1-"):
		return &events.APIGatewayProxyRequest{}
	case strings.HasPrefix(name, "sqs-"):
		return &events.SQSEvent{}
	case strings.HasPrefix(name, "eventbridge-"), strings.HasPrefix(name, "scheduler-"):
		return &events.EventBridgeEvent{}
	}
	t.Fatalf("%s: no event type for this name; name samples apigw-v1-*, apigw-v2-*, sqs-*, eventbridge-* or scheduler-*", name)
	return nil
}

func sampleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found %d sample events, want at least 5: %v", len(files), files)
	}
	return files
}

func TestSamplesRoundTrip(t *testing.T) {
	for _, name := range sampleFiles(t) {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			// Every field must be one the type knows: a misspelt key would silently vanish.
			ev := newEvent(t, name)
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(ev); err != nil {
				t.Fatalf("decode %s strictly: %v", name, err)
			}
			out, err := json.Marshal(ev)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			again := newEvent(t, name)
			if err := json.Unmarshal(out, again); err != nil {
				t.Fatalf("decode re-encoded event: %v", err)
			}
			if !reflect.DeepEqual(ev, again) {
				t.Errorf("event changed in a round trip:\nfirst:  %+v\nsecond: %+v", ev, again)
			}
			// What the file says must still be said after the round trip; keys the type leaves
			// out (omitempty) may only go if they held a zero value.
			var before, after any
			if err := json.Unmarshal(raw, &before); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &after); err != nil {
				t.Fatal(err)
			}
			if path, ok := contains(after, before, "$"); !ok {
				t.Errorf("round trip lost or changed %s", path)
			}
		})
	}
}

// contains reports whether got holds everything want holds, and where it does not.
func contains(got, want any, path string) (string, bool) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return path, false
		}
		for k, wv := range w {
			gv, present := g[k]
			if !present {
				if isZero(wv) {
					continue
				}
				return path + "." + k, false
			}
			if p, ok := contains(gv, wv, path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path, false
		}
		for i := range w {
			if p, ok := contains(g[i], w[i], path+"["+strconv.Itoa(i)+"]"); !ok {
				return p, false
			}
		}
		return "", true
	case nil:
		return "", isZero(got)
	default:
		return path, reflect.DeepEqual(got, want)
	}
}

func isZero(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case string:
		return v == ""
	case float64:
		return v == 0
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}

func readSQS(t *testing.T) events.SQSEvent {
	t.Helper()
	raw, err := os.ReadFile("sqs-invoke-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestSQSBatchBodiesAreWorkMessages(t *testing.T) {
	ev := readSQS(t)
	if len(ev.Records) != 2 {
		t.Fatalf("records = %d, want 2", len(ev.Records))
	}
	seen := map[string]bool{}
	for _, rec := range ev.Records {
		t.Run(rec.MessageId, func(t *testing.T) {
			m, err := queue.Decode(rec.Body)
			if err != nil {
				t.Fatalf("queue.Decode: %v", err)
			}
			if m.Agent.ID != "echo" || m.Agent.Protocol != "http" || m.Agent.Endpoint != "http://127.0.0.1:9/" {
				t.Errorf("agent = %+v, want echo over http at http://127.0.0.1:9/", m.Agent)
			}
			if m.AcceptedAt.IsZero() || m.Text == "" {
				t.Errorf("message lacks accepted_at or text: %+v", m)
			}
			if seen[m.TaskID] {
				t.Errorf("task %s appears twice in the batch", m.TaskID)
			}
			seen[m.TaskID] = true
			sum := md5.Sum([]byte(rec.Body))
			if got := hex.EncodeToString(sum[:]); got != rec.Md5OfBody {
				t.Errorf("md5OfBody = %s, want %s", rec.Md5OfBody, got)
			}
			if rec.Attributes["ApproximateReceiveCount"] == "" || rec.EventSource != "aws:sqs" {
				t.Errorf("record lacks SQS attributes: %+v", rec)
			}
		})
	}
}

func TestAPIGatewayBodiesAreValidRequests(t *testing.T) {
	tests := []struct {
		file   string
		decode func([]byte) (*dialect.Invocation, error)
	}{
		{"apigw-v2-invoke-xpander.json", dialect.DecodeXpander},
		{"apigw-v2-invoke-servicenet.json", dialect.DecodeServiceNet},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.RawPath != ev.RequestContext.HTTP.Path {
				t.Errorf("rawPath %q and requestContext.http.path %q differ", ev.RawPath, ev.RequestContext.HTTP.Path)
			}
			if _, err := tt.decode([]byte(ev.Body)); err != nil {
				t.Errorf("body is not a valid request: %v", err)
			}
		})
	}
	raw, err := os.ReadFile("apigw-v1-invoke-xpander.json")
	if err != nil {
		t.Fatal(err)
	}
	var v1 events.APIGatewayProxyRequest
	if err := json.Unmarshal(raw, &v1); err != nil {
		t.Fatal(err)
	}
	if _, err := dialect.DecodeXpander([]byte(v1.Body)); err != nil {
		t.Errorf("apigw-v1-invoke-xpander.json: body is not a valid request: %v", err)
	}
}

// recorder is the accept core and dead-letter queue of the trigger samples' test: it accepts
// every submission and keeps every rejection.
type recorder struct {
	subs    []accept.Submission
	rejects []trigger.Rejection
}

func (r *recorder) Submit(_ context.Context, sub accept.Submission) (*task.Task, error) {
	r.subs = append(r.subs, sub)
	return &task.Task{ID: "81250b20-e9d7-4b3b-9995-07dc72b4bb59", Tenant: sub.Tenant, AgentID: sub.AgentID, Source: sub.Source, State: task.Queued}, nil
}

func (r *recorder) Reject(_ context.Context, rej trigger.Rejection) error {
	r.rejects = append(r.rejects, rej)
	return nil
}

// TestTriggerSamples runs the trigger function's samples through its handler, as Lambda would
// hand them over.
func TestTriggerSamples(t *testing.T) {
	tests := []struct {
		file string
		// what is submitted
		source, tenant, agentID, key, text string
		dialect                            task.Dialect
		// or why it is rejected, and where the problem is
		reason, loc string
	}{
		{file: "eventbridge-invoke.json", source: "eventbridge", tenant: "default", agentID: "echo", dialect: task.Xpander,
			key: "eventbridge:6a7e8feb-b491-4cf7-a9f1-bf3703467718", text: "Summarize order 4711 for the support team"},
		{file: "scheduler-invoke.json", source: "scheduler", tenant: "acme", agentID: "echo", dialect: task.ServiceNet,
			key: "scheduler:d32c5kddcf5bb8c3", text: "Compile the nightly payments report"},
		{file: "sqs-ingest.json", source: "sqs", tenant: "default", agentID: "echo", dialect: task.Xpander,
			key: "order-4711-summary", text: "Summarize order 4711 for the support team"},
		{file: "eventbridge-invoke-rejected.json", source: "eventbridge", reason: "validation_failed", loc: "body.input.text"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			h := trigger.New(trigger.Config{Submitter: rec, Rejects: rec, DefaultTenant: "default"})
			out, err := h.Handle(context.Background(), raw)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			switch out := out.(type) {
			case events.SQSEventResponse:
				if len(out.BatchItemFailures) != 0 {
					t.Fatalf("records to redeliver: %+v", out.BatchItemFailures)
				}
			case trigger.Result:
				want := trigger.Accepted
				if tt.reason != "" {
					want = trigger.Rejected
				}
				if out.Outcome != want || out.Source != tt.source || out.Reason != tt.reason {
					t.Fatalf("result %+v", out)
				}
			default:
				t.Fatalf("Handle answered a %T", out)
			}
			if tt.reason != "" {
				if len(rec.subs) != 0 || len(rec.rejects) != 1 || rec.rejects[0].Reason != tt.reason || rec.rejects[0].Source != tt.source {
					t.Fatalf("submissions %+v, rejections %+v", rec.subs, rec.rejects)
				}
				var locs []string
				for _, p := range rec.rejects[0].Problems {
					locs = append(locs, strings.Join(p.Loc, "."))
				}
				if len(locs) != 1 || locs[0] != tt.loc {
					t.Errorf("problems at %v, want %s", locs, tt.loc)
				}
				return
			}
			if len(rec.subs) != 1 || len(rec.rejects) != 0 {
				t.Fatalf("submissions %+v, rejections %+v", rec.subs, rec.rejects)
			}
			s := rec.subs[0]
			if s.Source != tt.source || s.Tenant != tt.tenant || s.AgentID != tt.agentID || s.IdempotencyKey != tt.key ||
				s.Invocation.Dialect != tt.dialect || s.Invocation.Text != tt.text {
				t.Errorf("submission %+v (dialect %s, text %q)", s, s.Invocation.Dialect, s.Invocation.Text)
			}
		})
	}
}

func TestIngestSample(t *testing.T) {
	raw, err := os.ReadFile("sqs-ingest.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	for _, rec := range ev.Records {
		sum := md5.Sum([]byte(rec.Body))
		if got := hex.EncodeToString(sum[:]); got != rec.Md5OfBody || rec.EventSource != "aws:sqs" {
			t.Errorf("md5OfBody = %s, want %s; eventSource %q", rec.Md5OfBody, got, rec.EventSource)
		}
	}
}

// TestSchedulerSampleIsTheStacksInput checks that the scheduler sample is what a schedule built
// from trigger.ScheduleInput sends, once Scheduler has filled in its context attributes.
func TestSchedulerSampleIsTheStacksInput(t *testing.T) {
	raw, err := os.ReadFile("scheduler-invoke.json")
	if err != nil {
		t.Fatal(err)
	}
	var sample map[string]any
	if err := json.Unmarshal(raw, &sample); err != nil {
		t.Fatal(err)
	}
	in, err := trigger.ScheduleInputJSON(sample["detail"].(map[string]any))
	if err != nil {
		t.Fatal(err)
	}
	in = strings.NewReplacer(trigger.ScheduleExecutionID, sample["id"].(string), trigger.ScheduledTime, sample["time"].(string),
		trigger.ScheduleARN, sample["resources"].([]any)[0].(string)).Replace(in)
	var want map[string]any
	if err := json.Unmarshal([]byte(in), &want); err != nil {
		t.Fatal(err)
	}
	// account and region are the sample's own, for a complete event type; the stack's input has none.
	delete(sample, "account")
	delete(sample, "region")
	if !reflect.DeepEqual(sample, want) {
		t.Errorf("sample %v\nstack's input %v", sample, want)
	}
}
