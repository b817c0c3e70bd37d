package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/agentq/agentq/shared/lambdamemory"
)

// Invocations counts Lambda invocations by function and their billed milliseconds (each
// invocation's handler duration rounded up to the next millisecond, as Lambda bills).
type Invocations struct {
	mu       sync.Mutex
	count    map[string]int
	billedMs map[string]float64
}

// NewInvocations returns an empty count.
func NewInvocations() *Invocations {
	return &Invocations{count: map[string]int{}, billedMs: map[string]float64{}}
}

// Add counts one invocation of fn that ran for took (system.Options.OnInvocation).
func (iv *Invocations) Add(fn string, took time.Duration) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	iv.count[fn]++
	iv.billedMs[fn] += math.Ceil(float64(took) / float64(time.Millisecond))
}

// Reset forgets what was counted.
func (iv *Invocations) Reset() {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	iv.count, iv.billedMs = map[string]int{}, map[string]float64{}
}

// Snapshot answers the invocations and billed milliseconds by function.
func (iv *Invocations) Snapshot() (count map[string]int, billedMs map[string]float64) {
	iv.mu.Lock()
	defer iv.mu.Unlock()
	count, billedMs = map[string]int{}, map[string]float64{}
	for k, v := range iv.count {
		count[k] = v
	}
	for k, v := range iv.billedMs {
		billedMs[k] = v
	}
	return count, billedMs
}

// MemoryMB is each function's configured memory, the stack's own (package lambdamemory): Lambda
// bills GB-seconds of configured memory, not of memory used.
var MemoryMB = lambdamemory.MB

// Bill is what a workload costs, by service, in US dollars.
type Bill struct {
	DynamoDB, Lambda, SQS, APIGateway, EventBridge, S3, KMS, StepFunctions float64
}

// Total is the sum of the services.
func (b Bill) Total() float64 {
	return b.DynamoDB + b.Lambda + b.SQS + b.APIGateway + b.EventBridge + b.S3 + b.KMS + b.StepFunctions
}

// Scale multiplies every service by f (a total for n tasks times 1e6/n is per million tasks).
func (b Bill) Scale(f float64) Bill {
	return Bill{b.DynamoDB * f, b.Lambda * f, b.SQS * f, b.APIGateway * f, b.EventBridge * f, b.S3 * f, b.KMS * f, b.StepFunctions * f}
}

// Used is what a run used: the AWS requests the meter counted by function, the Lambda invocations
// and their billed milliseconds by function. Every invoke or poll invocation is one API Gateway
// request.
type Used struct {
	AWS      map[string]Usage
	Count    map[string]int
	BilledMs map[string]float64
}

// Only answers the part of r that the functions fns used.
func (r Used) Only(fns ...string) Used {
	o := Used{AWS: map[string]Usage{}, Count: map[string]int{}, BilledMs: map[string]float64{}}
	for _, fn := range fns {
		if u, ok := r.AWS[fn]; ok {
			o.AWS[fn] = u
		}
		o.Count[fn], o.BilledMs[fn] = r.Count[fn], r.BilledMs[fn]
	}
	return o
}

// Price prices a run with table p. Idle SQS receives (those that found nothing) are left out:
// their cost is per hour of pollers, not per task. Reads of the table's stream are free to Lambda.
func Price(r Used, p PriceTable) Bill {
	var b Bill
	for _, u := range r.AWS {
		b = b.plus(priceAWS(u, p))
	}
	for fn, n := range r.Count {
		b.Lambda += float64(n) * p.LambdaRequest
		b.Lambda += r.BilledMs[fn] / 1000 * MemoryMB[fn] / 1024 * p.LambdaGBSecond
		if fn == "invoke" || fn == "poll" {
			b.APIGateway += float64(n) * p.APIGatewayRequest
		}
	}
	return b
}

func (b Bill) plus(o Bill) Bill {
	return Bill{b.DynamoDB + o.DynamoDB, b.Lambda + o.Lambda, b.SQS + o.SQS, b.APIGateway + o.APIGateway,
		b.EventBridge + o.EventBridge, b.S3 + o.S3, b.KMS + o.KMS, b.StepFunctions + o.StepFunctions}
}

// priceAWS prices one function's AWS requests and DynamoDB capacity.
func priceAWS(u Usage, p PriceTable) Bill {
	var b Bill
	for _, v := range u.WRU {
		b.DynamoDB += v * p.DynamoDBWRU
	}
	for _, v := range u.RRU {
		b.DynamoDB += v * p.DynamoDBRRU
	}
	for op, n := range u.Requests {
		service, name, _ := strings.Cut(op, ".")
		switch {
		case service == "SQS" && !strings.HasSuffix(name, "(empty)"):
			b.SQS += n * p.SQSRequest
		case service == "EventBridge" && name == "PutEvents":
			b.EventBridge += n * p.EventBridgeEvent
		case service == "S3" && (name == "PutObject" || name == "CopyObject" || name == "ListObjectsV2"):
			b.S3 += n * p.S3Write
		case service == "S3":
			b.S3 += n * p.S3Read
		case service == "KMS":
			b.KMS += n * p.KMSRequest
		}
	}
	return b
}

// Floor is the least a task can cost in this architecture, priced with p: two API requests (the
// submit and one long-poll read) each an invoke or poll invocation of 10 ms at 128 MB; three item
// writes of at most 1 KB with no index writes (accepted, running, done); one SQS send with a
// tenth of a batched receive and of a batched delete; a tenth of a worker invocation at 128 MB
// for the agent's time (ten tasks a batch, the agent's time overlapping).
func Floor(agent time.Duration, p PriceTable) Bill {
	gb := 128.0 / 1024
	compute := (2*0.010 + agent.Seconds()/10) * gb
	return Bill{
		APIGateway: 2 * p.APIGatewayRequest,
		DynamoDB:   3 * p.DynamoDBWRU,
		SQS:        1.2 * p.SQSRequest,
		Lambda:     2.1*p.LambdaRequest + compute*p.LambdaGBSecond,
	}
}

// StepFunctionsDefinition is the same work as a Step Functions Standard workflow, in Amazon
// States Language: the API starts an execution, which records the task, calls the agent (an
// HTTP Task), decides on its answer and records the outcome; the client reads the execution's
// result through the API.
const StepFunctionsDefinition = `{
  "StartAt": "RecordTask",
  "States": {
    "RecordTask": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "Next": "CallAgent"},
    "CallAgent": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke",
      "Retry": [{"ErrorEquals": ["States.Http.StatusCode.503"], "MaxAttempts": 4}], "Next": "Decide"},
    "Decide": {"Type": "Choice", "Choices": [{"Variable": "$.failed", "BooleanEquals": true, "Next": "RecordFailure"}], "Default": "RecordOutcome"},
    "RecordFailure": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:updateItem", "Next": "Failed"},
    "Failed": {"Type": "Fail"},
    "RecordOutcome": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:updateItem", "Next": "Done"},
    "Done": {"Type": "Succeed"}
  }
}`

// Transitions counts the state transitions of a definition's successful path: every state
// entered from StartAt, following Next and a Choice's Default, until a state that ends.
func Transitions(definition string) (int, error) {
	var d struct {
		StartAt string
		States  map[string]struct {
			Type, Next, Default string
			End                 bool
		}
	}
	if err := json.Unmarshal([]byte(definition), &d); err != nil {
		return 0, fmt.Errorf("read state machine: %w", err)
	}
	n := 0
	for name := d.StartAt; name != ""; {
		st, ok := d.States[name]
		if !ok {
			return 0, fmt.Errorf("read state machine: no state %q", name)
		}
		if n++; n > len(d.States) {
			return 0, fmt.Errorf("read state machine: the path from %s loops", d.StartAt)
		}
		switch {
		case st.End || st.Type == "Succeed" || st.Type == "Fail":
			name = ""
		case st.Type == "Choice":
			name = st.Default
		default:
			name = st.Next
		}
	}
	return n, nil
}

// StepFunctions prices one task run as the workflow in definition with p: its transitions, the
// two API requests (start, read the result) and the two item writes its tasks make.
func StepFunctions(definition string, p PriceTable) (Bill, error) {
	n, err := Transitions(definition)
	if err != nil {
		return Bill{}, err
	}
	return Bill{StepFunctions: float64(n) * p.StepFunctionsTransition, APIGateway: 2 * p.APIGatewayRequest, DynamoDB: 2 * p.DynamoDBWRU}, nil
}
