package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// Bounds of one List call.
const (
	// maxListPages bounds the DynamoDB pages one List reads, so that a filter that matches little
	// costs a bounded read; the caller gets fewer items and a cursor to go on from.
	maxListPages = 10
	// filteredPageSize is how many index entries a filtered page reads. Filters run after the
	// read, so a page of just the items wanted would mostly come back short.
	filteredPageSize = 200
)

// List answers a page of the tenant's tasks, newest first, and the cursor of the next page ("" at
// the end). It reads the by_tenant index, which is eventually consistent: a task accepted a moment
// ago may be missing, and one that just changed may show its previous state.
//
// The creation-time bounds are a key condition, so they cost nothing outside the range; the other
// filters are applied by DynamoDB after reading, so a selective filter may need several pages.
// List reads at most maxListPages of them and then answers what it found with a cursor, even when
// that is fewer than Limit (or none).
//
// Payloads kept in the blob store are not loaded (see WithBlobs): such items come with ResultRef
// or RequestRef set and the answer or request body empty.
func (s *Store) List(ctx context.Context, q task.ListQuery) ([]*task.Task, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = task.DefaultListLimit
	}
	limit = min(limit, task.MaxListLimit)
	ix := table.Indexes[0]
	partition := "TENANT#" + q.Tenant

	var lo, hi string // inclusive lower and exclusive upper bound of the sort key
	if !q.CreatedAfter.IsZero() {
		lo = table.Stamp(q.CreatedAfter.Add(time.Nanosecond))
	}
	if !q.CreatedBefore.IsZero() {
		hi = table.Stamp(q.CreatedBefore)
	}
	if lo != "" && hi != "" && lo >= hi {
		return []*task.Task{}, "", nil // an empty range; DynamoDB refuses a reversed BETWEEN
	}
	start, err := decodeCursor(q.Cursor, partition)
	if err != nil {
		return nil, "", err
	}
	if start != nil {
		sk := start[ix.SortKey].(*types.AttributeValueMemberS).Value
		if (lo != "" && sk < lo) || (hi != "" && sk >= hi) {
			return nil, "", fmt.Errorf("list tasks: the cursor is outside the time range: %w", task.ErrInvalidCursor)
		}
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(ix.Name),
		ExpressionAttributeNames:  map[string]string{"#pk": ix.PartitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": table.S(partition)},
		ScanIndexForward:          aws.Bool(false),
	}
	in.KeyConditionExpression = aws.String(listKeyCondition(in, ix, lo, hi))
	if filter := listFilter(in, q); filter != "" {
		in.FilterExpression = aws.String(filter)
	}
	return s.listPages(ctx, in, start, limit, q.Now, ix)
}

// listKeyCondition bounds the index's sort key by lo and hi, adding the names and values to in. A
// sort key is "<stamp>#<id>", so it is at least lo exactly when the task was created at lo or
// later, and below hi exactly when it was created before hi.
func listKeyCondition(in *dynamodb.QueryInput, ix table.Index, lo, hi string) string {
	names, values := in.ExpressionAttributeNames, in.ExpressionAttributeValues
	keyCond := "#pk = :pk"
	switch {
	case lo != "" && hi != "":
		names["#sk"], values[":lo"], values[":hi"] = ix.SortKey, table.S(lo), table.S(hi)
		keyCond += " AND #sk BETWEEN :lo AND :hi" // no key equals hi: every key goes on with "#<id>"
	case lo != "":
		names["#sk"], values[":lo"] = ix.SortKey, table.S(lo)
		keyCond += " AND #sk >= :lo"
	case hi != "":
		names["#sk"], values[":hi"] = ix.SortKey, table.S(hi)
		keyCond += " AND #sk < :hi"
	}
	return keyCond
}

// listFilter is the filter on states, agent and thread the query asks for ("" for none), with
// its names and values added to in.
func listFilter(in *dynamodb.QueryInput, q task.ListQuery) string {
	names, values := in.ExpressionAttributeNames, in.ExpressionAttributeValues
	var filters []string
	if len(q.States) > 0 {
		names["#state"] = "state"
		var keys []string
		for i, st := range q.States {
			k := fmt.Sprintf(":state%d", i)
			values[k] = table.S(string(st))
			keys = append(keys, k)
		}
		filters = append(filters, "#state IN ("+strings.Join(keys, ", ")+")")
	}
	if q.AgentID != "" {
		names["#agent"], values[":agent"] = "agent_id", table.S(q.AgentID)
		filters = append(filters, "#agent = :agent")
	}
	if q.ThreadID != "" {
		names["#thread"], values[":thread"] = "thread_id", table.S(q.ThreadID)
		filters = append(filters, "#thread = :thread")
	}
	filters = append(filters, receiptFilters(q, names, values)...)
	return strings.Join(filters, " AND ")
}

// receiptFilters are the filter expressions of a query's receipt filters.
func receiptFilters(q task.ListQuery, names map[string]string, values map[string]types.AttributeValue) []string {
	var filters []string
	if q.CallerAgentID != "" {
		names["#caller"], values[":caller"] = "caller_agent_id", table.S(q.CallerAgentID)
		filters = append(filters, "#caller = :caller")
	}
	if q.CallerPublicID != "" {
		names["#callerpub"], values[":callerpub"] = "caller_public_id", table.S(q.CallerPublicID)
		filters = append(filters, "#callerpub = :callerpub")
	}
	switch q.InvokeMode {
	case task.ModeSync:
		names["#sync"], values[":sync"] = "sync", &types.AttributeValueMemberBOOL{Value: true}
		filters = append(filters, "#sync = :sync")
	case task.ModeAsync:
		names["#sync"], values[":sync"] = "sync", &types.AttributeValueMemberBOOL{Value: true}
		filters = append(filters, "(attribute_not_exists(#sync) OR #sync <> :sync)")
	}
	if q.Verification != "" {
		names["#verif"], values[":verif"] = "verification", table.S(q.Verification)
		cond := "#verif = :verif"
		if q.Verification == task.VerdictNotRequired { // the verdict of a receipt no verifier has touched
			cond = "(attribute_not_exists(#verif) OR " + cond + ")"
		}
		filters = append(filters, cond)
	}
	return filters
}

// listPages reads pages of in from start until limit tasks are answered, the index ends, or the
// page budget is spent, and answers them with the cursor of what follows.
func (s *Store) listPages(ctx context.Context, in *dynamodb.QueryInput, start map[string]types.AttributeValue,
	limit int, now time.Time, ix table.Index) ([]*task.Task, string, error) {
	out := []*task.Task{}
	var last map[string]types.AttributeValue // the item last answered
	for range maxListPages {
		// Unfiltered, one item more than wanted tells whether a next page exists, so the last
		// page answers no cursor.
		in.Limit = aws.Int32(int32(limit - len(out) + 1))
		if in.FilterExpression != nil {
			in.Limit = aws.Int32(filteredPageSize)
		}
		in.ExclusiveStartKey = start
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("list tasks: %w", err)
		}
		for _, av := range page.Items {
			if len(out) == limit {
				// More items follow on this page: go on after the last one answered.
				return out, encodeCursor(keyOf(last, ix)), nil
			}
			t, err := fromAttributes(av)
			if err != nil {
				return nil, "", fmt.Errorf("list tasks: %w", err)
			}
			if !now.IsZero() && t.Expired(now) {
				continue
			}
			out, last = append(out, t), av
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, "", nil
		}
		if len(out) == limit {
			return out, encodeCursor(keyOf(last, ix)), nil
		}
		start = page.LastEvaluatedKey
	}
	// The page budget is spent: go on from the last entry read, answered or not.
	return out, encodeCursor(start), nil
}

// cursor is the index key a listing goes on after: the table key and the index key of a task.
type cursor struct {
	PK     string `json:"pk"`
	SK     string `json:"sk"`
	GSI1PK string `json:"gsi1pk"`
	GSI1SK string `json:"gsi1sk"`
}

func keyOf(av map[string]types.AttributeValue, ix table.Index) map[string]types.AttributeValue {
	key := make(map[string]types.AttributeValue, 4)
	for _, k := range []string{table.AttrPK, table.AttrSK, ix.PartitionKey, ix.SortKey} {
		key[k] = av[k]
	}
	return key
}

// encodeCursor makes an opaque cursor of a by_tenant key: base64url of its JSON.
func encodeCursor(key map[string]types.AttributeValue) string {
	text := func(k string) string {
		if v, ok := key[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	ix := table.Indexes[0]
	b, _ := json.Marshal(cursor{PK: text(table.AttrPK), SK: text(table.AttrSK), GSI1PK: text(ix.PartitionKey), GSI1SK: text(ix.SortKey)})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor back into a key, or nil for no cursor. A cursor must name a task
// key in the caller's own partition: one made for another tenant is refused, never followed.
func decodeCursor(s, partition string) (map[string]types.AttributeValue, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > task.MaxCursorBytes {
		return nil, fmt.Errorf("list tasks: cursor too long: %w", task.ErrInvalidCursor)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("list tasks: cursor is not base64url: %w", task.ErrInvalidCursor)
	}
	var c cursor
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return nil, fmt.Errorf("list tasks: cursor is not a key: %w", task.ErrInvalidCursor)
	}
	id, isTask := strings.CutPrefix(c.PK, "TASK#")
	switch {
	case c.GSI1PK != partition:
		return nil, fmt.Errorf("list tasks: cursor of another partition: %w", task.ErrInvalidCursor)
	case !isTask || id == "" || c.SK != "TASK" || !strings.HasSuffix(c.GSI1SK, "#"+id):
		return nil, fmt.Errorf("list tasks: cursor is not a task key: %w", task.ErrInvalidCursor)
	}
	ix := table.Indexes[0]
	return map[string]types.AttributeValue{
		table.AttrPK: table.S(c.PK), table.AttrSK: table.S(c.SK), ix.PartitionKey: table.S(c.GSI1PK), ix.SortKey: table.S(c.GSI1SK),
	}, nil
}
