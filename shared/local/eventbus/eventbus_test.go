package eventbus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/agentq/agentq/shared/local/eventbus"
	"github.com/agentq/agentq/shared/trigger"
)

// syncBuffer is a bytes.Buffer safe for concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, o eventbus.Options) *eventbus.Bus {
	t.Helper()
	b, err := eventbus.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// client is the real SDK client, pointed at the bus.
func client(b *eventbus.Bus) *eventbridge.Client {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""), RetryMaxAttempts: 1}
	return eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) { o.BaseEndpoint = aws.String(b.URL) })
}

func entry(source, detailType, detail string) types.PutEventsRequestEntry {
	return types.PutEventsRequestEntry{Source: aws.String(source), DetailType: aws.String(detailType), Detail: aws.String(detail)}
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestPutEvents(t *testing.T) {
	var logs syncBuffer
	invoked := make(chan eventbus.Event, 4)
	b := start(t, eventbus.Options{Name: "agentq", Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		OnInvoke: func(_ context.Context, ev eventbus.Event) error { invoked <- ev; return nil }})
	at := time.Date(2026, 2, 7, 2, 13, 26, 0, time.UTC)
	completed := entry("agentq", "Task Completed", `{"task_id":"81250b20-e9d7-4b3b-9995-07dc72b4bb59","result":"TOP-SECRET-RESULT"}`)
	completed.EventBusName, completed.Resources, completed.Time = aws.String(b.ARN), []string{"arn:aws:agentq:task/1"}, &at
	invoke := entry("com.example.orders", trigger.DetailTypeInvoke, `{"agent_id":"echo","input":{"text":"hi"}}`)
	invoke.EventBusName = aws.String("agentq")

	out, err := client(b).PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{completed, invoke}})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 0 || len(out.Entries) != 2 || aws.ToString(out.Entries[0].EventId) == "" || aws.ToString(out.Entries[1].EventId) == "" {
		t.Fatalf("output %+v", out)
	}
	evs := b.Events()
	if len(evs) != 2 {
		t.Fatalf("events = %+v", evs)
	}
	e := evs[0]
	if e.ID != aws.ToString(out.Entries[0].EventId) || e.Source != "agentq" || e.DetailType != "Task Completed" || e.Bus != "agentq" ||
		!e.Time.Equal(at) || e.Account != eventbus.Account || e.Region != "us-east-1" || len(e.Resources) != 1 ||
		!json.Valid(e.Detail) || !strings.Contains(string(e.Detail), "TOP-SECRET-RESULT") {
		t.Errorf("event %+v", e)
	}
	if evs[1].Time.IsZero() {
		t.Errorf("an entry without Time got none: %+v", evs[1])
	}

	// The invocation went to the trigger, as a rule's target gets it.
	select {
	case ev := <-invoked:
		if ev.ID != evs[1].ID || ev.DetailType != trigger.DetailTypeInvoke || ev.Source != "com.example.orders" ||
			ev.Account != eventbus.Account || string(ev.Detail) != `{"agent_id":"echo","input":{"text":"hi"}}` {
			t.Errorf("invoked with %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the invocation never reached OnInvoke")
	}
	select {
	case ev := <-invoked:
		t.Errorf("a completion event reached the trigger: %+v", ev)
	case <-time.After(50 * time.Millisecond):
	}

	got, err := b.Wait(ctx(t), func(e eventbus.Event) bool { return e.DetailType == "Task Completed" })
	if err != nil || got.ID != e.ID {
		t.Errorf("Wait = %+v, %v", got, err)
	}
	l := logs.String()
	if !strings.Contains(l, `"msg":"event put"`) || !strings.Contains(l, `"task_id":"81250b20-e9d7-4b3b-9995-07dc72b4bb59"`) || strings.Contains(l, "TOP-SECRET-RESULT") {
		t.Errorf("logs: %s", l)
	}
}

func TestEntryErrors(t *testing.T) {
	b := start(t, eventbus.Options{Name: "agentq"})
	ok := entry("agentq", "Task Completed", `{}`)
	noSource := ok
	noSource.Source = nil
	noDetailType := ok
	noDetailType.DetailType = aws.String("")
	noDetail := ok
	noDetail.Detail = nil
	otherBus := ok
	otherBus.EventBusName = aws.String("arn:aws:events:us-east-1:000000000000:event-bus/other")
	badARN := ok
	badARN.EventBusName = aws.String("arn:aws:sqs:us-east-1:000000000000:agentq")
	tests := []struct {
		name string
		e    types.PutEventsRequestEntry
		code string
	}{
		{"no source", noSource, "InvalidArgument"},
		{"empty detail-type", noDetailType, "InvalidArgument"},
		{"no detail", noDetail, "InvalidArgument"},
		{"detail an array", entry("agentq", "x", `[1]`), "MalformedDetail"},
		{"detail not json", entry("agentq", "x", `{"a":`), "MalformedDetail"},
		{"detail null", entry("agentq", "x", `null`), "MalformedDetail"},
		{"aws source", entry("aws.scheduler", "x", `{}`), "NotAuthorizedForSourceException"},
		{"another bus", otherBus, "ResourceNotFoundException"},
		{"not a bus ARN", badARN, "InvalidArgument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := client(b).PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{ok, tt.e, ok}})
			if err != nil {
				t.Fatal(err)
			}
			if out.FailedEntryCount != 1 || aws.ToString(out.Entries[1].ErrorCode) != tt.code || aws.ToString(out.Entries[1].ErrorMessage) == "" ||
				out.Entries[1].EventId != nil || out.Entries[0].EventId == nil || out.Entries[2].EventId == nil {
				t.Errorf("output %+v %+v", out.FailedEntryCount, out.Entries)
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	b := start(t, eventbus.Options{})
	many := make([]types.PutEventsRequestEntry, eventbus.MaxEntries+1)
	for i := range many {
		many[i] = entry("agentq", "x", `{}`)
	}
	// The size counts Source, DetailType, Detail and Resources; 14 bytes for a Time.
	fill := func(n int) string { return `{"a":"` + strings.Repeat("x", n-len(`{"a":""}`)) + `"}` }
	at := time.Now()
	exact := entry("s", "d", fill(eventbus.MaxEntriesBytes-2-14-len("r")))
	exact.Time, exact.Resources = &at, []string{"r"}
	over := exact
	over.Resources = []string{"rr"}
	tests := []struct {
		name    string
		entries []types.PutEventsRequestEntry
		code    string
	}{
		{"no entries", []types.PutEventsRequestEntry{}, "ValidationException"},
		{"too many entries", many, "ValidationException"},
		{"one byte over", []types.PutEventsRequestEntry{over}, "ValidationException"},
		{"over in all", []types.PutEventsRequestEntry{entry("s", "d", fill(200<<10)), entry("s", "d", fill(60<<10))}, "ValidationException"},
		{"at the limit", []types.PutEventsRequestEntry{exact}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client(b).PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: tt.entries})
			var ae smithy.APIError
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.code != "" && (!errors.As(err, &ae) || ae.ErrorCode() != tt.code || ae.ErrorMessage() == ""):
				t.Fatalf("err = %v; want %s", err, tt.code)
			}
		})
	}

	// Only PutEvents is served; the protocol's error shape says so.
	req, _ := http.NewRequest(http.MethodPost, b.URL+"/", strings.NewReader(`{}`))
	req.Header.Set("X-Amz-Target", "AWSEvents.ListRules")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusBadRequest || body["__type"] != "UnknownOperationException" || resp.Header.Get("X-Amzn-Errortype") != "UnknownOperationException" {
		t.Errorf("%d %v", resp.StatusCode, body)
	}
}

func TestFailNext(t *testing.T) {
	b := start(t, eventbus.Options{})
	b.FailNext(2, "ThrottlingException")
	entries := []types.PutEventsRequestEntry{entry("agentq", "a", `{}`), entry("agentq", "b", `{}`), entry("agentq", "c", `{}`)}
	out, err := client(b).PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	if out.FailedEntryCount != 2 || aws.ToString(out.Entries[0].ErrorCode) != "ThrottlingException" || aws.ToString(out.Entries[1].ErrorCode) != "ThrottlingException" ||
		out.Entries[2].EventId == nil {
		t.Fatalf("output %+v", out.Entries)
	}
	if evs := b.Events(); len(evs) != 1 || evs[0].DetailType != "c" {
		t.Errorf("events = %+v", evs)
	}
	out, err = client(b).PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: entries})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("after the injected failures: %v %+v", err, out)
	}
}

func TestOnInvokeRetries(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	done := make(chan struct{})
	b := start(t, eventbus.Options{RetryDelay: time.Millisecond, OnInvoke: func(context.Context, eventbus.Event) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls < 3 {
			return errors.New("store unavailable")
		}
		close(done)
		return nil
	}})
	if _, err := client(b).PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry("x", trigger.DetailTypeInvoke, `{}`)}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("OnInvoke never succeeded")
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 3 {
		t.Errorf("calls = %d, want 3", calls)
	}
}

// TestCloseStopsRetries shows that Close does not wait out a target that keeps failing.
func TestCloseStopsRetries(t *testing.T) {
	b, err := eventbus.Start(context.Background(), eventbus.Options{Retries: 100, RetryDelay: time.Hour,
		OnInvoke: func(context.Context, eventbus.Event) error { return errors.New("down") }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client(b).PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry("x", trigger.DetailTypeInvoke, `{}`)}}); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error)
	go func() { closed <- b.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for a retrying delivery")
	}
}

func TestRingAndWait(t *testing.T) {
	b := start(t, eventbus.Options{Capacity: 3})
	for _, dt := range []string{"1", "2", "3", "4", "5"} {
		if _, err := client(b).PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry("x", dt, `{}`)}}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, e := range b.Events() {
		got = append(got, e.DetailType)
	}
	if strings.Join(got, ",") != "3,4,5" {
		t.Errorf("kept %v, want the latest 3", got)
	}

	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Wait(short, func(e eventbus.Event) bool { return e.DetailType == "6" }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait for what never comes: %v", err)
	}
	waited := make(chan eventbus.Event)
	go func() {
		e, _ := b.Wait(ctx(t), func(e eventbus.Event) bool { return e.DetailType == "6" })
		waited <- e
	}()
	time.Sleep(10 * time.Millisecond)
	if _, err := client(b).PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry("x", "6", `{}`)}}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-waited:
		if e.DetailType != "6" {
			t.Errorf("Wait = %+v", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait missed the event")
	}
}

func TestTriggerRoute(t *testing.T) {
	var (
		mu  sync.Mutex
		got []byte
	)
	b := start(t, eventbus.Options{Trigger: func(_ context.Context, raw json.RawMessage) (any, error) {
		mu.Lock()
		got = raw
		mu.Unlock()
		if strings.Contains(string(raw), "boom") {
			return nil, errors.New("store unavailable")
		}
		return trigger.Result{Outcome: trigger.Accepted, TaskID: "t-1"}, nil
	}})
	post := func(url, body string) (int, map[string]any) {
		resp, err := http.Post(url+eventbus.TriggerPath, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return resp.StatusCode, m
	}
	status, m := post(b.URL, `{"detail":{}}`)
	mu.Lock()
	handed := string(got)
	mu.Unlock()
	if status != http.StatusOK || m["task_id"] != "t-1" || handed != `{"detail":{}}` {
		t.Errorf("%d %v (handed %s)", status, m, handed)
	}
	if status, m := post(b.URL, `boom`); status != http.StatusInternalServerError || m["error"] != "store unavailable" {
		t.Errorf("%d %v", status, m)
	}
	bare := start(t, eventbus.Options{})
	if status, _ := post(bare.URL, `{}`); status != http.StatusNotImplemented {
		t.Errorf("no trigger: %d", status)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "nonsense"} {
		if b, err := eventbus.Start(context.Background(), eventbus.Options{Addr: addr}); err == nil {
			b.Close()
			t.Errorf("listened on %s", addr)
		}
	}
}

func TestContextEndStopsTheBus(t *testing.T) {
	c, cancel := context.WithCancel(context.Background())
	b, err := eventbus.Start(c, eventbus.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := client(b).PutEvents(ctx(t), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry("x", "y", `{}`)}})
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bus still serves after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
