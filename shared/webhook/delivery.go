package webhook

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
)

// State is where a delivery stands.
type State string

// The states. A delivery is pending until an attempt succeeds or the last one fails.
const (
	Pending   State = "pending"
	Succeeded State = "succeeded"
	Failed    State = "failed"
)

// Attempt is one POST of a delivery.
type Attempt struct {
	N          int       `json:"attempt"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code,omitempty"`
	// Error says why the attempt failed; it never holds the URL's query or a header value.
	Error      string `json:"error,omitempty"`
	DurationMS int64  `json:"duration_ms"`
}

// Delivery is one event on its way to one URL, with every attempt made. The JSON form is what
// the API answers for a task's deliveries.
type Delivery struct {
	ID     string `json:"delivery_id"`
	TaskID string `json:"task_id"`
	Tenant string `json:"-"`
	URL    string `json:"url"`
	// MessageID is the webhook-id: the same on every attempt and on replays, so receivers can
	// tell a repeat.
	MessageID     string          `json:"message_id"`
	EventType     string          `json:"event_type"`
	Payload       json.RawMessage `json:"-"`
	State         State           `json:"state"`
	Attempts      []Attempt       `json:"attempts"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	// ReplayOf names the delivery this one replays.
	ReplayOf  string    `json:"replay_of,omitempty"`
	ExpiresAt time.Time `json:"-"`
}

// MaxAttempts bounds the attempts of one delivery, whatever the schedule.
const MaxAttempts = 50

// deliveryPrefix starts the sort key of every delivery item, under its task's partition.
const deliveryPrefix = "DELIVERY#"

// Hand-offs: what a recorded attempt still has to send. The deliverer records the attempt and
// the hand-off in one write, sends, then clears the hand-off; a redelivered message finds it set
// and sends again, so a failure between the write and the send loses nothing.
const (
	handoffNext       = "next"
	handoffDeadLetter = "dead_letter"
)

// deliveryItem is a delivery as stored: under its task's partition, with no gsi* attribute (no
// index sees it) and the table's TTL attribute. lease_until (Unix ms) and claim mark the attempt
// a deliverer is making; attempt_count guards every write.
type deliveryItem struct {
	PK            string        `dynamodbav:"pk"`
	SK            string        `dynamodbav:"sk"`
	ID            string        `dynamodbav:"delivery_id"`
	TaskID        string        `dynamodbav:"task_id"`
	TaskVersion   int64         `dynamodbav:"task_version,omitempty"`
	Tenant        string        `dynamodbav:"tenant"`
	URL           string        `dynamodbav:"url"`
	MessageID     string        `dynamodbav:"message_id"`
	EventType     string        `dynamodbav:"event_type"`
	Payload       string        `dynamodbav:"payload"`
	State         string        `dynamodbav:"state"`
	Attempts      []attemptItem `dynamodbav:"attempts"`
	AttemptCount  int           `dynamodbav:"attempt_count"`
	LeaseUntil    int64         `dynamodbav:"lease_until,omitempty"`
	Claim         string        `dynamodbav:"claim,omitempty"`
	Handoff       string        `dynamodbav:"handoff,omitempty"`
	NextAttemptAt string        `dynamodbav:"next_attempt_at,omitempty"`
	CreatedAt     string        `dynamodbav:"created_at"`
	UpdatedAt     string        `dynamodbav:"updated_at"`
	ReplayOf      string        `dynamodbav:"replay_of,omitempty"`
	ExpiresAt     int64         `dynamodbav:"expires_at,omitempty"`
}

type attemptItem struct {
	N          int    `dynamodbav:"n"`
	At         string `dynamodbav:"at"`
	StatusCode int    `dynamodbav:"status_code,omitempty"`
	Error      string `dynamodbav:"error,omitempty"`
	DurationMS int64  `dynamodbav:"duration_ms"`
}

func deliveryKey(taskID, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		table.AttrPK: table.S("TASK#" + taskID),
		table.AttrSK: table.S(deliveryPrefix + id),
	}
}

func toItem(d *Delivery, taskVersion int64) deliveryItem {
	it := deliveryItem{
		PK: "TASK#" + d.TaskID, SK: deliveryPrefix + d.ID, ID: d.ID, TaskID: d.TaskID, TaskVersion: taskVersion,
		Tenant: d.Tenant, URL: d.URL, MessageID: d.MessageID, EventType: d.EventType, Payload: string(d.Payload),
		State: string(d.State), Attempts: []attemptItem{}, AttemptCount: len(d.Attempts),
		CreatedAt: table.Stamp(d.CreatedAt), UpdatedAt: table.Stamp(d.UpdatedAt), ReplayOf: d.ReplayOf,
	}
	for _, a := range d.Attempts {
		it.Attempts = append(it.Attempts, toAttemptItem(a))
	}
	if d.NextAttemptAt != nil {
		it.NextAttemptAt = table.Stamp(*d.NextAttemptAt)
	}
	if !d.ExpiresAt.IsZero() {
		it.ExpiresAt = d.ExpiresAt.Unix()
	}
	return it
}

func toAttemptItem(a Attempt) attemptItem {
	return attemptItem{N: a.N, At: table.Stamp(a.At), StatusCode: a.StatusCode, Error: a.Error, DurationMS: a.DurationMS}
}

func (it *deliveryItem) delivery() (*Delivery, error) {
	d := &Delivery{
		ID: it.ID, TaskID: it.TaskID, Tenant: it.Tenant, URL: it.URL, MessageID: it.MessageID, EventType: it.EventType,
		Payload: json.RawMessage(it.Payload), State: State(it.State), Attempts: make([]Attempt, 0, len(it.Attempts)),
		ReplayOf: it.ReplayOf,
	}
	var err error
	fail := func(field string, err error) (*Delivery, error) {
		return nil, fmt.Errorf("decode delivery %s: %s: %w", it.ID, field, err)
	}
	if d.CreatedAt, err = table.ParseStamp(it.CreatedAt); err != nil {
		return fail("created_at", err)
	}
	if d.UpdatedAt, err = table.ParseStamp(it.UpdatedAt); err != nil {
		return fail("updated_at", err)
	}
	if it.NextAttemptAt != "" {
		next, err := table.ParseStamp(it.NextAttemptAt)
		if err != nil {
			return fail("next_attempt_at", err)
		}
		d.NextAttemptAt = &next
	}
	if it.ExpiresAt != 0 {
		d.ExpiresAt = time.Unix(it.ExpiresAt, 0).UTC()
	}
	for _, a := range it.Attempts {
		at, err := table.ParseStamp(a.At)
		if err != nil {
			return fail("attempt "+strconv.Itoa(a.N), err)
		}
		d.Attempts = append(d.Attempts, Attempt{N: a.N, At: at, StatusCode: a.StatusCode, Error: a.Error, DurationMS: a.DurationMS})
	}
	return d, nil
}

// putDelivery records a new delivery. It reports false, with the stored item, when one with the
// same id exists already.
func (s *Service) putDelivery(ctx context.Context, d *Delivery, taskVersion int64) (bool, *deliveryItem, error) {
	av, err := attributevalue.MarshalMap(toItem(d, taskVersion))
	if err != nil {
		return false, nil, fmt.Errorf("encode delivery %s: %w", d.ID, err)
	}
	_, err = s.c.DB.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.c.Table), Item: av,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": table.AttrPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		if len(ccf.Item) == 0 {
			// An emulator that does not return the item: read it.
			it, err := s.getItem(ctx, d.TaskID, d.ID)
			return false, it, err
		}
		var it deliveryItem
		if err := attributevalue.UnmarshalMap(ccf.Item, &it); err != nil {
			return false, nil, fmt.Errorf("decode delivery %s: %w", d.ID, err)
		}
		return false, &it, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("record delivery %s of task %s: %w", d.ID, d.TaskID, err)
	}
	return true, nil, nil
}

// getItem reads a delivery's item consistently, or returns ErrNotFound.
func (s *Service) getItem(ctx context.Context, taskID, id string) (*deliveryItem, error) {
	out, err := s.c.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.c.Table), Key: deliveryKey(taskID, id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read delivery %s of task %s: %w", id, taskID, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("read delivery %s of task %s: %w", id, taskID, ErrNotFound)
	}
	var it deliveryItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return nil, fmt.Errorf("decode delivery %s: %w", id, err)
	}
	return &it, nil
}

// maxListed bounds how many deliveries of one task Deliveries reads.
const maxListed = 1000

// Deliveries returns the task's deliveries, oldest first, with every attempt: an empty slice when
// there are none. A task of another tenant, or no task at all, is ErrNotFound.
func (s *Service) Deliveries(ctx context.Context, tenant, taskID string) ([]*Delivery, error) {
	if tenant == "" || taskID == "" {
		return nil, fmt.Errorf("deliveries of task %q: %w", taskID, ErrNotFound)
	}
	owner, err := s.taskTenant(ctx, taskID)
	if err != nil {
		return nil, err
	}
	if owner != "" && owner != tenant {
		return nil, fmt.Errorf("deliveries of task %s: %w", taskID, ErrNotFound)
	}
	p := dynamodb.NewQueryPaginator(s.c.DB, &dynamodb.QueryInput{
		TableName:              aws.String(s.c.Table),
		KeyConditionExpression: aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": table.AttrPK, "#sk": table.AttrSK,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": table.S("TASK#" + taskID), ":prefix": table.S(deliveryPrefix),
		},
		ConsistentRead: aws.Bool(true),
	})
	out := []*Delivery{}
	for p.HasMorePages() && len(out) < maxListed {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list deliveries of task %s: %w", taskID, err)
		}
		for _, av := range page.Items {
			var it deliveryItem
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				return nil, fmt.Errorf("decode a delivery of task %s: %w", taskID, err)
			}
			if it.Tenant != tenant {
				return nil, fmt.Errorf("deliveries of task %s: %w", taskID, ErrNotFound)
			}
			d, err := it.delivery()
			if err != nil {
				return nil, err
			}
			out = append(out, d)
		}
	}
	if owner == "" && len(out) == 0 {
		return nil, fmt.Errorf("deliveries of task %s: %w", taskID, ErrNotFound)
	}
	slices.SortFunc(out, func(a, b *Delivery) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// taskTenant returns the tenant of the task's record (pk TASK#<id>, sk TASK), or "" when the task
// is gone (its deliveries then say whose it was).
func (s *Service) taskTenant(ctx context.Context, taskID string) (string, error) {
	out, err := s.c.DB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.c.Table),
		Key: map[string]types.AttributeValue{
			table.AttrPK: table.S("TASK#" + taskID), table.AttrSK: table.S("TASK"),
		},
		ProjectionExpression:     aws.String("#tenant"),
		ExpressionAttributeNames: map[string]string{"#tenant": "tenant"},
	})
	if err != nil {
		return "", fmt.Errorf("read task %s: %w", taskID, err)
	}
	var it struct {
		Tenant string `dynamodbav:"tenant"`
	}
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return "", fmt.Errorf("decode task %s: %w", taskID, err)
	}
	return it.Tenant, nil
}

// errLost means a conditional write found the delivery moved on: another deliverer made or
// recorded the attempt.
var errLost = errors.New("delivery moved on")

// claim takes the attempt n of a delivery until lease ends: the delivery must be pending, have
// made n-1 attempts, and be under no live lease. A duplicate message loses (errLost).
func (s *Service) claim(ctx context.Context, taskID, id string, n int, token string, now time.Time) error {
	_, err := s.c.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(s.c.Table),
		Key:              deliveryKey(taskID, id),
		UpdateExpression: aws.String("SET #lease = :lease, #claim = :claim"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND #state = :pending AND #count = :prev AND " +
			"(attribute_not_exists(#lease) OR #lease < :nowms)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": table.AttrPK, "#lease": "lease_until", "#claim": "claim", "#state": "state", "#count": "attempt_count",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":lease": table.N(now.Add(Lease).UnixMilli()), ":claim": table.S(token), ":pending": table.S(string(Pending)),
			":prev": table.N(int64(n - 1)), ":nowms": table.N(now.UnixMilli()),
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("claim attempt %d of delivery %s: %w", n, id, errLost)
	}
	if err != nil {
		return fmt.Errorf("claim attempt %d of delivery %s: %w", n, id, err)
	}
	return nil
}

// result is the outcome of an attempt, to record.
type result struct {
	attempt Attempt
	state   State
	next    time.Time // the next attempt's time, when there is one
	handoff string
}

// recordAttempt appends an attempt to the delivery and moves it on, under the claim token: a
// deliverer whose lease was taken over records nothing (errLost).
func (s *Service) recordAttempt(ctx context.Context, taskID, id, token string, r result) error {
	n := r.attempt.N
	names := map[string]string{
		"#attempts": "attempts", "#count": "attempt_count", "#state": "state", "#updated": "updated_at",
		"#lease": "lease_until", "#claim": "claim", "#next": "next_attempt_at",
	}
	attempt, err := attributevalue.Marshal(toAttemptItem(r.attempt))
	if err != nil {
		return fmt.Errorf("record attempt %d of delivery %s: %w", n, id, err)
	}
	values := map[string]types.AttributeValue{
		":a": &types.AttributeValueMemberL{Value: []types.AttributeValue{attempt}}, ":empty": &types.AttributeValueMemberL{},
		":n": table.N(int64(n)), ":prev": table.N(int64(n - 1)), ":state": table.S(string(r.state)), ":now": table.S(table.Stamp(r.attempt.At)),
		":token": table.S(token),
	}
	set := "SET #attempts = list_append(if_not_exists(#attempts, :empty), :a), #count = :n, #state = :state, #updated = :now"
	remove := " REMOVE #lease, #claim"
	if r.next.IsZero() {
		remove += ", #next"
	} else {
		set += ", #next = :next"
		values[":next"] = table.S(table.Stamp(r.next))
	}
	if r.handoff != "" {
		names["#handoff"] = "handoff"
		values[":handoff"] = table.S(r.handoff)
		set += ", #handoff = :handoff"
	}
	_, err = s.c.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.c.Table),
		Key:                       deliveryKey(taskID, id),
		UpdateExpression:          aws.String(set + remove),
		ConditionExpression:       aws.String("#claim = :token AND #count = :prev"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("record attempt %d of delivery %s: %w", n, id, errLost)
	}
	if err != nil {
		return fmt.Errorf("record attempt %d of delivery %s: %w", n, id, err)
	}
	return nil
}

// clearHandoff notes that the hand-off of attempt n was sent.
func (s *Service) clearHandoff(ctx context.Context, taskID, id string, n int, handoff string) error {
	_, err := s.c.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.c.Table),
		Key:                      deliveryKey(taskID, id),
		UpdateExpression:         aws.String("REMOVE #handoff"),
		ConditionExpression:      aws.String("#handoff = :handoff AND #count = :n"),
		ExpressionAttributeNames: map[string]string{"#handoff": "handoff", "#count": "attempt_count"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":handoff": table.S(handoff), ":n": table.N(int64(n)),
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("clear hand-off of attempt %d of delivery %s: %w", n, id, err)
	}
	return nil
}
