package store

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
)

// memBlobs is a blob store in memory that records the keys written and read.
type memBlobs struct {
	mu     sync.Mutex
	data   map[string][]byte
	puts   []string
	gets   []string
	putErr error
}

func newMemBlobs() *memBlobs { return &memBlobs{data: map[string][]byte{}} }

func (b *memBlobs) Put(_ context.Context, key string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.puts = append(b.puts, key)
	if b.putErr != nil {
		return b.putErr
	}
	b.data[key] = slices.Clone(data)
	return nil
}

func (b *memBlobs) Get(_ context.Context, key string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gets = append(b.gets, key)
	d, ok := b.data[key]
	if !ok {
		return nil, errors.New("get blob " + key + ": not found")
	}
	return slices.Clone(d), nil
}

func (b *memBlobs) put(t *testing.T, key string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	b.data[key] = data
}

// readDB answers reads from a fixed set of task items: GetItem and BatchGetItem by key, Query with
// all of them (it parses no expression).
type readDB struct {
	DynamoDB
	items []map[string]types.AttributeValue
}

func (f *readDB) find(key map[string]types.AttributeValue) map[string]types.AttributeValue {
	for _, it := range f.items {
		if it[table.AttrPK].(*types.AttributeValueMemberS).Value == key[table.AttrPK].(*types.AttributeValueMemberS).Value {
			return it
		}
	}
	return nil
}

func (f *readDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return &dynamodb.GetItemOutput{Item: f.find(in.Key)}, nil
}

func (f *readDB) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}}
	for table, ka := range in.RequestItems {
		for _, k := range ka.Keys {
			if it := f.find(k); it != nil {
				out.Responses[table] = append(out.Responses[table], it)
			}
		}
	}
	return out, nil
}

func (f *readDB) Query(_ context.Context, _ *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return &dynamodb.QueryOutput{Items: f.items}, nil
}

func taskItem(t *testing.T, tk *task.Task) map[string]types.AttributeValue {
	t.Helper()
	av, err := attributevalue.MarshalMap(toItem(tk))
	if err != nil {
		t.Fatal(err)
	}
	return av
}

// answer returns a result and a JSON output that take n bytes together.
func answer(n int) (string, json.RawMessage) {
	out := json.RawMessage(`{"output": "x"}`)
	return strings.Repeat("é", (n-len(out))/2) + strings.Repeat("a", (n-len(out))%2), out
}

func TestTransitionKeepsLargeAnswersInBlobs(t *testing.T) {
	uniqueKey := regexp.MustCompile(`^results/t1/[0-9a-f-]{36}\.json$`)
	tests := []struct {
		name    string
		size    int
		version int64
		noBlobs bool
		putErr  error
		wantKey *regexp.Regexp // nil: the answer stays in the item
		wantErr error
	}{
		{name: "small answer stays inline", size: 100, version: 2},
		{name: "at the limit stays inline", size: task.InlineLimit, version: 2},
		{name: "one byte over goes to a blob named by the new version", size: task.InlineLimit + 1, version: 2, wantKey: regexp.MustCompile(`^results/t1/3\.json$`)},
		{name: "a write that expects no version gets a unique name", size: 1 << 20, wantKey: uniqueKey},
		{name: "without blobs a large answer is refused", size: task.InlineLimit + 1, version: 2, noBlobs: true, wantErr: task.ErrTooLarge},
		{name: "a failed blob write writes nothing", size: task.InlineLimit + 1, version: 2, putErr: errors.New("SlowDown")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := &fakeDynamoDB{item: attrs(t, task.Succeeded, tt.version+1)}
			blobs := newMemBlobs()
			blobs.putErr = tt.putErr
			s := New(db, "tasks")
			if !tt.noBlobs {
				s = s.WithBlobs(blobs)
			}
			result, output := answer(tt.size)
			got, err := s.Transition(context.Background(), "t1", task.Change{
				From: []task.State{task.Running}, Version: tt.version, To: task.Succeeded, Now: created, Result: result, Output: output,
			})
			switch {
			case tt.wantErr != nil || tt.putErr != nil:
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || (tt.putErr != nil && errors.Is(err, task.ErrTooLarge)) {
					t.Fatalf("Transition = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), "t1") {
					t.Errorf("error %v does not name the task", err)
				}
				if len(db.updates) != 0 {
					t.Errorf("the item was written after a failure")
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			in := db.updates[0]
			expr := aws.ToString(in.UpdateExpression)
			set, removed, _ := strings.Cut(expr, " REMOVE ")
			values := in.ExpressionAttributeValues
			if tt.wantKey == nil {
				if len(blobs.puts) != 0 {
					t.Errorf("blobs written for an answer that fits: %v", blobs.puts)
				}
				if v, _ := values[":result"].(*types.AttributeValueMemberS); v == nil || v.Value != result {
					t.Errorf("result not written inline: %s", set)
				}
				if in.ExpressionAttributeNames["#result_ref"] != "result_ref" || !strings.Contains(removed, "#result_ref") {
					t.Errorf("an inline answer must drop any result_ref: %s", expr)
				}
				return
			}
			if len(blobs.puts) != 1 || !tt.wantKey.MatchString(blobs.puts[0]) {
				t.Fatalf("blobs written: %v, want one matching %s", blobs.puts, tt.wantKey)
			}
			key := blobs.puts[0]
			if v, _ := values[":result_ref"].(*types.AttributeValueMemberS); v == nil || v.Value != key {
				t.Errorf(":result_ref = %#v, want %s", values[":result_ref"], key)
			}
			if _, ok := values[":result"]; ok {
				t.Errorf("a large answer is written inline too: %s", set)
			}
			if _, ok := values[":output"]; ok {
				t.Errorf("a large output is written inline too: %s", set)
			}
			if !strings.Contains(removed, "#result") || !strings.Contains(removed, "#output") ||
				in.ExpressionAttributeNames["#result"] != "result" || in.ExpressionAttributeNames["#output"] != "output" {
				t.Errorf("inline result and output must be removed: %s %v", expr, in.ExpressionAttributeNames)
			}
			var b resultBlob
			if err := json.Unmarshal(blobs.data[key], &b); err != nil || b.Result != result || b.Output != string(output) {
				t.Errorf("blob = %.80q (%v); want the answer", blobs.data[key], err)
			}
			if got.Result != result || string(got.Output) != string(output) {
				t.Errorf("the task returned does not carry the answer")
			}
		})
	}
}

func TestTransitionRefusesIllegalMovesBeforeWritingBlobs(t *testing.T) {
	blobs := newMemBlobs()
	result, output := answer(task.InlineLimit + 1)
	_, err := New(&fakeDynamoDB{}, "tasks").WithBlobs(blobs).Transition(context.Background(), "t1",
		task.Change{From: []task.State{task.Succeeded}, To: task.Succeeded, Result: result, Output: output})
	if err == nil || len(blobs.puts) != 0 {
		t.Fatalf("Transition = %v, blobs written %v; want a refusal that writes nothing", err, blobs.puts)
	}
}

func TestStageRequest(t *testing.T) {
	big := strings.Repeat("b", task.InlineLimit)
	tests := []struct {
		name       string
		request    string
		text       string
		noBlobs    bool
		putErr     error
		staged     bool // request_ref set, the body out of the item
		textInBlob bool
		wantErr    error
	}{
		{name: "a request that fits stays in the item", request: `{"input":{"text":"hi"}}`, text: "hi"},
		{name: "a large body goes to a blob and its small text stays", request: `{"input":{"text":"hi"},"payload_extension":{"doc":"` + big + `"}}`, text: "hi", staged: true},
		{name: "a large text goes with it", request: `{"message":"` + big + `x"}`, text: big + "x", staged: true, textInBlob: true},
		// JSON escapes count: the message carries the body encoded, each '<' as \u003c.
		{name: "escapes count", request: `{"message":"` + strings.Repeat("<", task.InlineLimit/5) + `"}`, text: "hi", staged: true},
		{name: "without blobs a large request is refused", request: `{"message":"` + big + `"}`, text: big, noBlobs: true, wantErr: task.ErrTooLarge},
		{name: "a failed blob write writes nothing", request: `{"message":"` + big + `"}`, text: big, putErr: errors.New("SlowDown")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := &fakeDynamoDB{}
			blobs := newMemBlobs()
			blobs.putErr = tt.putErr
			s := New(db, "tasks")
			if !tt.noBlobs {
				s = s.WithBlobs(blobs)
			}
			tk := &task.Task{ID: "t1", Tenant: "org-1", State: task.Queued, Version: 1, CreatedAt: created,
				Request: json.RawMessage(tt.request), Text: tt.text}
			err := s.Create(context.Background(), tk)
			if tt.wantErr != nil || tt.putErr != nil {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || (tt.putErr != nil && errors.Is(err, task.ErrTooLarge)) {
					t.Fatalf("Create = %v, want %v", err, tt.wantErr)
				}
				if len(db.puts) != 0 {
					t.Errorf("the item was written after a failure")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			av := db.puts[0].Item
			if !tt.staged {
				if len(blobs.puts) != 0 || tk.RequestRef != "" {
					t.Errorf("a request that fits was staged: %v", blobs.puts)
				}
				if v, _ := av["request"].(*types.AttributeValueMemberS); v == nil || v.Value != tt.request {
					t.Errorf("request not in the item")
				}
				return
			}
			if len(blobs.puts) != 1 || blobs.puts[0] != "requests/t1.json" || tk.RequestRef != "requests/t1.json" {
				t.Fatalf("blobs written %v, RequestRef %q; want requests/t1.json", blobs.puts, tk.RequestRef)
			}
			if v, _ := av["request_ref"].(*types.AttributeValueMemberS); v == nil || v.Value != tk.RequestRef {
				t.Errorf("request_ref = %#v", av["request_ref"])
			}
			if _, ok := av["request"]; ok {
				t.Errorf("the item holds the staged body too")
			}
			if _, ok := av["text"]; ok == tt.textInBlob {
				t.Errorf("text in the item = %v, want %v", ok, !tt.textInBlob)
			}
			var b requestBlob
			if err := json.Unmarshal(blobs.data[tk.RequestRef], &b); err != nil || b.Request != tt.request || (b.Text != "") != tt.textInBlob {
				t.Errorf("blob = %.80q (%v)", blobs.data[tk.RequestRef], err)
			}
			// Staging again (a retried submission) writes nothing more.
			if err := s.StageRequest(context.Background(), tk); err != nil || len(blobs.puts) != 1 {
				t.Errorf("second StageRequest = %v, %d blob writes", err, len(blobs.puts))
			}
			// Read back, the task is whole.
			got, err := New(&readDB{items: []map[string]types.AttributeValue{av}}, "tasks").WithBlobs(blobs).Get(context.Background(), "t1")
			if err != nil || string(got.Request) != tt.request || got.Text != tt.text {
				t.Errorf("Get = %.60q, %.60q, %v; want the request and text as submitted", got.Request, got.Text, err)
			}
		})
	}
}

func TestInlineRequest(t *testing.T) {
	small := &task.Task{Request: json.RawMessage(`{"message":"hi"}`), Text: "hi"}
	if r, text := task.InlineRequest(small); string(r) != `{"message":"hi"}` || text != "hi" || !task.RequestFits(small) {
		t.Errorf("unstaged: %s %q", r, text)
	}
	staged := &task.Task{Request: small.Request, Text: "hi", RequestRef: "requests/t1.json"}
	if r, text := task.InlineRequest(staged); r != nil || text != "hi" {
		t.Errorf("staged with a small text: %s %q; want no body and the text", r, text)
	}
	staged.Text = strings.Repeat("x", task.InlineLimit)
	if r, text := task.InlineRequest(staged); r != nil || text != "" {
		t.Errorf("staged with a large text: %s %.10q; want neither", r, text)
	}
}

// offloaded returns task items whose payloads are in blobs: t1 with a large answer and request,
// t2 with a large request whose text the item keeps, t3 with a large request and text.
func offloaded(t *testing.T, blobs *memBlobs) []map[string]types.AttributeValue {
	t.Helper()
	blobs.put(t, "results/t1/4.json", resultBlob{Result: "big answer", Output: `{"output": "big answer"}`})
	blobs.put(t, "requests/t1.json", requestBlob{Request: `{"message": "one"}`})
	blobs.put(t, "requests/t2.json", requestBlob{Request: `{"message": "two"}`})
	blobs.put(t, "requests/t3.json", requestBlob{Request: `{"message": "three"}`, Text: "three"})
	base := task.Task{Tenant: "org-1", AgentID: "echo", State: task.Succeeded, Version: 4, ThreadID: "th", CreatedAt: created}
	t1, t2, t3 := base, base, base
	t1.ID, t1.ThreadSeq, t1.Text, t1.RequestRef, t1.ResultRef = "t1", 1, "one", "requests/t1.json", "results/t1/4.json"
	t2.ID, t2.ThreadSeq, t2.Text, t2.RequestRef = "t2", 2, "two", "requests/t2.json"
	t3.ID, t3.ThreadSeq, t3.RequestRef = "t3", 3, "requests/t3.json"
	return []map[string]types.AttributeValue{taskItem(t, &t1), taskItem(t, &t2), taskItem(t, &t3)}
}

func TestReadsLoadBlobs(t *testing.T) {
	ctx := context.Background()
	blobs := newMemBlobs()
	s := New(&readDB{items: offloaded(t, blobs)}, "tasks").WithBlobs(blobs)

	whole := func(what string, got *task.Task, err error) {
		t.Helper()
		if err != nil || got.Result != "big answer" || string(got.Output) != `{"output": "big answer"}` ||
			string(got.Request) != `{"message": "one"}` || got.Text != "one" || got.ResultRef == "" || got.RequestRef == "" {
			t.Errorf("%s = %+v, %v; want the task whole, its refs kept", what, got, err)
		}
	}
	got, err := s.Get(ctx, "t1")
	whole("Get", got, err)
	got, err = s.Resolve(ctx, "org-1", "t1")
	whole("Resolve", got, err)

	blobs.gets = nil
	turns, err := s.Turns(ctx, "org-1", "th", 10)
	if err != nil || len(turns) != 3 {
		t.Fatalf("Turns = %v, %v", turns, err)
	}
	if turns[0].Result != "big answer" || turns[1].Text != "two" || turns[2].Text != "three" {
		t.Errorf("Turns did not load answers and texts: %+v", turns)
	}
	slices.Sort(blobs.gets)
	// t2's text is in its item: its request body is not read.
	if want := []string{"requests/t3.json", "results/t1/4.json"}; !slices.Equal(blobs.gets, want) {
		t.Errorf("Turns read %v, want %v", blobs.gets, want)
	}
}

func TestListLeavesBlobsUnloaded(t *testing.T) {
	blobs := newMemBlobs()
	db := &indexDB{items: offloaded(t, blobs)}
	items, _, err := New(db, "tasks").WithBlobs(blobs).List(context.Background(), task.ListQuery{Tenant: "org-1"})
	if err != nil || len(items) != 3 {
		t.Fatalf("List = %v, %v", items, err)
	}
	if len(blobs.gets) != 0 {
		t.Errorf("List read blobs %v", blobs.gets)
	}
	if items[0].ResultRef == "" || items[0].Result != "" || items[0].RequestRef == "" || items[0].Request != nil {
		t.Errorf("list item = %+v; want its refs and no payloads", items[0])
	}
}

func TestReadFailsWhenABlobCannotBeLoaded(t *testing.T) {
	ctx := context.Background()
	blobs := newMemBlobs()
	items := offloaded(t, blobs)
	delete(blobs.data, "results/t1/4.json")
	if _, err := New(&readDB{items: items}, "tasks").WithBlobs(blobs).Get(ctx, "t1"); err == nil || !strings.Contains(err.Error(), "results/t1/4.json") {
		t.Errorf("Get with its answer's blob gone = %v, want an error naming it", err)
	}
	if _, err := New(&readDB{items: items}, "tasks").Get(ctx, "t1"); err == nil || errors.Is(err, task.ErrNotFound) {
		t.Errorf("Get of an offloaded task without blobs = %v, want an error", err)
	}
	if _, err := New(&readDB{items: items}, "tasks").Turns(ctx, "org-1", "th", 10); err == nil {
		t.Errorf("Turns of offloaded tasks without blobs succeeded")
	}
}
