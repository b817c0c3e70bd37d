package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/queue"
)

func fullMessage() *queue.Message {
	return &queue.Message{
		Kind: queue.KindInvoke, TaskID: "81250b20-e9d7-4b3b-9995-07dc72b4bb59", Tenant: "org-1",
		Agent: agent.Agent{ID: "echo", Version: "3", Name: "Echo", Description: "echoes", Protocol: agent.HTTP,
			Endpoint: "https://agents.example.com/echo", Timeout: agent.Duration(90 * time.Second), Auth: agent.AuthForward,
			RequiresApproval: true, CostUnits: 4, AllowedRegions: []string{"AU", "NZ"}},
		ThreadID: "thread-1", Text: "hello",
		Request:   json.RawMessage(`{"input":{"text":"hello"}}`),
		Secrets:   map[string]json.RawMessage{"user_tokens": json.RawMessage(`{"gh":"x"}`), "user_oidc_token": json.RawMessage(`"y"`)},
		AuthToken: "tok", AcceptedAt: time.Date(2026, 2, 7, 2, 13, 26, 325626001, time.UTC),
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	minimal := &queue.Message{Kind: queue.KindInvoke, TaskID: "t1",
		Agent: agent.Agent{ID: "a", Protocol: agent.Lambda, Endpoint: "arn:aws:lambda:us-east-1:123456789012:function:a"}}
	for name, m := range map[string]*queue.Message{"full": fullMessage(), "minimal": minimal} {
		t.Run(name, func(t *testing.T) {
			body, err := queue.Encode(m)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := queue.Decode(body)
			if err != nil {
				t.Fatalf("Decode(%s): %v", body, err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("round trip changed the message:\ngot  %+v\nwant %+v", got, m)
			}
		})
	}
}

func TestEncodeFormat(t *testing.T) {
	body, err := queue.Encode(fullMessage())
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &fields); err != nil {
		t.Fatal(err)
	}
	// The kind is a stable string and durations are Go duration strings: the format outlives the code.
	if string(fields["kind"]) != `"invoke"` || string(fields["accepted_at"]) != `"2026-02-07T02:13:26.325626001Z"` {
		t.Errorf("kind %s, accepted_at %s", fields["kind"], fields["accepted_at"])
	}
	var a map[string]json.RawMessage
	if err := json.Unmarshal(fields["agent"], &a); err != nil || string(a["timeout"]) != `"1m30s"` {
		t.Errorf("agent.timeout = %s (%v), want \"1m30s\"", a["timeout"], err)
	}

	// Empty optional fields stay out of the message.
	body, err = queue.Encode(&queue.Message{Kind: queue.KindInvoke, TaskID: "t",
		Agent: agent.Agent{ID: "a", Protocol: agent.HTTP, Endpoint: "http://x"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"thread_id", "request", "secrets", "auth_token"} {
		if strings.Contains(body, `"`+k+`"`) {
			t.Errorf("empty %s encoded: %s", k, body)
		}
	}
}

func TestEncodeRefusesBrokenJSON(t *testing.T) {
	m := fullMessage()
	m.Request = json.RawMessage(`{"broken":`)
	if _, err := queue.Encode(m); err == nil || !strings.Contains(err.Error(), m.TaskID) {
		t.Errorf("Encode = %v, want an error naming the task", err)
	}
}

func TestDecodeMalformed(t *testing.T) {
	const agentOK = `"agent":{"id":"echo","protocol":"http","endpoint":"http://127.0.0.1:9/"}`
	tests := map[string]string{
		"empty":               ``,
		"not json":            `hello`,
		"null":                `null`,
		"array":               `[]`,
		"truncated":           `{"kind":"invoke"`,
		"no kind":             `{"task_id":"t",` + agentOK + `}`,
		"unknown kind":        `{"kind":"Invoke","task_id":"t",` + agentOK + `}`,
		"go type name kind":   `{"kind":"*queue.Message","task_id":"t",` + agentOK + `}`,
		"no task":             `{"kind":"invoke",` + agentOK + `}`,
		"empty task":          `{"kind":"invoke","task_id":"",` + agentOK + `}`,
		"task id a number":    `{"kind":"invoke","task_id":1,` + agentOK + `}`,
		"no agent":            `{"kind":"invoke","task_id":"t"}`,
		"agent id invalid":    `{"kind":"invoke","task_id":"t","agent":{"id":"a b","protocol":"http","endpoint":"http://x"}}`,
		"unknown protocol":    `{"kind":"invoke","task_id":"t","agent":{"id":"a","protocol":"smtp","endpoint":"http://x"}}`,
		"endpoint not a URL":  `{"kind":"invoke","task_id":"t","agent":{"id":"a","protocol":"http","endpoint":"127.0.0.1:9"}}`,
		"lambda without arn":  `{"kind":"invoke","task_id":"t","agent":{"id":"a","protocol":"lambda","endpoint":"http://x"}}`,
		"unknown auth":        `{"kind":"invoke","task_id":"t","agent":{"id":"a","protocol":"http","endpoint":"http://x","auth":"basic"}}`,
		"negative timeout":    `{"kind":"invoke","task_id":"t","agent":{"id":"a","protocol":"http","endpoint":"http://x","timeout":"-1s"}}`,
		"timeout a number":    `{"kind":"invoke","task_id":"t","agent":{"id":"a","protocol":"http","endpoint":"http://x","timeout":30}}`,
		"timeout not parsing": `{"kind":"invoke","task_id":"t","agent":{"id":"a","protocol":"http","endpoint":"http://x","timeout":"soon"}}`,
		"accepted_at bad":     `{"kind":"invoke","task_id":"t",` + agentOK + `,"accepted_at":"yesterday"}`,
		"secrets not a map":   `{"kind":"invoke","task_id":"t",` + agentOK + `,"secrets":["x"]}`,
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := queue.Decode(body)
			if !errors.Is(err, queue.ErrMalformed) {
				t.Errorf("Decode(%s) = %v, want ErrMalformed", body, err)
			}
			if m != nil {
				t.Errorf("Decode returned a message with an error")
			}
		})
	}
}

func TestDecodeToleratesUnknownFields(t *testing.T) {
	m, err := queue.Decode(`{"kind":"invoke","task_id":"t","agent":{"id":"a","protocol":"http","endpoint":"http://x"},"added_later":1}`)
	if err != nil || m.TaskID != "t" {
		t.Errorf("Decode = %+v, %v; a newer sender's extra field must not make a message malformed", m, err)
	}
}

func TestSampleBatchDecodes(t *testing.T) {
	raw, err := os.ReadFile("../../events/sqs-invoke-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	for _, rec := range ev.Records {
		m, err := queue.Decode(rec.Body)
		if err != nil {
			t.Fatalf("record %s: %v", rec.MessageId, err)
		}
		again, err := queue.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		if again != rec.Body {
			t.Errorf("record %s does not re-encode byte for byte:\n%s\n%s", rec.MessageId, rec.Body, again)
		}
	}
}

// fakeSQS records the calls the client makes.
type fakeSQS struct {
	sent    []*sqs.SendMessageInput
	changed []*sqs.ChangeMessageVisibilityInput
	err     error
}

func (f *fakeSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.sent = append(f.sent, in)
	if f.err != nil {
		return nil, f.err
	}
	return &sqs.SendMessageOutput{MessageId: aws.String("m1")}, nil
}

func (f *fakeSQS) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	f.changed = append(f.changed, in)
	if f.err != nil {
		return nil, f.err
	}
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

const queueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/agentq-work"

// TestSendCarriesTheTrace: a message sent during a Lambda invocation carries the invocation's
// X-Ray trace header (where aws-lambda-go puts it in the context) as the AWSTraceHeader system
// attribute; a trace taken from a received message wins; without either, no attribute is sent.
func TestSendCarriesTheTrace(t *testing.T) {
	const (
		invocation = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
		received   = "Root=1-67891233-abcdef012345678912345678;Parent=463ac35c9f6413ad;Sampled=0"
	)
	lambdaCtx := context.WithValue(context.Background(), "x-amzn-trace-id", invocation) //nolint:staticcheck // aws-lambda-go's own key
	for _, c := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"no trace", context.Background(), ""},
		{"lambda invocation", lambdaCtx, invocation},
		{"received message", queue.WithTraceHeader(lambdaCtx, received), received},
		{"empty received header", queue.WithTraceHeader(lambdaCtx, ""), invocation},
	} {
		t.Run(c.name, func(t *testing.T) {
			api := &fakeSQS{}
			if err := queue.NewClient(api, queueURL).Send(c.ctx, fullMessage(), 0); err != nil {
				t.Fatal(err)
			}
			attrs := api.sent[0].MessageSystemAttributes
			if c.want == "" {
				if len(attrs) != 0 {
					t.Errorf("system attributes %v, want none", attrs)
				}
				return
			}
			a, ok := attrs[queue.TraceAttribute]
			if !ok || aws.ToString(a.DataType) != "String" || aws.ToString(a.StringValue) != c.want {
				t.Errorf("%s = %+v, want String %q", queue.TraceAttribute, a, c.want)
			}
		})
	}
}

func TestTraceRoot(t *testing.T) {
	for in, want := range map[string]string{
		"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1": "1-5759e988-bd862e3fe1be46a994272793",
		"Parent=53995c3f42cd8ad8; Root=1-abc":                                        "1-abc",
		"Parent=53995c3f42cd8ad8":                                                    "",
		"":                                                                           "",
	} {
		if got := queue.TraceRoot(in); got != want {
			t.Errorf("TraceRoot(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSend(t *testing.T) {
	tests := []struct {
		delay time.Duration
		want  int32
	}{{0, 0}, {1500 * time.Millisecond, 1}, {90 * time.Second, 90}, {queue.MaxDelay, 900}, {time.Hour, 900}}
	for _, tt := range tests {
		t.Run(tt.delay.String(), func(t *testing.T) {
			api := &fakeSQS{}
			m := fullMessage()
			if err := queue.NewClient(api, queueURL).Send(context.Background(), m, tt.delay); err != nil {
				t.Fatal(err)
			}
			if len(api.sent) != 1 {
				t.Fatalf("sent %d", len(api.sent))
			}
			in := api.sent[0]
			if aws.ToString(in.QueueUrl) != queueURL || in.DelaySeconds != tt.want {
				t.Errorf("queue %s delay %d, want %s %d", aws.ToString(in.QueueUrl), in.DelaySeconds, queueURL, tt.want)
			}
			got, err := queue.Decode(aws.ToString(in.MessageBody))
			if err != nil || !reflect.DeepEqual(got, m) {
				t.Errorf("body decodes to %+v, %v; want the message", got, err)
			}
		})
	}
}

func TestSendFails(t *testing.T) {
	api := &fakeSQS{err: errors.New("throttled")}
	err := queue.NewClient(api, queueURL).Send(context.Background(), fullMessage(), 0)
	if !errors.Is(err, api.err) || !strings.Contains(err.Error(), fullMessage().TaskID) {
		t.Errorf("Send = %v, want the SQS error wrapped with the task id", err)
	}

	api = &fakeSQS{}
	m := fullMessage()
	m.Request = json.RawMessage(`{`)
	if err := queue.NewClient(api, queueURL).Send(context.Background(), m, 0); err == nil || len(api.sent) != 0 {
		t.Errorf("Send of an unencodable message = %v after %d sends, want an error and none", err, len(api.sent))
	}
}

func TestPostpone(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int32
	}{{0, 0}, {1999 * time.Millisecond, 1}, {5 * time.Minute, 300}, {12 * time.Hour, 43200}, {48 * time.Hour, 43200}}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			api := &fakeSQS{}
			if err := queue.NewClient(api, queueURL).Postpone(context.Background(), "rh-1", tt.d); err != nil {
				t.Fatal(err)
			}
			in := api.changed[0]
			if aws.ToString(in.ReceiptHandle) != "rh-1" || aws.ToString(in.QueueUrl) != queueURL || in.VisibilityTimeout != tt.want {
				t.Errorf("ChangeMessageVisibility(%s, %s, %d), want (rh-1, %s, %d)",
					aws.ToString(in.QueueUrl), aws.ToString(in.ReceiptHandle), in.VisibilityTimeout, queueURL, tt.want)
			}
		})
	}
	api := &fakeSQS{err: errors.New("receipt handle expired")}
	if err := queue.NewClient(api, queueURL).Postpone(context.Background(), "rh", time.Second); !errors.Is(err, api.err) {
		t.Errorf("Postpone = %v, want the SQS error wrapped", err)
	}
}
