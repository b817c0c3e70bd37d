package bench

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/agentq/agentq/shared/local/system"
)

// chunk is the size by which SQS and EventBridge bill a request's payload: every 64 KB is one
// request.
const chunk = 64 * 1024

// Meter counts the AWS requests the clients it is added to make, by the function that made them
// (system.Function), service and operation, with the DynamoDB capacity they consumed (it asks for
// it, indexes included) and SQS's and EventBridge's 64 KB chunks; and it can add a fixed latency
// to every request.
type Meter struct {
	delay atomic.Int64

	mu sync.Mutex
	by map[string]Usage // by function
}

// NewMeter returns a meter with nothing counted and no latency.
func NewMeter() *Meter {
	m := &Meter{}
	m.Reset()
	return m
}

// Reset forgets what was counted.
func (m *Meter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.by = map[string]Usage{}
}

// SetDelay makes every request from now on take d longer (0: none).
func (m *Meter) SetDelay(d time.Duration) { m.delay.Store(int64(d)) }

// Usage is what a meter counted for one function.
type Usage struct {
	// Requests are billed requests (SQS and EventBridge in 64 KB chunks) by "Service.Operation";
	// an SQS receive that found nothing is "SQS.ReceiveMessage(empty)".
	Requests map[string]float64
	// Calls are the calls by "Service.Operation".
	Calls map[string]int
	// WRU and RRU are DynamoDB write and read capacity units by table and by "table/index".
	WRU, RRU map[string]float64
}

func newUsage() Usage {
	return Usage{Requests: map[string]float64{}, Calls: map[string]int{}, WRU: map[string]float64{}, RRU: map[string]float64{}}
}

// Add adds o to u.
func (u Usage) Add(o Usage) {
	for k, v := range o.Requests {
		u.Requests[k] += v
	}
	for k, v := range o.Calls {
		u.Calls[k] += v
	}
	for k, v := range o.WRU {
		u.WRU[k] += v
	}
	for k, v := range o.RRU {
		u.RRU[k] += v
	}
}

// Usage answers a copy of what was counted, by function ("" for requests made outside any).
func (m *Meter) Usage() map[string]Usage {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Usage{}
	for fn, u := range m.by {
		c := newUsage()
		c.Add(u)
		out[fn] = c
	}
	return out
}

// APIOption adds the meter to a client's middleware stack (aws.Config.APIOptions).
func (m *Meter) APIOption(stack *middleware.Stack) error {
	if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("agentqMeter", m.initialize), middleware.Before); err != nil {
		return fmt.Errorf("add meter: %w", err)
	}
	// Per attempt, around the HTTP round trip: the latency of one network round trip.
	if err := stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("agentqLatency", m.latency), middleware.After); err != nil {
		return fmt.Errorf("add latency: %w", err)
	}
	return nil
}

// Note counts one request of op ("Service.Operation") made outside an AWS client, under the
// function ctx is in: the opening of the sealed receipt key (a KMS Decrypt on AWS) or, with the
// KMS-key option, the receipt signatures the local key makes (KMS Sign requests on AWS), so the
// bench prices what AWS would charge.
func (m *Meter) Note(ctx context.Context, op string) {
	fn := system.Function(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.usage(fn)
	u.Calls[op]++
	u.Requests[op]++
}

// usage is fn's usage, created on first use; m.mu must be held.
func (m *Meter) usage(fn string) Usage {
	u, ok := m.by[fn]
	if !ok {
		u = newUsage()
		m.by[fn] = u
	}
	return u
}

func (m *Meter) latency(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
	if d := time.Duration(m.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return middleware.DeserializeOutput{}, middleware.Metadata{}, ctx.Err()
		}
	}
	return next.HandleDeserialize(ctx, in)
}

func (m *Meter) initialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	askCapacity(in.Parameters)
	op := awsmiddleware.GetServiceID(ctx) + "." + awsmiddleware.GetOperationName(ctx)
	billed := chunks(in.Parameters)
	out, md, err := next.HandleInitialize(ctx, in)
	if r, ok := out.Result.(*sqs.ReceiveMessageOutput); ok && err == nil && len(r.Messages) == 0 {
		op += "(empty)"
	}
	fn := system.Function(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.usage(fn)
	u.Calls[op]++
	u.Requests[op] += billed
	if err == nil {
		for _, c := range consumed(out.Result) {
			u.addCapacity(op, c)
		}
	}
	return out, md, err
}

// addCapacity adds what one DynamoDB request consumed, as writes or reads by its operation.
func (u Usage) addCapacity(op string, c ddbtypes.ConsumedCapacity) {
	into := u.RRU
	if writeOps[op] {
		into = u.WRU
	}
	table := deref(c.TableName)
	if c.Table != nil && c.Table.CapacityUnits != nil {
		into[table] += *c.Table.CapacityUnits
	} else if c.CapacityUnits != nil {
		into[table] += *c.CapacityUnits
	}
	for name, ix := range c.GlobalSecondaryIndexes {
		if ix.CapacityUnits != nil {
			into[table+"/"+name] += *ix.CapacityUnits
		}
	}
}

var writeOps = map[string]bool{
	"DynamoDB.PutItem": true, "DynamoDB.UpdateItem": true, "DynamoDB.DeleteItem": true,
	"DynamoDB.TransactWriteItems": true, "DynamoDB.BatchWriteItem": true,
}

func deref(s *string) string {
	if s == nil {
		return "?"
	}
	return *s
}

// askCapacity asks a DynamoDB request to report the capacity it consumed, indexes included.
func askCapacity(params any) {
	const ix = ddbtypes.ReturnConsumedCapacityIndexes
	switch in := params.(type) {
	case *dynamodb.PutItemInput:
		in.ReturnConsumedCapacity = ix
	case *dynamodb.UpdateItemInput:
		in.ReturnConsumedCapacity = ix
	case *dynamodb.DeleteItemInput:
		in.ReturnConsumedCapacity = ix
	case *dynamodb.GetItemInput:
		in.ReturnConsumedCapacity = ix
	case *dynamodb.QueryInput:
		in.ReturnConsumedCapacity = ix
	case *dynamodb.ScanInput:
		in.ReturnConsumedCapacity = ix
	case *dynamodb.TransactWriteItemsInput:
		in.ReturnConsumedCapacity = ix
	case *dynamodb.TransactGetItemsInput:
		in.ReturnConsumedCapacity = ix
	case *dynamodb.BatchWriteItemInput:
		in.ReturnConsumedCapacity = ix
	case *dynamodb.BatchGetItemInput:
		in.ReturnConsumedCapacity = ix
	}
}

// consumed answers the capacity a DynamoDB response reports.
func consumed(result any) []ddbtypes.ConsumedCapacity {
	one := func(c *ddbtypes.ConsumedCapacity) []ddbtypes.ConsumedCapacity {
		if c == nil {
			return nil
		}
		return []ddbtypes.ConsumedCapacity{*c}
	}
	switch out := result.(type) {
	case *dynamodb.PutItemOutput:
		return one(out.ConsumedCapacity)
	case *dynamodb.UpdateItemOutput:
		return one(out.ConsumedCapacity)
	case *dynamodb.DeleteItemOutput:
		return one(out.ConsumedCapacity)
	case *dynamodb.GetItemOutput:
		return one(out.ConsumedCapacity)
	case *dynamodb.QueryOutput:
		return one(out.ConsumedCapacity)
	case *dynamodb.ScanOutput:
		return one(out.ConsumedCapacity)
	case *dynamodb.TransactWriteItemsOutput:
		return out.ConsumedCapacity
	case *dynamodb.TransactGetItemsOutput:
		return out.ConsumedCapacity
	case *dynamodb.BatchWriteItemOutput:
		return out.ConsumedCapacity
	case *dynamodb.BatchGetItemOutput:
		return out.ConsumedCapacity
	}
	return nil
}

// chunks answers how many requests a request is billed as: SQS and EventBridge bill every 64 KB
// of payload as one request; the others one.
func chunks(params any) float64 {
	n := func(size int) float64 { return float64(max(1, (size+chunk-1)/chunk)) }
	switch in := params.(type) {
	case *sqs.SendMessageInput:
		return n(len(deref(in.MessageBody)) + attrSize(in.MessageAttributes))
	case *sqs.SendMessageBatchInput:
		size := 0
		for _, e := range in.Entries {
			size += len(deref(e.MessageBody)) + attrSize(e.MessageAttributes)
		}
		return n(size)
	case *eventbridge.PutEventsInput:
		total := 0.0
		for _, e := range in.Entries { // each entry is billed alone, by its own 64 KB chunks
			total += n(len(deref(e.Detail)) + len(deref(e.DetailType)) + len(deref(e.Source)))
		}
		return max(total, 1)
	}
	return 1
}

// attrSize is the billed size of SQS message attributes: names, types and values.
func attrSize(attrs map[string]sqstypes.MessageAttributeValue) int {
	size := 0
	for k, v := range attrs {
		size += len(k) + len(deref(v.DataType)) + len(deref(v.StringValue)) + len(v.BinaryValue)
	}
	return size
}

// sortedKeys answers m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
