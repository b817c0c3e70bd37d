package tasklog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
)

// DynamoDB is the part of the DynamoDB API the log uses.
type DynamoDB interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Log keeps task logs in the task table: an event is the item (pk = the task's partition,
// sk = "EV#" + its sequence number, zero-padded so that the items sort in order), next to the task
// item, with the task's expiry. A report's dedupe marker is the item sk = "RP#" + its name.
type Log struct {
	db    DynamoDB
	table string
	// tries bounds the attempts of one append against concurrent writers.
	tries int
}

// New returns the log kept in the named table.
func New(db DynamoDB, table string) *Log { return &Log{db: db, table: table, tries: 25} }

// EventKeyPrefix begins the sort key of every event item: what the table stream's filter
// recognises events by.
const EventKeyPrefix = eventPrefix

const (
	eventPrefix  = "EV#"
	reportPrefix = "RP#"
	seqWidth     = 10
)

func eventSortKey(seq int64) string {
	return eventPrefix + fmt.Sprintf("%0*d", seqWidth, seq)
}

// Append writes e as the task's next event and returns it numbered. The number is taken by a
// conditional put of the next free one: of concurrent writers exactly one gets each number and
// the others read again and take the next, so the sequence has no gaps and follows the order in
// which the writes landed. A dedupe marker, when asked for, is written in the same transaction.
// A log that ends with Finished takes nothing more: ErrDuplicate for another Finished, ErrEnded
// for anything else. Since a Finished event takes its number like any other, a writer that raced
// it for that number reads again and finds the log closed.
func (l *Log) Append(ctx context.Context, e Entry) (Event, error) {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if e.Opening && !e.Limited {
		// The writer knows where the log stands: no read unless someone got there first.
		ev := Event{Seq: CreatedSeq + 1, Type: e.Type, At: e.At.UTC(), Data: e.Data}
		err := l.put(ctx, e, ev)
		if err == nil {
			return ev, nil
		}
		if !errors.Is(err, errTaken) {
			return Event{}, fmt.Errorf("append %s to task %s: %w", e.Type, e.TaskID, err)
		}
	}
	for try := 0; try < l.tries; try++ {
		last, err := l.tail(ctx, e)
		if err != nil {
			return Event{}, fmt.Errorf("append %s to task %s: %w", e.Type, e.TaskID, err)
		}
		ev := Event{Seq: last + 1, Type: e.Type, At: e.At.UTC(), Data: e.Data}
		err = l.put(ctx, e, ev)
		if err == nil {
			return ev, nil
		}
		if !errors.Is(err, errTaken) {
			return Event{}, fmt.Errorf("append %s to task %s: %w", e.Type, e.TaskID, err)
		}
		// Someone took the number: back off a little so that writers do not march in step.
		select {
		case <-ctx.Done():
			return Event{}, fmt.Errorf("append %s to task %s: %w", e.Type, e.TaskID, ctx.Err())
		case <-time.After(time.Duration(rand.IntN(5*(try+1))) * time.Millisecond):
		}
	}
	return Event{}, fmt.Errorf("append %s to task %s: %w", e.Type, e.TaskID, ErrBusy)
}

var errTaken = errors.New("sequence number taken")

// tail answers the last sequence number of the log (the last implied event's, e.base(), when
// nothing is stored after it), and refuses an entry for a log that has ended, a rate-limited
// entry when the log took RateBurst events within RateWindow of it, or a full log.
func (l *Log) tail(ctx context.Context, e Entry) (int64, error) {
	limit := int32(1)
	if e.Limited {
		limit = RateBurst
	}
	out, err := l.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              aws.String(l.table),
		KeyConditionExpression: aws.String("#pk = :pk AND begins_with(#sk, :ev)"),
		ExpressionAttributeNames: map[string]string{
			"#pk": table.AttrPK, "#sk": table.AttrSK, "#seq": "seq", "#at": "at", "#type": "type",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": table.S(table.TaskPartition(e.TaskID)), ":ev": table.S(eventPrefix),
		},
		ProjectionExpression: aws.String("#seq, #at, #type"),
		ScanIndexForward:     aws.Bool(false),
		ConsistentRead:       aws.Bool(true),
		Limit:                aws.Int32(limit),
	})
	if err != nil {
		return 0, err
	}
	if len(out.Items) == 0 {
		return e.base(), nil
	}
	last, err := number(out.Items[0]["seq"])
	if err != nil {
		return 0, err
	}
	if typ, ok := out.Items[0]["type"].(*types.AttributeValueMemberS); ok && Type(typ.Value).Final() {
		return 0, closed(e)
	}
	if last >= MaxEvents && e.Limited {
		return 0, ErrFull
	}
	if e.Limited && len(out.Items) == RateBurst {
		oldest, err := stamp(out.Items[len(out.Items)-1]["at"])
		if err != nil {
			return 0, err
		}
		if e.At.Sub(oldest) < RateWindow {
			return 0, ErrRateLimited
		}
	}
	return max(last, e.base()), nil
}

// closed is the refusal of e by a log that ended: one Finished event per log, nothing after it.
func closed(e Entry) error {
	if e.Type.Final() {
		return ErrDuplicate
	}
	return ErrEnded
}

// put writes ev as a new item, conditional on its number being free. It is an UpdateItem that
// may only create (attribute_not_exists): the same effect as a conditional PutItem, under the
// UpdateItem grant every function that writes tasks holds already.
func (l *Log) put(ctx context.Context, e Entry, ev Event) error {
	item := map[string]types.AttributeValue{
		"seq":    table.N(ev.Seq),
		"type":   table.S(string(ev.Type)),
		"at":     table.S(table.Stamp(ev.At)),
		"tenant": table.S(e.Tenant),
	}
	if len(ev.Data) > 0 {
		item["data"] = table.S(string(ev.Data))
	}
	if !e.ExpiresAt.IsZero() {
		item[table.AttrExpiresAt] = table.N(e.ExpiresAt.Unix())
	}
	if e.Notify && !Announced(e.Type) {
		item[AttrNotify] = &types.AttributeValueMemberBOOL{Value: true}
	}
	event := l.create(e.TaskID, eventSortKey(ev.Seq), item)
	if e.Dedupe == "" {
		_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: event.TableName, Key: event.Key, UpdateExpression: event.UpdateExpression,
			ConditionExpression: event.ConditionExpression, ExpressionAttributeNames: event.ExpressionAttributeNames,
			ExpressionAttributeValues: event.ExpressionAttributeValues,
		})
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return errTaken
		}
		return err
	}
	marker := map[string]types.AttributeValue{"seq": table.N(ev.Seq)}
	if v, ok := item[table.AttrExpiresAt]; ok {
		marker[table.AttrExpiresAt] = v
	}
	_, err := l.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: event}, {Update: l.create(e.TaskID, reportPrefix+e.Dedupe, marker)},
	}})
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		if len(tce.CancellationReasons) == 2 && aws.ToString(tce.CancellationReasons[1].Code) == "ConditionalCheckFailed" {
			return ErrDuplicate
		}
		// The event's number was taken, or the transaction met another in flight on the same
		// items: both mend by reading again.
		return errTaken
	}
	return err
}

// create is the update that creates the item (task's partition, sk) with attrs, and fails if it
// exists.
func (l *Log) create(taskID, sk string, attrs map[string]types.AttributeValue) *types.Update {
	names := map[string]string{"#pk": table.AttrPK}
	values := map[string]types.AttributeValue{}
	var set []string
	for name, v := range attrs {
		names["#"+name] = name
		values[":"+name] = v
		set = append(set, "#"+name+" = :"+name)
	}
	slices.Sort(set) // a stable expression, for the reader of a request log
	return &types.Update{
		TableName:                 aws.String(l.table),
		Key:                       map[string]types.AttributeValue{table.AttrPK: table.S(table.TaskPartition(taskID)), table.AttrSK: table.S(sk)},
		UpdateExpression:          aws.String("SET " + strings.Join(set, ", ")),
		ConditionExpression:       aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

// Read answers up to limit (at most PageLimit) events of the task after sequence number after, in
// order. It does not check who asks: the caller reads the task, under its tenant, first.
func (l *Log) Read(ctx context.Context, taskID string, after int64, limit int) ([]Event, error) {
	if limit <= 0 || limit > PageLimit {
		limit = PageLimit
	}
	out, err := l.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                aws.String(l.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
		ExpressionAttributeNames: map[string]string{"#pk": table.AttrPK, "#sk": table.AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": table.S(table.TaskPartition(taskID)),
			":lo": table.S(eventSortKey(max(after, 0) + 1)),
			":hi": table.S(eventPrefix + "9999999999"),
		},
		ConsistentRead: aws.Bool(true),
		Limit:          aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, fmt.Errorf("read events of task %s: %w", taskID, err)
	}
	evs := make([]Event, 0, len(out.Items))
	for _, it := range out.Items {
		ev, err := decode(it)
		if err != nil {
			return nil, fmt.Errorf("read events of task %s: %w", taskID, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

func decode(it map[string]types.AttributeValue) (Event, error) {
	seq, err := number(it["seq"])
	if err != nil {
		return Event{}, err
	}
	at, err := stamp(it["at"])
	if err != nil {
		return Event{}, err
	}
	ev := Event{Seq: seq, At: at}
	if s, ok := it["type"].(*types.AttributeValueMemberS); ok {
		ev.Type = Type(s.Value)
	}
	if s, ok := it["data"].(*types.AttributeValueMemberS); ok {
		ev.Data = []byte(s.Value)
	}
	return ev, nil
}

func number(av types.AttributeValue) (int64, error) {
	n, ok := av.(*types.AttributeValueMemberN)
	if !ok {
		return 0, errors.New("event item without a sequence number")
	}
	return strconv.ParseInt(n.Value, 10, 64)
}

func stamp(av types.AttributeValue) (time.Time, error) {
	s, ok := av.(*types.AttributeValueMemberS)
	if !ok {
		return time.Time{}, errors.New("event item without a timestamp")
	}
	return table.ParseStamp(s.Value)
}

// FromStream reads an item as the table's stream carries it (its keys and new image): when it is
// an event, the task it belongs to, the event and whether it is marked for the notifier
// (AttrNotify). ok is false for any other item.
func FromStream(keys, image map[string]types.AttributeValue) (taskID string, ev Event, notify, ok bool, err error) {
	pk, _ := keys[table.AttrPK].(*types.AttributeValueMemberS)
	sk, _ := keys[table.AttrSK].(*types.AttributeValueMemberS)
	if pk == nil || sk == nil || !strings.HasPrefix(sk.Value, eventPrefix) || !strings.HasPrefix(pk.Value, table.TaskPartition("")) {
		return "", Event{}, false, false, nil
	}
	taskID = strings.TrimPrefix(pk.Value, table.TaskPartition(""))
	if ev, err = decode(image); err != nil {
		return taskID, Event{}, false, true, fmt.Errorf("decode event %s of task %s: %w", sk.Value, taskID, err)
	}
	mark, _ := image[AttrNotify].(*types.AttributeValueMemberBOOL)
	return taskID, ev, mark != nil && mark.Value, true, nil
}
