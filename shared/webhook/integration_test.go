package webhook

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/local/esm"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/webhook/settings"
	"github.com/agentq/agentq/shared/webhook/signing"
)

// The integration tests share one DynamoDB Local and one fauxqs; each gets a table and queues of
// its own.
var (
	suite  emulators.Suite
	dynamo *dynamodb.Client
	sqsAPI *sqs.Client
)

func TestMain(m *testing.M) {
	os.Exit(suite.Main(m, func(emu *emulators.Emulators) {
		cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("l", "l", "")}
		dynamo = dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(emu.DynamoDBEndpoint) })
		sqsAPI = sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(emu.SQSEndpoint) })
	}))
}

// clock is a test's time: the real time plus an offset the test moves.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
func (c *clock) verify(secret string, r *http.Request, body []byte) error {
	return signing.Verify(secret, r.Header, body, c.Now(), 0)
}

// env is one test's system: a table, the webhook queue and its dead-letter queue, a service
// over them, and the mapping that feeds the queue to the service.
type env struct {
	t        *testing.T
	table    string
	clock    *clock
	sealer   authctx.Sealer
	tenants  *settings.Tenants
	svc      *Service
	queueURL string
	dlqURL   string
	mapping  *esm.Mapping
}

type envOption func(*Config)

// fastSchedule retries within milliseconds: n waits, n+1 attempts.
func fastSchedule(n int) envOption {
	return func(c *Config) {
		c.Schedule = make([]time.Duration, n)
		for i := range c.Schedule {
			c.Schedule[i] = 3 * time.Millisecond
		}
	}
}

func newEnv(t *testing.T, operatorSecret string, opts ...envOption) *env {
	t.Helper()
	suite.Require(t)
	ctx := context.Background()
	name := regexp.MustCompile(`[^A-Za-z0-9_-]`).ReplaceAllString(t.Name(), "-")
	name = name[:min(len(name), 60)] + "-" + strings.ReplaceAll(time.Now().Format("150405.000"), ".", "")
	e := &env{t: t, table: "webhook-" + name, clock: &clock{}}
	if err := table.CreateTable(ctx, dynamo, e.table); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, authctx.KeySize)
	_, _ = rand.Read(key)
	sealer, err := authctx.NewLocalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	e.sealer = sealer
	e.queueURL = createQueue(t, "wh-"+name)
	e.dlqURL = createQueue(t, "whdlq-"+name)
	e.tenants = settings.NewTenants(dynamo, e.table, sealer, operatorSecret).WithLoopback(true).WithClock(e.clock.Now)
	c := Config{
		DB: dynamo, Table: e.table, Tenants: e.tenants,
		Queue: NewSQSSender(sqsAPI, e.queueURL), DeadLetters: NewSQSSender(sqsAPI, e.dlqURL),
		AllowLoopback: true, Now: e.clock.Now,
	}
	fastSchedule(3)(&c)
	for _, o := range opts {
		o(&c)
	}
	e.svc = New(c)
	e.mapping = &esm.Mapping{API: sqsAPI, QueueURL: e.queueURL, QueueARN: "arn:aws:sqs:us-east-1:000000000000:wh-" + name, Handler: e.svc.Handle, Timeout: time.Minute}
	return e
}

func createQueue(t *testing.T, name string) string {
	t.Helper()
	out, err := sqsAPI.CreateQueue(context.Background(), &sqs.CreateQueueInput{
		QueueName:  aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": fmt.Sprint(int(VisibilityTimeout / time.Second))},
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.QueueUrl)
}

// drain feeds the queue to the deliverer until done says so, failing the test after a while.
func (e *env) drain(done func() bool) {
	e.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			e.t.Fatal("the deliveries did not settle")
		}
		if _, err := e.mapping.Once(ctx); err != nil {
			e.t.Fatal(err)
		}
	}
}

// drainQueue feeds the queue to the deliverer until it is empty.
func (e *env) drainQueue() {
	e.t.Helper()
	for range 50 {
		n, err := e.mapping.Once(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	e.t.Fatal("the queue did not empty")
}

// settled returns a done func for drain: every delivery of the task is over.
func (e *env) settled(tenant, taskID string, want int) func() bool {
	return func() bool {
		ds, err := e.svc.Deliveries(context.Background(), tenant, taskID)
		if err != nil || len(ds) < want {
			return false
		}
		for _, d := range ds {
			if d.State == Pending {
				return false
			}
		}
		return true
	}
}

func (e *env) deliveries(tenant, taskID string) []*Delivery {
	e.t.Helper()
	ds, err := e.svc.Deliveries(context.Background(), tenant, taskID)
	if err != nil {
		e.t.Fatal(err)
	}
	return ds
}

// receive takes the messages waiting in a queue.
func receive(t *testing.T, queueURL string) []string {
	t.Helper()
	var bodies []string
	for {
		out, err := sqsAPI.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(queueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 0,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return bodies
		}
		for _, m := range out.Messages {
			bodies = append(bodies, aws.ToString(m.Body))
			_, _ = sqsAPI.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(queueURL), ReceiptHandle: m.ReceiptHandle})
		}
	}
}

// receiver is a webhook endpoint that records what it receives and answers what answer says.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []received
	answer   func(n int, r *http.Request, body []byte) int
}

type received struct {
	header http.Header
	body   []byte
	status int
}

func newReceiver(t *testing.T, answer func(n int, r *http.Request, body []byte) int) *receiver {
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.requests) + 1
		rc.mu.Unlock()
		status := rc.answer(n, r, body)
		rc.mu.Lock()
		rc.requests = append(rc.requests, received{header: r.Header.Clone(), body: body, status: status})
		rc.mu.Unlock()
		if status >= 300 && status < 400 {
			w.Header().Set("Location", "https://elsewhere.example.com/")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.requests...)
}

func ok(int, *http.Request, []byte) int { return http.StatusNoContent }

func event(typ string) Event {
	return Event{Type: typ, Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Data: json.RawMessage(`{"task_id":"t","state":"succeeded"}`)}
}

// newTenantSecret gives the tenant a secret of its own, and returns it.
func (e *env) newTenantSecret(tenant string, urls ...string) string {
	e.t.Helper()
	_, secret, err := e.tenants.SetURLs(context.Background(), tenant, urls)
	if err != nil || secret == "" {
		e.t.Fatalf("SetURLs = %q, %v", secret, err)
	}
	return secret
}

// 1. A delivery arrives signed, verifies with the tenant's secret, and is logged with one attempt.
func TestDeliverSigned(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	secret := e.newTenantSecret("acme")
	var verifyErr atomic.Value
	rc := newReceiver(t, func(_ int, r *http.Request, body []byte) int {
		if err := e.clock.verify(secret, r, body); err != nil {
			verifyErr.Store(err.Error())
			return http.StatusUnauthorized
		}
		return http.StatusOK
	})
	expires := time.Now().Add(90 * 24 * time.Hour).Truncate(time.Second)
	n := Notification{TaskID: "task-1", Tenant: "acme", TaskVersion: 4, URL: rc.URL + "/hook?token=abc", Event: event(EventTaskCompleted), ExpiresAt: expires}
	if err := e.svc.Notify(ctx, n); err != nil {
		t.Fatal(err)
	}
	e.drain(e.settled("acme", "task-1", 1))
	if v := verifyErr.Load(); v != nil {
		t.Fatalf("the receiver could not verify the delivery: %v", v)
	}
	got := rc.got()
	if len(got) != 1 {
		t.Fatalf("the receiver got %d requests, want 1", len(got))
	}
	var ev Event
	if err := json.Unmarshal(got[0].body, &ev); err != nil || ev.Type != EventTaskCompleted || !ev.Timestamp.Equal(n.Event.Timestamp) || string(ev.Data) != string(n.Event.Data) {
		t.Errorf("body %s decodes to %+v, %v", got[0].body, ev, err)
	}
	h := got[0].header
	if h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != signing.UserAgent || !strings.HasPrefix(h.Get(signing.HeaderID), "msg_") {
		t.Errorf("headers %v", h)
	}
	ds := e.deliveries("acme", "task-1")
	if len(ds) != 1 {
		t.Fatalf("%d deliveries", len(ds))
	}
	d := ds[0]
	if d.State != Succeeded || len(d.Attempts) != 1 || d.Attempts[0].StatusCode != 200 || d.Attempts[0].Error != "" || d.Attempts[0].N != 1 ||
		d.NextAttemptAt != nil || d.MessageID != h.Get(signing.HeaderID) || d.EventType != EventTaskCompleted || d.URL != n.URL {
		t.Errorf("delivery = %+v", d)
	}
	if !strings.HasPrefix(d.ID, "dlv_") || len(d.ID) != 30 || len(d.MessageID) != 30 {
		t.Errorf("ids %s, %s", d.ID, d.MessageID)
	}
	// The stored item: under the task's partition, seen by no index, expiring with the task.
	raw := e.rawItem("TASK#task-1", deliveryPrefix+d.ID)
	for name := range raw {
		if strings.HasPrefix(name, "gsi") {
			t.Errorf("the delivery item has %s", name)
		}
	}
	if exp, ok := raw[table.AttrExpiresAt].(*types.AttributeValueMemberN); !ok || exp.Value != fmt.Sprint(expires.Unix()) {
		t.Errorf("expires_at = %#v, want %d", raw[table.AttrExpiresAt], expires.Unix())
	}
	// The JSON the API answers.
	b, _ := json.Marshal(d)
	for _, field := range []string{`"delivery_id"`, `"task_id":"task-1"`, `"message_id"`, `"event_type":"task.completed"`, `"state":"succeeded"`, `"attempts":[{"attempt":1`, `"status_code":200`, `"created_at"`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("JSON %s lacks %s", b, field)
		}
	}
	if strings.Contains(string(b), "tenant") || strings.Contains(string(b), "payload") {
		t.Errorf("JSON %s shows the tenant or payload", b)
	}
}

// Without a secret of its own, a tenant's deliveries are signed with the operator's.
func TestOperatorSecret(t *testing.T) {
	operator, _ := signing.NewSecret()
	e := newEnv(t, operator)
	var verified atomic.Int32
	rc := newReceiver(t, func(_ int, r *http.Request, body []byte) int {
		if e.clock.verify(operator, r, body) == nil {
			verified.Add(1)
		}
		return http.StatusOK
	})
	if can, err := e.tenants.CanSign(context.Background(), "acme"); !can || err != nil {
		t.Fatalf("CanSign = %v, %v", can, err)
	}
	if err := e.svc.Notify(context.Background(), Notification{TaskID: "t", Tenant: "acme", URL: rc.URL, Event: event(EventTaskFailed)}); err != nil {
		t.Fatal(err)
	}
	e.drain(e.settled("acme", "t", 1))
	if verified.Load() != 1 || len(rc.got()) != 1 {
		t.Fatalf("verified %d of %d", verified.Load(), len(rc.got()))
	}
}

// 2. A receiver that fails three times, then answers, gets one successful delivery; the log
// shows the four attempts.
func TestRetryUntilSuccess(t *testing.T) {
	e := newEnv(t, "", fastSchedule(7))
	secret := e.newTenantSecret("acme")
	rc := newReceiver(t, func(n int, r *http.Request, body []byte) int {
		if e.clock.verify(secret, r, body) != nil {
			return http.StatusUnauthorized
		}
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusAccepted
	})
	if err := e.svc.Notify(context.Background(), Notification{TaskID: "t2", Tenant: "acme", TaskVersion: 1, URL: rc.URL, Event: event(EventTaskCompleted)}); err != nil {
		t.Fatal(err)
	}
	e.drain(e.settled("acme", "t2", 1))
	e.drainQueue()
	got := rc.got()
	if len(got) != 4 || got[3].status != http.StatusAccepted {
		t.Fatalf("the receiver got %d requests", len(got))
	}
	for _, r := range got[1:] {
		if r.header.Get(signing.HeaderID) != got[0].header.Get(signing.HeaderID) {
			t.Errorf("webhook-id changed between attempts: %s, %s", got[0].header.Get(signing.HeaderID), r.header.Get(signing.HeaderID))
		}
	}
	d := e.deliveries("acme", "t2")[0]
	if d.State != Succeeded || len(d.Attempts) != 4 {
		t.Fatalf("delivery = %+v", d)
	}
	for i, a := range d.Attempts {
		wantStatus, wantErr := 500, "the receiver answered 500"
		if i == 3 {
			wantStatus, wantErr = 202, ""
		}
		if a.N != i+1 || a.StatusCode != wantStatus || a.Error != wantErr || a.At.IsZero() {
			t.Errorf("attempt %d = %+v", i+1, a)
		}
	}
}

// 3 and 4. A receiver that always fails: every attempt is logged, the delivery ends failed, the
// dead-letter queue hears of it. A replay, once the receiver is healthy, succeeds with the same
// webhook-id.
func TestDeadLetterAndReplay(t *testing.T) {
	e := newEnv(t, "", fastSchedule(3))
	ctx := context.Background()
	e.newTenantSecret("acme")
	var healthy atomic.Bool
	rc := newReceiver(t, func(int, *http.Request, []byte) int {
		if healthy.Load() {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	})
	url := rc.URL + "/in?token=s3cr3t"
	if err := e.svc.Notify(ctx, Notification{TaskID: "t3", Tenant: "acme", TaskVersion: 2, URL: url, Event: event(EventTaskFailed)}); err != nil {
		t.Fatal(err)
	}
	e.drain(e.settled("acme", "t3", 1))
	orig := e.deliveries("acme", "t3")[0]
	if orig.State != Failed || len(orig.Attempts) != 4 || orig.NextAttemptAt != nil {
		t.Fatalf("delivery = %+v", orig)
	}
	for _, a := range orig.Attempts {
		if a.StatusCode != 503 || a.Error != "the receiver answered 503" {
			t.Errorf("attempt %+v", a)
		}
	}
	if len(rc.got()) != 4 {
		t.Errorf("the receiver got %d requests, want 4", len(rc.got()))
	}
	letters := receive(t, e.dlqURL)
	if len(letters) != 1 {
		t.Fatalf("%d dead letters: %v", len(letters), letters)
	}
	var dl map[string]any
	if err := json.Unmarshal([]byte(letters[0]), &dl); err != nil {
		t.Fatal(err)
	}
	if dl["delivery_id"] != orig.ID || dl["task_id"] != "t3" || dl["tenant"] != "acme" || dl["url"] != rc.URL+"/in" ||
		dl["attempts"] != float64(4) || dl["last_error"] != "the receiver answered 503" {
		t.Errorf("dead letter %s", letters[0])
	}
	if strings.Contains(letters[0], "s3cr3t") {
		t.Errorf("the dead letter holds the URL's query: %s", letters[0])
	}

	healthy.Store(true)
	replay, err := e.svc.Replay(ctx, "acme", "t3", orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	if replay.ID == orig.ID || replay.ReplayOf != orig.ID || replay.MessageID != orig.MessageID || replay.URL != url || replay.State != Pending {
		t.Fatalf("replay = %+v", replay)
	}
	e.drain(e.settled("acme", "t3", 2))
	ds := e.deliveries("acme", "t3")
	if len(ds) != 2 || ds[0].ID != orig.ID || ds[1].ID != replay.ID {
		t.Fatalf("deliveries %+v, want the original then the replay", ds)
	}
	if ds[1].State != Succeeded || len(ds[1].Attempts) != 1 || ds[0].State != Failed {
		t.Errorf("replay = %+v", ds[1])
	}
	got := rc.got()
	if last := got[len(got)-1]; last.status != 200 || last.header.Get(signing.HeaderID) != orig.MessageID || string(last.body) != string(got[0].body) {
		t.Errorf("the replay came with webhook-id %s and body %s", last.header.Get(signing.HeaderID), last.body)
	}
	if _, err := e.svc.Replay(ctx, "other", "t3", orig.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("replay by another tenant = %v", err)
	}
	if _, err := e.svc.Replay(ctx, "acme", "t3", "dlv_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("replay of an unknown delivery = %v", err)
	}
	// A pending delivery may be replayed too: it is a new delivery.
	healthy.Store(false)
	if err := e.svc.Notify(ctx, Notification{TaskID: "t3", Tenant: "acme", TaskVersion: 3, URL: url, Event: event(EventTaskFailed)}); err != nil {
		t.Fatal(err)
	}
	pending := e.deliveries("acme", "t3")[2]
	if _, err := e.svc.Replay(ctx, "acme", "t3", pending.ID); err != nil {
		t.Errorf("replay of a pending delivery = %v", err)
	}
	// Replays of a delivery, and of its replays, are bounded: each is a signed POST to a URL the
	// tenant chose.
	var err2 error
	n := 2 // the first was the replay above
	for ; n <= MaxReplays+2; n++ {
		target := orig.ID
		if n%2 == 0 {
			target = replay.ID // a replay's replay counts against the first delivery
		}
		if _, err2 = e.svc.Replay(ctx, "acme", "t3", target); err2 != nil {
			break
		}
	}
	if !errors.Is(err2, ErrReplayLimit) || n != MaxReplays+1 {
		t.Errorf("replay %d = %v, want ErrReplayLimit after %d", n, err2, MaxReplays)
	}
}

// 5. Notifying the same task version twice creates one delivery per target; the task's URL and
// the tenant's default URLs are deduplicated.
func TestNotifyIdempotent(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	a, b := newReceiver(t, ok), newReceiver(t, ok)
	e.newTenantSecret("acme", a.URL+"/a", b.URL+"/b", a.URL+"/a")
	n := Notification{TaskID: "t5", Tenant: "acme", TaskVersion: 7, URL: a.URL + "/a", Event: event(EventTaskCompleted)}
	for range 2 {
		if err := e.svc.Notify(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	ds := e.deliveries("acme", "t5")
	if len(ds) != 2 {
		t.Fatalf("%d deliveries, want 2: %+v", len(ds), ds)
	}
	if ds[0].MessageID != ds[1].MessageID || ds[0].ID == ds[1].ID {
		t.Errorf("ids %s/%s, %s/%s", ds[0].ID, ds[0].MessageID, ds[1].ID, ds[1].MessageID)
	}
	e.drain(e.settled("acme", "t5", 2))
	e.drainQueue()
	if len(a.got()) != 1 || len(b.got()) != 1 {
		t.Fatalf("receivers got %d and %d requests, want 1 each", len(a.got()), len(b.got()))
	}
	// Once delivered, notifying again sends nothing.
	if err := e.svc.Notify(ctx, n); err != nil {
		t.Fatal(err)
	}
	if msgs := receive(t, e.queueURL); len(msgs) != 0 {
		t.Errorf("notify after delivery sent %v", msgs)
	}
	// Another version of the task is another event.
	n.TaskVersion = 8
	if err := e.svc.Notify(ctx, n); err != nil {
		t.Fatal(err)
	}
	if ds := e.deliveries("acme", "t5"); len(ds) != 4 || ds[2].MessageID == ds[0].MessageID {
		t.Errorf("after a new version: %d deliveries", len(ds))
	}
	// Reading: another tenant's task and an unknown task are not found; a task without
	// deliveries has none.
	if _, err := e.svc.Deliveries(ctx, "other", "t5"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Deliveries of another tenant = %v", err)
	}
	if _, err := e.svc.Deliveries(ctx, "acme", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Deliveries of an unknown task = %v", err)
	}
	e.putTask("quiet", "acme")
	if ds, err := e.svc.Deliveries(ctx, "acme", "quiet"); err != nil || ds == nil || len(ds) != 0 {
		t.Errorf("Deliveries of a quiet task = %v, %v", ds, err)
	}
	if _, err := e.svc.Deliveries(ctx, "other", "quiet"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Deliveries of another tenant's quiet task = %v", err)
	}
	// No target at all: nothing to do.
	if err := e.svc.Notify(ctx, Notification{TaskID: "t6", Tenant: "nobody", Event: event(EventTaskCompleted)}); err != nil {
		t.Errorf("Notify without targets = %v", err)
	}
	if err := e.svc.Notify(ctx, Notification{TaskID: "t6", Tenant: "acme"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Notify without an event type = %v", err)
	}
}

// 6. After a rotation deliveries carry two signatures, each verifying with its secret; after the
// grace, one. No secret is in the table in a readable form.
func TestRotation(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	rc := newReceiver(t, ok)
	old := e.newTenantSecret("acme", rc.URL)
	set, current, err := e.tenants.RotateSecret(ctx, "acme", time.Hour)
	if err != nil || current == "" || current == old {
		t.Fatalf("RotateSecret = %q, %v", current, err)
	}
	if len(set.Secrets) != 2 || !set.Secrets[0].ExpiresAt.IsZero() || set.Secrets[1].ExpiresAt.IsZero() {
		t.Fatalf("settings after rotation = %+v", set)
	}
	notify := func(version int64) received {
		t.Helper()
		task := fmt.Sprintf("t6-%d", version)
		if err := e.svc.Notify(ctx, Notification{TaskID: task, Tenant: "acme", TaskVersion: version, Event: event(EventTaskCompleted)}); err != nil {
			t.Fatal(err)
		}
		e.drain(e.settled("acme", task, 1))
		got := rc.got()
		return got[len(got)-1]
	}
	r := notify(1)
	sigs := strings.Fields(r.header.Get(signing.HeaderSignature))
	if len(sigs) != 2 {
		t.Fatalf("signatures %q, want two", sigs)
	}
	for i, secret := range []string{current, old} {
		h := r.header.Clone()
		h.Set(signing.HeaderSignature, sigs[i])
		if err := signing.Verify(secret, h, r.body, e.clock.Now(), 0); err != nil {
			t.Errorf("signature %d does not verify with its secret: %v", i+1, err)
		}
	}
	e.clock.Advance(2 * time.Hour)
	r = notify(2)
	if sigs := strings.Fields(r.header.Get(signing.HeaderSignature)); len(sigs) != 1 {
		t.Fatalf("signatures after the grace %q, want one", sigs)
	}
	if err := signing.Verify(current, r.header, r.body, e.clock.Now(), 0); err != nil {
		t.Errorf("the current secret does not verify: %v", err)
	}
	if err := signing.Verify(old, r.header, r.body, e.clock.Now(), 0); err == nil {
		t.Errorf("the expired secret still verifies")
	}
	// The next rotation prunes the expired secret.
	set, third, err := e.tenants.RotateSecret(ctx, "acme", 0)
	if err != nil || len(set.Secrets) != 2 {
		t.Fatalf("second rotation = %+v, %v", set, err)
	}
	if exp := set.Secrets[1].ExpiresAt; !exp.Equal(e.clock.Now().Add(settings.DefaultGrace).Truncate(time.Second)) && exp.Sub(e.clock.Now().Add(settings.DefaultGrace)).Abs() > time.Second {
		t.Errorf("default grace ends at %v", exp)
	}
	for _, grace := range []time.Duration{-time.Second, settings.MaxGrace + time.Second} {
		if _, _, err := e.tenants.RotateSecret(ctx, "acme", grace); !errors.Is(err, ErrInvalid) {
			t.Errorf("RotateSecret(%v) = %v, want ErrInvalid", grace, err)
		}
	}
	e.assertNoPlaintext(old, current, third)
}

// assertNoPlaintext scans the whole table for the secrets, in every form they could take.
func (e *env) assertNoPlaintext(secrets ...string) {
	e.t.Helper()
	var needles [][]byte
	for _, s := range secrets {
		key, err := signing.ParseSecret(s)
		if err != nil {
			e.t.Fatal(err)
		}
		needles = append(needles, []byte(s), []byte(strings.TrimPrefix(s, signing.SecretPrefix)), key)
	}
	out, err := dynamo.Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String(e.table)})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(out.Items) == 0 {
		e.t.Fatal("the table is empty")
	}
	var check func(path string, av types.AttributeValue)
	check = func(path string, av types.AttributeValue) {
		var hay []byte
		switch v := av.(type) {
		case *types.AttributeValueMemberS:
			hay = []byte(v.Value)
		case *types.AttributeValueMemberB:
			hay = v.Value
		case *types.AttributeValueMemberL:
			for i, x := range v.Value {
				check(fmt.Sprintf("%s[%d]", path, i), x)
			}
		case *types.AttributeValueMemberM:
			for k, x := range v.Value {
				check(path+"."+k, x)
			}
		}
		for _, n := range needles {
			if len(hay) > 0 && strings.Contains(string(hay), string(n)) {
				e.t.Errorf("%s holds a secret in plain form", path)
			}
		}
	}
	for _, item := range out.Items {
		for k, v := range item {
			check(k, v)
		}
	}
}

// 7. With loopback refused, a delivery to 127.0.0.1 fails with a clear error and nothing reaches
// the server, whether the URL names the address or a name that resolves to it.
func TestSSRFGuard(t *testing.T) {
	operator, _ := signing.NewSecret()
	e := newEnv(t, operator, fastSchedule(1), func(c *Config) { c.AllowLoopback = false })
	ctx := context.Background()
	rc := newReceiver(t, ok)
	if err := e.svc.Notify(ctx, Notification{TaskID: "t7", Tenant: "acme", URL: rc.URL + "/hook", Event: event(EventTaskCompleted)}); err != nil {
		t.Fatal(err)
	}
	e.drain(e.settled("acme", "t7", 1))
	d := e.deliveries("acme", "t7")[0]
	if d.State != Failed || len(d.Attempts) != 1 || !strings.Contains(d.Attempts[0].Error, "127.0.0.1 is loopback") {
		t.Fatalf("delivery to a literal loopback address = %+v", d)
	}
	// A host name is refused when it is dialed, on every attempt.
	named := strings.Replace(rc.URL, "127.0.0.1", "localhost", 1) + "/hook"
	if err := e.svc.Notify(ctx, Notification{TaskID: "t7b", Tenant: "acme", URL: named, Event: event(EventTaskCompleted)}); err != nil {
		t.Fatal(err)
	}
	e.drain(e.settled("acme", "t7b", 1))
	d = e.deliveries("acme", "t7b")[0]
	if d.State != Failed || len(d.Attempts) != 2 {
		t.Fatalf("delivery to localhost = %+v", d)
	}
	for _, a := range d.Attempts {
		if !strings.HasPrefix(a.Error, "refused: the URL leads to an address webhooks may not reach") || a.StatusCode != 0 {
			t.Errorf("attempt %+v", a)
		}
	}
	if n := len(rc.got()); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
	if letters := receive(t, e.dlqURL); len(letters) != 2 {
		t.Errorf("%d dead letters, want 2", len(letters))
	}
}

// 8. A duplicate of a delivery message, whether it comes in the same batch or after the attempt,
// does not POST twice.
func TestDuplicateMessage(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	e.newTenantSecret("acme")
	rc := newReceiver(t, func(int, *http.Request, []byte) int {
		time.Sleep(50 * time.Millisecond) // so that the duplicates overlap
		return http.StatusOK
	})
	if err := e.svc.Notify(ctx, Notification{TaskID: "t8", Tenant: "acme", URL: rc.URL, Event: event(EventTaskCompleted)}); err != nil {
		t.Fatal(err)
	}
	msgs := receive(t, e.queueURL)
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	var recs []batch.Record
	for i := range 3 {
		recs = append(recs, batch.Record{ID: fmt.Sprint(i), Body: msgs[0]})
	}
	if failed := e.svc.Handle(ctx, recs); len(failed) != 0 {
		t.Fatalf("Handle failed %v", failed)
	}
	if failed := e.svc.Handle(ctx, recs); len(failed) != 0 {
		t.Fatalf("Handle again failed %v", failed)
	}
	if n := len(rc.got()); n != 1 {
		t.Fatalf("the receiver got %d requests, want 1", n)
	}
	if d := e.deliveries("acme", "t8")[0]; d.State != Succeeded || len(d.Attempts) != 1 {
		t.Errorf("delivery = %+v", d)
	}
	if msgs := receive(t, e.queueURL); len(msgs) != 0 {
		t.Errorf("messages left: %v", msgs)
	}
}

// A failure to send what follows a recorded attempt is made good by the message's redelivery.
func TestHandoffSurvivesSendFailure(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	e.newTenantSecret("acme")
	rc := newReceiver(t, func(n int, _ *http.Request, _ []byte) int {
		if n == 1 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	flaky := &flakySender{Sender: e.svc.c.Queue}
	e.svc.c.Queue = flaky
	if err := e.svc.Notify(ctx, Notification{TaskID: "t9", Tenant: "acme", URL: rc.URL, Event: event(EventTaskCompleted)}); err != nil {
		t.Fatal(err)
	}
	msgs := receive(t, e.queueURL)
	recs := []batch.Record{{ID: "m1", Body: msgs[0]}}
	flaky.fail.Store(true)
	if failed := e.svc.Handle(ctx, recs); len(failed) != 1 {
		t.Fatalf("a lost hand-off was not reported for redelivery: %v", failed)
	}
	if d := e.deliveries("acme", "t9")[0]; len(d.Attempts) != 1 || d.State != Pending || d.NextAttemptAt == nil {
		t.Fatalf("delivery = %+v", d)
	}
	flaky.fail.Store(false)
	if failed := e.svc.Handle(ctx, recs); len(failed) != 0 {
		t.Fatalf("redelivery failed %v", failed)
	}
	if failed := e.svc.Handle(ctx, recs); len(failed) != 0 {
		t.Fatalf("a third delivery failed %v", failed)
	}
	e.drain(e.settled("acme", "t9", 1))
	e.drainQueue()
	if d := e.deliveries("acme", "t9")[0]; d.State != Succeeded || len(d.Attempts) != 2 || len(rc.got()) != 2 {
		t.Fatalf("delivery = %+v after %d requests", d, len(rc.got()))
	}
}

type flakySender struct {
	Sender
	fail atomic.Bool
}

func (f *flakySender) Send(ctx context.Context, body string, delay time.Duration) error {
	if f.fail.Load() {
		return fmt.Errorf("queue unavailable")
	}
	return f.Sender.Send(ctx, body, delay)
}

// A redirect is a failed attempt, and is not followed.
func TestRedirectFails(t *testing.T) {
	e := newEnv(t, "", fastSchedule(1))
	e.newTenantSecret("acme")
	rc := newReceiver(t, func(int, *http.Request, []byte) int { return http.StatusTemporaryRedirect })
	if err := e.svc.Notify(context.Background(), Notification{TaskID: "t10", Tenant: "acme", URL: rc.URL, Event: event(EventTaskCompleted)}); err != nil {
		t.Fatal(err)
	}
	e.drain(e.settled("acme", "t10", 1))
	d := e.deliveries("acme", "t10")[0]
	if d.State != Failed || len(d.Attempts) != 2 || d.Attempts[0].StatusCode != 307 || !strings.Contains(d.Attempts[0].Error, "redirect") {
		t.Fatalf("delivery = %+v", d)
	}
	if strings.Contains(d.Attempts[0].Error, "elsewhere") {
		t.Errorf("the error quotes the Location header: %s", d.Attempts[0].Error)
	}
}

// A tenant without any secret, and no operator secret: the delivery fails at once.
func TestNoSigningSecret(t *testing.T) {
	e := newEnv(t, "")
	rc := newReceiver(t, ok)
	if can, err := e.tenants.CanSign(context.Background(), "acme"); can || err != nil {
		t.Fatalf("CanSign = %v, %v", can, err)
	}
	if err := e.svc.Notify(context.Background(), Notification{TaskID: "t11", Tenant: "acme", URL: rc.URL, Event: event(EventTaskCompleted)}); err != nil {
		t.Fatal(err)
	}
	e.drain(e.settled("acme", "t11", 1))
	d := e.deliveries("acme", "t11")[0]
	if d.State != Failed || len(d.Attempts) != 1 || d.Attempts[0].Error != "no signing secret" || len(rc.got()) != 0 {
		t.Fatalf("delivery = %+v", d)
	}
	if letters := receive(t, e.dlqURL); len(letters) != 1 || !strings.Contains(letters[0], "no signing secret") {
		t.Errorf("dead letters %v", letters)
	}
}

func TestTenantSettings(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	s, err := e.tenants.Settings(ctx, "acme")
	if err != nil || s.Tenant != "acme" || s.URLs == nil || len(s.URLs) != 0 || len(s.Secrets) != 0 {
		t.Fatalf("Settings of a new tenant = %+v, %v", s, err)
	}
	if _, err := e.tenants.SigningKeys(ctx, "acme", e.clock.Now()); !errors.Is(err, ErrNoSecret) {
		t.Errorf("SigningKeys without secrets = %v", err)
	}
	s, secret, err := e.tenants.SetURLs(ctx, "acme", []string{"https://a.example.com/x", "https://b.example.com/", "https://a.example.com/x"})
	if err != nil || secret == "" || len(s.URLs) != 2 || len(s.Secrets) != 1 || s.UpdatedAt.IsZero() {
		t.Fatalf("SetURLs = %+v, %q, %v", s, secret, err)
	}
	if can, err := e.tenants.CanSign(ctx, "acme"); !can || err != nil {
		t.Errorf("CanSign = %v, %v", can, err)
	}
	s, again, err := e.tenants.SetURLs(ctx, "acme", []string{"https://c.example.com/"})
	if err != nil || again != "" || len(s.URLs) != 1 || len(s.Secrets) != 1 {
		t.Fatalf("second SetURLs = %+v, %q, %v", s, again, err)
	}
	keys, err := e.tenants.SigningKeys(ctx, "acme", e.clock.Now())
	want, _ := signing.ParseSecret(secret)
	if err != nil || len(keys) != 1 || string(keys[0]) != string(want) {
		t.Errorf("SigningKeys = %d keys, %v", len(keys), err)
	}
	many := make([]string, settings.MaxURLs+1)
	for i := range many {
		many[i] = fmt.Sprintf("https://h%d.example.com/", i)
	}
	strict := settings.NewTenants(dynamo, e.table, e.sealer, "")
	for _, tt := range []struct {
		urls []string
		want error
	}{
		{many, ErrInvalid},
		{[]string{"ftp://x.example.com/"}, settings.ErrInvalidURL},
		{[]string{"http://127.0.0.1/"}, settings.ErrForbiddenURL},
		{[]string{"http://169.254.169.254/"}, settings.ErrForbiddenURL},
	} {
		if _, _, err := strict.SetURLs(ctx, "acme", tt.urls); !errors.Is(err, tt.want) {
			t.Errorf("SetURLs(%.40v) = %v, want %v", tt.urls, err, tt.want)
		}
	}
	if _, _, err := e.tenants.SetURLs(ctx, "", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetURLs without a tenant = %v", err)
	}
	// Without a sealer, a tenant cannot hold a secret: its URLs are kept only if the operator's
	// secret signs for it.
	operator, _ := signing.NewSecret()
	if _, _, err := settings.NewTenants(dynamo, e.table, nil, "").SetURLs(ctx, "beta", []string{"https://a.example.com/"}); !errors.Is(err, settings.ErrNoSealer) || !errors.Is(err, ErrNoSecret) {
		t.Errorf("SetURLs without sealer or operator secret = %v", err)
	}
	if s, secret, err := settings.NewTenants(dynamo, e.table, nil, operator).SetURLs(ctx, "beta", []string{"https://a.example.com/"}); err != nil || secret != "" || len(s.URLs) != 1 {
		t.Errorf("SetURLs without sealer = %+v, %q, %v", s, secret, err)
	}
	if _, _, err := settings.NewTenants(dynamo, e.table, nil, operator).RotateSecret(ctx, "beta", 0); !errors.Is(err, settings.ErrNoSealer) {
		t.Errorf("RotateSecret without sealer = %v", err)
	}
	e.assertNoPlaintext(secret)
}

// Two rotations at once: the one that loses the race applies itself again on what won, so
// both new secrets sign; losing twice is settings.ErrConflict.
func TestRotationRace(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	e.newTenantSecret("acme")
	rival := settings.NewTenants(dynamo, e.table, e.sealer, "")
	racing := &racingDB{DynamoDB: dynamo, race: func() {
		if _, _, err := rival.RotateSecret(ctx, "acme", time.Hour); err != nil {
			t.Error(err)
		}
	}}
	racing.left.Store(1)
	tenants := settings.NewTenants(racing, e.table, e.sealer, "")
	_, mine, err := tenants.RotateSecret(ctx, "acme", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := tenants.SigningKeys(ctx, "acme", e.clock.Now())
	if err != nil || len(keys) != 3 {
		t.Fatalf("SigningKeys after the race = %d keys, %v", len(keys), err)
	}
	if key, _ := signing.ParseSecret(mine); string(keys[0]) != string(key) {
		t.Errorf("the retried rotation's secret is not current")
	}
	racing.left.Store(2)
	if _, _, err := tenants.RotateSecret(ctx, "acme", time.Hour); !errors.Is(err, settings.ErrConflict) {
		t.Errorf("losing twice = %v, want settings.ErrConflict", err)
	}
}

// racingDB runs race before each of its next `left` PutItems.
type racingDB struct {
	DynamoDB
	left atomic.Int32
	race func()
}

func (r *racingDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if r.left.Add(-1) >= 0 {
		r.race()
	}
	return r.DynamoDB.PutItem(ctx, in, opts...)
}

func (e *env) rawItem(pk, sk string) map[string]types.AttributeValue {
	e.t.Helper()
	out, err := dynamo.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(e.table),
		Key:       map[string]types.AttributeValue{table.AttrPK: table.S(pk), table.AttrSK: table.S(sk)},
	})
	if err != nil || len(out.Item) == 0 {
		e.t.Fatalf("item %s/%s: %v", pk, sk, err)
	}
	return out.Item
}

// putTask writes a bare task record, as the task store would.
func (e *env) putTask(id, tenant string) {
	e.t.Helper()
	_, err := dynamo.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(e.table),
		Item: map[string]types.AttributeValue{
			table.AttrPK: table.S("TASK#" + id), table.AttrSK: table.S("TASK"), "tenant": table.S(tenant), "id": table.S(id),
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// TestNotifyReusesDefaultURLs: with URLsTTL, Notify reads a tenant's default URLs once per TTL
// (a URL changed meanwhile reaches deliveries when it runs out); without it, at every call.
func TestNotifyReusesDefaultURLs(t *testing.T) {
	tests := []struct {
		name string
		ttl  time.Duration
		// wantSecond is the URL the second notification, made after the change and before the
		// TTL runs out, is delivered to.
		wantSecond string
	}{
		{"cached", time.Minute, "/old"},
		{"uncached", 0, "/new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, "", func(c *Config) { c.URLsTTL = tt.ttl })
			ctx := context.Background()
			e.newTenantSecret("acme", "https://hooks.example.com/old")
			urlOf := func(taskID string) string {
				n := Notification{TaskID: taskID, Tenant: "acme", TaskVersion: 1, Event: event(EventTaskCompleted)}
				if err := e.svc.Notify(ctx, n); err != nil {
					t.Fatal(err)
				}
				ds := e.deliveries("acme", taskID)
				if len(ds) != 1 {
					t.Fatalf("%s: %d deliveries, want 1", taskID, len(ds))
				}
				return strings.TrimPrefix(ds[0].URL, "https://hooks.example.com")
			}
			if got := urlOf("t1"); got != "/old" {
				t.Fatalf("first notification to %s", got)
			}
			if _, _, err := e.tenants.SetURLs(ctx, "acme", []string{"https://hooks.example.com/new"}); err != nil {
				t.Fatal(err)
			}
			if got := urlOf("t2"); got != tt.wantSecond {
				t.Errorf("second notification to %s, want %s", got, tt.wantSecond)
			}
			e.clock.Advance(2 * time.Minute)
			if got := urlOf("t3"); got != "/new" {
				t.Errorf("after the TTL, to %s, want /new", got)
			}
		})
	}
}
