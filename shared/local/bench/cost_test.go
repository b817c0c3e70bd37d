package bench

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestTransitions(t *testing.T) {
	if n, err := Transitions(StepFunctionsDefinition); err != nil || n != 5 {
		t.Errorf("transitions = %d, %v; want 5 (record, call, decide, record, done)", n, err)
	}
	for name, def := range map[string]string{
		"not json":     `{`,
		"missing next": `{"StartAt":"A","States":{"A":{"Type":"Task","Next":"B"}}}`,
		"loop":         `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"A"}}}`,
	} {
		if _, err := Transitions(def); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestChunks(t *testing.T) {
	big := strings.Repeat("x", 100*1024)
	for _, tc := range []struct {
		name   string
		params any
		want   float64
	}{
		{"small send", &sqs.SendMessageInput{MessageBody: aws.String("hi")}, 1},
		{"100 KB send", &sqs.SendMessageInput{MessageBody: aws.String(big)}, 2},
		{"attributes count", &sqs.SendMessageInput{MessageBody: aws.String(strings.Repeat("x", chunk-4)),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{"k": {DataType: aws.String("String"), StringValue: aws.String("v")}}}, 2},
		{"batch", &sqs.SendMessageBatchInput{Entries: []sqstypes.SendMessageBatchRequestEntry{{MessageBody: aws.String(big)}, {MessageBody: aws.String(big)}}}, 4},
		{"events each alone", &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{Detail: aws.String("{}")}, {Detail: aws.String("{}")}}}, 2},
		{"anything else", &sqs.DeleteMessageInput{}, 1},
	} {
		if got := chunks(tc.params); got != tc.want {
			t.Errorf("%s: %v chunks, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPrice(t *testing.T) {
	u := Used{
		AWS: map[string]Usage{"invoke": {
			Requests: map[string]float64{"SQS.SendMessage": 1, "SQS.ReceiveMessage(empty)": 50, "EventBridge.PutEvents": 1, "S3.PutObject": 1, "S3.GetObject": 1, "KMS.Decrypt": 1},
			WRU:      map[string]float64{"t": 2, "t/by_tenant": 1},
			RRU:      map[string]float64{"t": 4},
		}},
		Count:    map[string]int{"invoke": 1, "worker": 1},
		BilledMs: map[string]float64{"invoke": 100, "worker": 2000},
	}
	b := Price(u, Prices)
	want := Bill{
		DynamoDB:    3*Prices.DynamoDBWRU + 4*Prices.DynamoDBRRU,
		SQS:         Prices.SQSRequest, // idle receives are per hour, not per task
		EventBridge: Prices.EventBridgeEvent,
		S3:          Prices.S3Write + Prices.S3Read,
		KMS:         Prices.KMSRequest,
		APIGateway:  Prices.APIGatewayRequest, // the invoke; the worker is no API request
		Lambda:      2*Prices.LambdaRequest + (0.1*MemoryMB["invoke"]/1024+2*MemoryMB["worker"]/1024)*Prices.LambdaGBSecond,
	}
	if !near(b.DynamoDB, want.DynamoDB) || !near(b.SQS, want.SQS) || !near(b.EventBridge, want.EventBridge) || !near(b.S3, want.S3) ||
		!near(b.KMS, want.KMS) || !near(b.APIGateway, want.APIGateway) || !near(b.Lambda, want.Lambda) {
		t.Errorf("bill = %+v\nwant   %+v", b, want)
	}
	if !near(b.Scale(2).Total(), 2*b.Total()) {
		t.Error("Scale does not scale the total")
	}
	if o := u.Only("worker"); len(o.AWS) != 0 || o.Count["worker"] != 1 || o.Count["invoke"] != 0 {
		t.Errorf("Only(worker) = %+v", o)
	}
}

// TestFloor: the floor is the least this architecture can cost: two API requests, three
// plain writes, a send with a tenth of a receive and a delete, and the Lambda requests and compute.
func TestFloor(t *testing.T) {
	f := Floor(time.Second, Prices).Scale(1e6)
	if !near(f.APIGateway, 2) || !near(f.DynamoDB, 1.875) || !near(f.SQS, 0.48) {
		t.Errorf("floor = %+v", f)
	}
	if f.Lambda < 0.4 || f.Lambda > 1 || f.Total() < 4.5 || f.Total() > 5.5 {
		t.Errorf("floor lambda %.2f total %.2f, want about 0.6 and 5", f.Lambda, f.Total())
	}
	if Floor(10*time.Second, Prices).Lambda <= Floor(time.Second, Prices).Lambda {
		t.Error("a longer agent costs the floor nothing more")
	}
}

func TestInvocations(t *testing.T) {
	iv := NewInvocations()
	iv.Add("worker", 1500*time.Microsecond) // billed as 2 ms
	iv.Add("worker", time.Millisecond)
	count, billed := iv.Snapshot()
	if count["worker"] != 2 || billed["worker"] != 3 {
		t.Errorf("count %v billed %v, want 2 invocations and 3 ms", count, billed)
	}
	iv.Reset()
	if count, _ := iv.Snapshot(); len(count) != 0 {
		t.Error("Reset kept counts")
	}
}

// TestNoteIsPricedAsTheRequest: a request noted by hand (the local key's receipt signatures, KMS
// Sign requests on AWS) is counted and priced as the AWS request it stands for.
func TestNoteIsPricedAsTheRequest(t *testing.T) {
	m := NewMeter()
	for range 3 {
		m.Note(context.Background(), "KMS.Sign")
	}
	u := m.Usage()[""]
	if u.Calls["KMS.Sign"] != 3 || u.Requests["KMS.Sign"] != 3 {
		t.Fatalf("noted %+v, want 3 KMS.Sign", u)
	}
	if b := Price(Used{AWS: m.Usage()}, Prices); !near(b.KMS, 3*Prices.KMSRequest) || !near(b.Total(), b.KMS) {
		t.Errorf("bill = %+v, want 3 KMS requests", b)
	}
}

// TestEveryOutcomeEvent: the figure printed beside the measured EventBridge cost is what the
// price table charges for one event per task, as a run that published every outcome is priced.
func TestEveryOutcomeEvent(t *testing.T) {
	n := 200
	u := newUsage()
	u.Requests["EventBridge.PutEvents"] = float64(n)
	run := Price(Used{AWS: map[string]Usage{"notify": u}}, Prices).Scale(1e6 / float64(n))
	if got := EveryOutcomeEvent(Prices); math.Abs(got-run.EventBridge) > 1e-9 || got <= 0 {
		t.Errorf("EveryOutcomeEvent = %v, want %v (one event per task, priced by Price)", got, run.EventBridge)
	}
	if got, want := EveryOutcomeEvent(PriceTable{EventBridgeEvent: 2e-6}), 2.0; math.Abs(got-want) > 1e-9 {
		t.Errorf("EveryOutcomeEvent at $2 per million events = %v, want %v", got, want)
	}
}
