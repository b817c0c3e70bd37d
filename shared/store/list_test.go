package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// indexDB plays the by_tenant index of one partition and the table under it: items newest
// first, pages cut by Limit and ExclusiveStartKey as DynamoDB cuts them, each entry only the
// index's keys and the attributes it copies; BatchGetItem answers the items. It does not parse
// expressions; keep stands in for the filter expression (it sees the entry as a task, so only the
// copied attributes), and the queries sent and the keys read back are kept for the test to check.
type indexDB struct {
	DynamoDB
	items   []map[string]types.AttributeValue
	keep    func(t *task.Task) bool
	queries []dynamodb.QueryInput
	gets    [][]string      // the task ids each BatchGetItem asked for
	deleted map[string]bool // the items BatchGetItem finds gone (by pk) though the index lists them
	err     error
}

// entry is what the by_tenant index holds of an item.
func entry(av map[string]types.AttributeValue) map[string]types.AttributeValue {
	ix := table.Indexes[0]
	e := keyOf(av, ix)
	for _, a := range ix.NonKeyAttributes {
		if v, ok := av[a]; ok {
			e[a] = v
		}
	}
	return e
}

func (f *indexDB) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}}
	var asked []string
	for name, ka := range in.RequestItems {
		for _, k := range ka.Keys {
			pk := k[table.AttrPK].(*types.AttributeValueMemberS).Value
			asked = append(asked, strings.TrimPrefix(pk, "TASK#"))
			for _, av := range f.items {
				if av[table.AttrPK].(*types.AttributeValueMemberS).Value == pk && !f.deleted[pk] {
					out.Responses[name] = append(out.Responses[name], av)
				}
			}
		}
	}
	f.gets = append(f.gets, asked)
	return out, nil
}

func (f *indexDB) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.queries = append(f.queries, *in)
	if f.err != nil {
		return nil, f.err
	}
	i := 0
	if in.ExclusiveStartKey != nil {
		after := in.ExclusiveStartKey["gsi1sk"].(*types.AttributeValueMemberS).Value
		for i < len(f.items) && f.items[i]["gsi1sk"].(*types.AttributeValueMemberS).Value >= after {
			i++
		}
	}
	out := &dynamodb.QueryOutput{}
	n := int(aws.ToInt32(in.Limit))
	read := 0
	for ; i < len(f.items) && read < n; i++ {
		read++
		e := entry(f.items[i])
		t, _ := fromAttributes(e)
		if f.keep == nil || f.keep(t) {
			out.Items = append(out.Items, e)
		}
	}
	if read == n && n > 0 {
		// DynamoDB answers a key whenever it stopped at Limit, even at the very end.
		out.LastEvaluatedKey = keyOf(f.items[i-1], table.Indexes[0])
	}
	out.Count, out.ScannedCount = int32(len(out.Items)), int32(read)
	if in.Select == types.SelectCount {
		out.Items = nil
	}
	return out, nil
}

var listBase = time.Date(2026, 2, 7, 2, 13, 26, 0, time.UTC)

// newIndex holds n tasks of org-1, created one 100 ms apart; task i is t<i>, and the newest comes first.
func newIndex(t *testing.T, n int, state func(i int) task.State) *indexDB {
	t.Helper()
	db := &indexDB{}
	for i := n - 1; i >= 0; i-- {
		tk := &task.Task{ID: fmt.Sprintf("t%02d", i), Tenant: "org-1", AgentID: "echo", State: task.Succeeded, Version: 1,
			CreatedAt: listBase.Add(time.Duration(i) * 100 * time.Millisecond)}
		if state != nil {
			tk.State = state(i)
		}
		av, err := attributevalue.MarshalMap(toItem(tk))
		if err != nil {
			t.Fatal(err)
		}
		db.items = append(db.items, av)
	}
	return db
}

// failedEvery makes every n-th task failed and the others succeeded.
func failedEvery(n int) func(i int) task.State {
	return func(i int) task.State {
		if i%n == 0 {
			return task.Failed
		}
		return task.Succeeded
	}
}

func ids(ts []*task.Task) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.ID
	}
	return out
}

func TestListQueryShape(t *testing.T) {
	db := newIndex(t, 3, nil)
	_, _, err := New(db, "tasks").List(context.Background(), task.ListQuery{
		Tenant: "org-1", States: []task.State{task.Failed, task.Rejected}, AgentID: "echo", ThreadID: "th",
		CreatedAfter: listBase, CreatedBefore: listBase.Add(time.Hour), Limit: 5,
	})
	if err != nil {
		t.Fatal(err)
	}
	in := db.queries[0]
	if aws.ToString(in.TableName) != "tasks" || aws.ToString(in.IndexName) != "by_tenant" || aws.ToBool(in.ScanIndexForward) {
		t.Errorf("query on %s/%s forward=%v, want tasks/by_tenant newest first", aws.ToString(in.TableName), aws.ToString(in.IndexName), aws.ToBool(in.ScanIndexForward))
	}
	if got := aws.ToString(in.KeyConditionExpression); got != "#pk = :pk AND #sk BETWEEN :lo AND :hi" {
		t.Errorf("key condition = %q", got)
	}
	// The state is not in the index: it is filtered in the tasks read back.
	if got := aws.ToString(in.FilterExpression); got != "#agent = :agent AND #thread = :thread" {
		t.Errorf("filter = %q", got)
	}
	want := map[string]string{
		":pk": "TENANT#org-1", ":lo": "2026-02-07T02:13:26.000000001Z", ":hi": "2026-02-07T03:13:26.000000000Z",
		":agent": "echo", ":thread": "th",
	}
	for k, v := range want {
		if s, _ := in.ExpressionAttributeValues[k].(*types.AttributeValueMemberS); s == nil || s.Value != v {
			t.Errorf("%s = %#v, want %q", k, in.ExpressionAttributeValues[k], v)
		}
	}
	if in.ExpressionAttributeNames["#pk"] != "gsi1pk" || in.ExpressionAttributeNames["#sk"] != "gsi1sk" {
		t.Errorf("names = %v", in.ExpressionAttributeNames)
	}

	for _, tt := range []struct {
		name string
		q    task.ListQuery
		cond string
	}{
		{"no range", task.ListQuery{Tenant: "org-1"}, "#pk = :pk"},
		{"after", task.ListQuery{Tenant: "org-1", CreatedAfter: listBase}, "#pk = :pk AND #sk >= :lo"},
		{"before", task.ListQuery{Tenant: "org-1", CreatedBefore: listBase}, "#pk = :pk AND #sk < :hi"},
	} {
		db := newIndex(t, 1, nil)
		if _, _, err := New(db, "tasks").List(context.Background(), tt.q); err != nil {
			t.Fatal(err)
		}
		in := db.queries[0]
		if got := aws.ToString(in.KeyConditionExpression); got != tt.cond {
			t.Errorf("%s: key condition = %q, want %q", tt.name, got, tt.cond)
		}
		if in.FilterExpression != nil {
			t.Errorf("%s: filter %q with no filter asked", tt.name, aws.ToString(in.FilterExpression))
		}
		if got := aws.ToInt32(in.Limit); got != task.DefaultListLimit+1 {
			t.Errorf("%s: Limit = %d, want the default page and one more", tt.name, got)
		}
	}
}

// The sort key bounds must select exactly the tasks created strictly inside the range.
func TestListTimeBoundsAreExclusive(t *testing.T) {
	at := listBase.Add(500 * time.Millisecond)
	key := table.Stamp(at) + "#t05"
	after := table.Stamp(at.Add(time.Nanosecond))
	if !(key < after) {
		t.Errorf("a task created at created_after (%s) is not below the lower bound %s", key, after)
	}
	if !(table.Stamp(at.Add(-time.Nanosecond))+"#t04" < table.Stamp(at)) || key < table.Stamp(at) {
		t.Errorf("created_before %s does not split keys at the instant", table.Stamp(at))
	}

	db := newIndex(t, 1, nil)
	items, next, err := New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1", CreatedAfter: at, CreatedBefore: at})
	if err != nil || len(items) != 0 || next != "" || len(db.queries) != 0 {
		t.Errorf("empty range = %v, %q, %v after %d queries; want nothing, without asking DynamoDB", items, next, err, len(db.queries))
	}
}

func TestListPaginates(t *testing.T) {
	db := newIndex(t, 7, nil)
	s := New(db, "tasks")
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		items, next, err := s.List(context.Background(), task.ListQuery{Tenant: "org-1", Limit: 3, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(items)...)
		if next == "" {
			if len(items) != 1 {
				t.Errorf("last page has %d items, want 1", len(items))
			}
			break
		}
		if len(items) != 3 || page > 3 {
			t.Fatalf("page %d has %d items and a cursor", page, len(items))
		}
		cursor = next
	}
	if want := []string{"t06", "t05", "t04", "t03", "t02", "t01", "t00"}; !slices.Equal(got, want) {
		t.Errorf("pages = %v, want %v", got, want)
	}
}

func TestListExactLastPageHasNoCursor(t *testing.T) {
	db := newIndex(t, 4, nil)
	items, next, err := New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1", Limit: 4})
	if err != nil || len(items) != 4 || next != "" {
		t.Errorf("List = %v, %q, %v; want all 4 and no cursor", ids(items), next, err)
	}
}

func TestListFilteredAcrossPages(t *testing.T) {
	// 350 tasks; every 100th is failed. A filtered page reads 100 index entries, and their tasks:
	// the state is not in the index.
	db := newIndex(t, 350, failedEvery(100))
	s := New(db, "tasks")
	var got []string
	cursor := ""
	for range 5 {
		items, next, err := s.List(context.Background(), task.ListQuery{Tenant: "org-1", States: []task.State{task.Failed}, Limit: 2, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ids(items)...)
		if cursor = next; cursor == "" {
			break
		}
	}
	if want := []string{"t300", "t200", "t100", "t00"}; !slices.Equal(got, want) || cursor != "" {
		t.Errorf("failed tasks = %v (cursor %q), want %v and the end", got, cursor, want)
	}
	for _, q := range db.queries {
		if aws.ToInt32(q.Limit) != filteredPageSize {
			t.Errorf("filtered page Limit = %d, want %d", aws.ToInt32(q.Limit), filteredPageSize)
		}
	}
}

// A filter that matches nothing must not read the whole partition in one call.
func TestListPageBudget(t *testing.T) {
	db := newIndex(t, (maxListPages+2)*filteredPageSize, nil)
	items, next, err := New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1", States: []task.State{task.Failed}})
	if err != nil {
		t.Fatal(err)
	}
	if len(db.queries) != maxListPages {
		t.Errorf("read %d pages, want at most %d", len(db.queries), maxListPages)
	}
	if len(items) != 0 || next == "" {
		t.Fatalf("List = %d items, cursor %q; want none and a cursor to go on", len(items), next)
	}
	db.queries = nil
	_, next, err = New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1", States: []task.State{task.Failed}, Cursor: next})
	// The remaining 2 full pages, and the empty one DynamoDB needs to say there is no more.
	if err != nil || next != "" || len(db.queries) != 3 {
		t.Errorf("going on = cursor %q, %v after %d pages; want the remaining pages and the end", next, err, len(db.queries))
	}
}

func TestListSkipsExpired(t *testing.T) {
	db := newIndex(t, 3, nil)
	for _, av := range db.items {
		av["expires_at"] = table.N(listBase.Add(time.Hour).Unix())
	}
	db.items[1]["expires_at"] = table.N(listBase.Unix())
	items, _, err := New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1", Now: listBase.Add(time.Minute)})
	if err != nil || !slices.Equal(ids(items), []string{"t02", "t00"}) {
		t.Errorf("List = %v, %v; want the expired t01 left out", ids(items), err)
	}
}

func TestListCursorIsBoundToTheTenant(t *testing.T) {
	db := newIndex(t, 5, nil)
	s := New(db, "tasks")
	_, next, err := s.List(context.Background(), task.ListQuery{Tenant: "org-1", Limit: 2})
	if err != nil || next == "" {
		t.Fatalf("List = %q, %v", next, err)
	}
	if _, _, err := s.List(context.Background(), task.ListQuery{Tenant: "org-2", Cursor: next}); !errors.Is(err, task.ErrInvalidCursor) {
		t.Errorf("org-1's cursor used by org-2 = %v, want task.ErrInvalidCursor", err)
	}
	// A cursor forged for another tenant's partition, correctly encoded, is refused as well.
	forged := encodeCursor(map[string]types.AttributeValue{
		table.AttrPK: table.S("TASK#x"), table.AttrSK: table.S("TASK"), "gsi1pk": table.S("TENANT#org-2"), "gsi1sk": table.S(table.Stamp(listBase) + "#x"),
	}, 0)
	n := len(db.queries)
	if _, _, err := s.List(context.Background(), task.ListQuery{Tenant: "org-1", Cursor: forged}); !errors.Is(err, task.ErrInvalidCursor) {
		t.Errorf("forged cursor = %v, want task.ErrInvalidCursor", err)
	}
	if len(db.queries) != n {
		t.Errorf("a refused cursor reached DynamoDB")
	}
}

func TestListInvalidCursors(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	sk := table.Stamp(listBase) + "#t1"
	good := `{"pk":"TASK#t1","sk":"TASK","gsi1pk":"TENANT#org-1","gsi1sk":"` + sk + `"}`
	if _, _, err := New(newIndex(t, 1, nil), "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1", Cursor: b64(good)}); err != nil {
		t.Fatalf("a well-formed cursor = %v", err)
	}
	for name, c := range map[string]string{
		"not base64":       "!!!",
		"not json":         b64("nope"),
		"array":            b64(`["TASK#t1"]`),
		"unknown field":    b64(`{"pk":"TASK#t1","sk":"TASK","gsi1pk":"TENANT#org-1","gsi1sk":"` + sk + `","x":1}`),
		"number":           b64(`{"pk":1,"sk":"TASK","gsi1pk":"TENANT#org-1","gsi1sk":"` + sk + `"}`),
		"missing sort key": b64(`{"pk":"TASK#t1","sk":"TASK","gsi1pk":"TENANT#org-1"}`),
		"not a task":       b64(`{"pk":"THREAD#org-1#t1","sk":"THREAD","gsi1pk":"TENANT#org-1","gsi1sk":"` + sk + `"}`),
		"id mismatch":      b64(`{"pk":"TASK#t2","sk":"TASK","gsi1pk":"TENANT#org-1","gsi1sk":"` + sk + `"}`),
		"other tenant":     b64(`{"pk":"TASK#t1","sk":"TASK","gsi1pk":"TENANT#org-2","gsi1sk":"` + sk + `"}`),
		"tenant prefix":    b64(`{"pk":"TASK#t1","sk":"TASK","gsi1pk":"TENANT#org-10","gsi1sk":"` + sk + `"}`),
		"trailing data":    b64(good + `{}`),
		"too long":         strings.Repeat("A", task.MaxCursorBytes+1),
	} {
		t.Run(name, func(t *testing.T) {
			db := newIndex(t, 1, nil)
			_, _, err := New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1", Cursor: c})
			if !errors.Is(err, task.ErrInvalidCursor) {
				t.Errorf("List = %v, want task.ErrInvalidCursor", err)
			}
			if len(db.queries) != 0 {
				t.Errorf("an invalid cursor reached DynamoDB")
			}
		})
	}
	// A cursor outside the query's time range cannot have come from it.
	db := newIndex(t, 1, nil)
	_, _, err := New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1", Cursor: b64(good), CreatedBefore: listBase})
	if !errors.Is(err, task.ErrInvalidCursor) {
		t.Errorf("cursor after created_before = %v, want task.ErrInvalidCursor", err)
	}
}

func TestListErrors(t *testing.T) {
	db := newIndex(t, 1, nil)
	db.err = errors.New("throttled")
	if _, _, err := New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1"}); err == nil || errors.Is(err, task.ErrInvalidCursor) {
		t.Errorf("List on a failing index = %v", err)
	}
	db = newIndex(t, 1, nil)
	db.items[0]["state"] = table.S("bogus")
	if _, _, err := New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1"}); err == nil {
		t.Error("List of an undecodable item succeeded")
	}
}

func TestListLimitBounds(t *testing.T) {
	db := newIndex(t, 150, nil)
	items, next, err := New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1", Limit: 1000})
	if err != nil || len(items) != task.MaxListLimit || next == "" {
		t.Errorf("Limit 1000 = %d items, cursor %q, %v; want %d and a cursor", len(items), next, err, task.MaxListLimit)
	}
}

// FuzzDecodeCursor: a cursor is outside input. Any string either is refused as task.ErrInvalidCursor or
// decodes to a task key in the caller's own partition, which encodes back to the same key.
func FuzzDecodeCursor(f *testing.F) {
	key := map[string]types.AttributeValue{
		table.AttrPK: table.S("TASK#t1"), table.AttrSK: table.S("TASK"), "gsi1pk": table.S("TENANT#org-1"), "gsi1sk": table.S(table.Stamp(listBase) + "#t1"),
	}
	f.Add(encodeCursor(key, 0))
	f.Add(encodeCursor(key, 40))
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"pk":"TASK#t1","sk":"TASK","gsi1pk":"TENANT#org-1","gsi1sk":"x#t1","n":-3}`)))
	f.Add("")
	f.Add("e30")
	f.Add(base64.RawURLEncoding.EncodeToString([]byte(`{"pk":"TASK#t1","sk":"TASK","gsi1pk":"TENANT#org-2","gsi1sk":"x#t1"}`)))
	f.Add(base64.URLEncoding.EncodeToString([]byte(`{"pk":"TASK#a","sk":"TASK","gsi1pk":"TENANT#org-1","gsi1sk":"#a"}`)))
	f.Fuzz(func(t *testing.T, c string) {
		got, pos, err := decodeCursor(c, "TENANT#org-1")
		if err != nil {
			if !errors.Is(err, task.ErrInvalidCursor) {
				t.Fatalf("decodeCursor(%q) = %v, want task.ErrInvalidCursor", c, err)
			}
			return
		}
		if c == "" {
			if got != nil {
				t.Fatalf("empty cursor decoded to %v", got)
			}
			return
		}
		if v := got["gsi1pk"].(*types.AttributeValueMemberS).Value; v != "TENANT#org-1" {
			t.Fatalf("cursor %q leads into partition %q", c, v)
		}
		if pos < 0 || (&Store{}).CursorPosition(c) != pos {
			t.Fatalf("cursor %q has position %d (CursorPosition %d)", c, pos, (&Store{}).CursorPosition(c))
		}
		again, pos2, err := decodeCursor(encodeCursor(got, pos), "TENANT#org-1")
		if err != nil || keyText(again) != keyText(got) || pos2 != pos {
			t.Fatalf("round trip of %q = %v %d, %v", c, again, pos2, err)
		}
	})
}

func keyText(key map[string]types.AttributeValue) string {
	var parts []string
	for _, k := range []string{table.AttrPK, table.AttrSK, "gsi1pk", "gsi1sk"} {
		v, _ := key[k].(*types.AttributeValueMemberS)
		if v == nil {
			return "missing " + k
		}
		parts = append(parts, k+"="+v.Value)
	}
	return strings.Join(parts, " ")
}

func TestListOffset(t *testing.T) {
	db := newIndex(t, 10, nil)
	s := New(db, "tasks")
	items, next, err := s.List(context.Background(), task.ListQuery{Tenant: "org-1", Offset: 3, Limit: 2})
	if err != nil || !slices.Equal(ids(items), []string{"t06", "t05"}) {
		t.Fatalf("Offset 3 Limit 2 = %v, %v; want [t06 t05]", ids(items), err)
	}
	if (&Store{}).CursorPosition(next) != 5 {
		t.Errorf("cursor position = %d, want 5", (&Store{}).CursorPosition(next))
	}
	items, next, err = s.List(context.Background(), task.ListQuery{Tenant: "org-1", Limit: 2, Cursor: next})
	if err != nil || !slices.Equal(ids(items), []string{"t04", "t03"}) || (&Store{}).CursorPosition(next) != 7 {
		t.Errorf("after the cursor = %v (position %d), %v; want [t04 t03] at 7", ids(items), (&Store{}).CursorPosition(next), err)
	}
	// Without a filter on the tasks, only the tasks answered are read back: the ones passed over
	// are counted from the index.
	if got := db.gets; len(got) != 2 || !slices.Equal(got[0], []string{"t06", "t05"}) || !slices.Equal(got[1], []string{"t04", "t03"}) {
		t.Errorf("read back %v, want [[t06 t05] [t04 t03]]", got)
	}
	// Filtered, the tasks passed over are the matching ones only.
	db = newIndex(t, 10, failedEvery(2))
	items, _, err = New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1", States: []task.State{task.Failed}, Offset: 2, Limit: 2})
	if err != nil || !slices.Equal(ids(items), []string{"t04", "t02"}) {
		t.Errorf("filtered Offset 2 = %v, %v; want [t04 t02]", ids(items), err)
	}
}

// A task deleted between the index read and the read back is left out, and the page is still
// filled from the entries that follow.
func TestListSkipsTasksDeletedSince(t *testing.T) {
	db := newIndex(t, 5, nil)
	db.deleted = map[string]bool{"TASK#t03": true}
	items, next, err := New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1", Limit: 3})
	if err != nil || !slices.Equal(ids(items), []string{"t04", "t02", "t01"}) || next == "" {
		t.Errorf("List = %v, %q, %v; want [t04 t02 t01] and a cursor", ids(items), next, err)
	}
}

// The filters on what changes (state, a receipt's verdict) apply to the tasks read back; the
// filters on what never changes, to the index.
func TestItemFilter(t *testing.T) {
	for _, tt := range []struct {
		name string
		q    task.ListQuery
		t    task.Task
		want bool
	}{
		{"no filter", task.ListQuery{}, task.Task{}, true},
		{"state in", task.ListQuery{States: []task.State{task.Failed, task.Error}}, task.Task{State: task.Error}, true},
		{"state out", task.ListQuery{States: []task.State{task.Failed}}, task.Task{State: task.Succeeded}, false},
		{"verdict", task.ListQuery{Verification: "verified"}, task.Task{Verification: "verified"}, true},
		{"other verdict", task.ListQuery{Verification: "verified"}, task.Task{Verification: "rejected"}, false},
		{"untouched is not_required", task.ListQuery{Verification: task.VerdictNotRequired}, task.Task{}, true},
		{"untouched is not verified", task.ListQuery{Verification: "verified"}, task.Task{}, false},
		{"both", task.ListQuery{States: []task.State{task.Succeeded}, Verification: "verified"}, task.Task{State: task.Succeeded}, false},
	} {
		keep := itemFilter(tt.q)
		if got := keep == nil || keep(&tt.t); got != tt.want {
			t.Errorf("%s: keep = %v, want %v", tt.name, got, tt.want)
		}
	}
	if itemFilter(task.ListQuery{AgentID: "a", CallerAgentID: "c", InvokeMode: task.ModeSync}) != nil {
		t.Error("filters the index copies need no read back")
	}
}

func TestListTooDeep(t *testing.T) {
	db := newIndex(t, 1, nil)
	for _, q := range []task.ListQuery{{Tenant: "org-1", Offset: task.MaxListDepth - 19, Limit: 20}, {Tenant: "org-1", Offset: -1}} {
		if _, _, err := New(db, "tasks").List(context.Background(), q); !errors.Is(err, task.ErrTooDeep) {
			t.Errorf("List(offset %d, limit %d) = %v, want task.ErrTooDeep", q.Offset, q.Limit, err)
		}
	}
	if len(db.queries) != 0 {
		t.Errorf("a listing too deep read the index %d times", len(db.queries))
	}
	if _, _, err := New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1", Offset: task.MaxListDepth - 20, Limit: 20}); err != nil {
		t.Errorf("List at the depth bound = %v", err)
	}
}

func TestListSubTaskFilters(t *testing.T) {
	db := newIndex(t, 1, nil)
	_, _, err := New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1", ParentTaskID: "p-1", TriggeringAgentID: "planner", UserID: "u-1"})
	if err != nil {
		t.Fatal(err)
	}
	in := db.queries[0]
	if got := aws.ToString(in.FilterExpression); got != "#parent = :parent AND #trigger = :trigger AND #user = :user" {
		t.Errorf("filter = %q", got)
	}
	if in.ExpressionAttributeNames["#parent"] != "parent_task_id" || in.ExpressionAttributeNames["#trigger"] != "triggering_agent_id" || in.ExpressionAttributeNames["#user"] != "user_id" {
		t.Errorf("names = %v", in.ExpressionAttributeNames)
	}
}

func TestCount(t *testing.T) {
	db := newIndex(t, 10, failedEvery(2))
	s := New(db, "tasks")
	q := task.ListQuery{Tenant: "org-1", States: []task.State{task.Failed}}
	n, exact, err := s.Count(context.Background(), q)
	if err != nil || n != 5 || !exact {
		t.Errorf("Count = %d, %v, %v; want 5 exactly", n, exact, err)
	}
	// The state is not in the index: the count reads the tasks back.
	if in := db.queries[0]; in.Select == types.SelectCount || len(db.gets) == 0 {
		t.Errorf("Count by state: select %q after %d reads back; want the entries and their tasks", in.Select, len(db.gets))
	}
	// After a cursor, only what follows it counts.
	q.Limit = 2
	_, next, err := s.List(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	q.Cursor = next
	if n, exact, err = s.Count(context.Background(), q); err != nil || n != 3 || !exact {
		t.Errorf("Count after the first page = %d, %v, %v; want 3 exactly", n, exact, err)
	}
}

func TestCountBounded(t *testing.T) {
	db := newIndex(t, task.MaxCount+10, nil)
	n, exact, err := New(db, "tasks").Count(context.Background(), task.ListQuery{Tenant: "org-1"})
	if err != nil || n != task.MaxCount || exact {
		t.Errorf("Count of %d = %d, exact %v, %v; want %d, not exact", task.MaxCount+10, n, exact, err, task.MaxCount)
	}
}

// A selective filter may spend the read budget before the page begins: the page is empty, and
// its cursor says how many matching tasks came before it.
func TestListOffsetPastTheBudget(t *testing.T) {
	db := newIndex(t, 3000, failedEvery(100))
	items, next, err := New(db, "tasks").List(context.Background(), task.ListQuery{Tenant: "org-1", States: []task.State{task.Failed}, Offset: 25, Limit: 2})
	if err != nil || len(items) != 0 || next == "" {
		t.Fatalf("List = %v, %q, %v; want no items and a cursor", ids(items), next, err)
	}
	if got, want := (&Store{}).CursorPosition(next), maxListPages*filteredPageSize/100; got != want {
		t.Errorf("cursor position = %d, want %d (the matches read)", got, want)
	}
}
