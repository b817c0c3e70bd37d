package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/client"
	"github.com/agentq/agentq/client/raw"
	"github.com/agentq/agentq/shared/dispatch/a2atest"
)

func p[T any](v T) *T { return &v }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// echo builds an invocation of the echo agent; extra fields go into its input.
func echo(text string, extra map[string]any) client.InvokeRequest {
	return client.InvokeRequest{Input: client.Input{Text: text, AdditionalProperties: extra}}
}

func TestInvokeWaitThreadStop(t *testing.T) {
	ctx := testCtx(t)
	c := newClient(t, apiKey)
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	task, err := c.Invoke(ctx, "echo", echo("hello", map[string]any{"delay_ms": 300}), client.InvokeOptions{IdempotencyKey: "client-test-1"})
	if err != nil {
		t.Fatal(err)
	}
	if task.Status != raw.XpanderTaskStatusPending {
		t.Fatalf("invoke answered %s, want pending", task.Status)
	}
	var seen []client.TaskStatus
	done, err := c.Wait(ctx, task.TaskId.String(), func(t *client.Task) { seen = append(seen, t.Status) })
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != raw.XpanderTaskStatusCompleted || done.Result == nil || *done.Result != "hello" {
		t.Fatalf("waited task = %s %v, want completed hello", done.Status, done.Result)
	}
	if seen[len(seen)-1] != raw.XpanderTaskStatusCompleted || slices.Index(seen, raw.XpanderTaskStatusCompleted) != len(seen)-1 {
		t.Fatalf("progress saw %v: want each change once, ending completed", seen)
	}
	again, err := c.Invoke(ctx, "echo", echo("hello", map[string]any{"delay_ms": 300}), client.InvokeOptions{IdempotencyKey: "client-test-1"})
	if err != nil || again.TaskId != task.TaskId {
		t.Fatalf("replayed invoke = %v, %v: want the first task %s", again, err, task.TaskId)
	}

	th, err := c.Thread(ctx, done.Id)
	if err != nil {
		t.Fatal(err)
	}
	if len(th.Messages) != 2 || th.Messages[1].Content != "hello" {
		t.Fatalf("thread = %+v, want the user's turn and the agent's answer", th.Messages)
	}

	slow, err := c.Invoke(ctx, "echo", echo("slow", map[string]any{"delay_ms": 20000}), client.InvokeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stopped, err := c.Stop(ctx, slow.TaskId.String())
	if err != nil {
		t.Fatal(err)
	}
	if stopped.Status != raw.XpanderTaskStatusStopped || !stopped.IsManuallyStopped {
		t.Fatalf("stopped task = %s", stopped.Status)
	}
	got, err := c.Get(ctx, slow.TaskId.String())
	if err != nil || got.Status != raw.XpanderTaskStatusStopped {
		t.Fatalf("get stopped task = %v, %v", got, err)
	}
}

func TestInvokeSyncFallsBackToWaiting(t *testing.T) {
	ctx := testCtx(t)
	// The server holds the sync request one second; the agent takes longer, so the answer is a
	// 202 and the client goes on waiting.
	c := newClient(t, apiKey, client.WithLongPoll(1))
	var seen []client.TaskStatus
	task, err := c.InvokeSync(ctx, "echo", echo("patient", map[string]any{"delay_ms": 2500}), client.InvokeOptions{Version: "latest"},
		func(t *client.Task) { seen = append(seen, t.Status) })
	if err != nil {
		t.Fatal(err)
	}
	if task.Status != raw.XpanderTaskStatusCompleted || *task.Result != "patient" {
		t.Fatalf("sync invoke = %s, want completed", task.Status)
	}
	if len(seen) < 2 || seen[0] == raw.XpanderTaskStatusCompleted {
		t.Fatalf("progress saw %v: the 202 answer first, then the outcome", seen)
	}
	fast, err := newClient(t, apiKey).InvokeSync(ctx, "echo", echo("quick", nil), client.InvokeOptions{}, nil)
	if err != nil || fast.Status != raw.XpanderTaskStatusCompleted {
		t.Fatalf("quick sync invoke = %v, %v", fast, err)
	}
}

func TestListIteratesPages(t *testing.T) {
	ctx := testCtx(t)
	c := newClient(t, apiKey)
	first, err := c.Invoke(ctx, "echo", echo("page one", nil), client.InvokeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, text := range []string{"page two", "page three"} {
		task, err := c.Invoke(ctx, "echo", client.InvokeRequest{Id: &first.Id, Input: client.Input{Text: text}}, client.InvokeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, task.TaskId.String())
	}
	want = append(want, first.TaskId.String())
	// The list reads an index that lags the records by a moment: read until all three show.
	var got []string
	for range 100 {
		got = got[:0]
		for task, err := range c.Tasks(ctx, client.ListQuery{ThreadID: first.Id, Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, task.TaskId.String())
		}
		if len(got) == 3 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("iterated %v, want %v (one per page)", got, want)
	}
	page, err := c.AgentTasks(ctx, "echo", client.ListQuery{ThreadID: first.Id, Status: []string{"pending", "executing", "completed"}, CreatedAfter: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) == 0 {
		t.Fatal("the agent's task list is empty")
	}
	if _, err := c.List(ctx, client.ListQuery{Cursor: "not-a-cursor"}); client.ErrorCode(err) != "invalid_cursor" {
		t.Fatalf("list with a bad cursor = %v, want invalid_cursor", err)
	}
}

func TestServiceNetReceipts(t *testing.T) {
	ctx := testCtx(t)
	c := newClient(t, apiKey)
	acc, err := c.InvokeServiceNet(ctx, "echo", client.ServiceNetRequest{Message: p("Create a payment link"), Region: p("AU")}, client.InvokeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := acc.ReceiptId.String()
	r, err := c.WaitReceipt(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Receipt.Status != raw.ExecutionReceiptStatusSucceeded {
		t.Fatalf("receipt = %s, want succeeded", r.Receipt.Status)
	}
	signed, err := c.VerifyReceipt(ctx, id)
	if err != nil {
		t.Fatalf("a receipt of this service fails verification: %v", err)
	}
	if signed.ReceiptID != id || signed.IssuerDID == "" {
		t.Fatalf("verified receipt = %+v", signed)
	}
	// The same receipt with its status changed, served by a forger: the check fails.
	resp, err := c.Raw().GetReceipt(ctx, acc.ReceiptId, nil)
	if err != nil {
		t.Fatal(err)
	}
	genuine, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	forged := bytes.Replace(genuine, []byte(`"status":"succeeded"`), []byte(`"status":"failed"`), 1)
	forger := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/receipts/") {
			w.Write(forged)
			return
		}
		http.Redirect(w, r, apiURL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer forger.Close()
	fc, _ := client.New(forger.URL, client.WithAPIKey(apiKey))
	if bytes.Equal(forged, genuine) {
		t.Fatal("the forgery changed nothing")
	}
	if _, err := fc.VerifyReceipt(ctx, id); err == nil {
		t.Fatal("a receipt whose status was changed passes verification")
	}
	issuer, err := c.ReceiptIssuer(ctx)
	if err != nil || issuer.Did != signed.IssuerDID {
		t.Fatalf("issuer = %v, %v; the receipt names %s", issuer, err, signed.IssuerDID)
	}
	judged, err := c.RecordVerification(ctx, id, client.VerificationVerdict{VerifierId: "auditor-1", Verdict: "verified"})
	if err != nil || judged.Receipt.Verification != "verified" {
		t.Fatalf("record verification = %v, %v", judged, err)
	}
	if _, err := c.VerifyReceipt(ctx, id); err != nil {
		t.Fatalf("the receipt signed again with its verdict fails verification: %v", err)
	}
	var listed []string
	for range 100 {
		listed = listed[:0]
		for r, err := range c.Receipts(ctx, client.ReceiptQuery{AgentID: "echo", Verification: "verified", Limit: 1}) {
			if err != nil {
				t.Fatal(err)
			}
			listed = append(listed, r.Receipt.ReceiptId.String())
		}
		if slices.Contains(listed, id) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !slices.Contains(listed, id) {
		t.Fatalf("the verified receipt is not listed: %v", listed)
	}

	slow, err := c.InvokeServiceNet(ctx, "echo", client.ServiceNetRequest{Input: &map[string]any{"text": "slow", "delay_ms": 20000}}, client.InvokeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stopped, err := c.StopReceipt(ctx, slow.ReceiptId.String())
	if err != nil || stopped.Receipt.Status != raw.ExecutionReceiptStatusFailed || stopped.Error == nil || stopped.Error.Code != "canceled" {
		t.Fatalf("stopped receipt = %+v, %v", stopped, err)
	}
	got, err := c.Receipt(ctx, slow.ReceiptId.String())
	if err != nil || got.Receipt.Status != raw.ExecutionReceiptStatusFailed {
		t.Fatalf("get receipt = %v, %v", got, err)
	}

	sync, err := c.InvokeServiceNetSync(ctx, "echo", client.ServiceNetRequest{Message: p("at once")}, client.InvokeOptions{})
	if err != nil || sync.Status != "TASK_STATE_COMPLETED" {
		t.Fatalf("ServiceNet sync invoke = %+v, %v", sync, err)
	}
}

func TestAgentsRegistry(t *testing.T) {
	ctx := testCtx(t)
	admin := newClient(t, adminKey)
	def := client.AgentDefinition{Protocol: p(raw.AgentDefinitionProtocol("http")), Endpoint: p(sys.EchoURL), Name: p("Echo two"), Timeout: p("10s")}
	draft, err := admin.PutAgent(ctx, "echo-two", def)
	if err != nil {
		t.Fatal(err)
	}
	if !draft.HasDraft {
		t.Fatalf("put agent = %+v, want a draft", draft)
	}
	pub, err := admin.PublishAgent(ctx, "echo-two")
	if err != nil {
		t.Fatal(err)
	}
	if pub.CurrentVersion != draft.CurrentVersion+1 || pub.HasDraft {
		t.Fatalf("published %+v after draft %+v", pub, draft)
	}
	tenant := newClient(t, apiKey)
	all, err := tenant.Agents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(all, func(a client.PublicAgent) bool { return a.Id == "echo-two" }) {
		t.Fatal("the list lacks the agent just published")
	}
	one, err := tenant.Agent(ctx, "echo-two")
	if err != nil || one.Version != strconv.Itoa(pub.CurrentVersion) {
		t.Fatalf("get agent = %v, %v", one, err)
	}
	task, err := tenant.InvokeSync(ctx, "echo-two", echo("versioned", nil), client.InvokeOptions{Version: "1"}, nil)
	if err != nil || task.AgentVersion == nil || *task.AgentVersion != "1" {
		t.Fatalf("invoke version 1 = %v, %v", task, err)
	}
	if _, err := tenant.PublishAgent(ctx, "echo-two"); client.ErrorCode(err) != "admin_required" {
		t.Fatalf("publish with a tenant's key = %v, want admin_required", err)
	}
	if _, err := admin.PublishAgent(ctx, "echo-two"); client.ErrorCode(err) != "no_draft" {
		t.Fatalf("publish without a draft = %v, want no_draft", err)
	}
	gone, err := admin.DeleteAgent(ctx, "echo-two")
	if err != nil || !gone.Deleted {
		t.Fatalf("delete agent = %v, %v", gone, err)
	}
}

func TestAuthContextsAndAPIKeys(t *testing.T) {
	ctx := testCtx(t)
	admin := newClient(t, adminKey)
	ac, err := admin.CreateAuthContext(ctx, client.AuthContextInput{Tenant: "default", Name: "Stripe", Kind: raw.AuthContextInputKindBearer, Secret: p("sk_test_secret")})
	if err != nil {
		t.Fatal(err)
	}
	got, err := admin.AuthContext(ctx, "default", ac.Id.String())
	if err != nil || got.Name != "Stripe" {
		t.Fatalf("get auth context = %v, %v", got, err)
	}
	if _, err := admin.DeleteAuthContext(ctx, "default", ac.Id.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AuthContext(ctx, "default", ac.Id.String()); client.ErrorCode(err) != "auth_context_not_found" {
		t.Fatalf("deleted auth context read = %v", err)
	}

	key, err := admin.CreateAPIKey(ctx, client.APIKeyInput{Tenant: "acme", Name: "CI"})
	if err != nil {
		t.Fatal(err)
	}
	acme := newClient(t, key.Key)
	if _, err := acme.Agents(ctx); err != nil {
		t.Fatalf("the new key is refused: %v", err)
	}
	keys, err := admin.APIKeys(ctx, "acme")
	if err != nil || len(keys) != 1 || keys[0].Id != key.Id {
		t.Fatalf("list keys = %v, %v", keys, err)
	}
	if _, err := admin.RevokeAPIKey(ctx, key.Id); err != nil {
		t.Fatal(err)
	}
	_, err = acme.Agents(ctx)
	var apiErr *client.Error
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized || apiErr.Code != "invalid_api_key" {
		t.Fatalf("revoked key = %v, want 401 invalid_api_key", err)
	}
}

func TestWebhooksSettingsDeliveriesAndVerifier(t *testing.T) {
	ctx := testCtx(t)
	c := newClient(t, apiKey)
	type delivery struct {
		h    http.Header
		body []byte
	}
	got := make(chan delivery, 8)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- delivery{r.Header.Clone(), b}
	}))
	defer receiver.Close()

	set, err := c.SetWebhookURLs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := ""
	if set.Secret != nil {
		secret = *set.Secret
	}
	rot, err := c.RotateWebhookSecret(ctx, time.Minute)
	if err != nil || rot.Secret == nil {
		t.Fatalf("rotate = %v, %v", rot, err)
	}
	secret = *rot.Secret
	read, err := c.WebhookSettings(ctx)
	if err != nil || read.Secret != nil || len(read.Secrets) == 0 {
		t.Fatalf("settings read = %+v, %v: secrets listed, none answered", read, err)
	}

	task, err := c.Invoke(ctx, "echo", client.InvokeRequest{Input: client.Input{Text: "notify me"}, WebhookUrl: p(receiver.URL)}, client.InvokeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var d delivery
	select {
	case d = <-got:
	case <-ctx.Done():
		t.Fatal("no delivery")
	}
	v := client.WebhookVerifier{Secret: secret}
	if err := v.Verify(d.h, d.body); err != nil {
		t.Fatalf("a genuine delivery fails verification: %v", err)
	}
	if err := v.Verify(d.h, append(d.body, ' ')); err == nil {
		t.Fatal("a changed body passes verification")
	}
	if err := (client.WebhookVerifier{Secret: secret, Now: func() time.Time { return time.Now().Add(time.Hour) }}).Verify(d.h, d.body); err == nil {
		t.Fatal("a delivery an hour old passes verification")
	}

	var list *client.DeliveryList
	for range 100 {
		if list, err = c.Deliveries(ctx, task.TaskId.String()); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) > 0 && list.Items[0].State == raw.DeliveryStateSucceeded {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(list.Items) != 1 || list.Items[0].State != raw.DeliveryStateSucceeded {
		t.Fatalf("deliveries = %+v", list.Items)
	}
	replay, err := c.Replay(ctx, task.TaskId.String(), list.Items[0].DeliveryId)
	if err != nil || replay.DeliveryId == list.Items[0].DeliveryId {
		t.Fatalf("replay = %+v, %v: want a new delivery", replay, err)
	}
	select {
	case d = <-got:
	case <-ctx.Done():
		t.Fatal("the replay was not delivered")
	}
	if err := v.Verify(d.h, d.body); err != nil {
		t.Fatalf("the replay fails verification: %v", err)
	}
}

func TestTypedErrors(t *testing.T) {
	ctx := testCtx(t)
	c := newClient(t, apiKey)
	_, err := c.Get(ctx, "no-such-task")
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusNotFound || e.Code != "task_not_found" || e.Message == "" {
		t.Fatalf("get unknown task = %#v", err)
	}
	_, err = c.InvokeServiceNet(ctx, "echo", client.ServiceNetRequest{}, client.InvokeOptions{})
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != "validation_failed" || len(e.Problems) == 0 {
		t.Fatalf("ServiceNet invoke without a message = %#v, want 400 validation_failed with problems", err)
	}
	_, err = c.Invoke(ctx, "echo", client.InvokeRequest{}, client.InvokeOptions{})
	if !errors.As(err, &e) || e.Status != http.StatusUnprocessableEntity || e.Code != "validation_failed" || len(e.Problems) == 0 {
		t.Fatalf("xpander invoke without text = %#v, want 422 validation_failed with problems", err)
	}
	if _, err := c.Receipt(ctx, "not-a-uuid"); err == nil || errors.As(err, &e) {
		t.Fatalf("a malformed receipt id = %v, want a local error", err)
	}
	dead, err := client.New("http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	var unreachable *client.UnreachableError
	if _, err := dead.Get(ctx, "x"); !errors.As(err, &unreachable) {
		t.Fatalf("nothing listening = %v, want an UnreachableError", err)
	}
}

func TestDeleteFullThreadUsageAndApproval(t *testing.T) {
	ctx := testCtx(t)
	c := newClient(t, apiKey)
	first, err := c.InvokeSync(ctx, "echo", echo("first turn", nil), client.InvokeOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	full, err := c.FullThread(ctx, first.Id)
	if err != nil || len(full.Root) == 0 {
		t.Fatalf("full thread = %+v, %v", full, err)
	}
	usage, err := c.LLMUsage(ctx, first.TaskId.String())
	if err != nil || usage.IsByok {
		t.Fatalf("usage = %+v, %v", usage, err)
	}
	if err := c.Delete(ctx, first.TaskId.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, first.TaskId.String()); client.ErrorCode(err) != "task_not_found" {
		t.Fatalf("a deleted task reads %v, want task_not_found", err)
	}

	ag := a2atest.New(t, 1)
	admin := newClient(t, adminKey)
	if _, err := admin.PutAgent(ctx, "asker", client.AgentDefinition{Protocol: p(raw.AgentDefinitionProtocol("a2a")), Endpoint: p(ag.URL), Publish: p(true)}); err != nil {
		t.Fatal(err)
	}
	for _, approve := range []bool{true, false} {
		task, err := c.Invoke(ctx, "asker", echo("ask me", nil), client.InvokeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		paused, err := c.Wait(ctx, task.TaskId.String(), nil)
		if err != nil || paused.Status != raw.XpanderTaskStatusPaused {
			t.Fatalf("task = %v, %v: want paused", paused, err)
		}
		var decided *client.Task
		if approve {
			decided, err = c.Approve(ctx, task.TaskId.String(), client.Approval{ApprovedBy: "ana@example.com", Message: p("EUR")})
		} else {
			decided, err = c.Reject(ctx, task.TaskId.String(), client.Rejection{RejectedBy: "bo", Reason: p("over budget")})
		}
		if err != nil {
			t.Fatal(err)
		}
		if !approve && (decided.Status != raw.XpanderTaskStatusFailed || decided.Error == nil || decided.Error.Code != "hitl_rejected") {
			t.Fatalf("rejected task = %+v", decided)
		}
		if approve {
			done, err := c.Wait(ctx, task.TaskId.String(), nil)
			if err != nil || done.Status != raw.XpanderTaskStatusCompleted {
				t.Fatalf("approved task = %v, %v", done, err)
			}
			if _, err := c.Approve(ctx, task.TaskId.String(), client.Approval{ApprovedBy: "ana@example.com"}); client.ErrorCode(err) != "task_not_paused" {
				t.Fatalf("a second approval = %v, want task_not_paused", err)
			}
		}
	}
}
func TestTenantLimitsAndRateLimited(t *testing.T) {
	ctx := testCtx(t)
	admin := newClient(t, adminKey)
	key, err := admin.CreateAPIKey(ctx, client.APIKeyInput{Tenant: "throttled", Name: "limits"})
	if err != nil {
		t.Fatal(err)
	}
	set, err := admin.SetTenantLimits(ctx, "throttled", 1, 0)
	if err != nil || !set.Own || set.Rate != 1 {
		t.Fatalf("set limits = %+v, %v", set, err)
	}
	got, err := admin.TenantLimits(ctx, "throttled")
	if err != nil || got.Rate != 1 {
		t.Fatalf("read limits = %+v, %v", got, err)
	}
	c := newClient(t, key.Key)
	var limited *client.Error
	for range 20 {
		if _, err := c.Agents(ctx); errors.As(err, &limited) {
			break
		}
	}
	if limited == nil || limited.Status != http.StatusTooManyRequests || limited.Code != "rate_limited" || limited.RetryAfter <= 0 || !limited.Temporary() {
		t.Fatalf("a tenant over its rate got %#v, want 429 rate_limited with a Retry-After", limited)
	}
	reset, err := admin.ResetTenantLimits(ctx, "throttled")
	if err != nil || reset.Own {
		t.Fatalf("reset limits = %+v, %v", reset, err)
	}
}
