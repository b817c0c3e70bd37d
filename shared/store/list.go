package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
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
	// read, so a page of just the items wanted would mostly come back short. It is one
	// BatchGetItem's worth, for the filters applied to the items read back.
	filteredPageSize = 100
	// maxReadBackCount bounds the index entries a count reads when its filter needs the items
	// (state, verdict): each is an item read, where a count on the index alone reads task.MaxCount.
	maxReadBackCount = 1000
)

// List answers a page of the tenant's tasks, newest first, and the cursor of the next page ("" at
// the end). It reads the by_tenant index, then the tasks its entries name (BatchGetItem); both are
// eventually consistent: a task accepted a moment ago may be missing, and one that just changed
// may show its previous state.
//
// The creation-time bounds are a key condition, so they cost nothing outside the range. The
// filters on what never changes (agent, thread, family, user, caller, invoke mode) are applied by
// DynamoDB to the index entries, which carry those attributes; the filters on what changes (state,
// verdict) to the tasks read back, since the index does not copy them (a copy would make every
// transition an index write). A selective filter may need several pages; List reads at most
// maxListPages of them and then answers what it found with a cursor, even when that is fewer than
// Limit (or none). Only the tasks answered are read back, unless a filter needs the tasks.
//
// Payloads kept in the blob store are not loaded (see WithBlobs): such items come with ResultRef
// or RequestRef set and the answer or request body empty.
func (s *Store) List(ctx context.Context, q task.ListQuery) ([]*task.Task, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = task.DefaultListLimit
	}
	limit = min(limit, task.MaxListLimit)
	if q.Offset < 0 || q.Offset+limit > task.MaxListDepth {
		return nil, "", fmt.Errorf("list tasks: offset %d and limit %d pass %d: %w", q.Offset, limit, task.MaxListDepth, task.ErrTooDeep)
	}
	in, start, pos, err := s.listInput(q)
	if err != nil || in == nil {
		return []*task.Task{}, "", err
	}
	return s.listPages(ctx, in, listPlan{start: start, pos: pos, offset: q.Offset, limit: limit, now: q.Now, keep: itemFilter(q)})
}

// Count counts the tasks q matches after q.Cursor (all of them without one), reading at most
// task.MaxCount index entries; exact is false when it stopped there with entries left unread. It
// reads the same index as List, and the same filters apply. A filter on state or verdict needs
// the tasks: such a count reads at most maxReadBackCount entries and their tasks.
func (s *Store) Count(ctx context.Context, q task.ListQuery) (n int, exact bool, err error) {
	in, start, _, err := s.listInput(q)
	if err != nil || in == nil {
		return 0, err == nil, err
	}
	if !q.Now.IsZero() {
		// Expired records still in the index (TTL deletes within days) are not counted.
		in.ExpressionAttributeNames["#exp"] = "expires_at"
		in.ExpressionAttributeValues[":nowsec"] = table.N(q.Now.Unix())
		expired := "(attribute_not_exists(#exp) OR #exp > :nowsec)"
		if in.FilterExpression != nil {
			expired = *in.FilterExpression + " AND " + expired
		}
		in.FilterExpression = aws.String(expired)
	}
	if keep := itemFilter(q); keep != nil {
		return s.countReadBack(ctx, in, start, keep)
	}
	in.Select = types.SelectCount
	for read := 0; read < task.MaxCount; {
		in.Limit = aws.Int32(int32(task.MaxCount - read))
		in.ExclusiveStartKey = start
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, false, fmt.Errorf("count tasks: %w", err)
		}
		n += int(page.Count)
		read += int(page.ScannedCount)
		if len(page.LastEvaluatedKey) == 0 {
			return n, true, nil
		}
		if page.ScannedCount == 0 {
			read++ // a page that read nothing still counts against the budget: no endless loop
		}
		start = page.LastEvaluatedKey
	}
	return n, false, nil
}

// countReadBack counts the tasks that the entries in answers name and keep passes, reading at most
// maxReadBackCount entries after start.
func (s *Store) countReadBack(ctx context.Context, in *dynamodb.QueryInput, start map[string]types.AttributeValue, keep func(*task.Task) bool) (n int, exact bool, err error) {
	for read := 0; read < maxReadBackCount; {
		in.Limit = aws.Int32(int32(min(filteredPageSize, maxReadBackCount-read)))
		in.ExclusiveStartKey = start
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return 0, false, fmt.Errorf("count tasks: %w", err)
		}
		tasks, err := s.tasksOf(ctx, page.Items)
		if err != nil {
			return 0, false, fmt.Errorf("count tasks: %w", err)
		}
		for _, t := range tasks {
			if keep(t) {
				n++
			}
		}
		read += max(int(page.ScannedCount), 1) // a page that read nothing still counts: no endless loop
		if len(page.LastEvaluatedKey) == 0 {
			return n, true, nil
		}
		start = page.LastEvaluatedKey
	}
	return n, false, nil
}

// CursorPosition is how many matching tasks come before a cursor List answered: the position of
// the first task of the page it leads to. A cursor List did not make answers 0.
func (s *Store) CursorPosition(c string) int {
	var cur cursor
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(c, "="))
	if err != nil || json.Unmarshal(b, &cur) != nil || cur.N < 0 {
		return 0
	}
	return cur.N
}

// listInput builds the by_tenant query of q, and decodes its cursor into the key to start after
// and the cursor's position. A query for an empty time range has no input and no error.
func (s *Store) listInput(q task.ListQuery) (*dynamodb.QueryInput, map[string]types.AttributeValue, int, error) {
	ix := tenantIndex
	partition := table.TenantPartition("TENANT", q.Tenant)

	var lo, hi string // inclusive lower and exclusive upper bound of the sort key
	if !q.CreatedAfter.IsZero() {
		lo = table.Stamp(q.CreatedAfter.Add(time.Nanosecond))
	}
	if !q.CreatedBefore.IsZero() {
		hi = table.Stamp(q.CreatedBefore)
	}
	if lo != "" && hi != "" && lo >= hi {
		return nil, nil, 0, nil // an empty range; DynamoDB refuses a reversed BETWEEN
	}
	start, pos, err := decodeCursor(q.Cursor, partition)
	if err != nil {
		return nil, nil, 0, err
	}
	if start != nil {
		sk := start[ix.SortKey].(*types.AttributeValueMemberS).Value
		if (lo != "" && sk < lo) || (hi != "" && sk >= hi) {
			return nil, nil, 0, fmt.Errorf("list tasks: the cursor is outside the time range: %w", task.ErrInvalidCursor)
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
	return in, start, pos, nil
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

// listFilter is the filter on the index entries the query asks for ("" for none): agent, thread,
// parent, triggering agent, user and the receipts' caller and invoke mode, which the index copies,
// with its names and values added to in. State and verdict are itemFilter's.
func listFilter(in *dynamodb.QueryInput, q task.ListQuery) string {
	names, values := in.ExpressionAttributeNames, in.ExpressionAttributeValues
	var filters []string
	for _, f := range []struct{ name, attr, value string }{
		{"agent", "agent_id", q.AgentID},
		{"thread", "thread_id", q.ThreadID},
		{"parent", "parent_task_id", q.ParentTaskID},
		{"trigger", "triggering_agent_id", q.TriggeringAgentID},
		{"user", "user_id", q.UserID},
	} {
		if f.value != "" {
			names["#"+f.name], values[":"+f.name] = f.attr, table.S(f.value)
			filters = append(filters, "#"+f.name+" = :"+f.name)
		}
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
	return filters
}

// itemFilter is the filter on the tasks read back that q asks for, nil for none: the states and
// the receipt's verdict, which change after a task is accepted and so are not in the index.
func itemFilter(q task.ListQuery) func(*task.Task) bool {
	if len(q.States) == 0 && q.Verification == "" {
		return nil
	}
	states, verdict := slices.Clone(q.States), q.Verification
	return func(t *task.Task) bool {
		if len(states) > 0 && !slices.Contains(states, t.State) {
			return false
		}
		// A receipt no verifier has touched has the verdict not_required.
		return verdict == "" || t.Verification == verdict || (verdict == task.VerdictNotRequired && t.Verification == "")
	}
}

// listPlan is where a listing starts and what it answers: after start (the cursor's key, at
// position pos), passing over offset matching tasks, at most limit tasks, none expired at now, and
// only those keep passes (nil: all).
type listPlan struct {
	start       map[string]types.AttributeValue
	pos, offset int
	limit       int
	now         time.Time
	keep        func(*task.Task) bool
}

// tenantIndex is the index lists read.
var tenantIndex = table.Indexes[0]

// listPages reads pages of in until the plan's tasks are answered, the index ends, or the page
// budget is spent, and answers them with the cursor of what follows, which carries how many
// matching tasks come before it.
func (s *Store) listPages(ctx context.Context, in *dynamodb.QueryInput, p listPlan) ([]*task.Task, string, error) {
	l := &listing{s: s, p: p, out: []*task.Task{}}
	next := func(key map[string]types.AttributeValue) string { return encodeCursor(key, p.pos+l.passed+len(l.out)) }
	start := p.start
	for range maxListPages {
		// Unfiltered, one entry more than wanted tells whether a next page exists, so the last
		// page answers no cursor.
		in.Limit = aws.Int32(int32(p.offset - l.passed + p.limit - len(l.out) + 1))
		if in.FilterExpression != nil || p.keep != nil {
			in.Limit = aws.Int32(filteredPageSize)
		}
		in.ExclusiveStartKey = start
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("list tasks: %w", err)
		}
		more, err := l.take(ctx, page.Items)
		if err != nil {
			return nil, "", fmt.Errorf("list tasks: %w", err)
		}
		switch {
		case more: // more entries follow on this page: go on after the last one answered
			return l.out, next(keyOf(l.last, tenantIndex)), nil
		case len(page.LastEvaluatedKey) == 0:
			return l.out, "", nil
		case len(l.out) == p.limit:
			return l.out, next(keyOf(l.last, tenantIndex)), nil
		}
		start = page.LastEvaluatedKey
	}
	// The page budget is spent: go on from the last entry read, answered or not. Entries read
	// since the last match did not match, so the count of matches before it is unchanged.
	return l.out, next(start), nil
}

// listing is a List under way: the tasks answered and passed over so far, and the entry last
// answered or passed over.
type listing struct {
	s      *Store
	p      listPlan
	out    []*task.Task
	passed int
	last   map[string]types.AttributeValue
	read   map[string]*task.Task // the tasks read back, by table.KeyString; nil: deleted since
}

// take goes through a page of index entries in order, passing over and answering the tasks they
// name, and reports whether it stopped full with entries left on the page. Without a filter on
// the tasks, an entry is passed over without reading its task.
func (l *listing) take(ctx context.Context, entries []map[string]types.AttributeValue) (more bool, err error) {
	for i, e := range entries {
		if len(l.out) == l.p.limit {
			return true, nil
		}
		if entryExpired(e, l.p.now) {
			continue
		}
		if l.p.keep == nil && l.passed < l.p.offset {
			l.passed, l.last = l.passed+1, e
			continue
		}
		k := table.KeyString(e)
		if _, ok := l.read[k]; !ok {
			if err := l.readBack(ctx, entries[i:]); err != nil {
				return false, err
			}
		}
		t := l.read[k]
		switch {
		case t == nil || (l.p.keep != nil && !l.p.keep(t)):
		case l.passed < l.p.offset:
			l.passed, l.last = l.passed+1, e
		default:
			l.out, l.last = append(l.out, t), e
		}
	}
	return false, nil
}

// readBack reads the tasks of the live entries from the first of rest on: as many as the page
// still needs, or a batch's worth when a filter on the tasks decides which are answered.
func (l *listing) readBack(ctx context.Context, rest []map[string]types.AttributeValue) error {
	want := l.p.limit - len(l.out)
	if l.p.keep != nil {
		want = filteredPageSize
	}
	var entries []map[string]types.AttributeValue
	for _, e := range rest {
		if len(entries) == want {
			break
		}
		if !entryExpired(e, l.p.now) {
			entries = append(entries, e)
		}
	}
	tasks, err := l.s.tasksOf(ctx, entries)
	if err != nil {
		return err
	}
	if l.read == nil {
		l.read = map[string]*task.Task{}
	}
	for _, e := range entries {
		l.read[table.KeyString(e)] = nil
	}
	for _, t := range tasks {
		l.read[table.KeyString(taskKey(t.ID))] = t
	}
	return nil
}

// entryExpired reports whether an index entry's task expired at now (never when now is zero): the
// index copies expires_at, so an expired task is passed over without reading it.
func entryExpired(e map[string]types.AttributeValue, now time.Time) bool {
	n, ok := e[table.AttrExpiresAt].(*types.AttributeValueMemberN)
	if now.IsZero() || !ok {
		return false
	}
	sec, err := strconv.ParseInt(n.Value, 10, 64)
	return err == nil && !now.Before(time.Unix(sec, 0))
}

// cursor is the index key a listing goes on after: the table key and the index key of a task.
type cursor struct {
	PK     string `json:"pk"`
	SK     string `json:"sk"`
	GSI1PK string `json:"gsi1pk"`
	GSI1SK string `json:"gsi1sk"`
	// N is how many matching tasks come before the key: the position of the next page.
	N int `json:"n,omitempty"`
}

func keyOf(av map[string]types.AttributeValue, ix table.Index) map[string]types.AttributeValue {
	key := make(map[string]types.AttributeValue, 4)
	for _, k := range []string{table.AttrPK, table.AttrSK, ix.PartitionKey, ix.SortKey} {
		key[k] = av[k]
	}
	return key
}

// encodeCursor makes an opaque cursor of a by_tenant key and the count of matching tasks before
// it: base64url of its JSON.
func encodeCursor(key map[string]types.AttributeValue, n int) string {
	text := func(k string) string {
		if v, ok := key[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	ix := tenantIndex
	b, _ := json.Marshal(cursor{PK: text(table.AttrPK), SK: text(table.AttrSK), GSI1PK: text(ix.PartitionKey), GSI1SK: text(ix.SortKey), N: n})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor back into a key and its position, or nil for no cursor. A cursor
// must name a task key in the caller's own partition: one made for another tenant is refused,
// never followed.
func decodeCursor(s, partition string) (map[string]types.AttributeValue, int, error) {
	if s == "" {
		return nil, 0, nil
	}
	if len(s) > task.MaxCursorBytes {
		return nil, 0, fmt.Errorf("list tasks: cursor too long: %w", task.ErrInvalidCursor)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, 0, fmt.Errorf("list tasks: cursor is not base64url: %w", task.ErrInvalidCursor)
	}
	var c cursor
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return nil, 0, fmt.Errorf("list tasks: cursor is not a key: %w", task.ErrInvalidCursor)
	}
	id, isTask := strings.CutPrefix(c.PK, "TASK#")
	switch {
	case c.GSI1PK != partition:
		return nil, 0, fmt.Errorf("list tasks: cursor of another partition: %w", task.ErrInvalidCursor)
	case !isTask || id == "" || c.SK != "TASK" || !strings.HasSuffix(c.GSI1SK, "#"+id):
		return nil, 0, fmt.Errorf("list tasks: cursor is not a task key: %w", task.ErrInvalidCursor)
	}
	if c.N < 0 {
		return nil, 0, fmt.Errorf("list tasks: cursor position is negative: %w", task.ErrInvalidCursor)
	}
	ix := tenantIndex
	return map[string]types.AttributeValue{
		table.AttrPK: table.S(c.PK), table.AttrSK: table.S(c.SK), ix.PartitionKey: table.S(c.GSI1PK), ix.SortKey: table.S(c.GSI1SK),
	}, c.N, nil
}
