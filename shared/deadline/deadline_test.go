package deadline

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The production values, pinned: a change here is a change of DESIGN.md's reasoning too.
func TestDefault(t *testing.T) {
	want := Budget{
		Request: 10 * time.Second, Reserve: 3 * time.Second, Answer: time.Second,
		Attempt: 2 * time.Second, Attempts: 3, MaxBackoff: 500 * time.Millisecond,
		LeaseMargin: 15 * time.Second, Outcome: 10 * time.Second, OutcomeBackoff: 100 * time.Millisecond,
		Invocation: 12 * time.Second,
	}
	if got := Default(); got != want {
		t.Fatalf("Default() = %+v\nwant %+v", got, want)
	}
	if (Budget{}).OrDefault() != want {
		t.Error("the zero budget does not default")
	}
	short := Budget{Request: time.Second}
	if short.OrDefault() != short {
		t.Error("a set budget was replaced")
	}
}

// The relations DESIGN.md relies on.
func TestFixedBounds(t *testing.T) {
	if KeyLookup != 5*time.Second || WebhookAttempt != 10*time.Second {
		t.Errorf("KeyLookup %v, WebhookAttempt %v; DESIGN.md reasons about 5 s and 10 s", KeyLookup, WebhookAttempt)
	}
	// A key lookup fits inside a request's budget, so a slow one still leaves room to answer.
	if KeyLookup >= Default().Request {
		t.Errorf("KeyLookup %v does not fit a request's %v", KeyLookup, Default().Request)
	}
}

func TestDefaultRelations(t *testing.T) {
	b := Default()
	const gateway = 29 * time.Second // API Gateway's lower integration limit (REST)
	worstCall := time.Duration(b.Attempts)*b.Attempt + time.Duration(b.Attempts-1)*b.MaxBackoff
	for _, tc := range []struct {
		what string
		ok   bool
	}{
		{"a request's own work answers well under the gateway's limit", b.Request+b.Answer < gateway/2},
		{"the failure path has room for one whole attempt", b.Reserve >= b.Attempt},
		{"an AWS call's every attempt fits the accept's work share", worstCall <= b.Request-b.Reserve},
		{"outcome retries end while the lease holds", b.Outcome < b.LeaseMargin},
		{"the invocation keeps room for the outcome retries", b.Invocation > b.Outcome},
		{"outcome retries back off more than once", b.OutcomeBackoffAt(3) < b.Outcome},
	} {
		if !tc.ok {
			t.Errorf("%s: false for %+v", tc.what, b)
		}
	}
}

func TestForRequest(t *testing.T) {
	b := Budget{Request: 10 * time.Second, Answer: time.Second}
	ctx, cancel := b.ForRequest(context.Background(), 5*time.Second)
	defer cancel()
	dl, ok := ctx.Deadline()
	if left := time.Until(dl); !ok || left > 15*time.Second || left < 14*time.Second {
		t.Errorf("own deadline in %v, want about 15s", left)
	}
	// A caller's earlier deadline (a Lambda function's) wins, less the answer's margin.
	parent, pcancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer pcancel()
	ctx, cancel = b.ForRequest(parent, 5*time.Second)
	defer cancel()
	dl, _ = ctx.Deadline()
	pdl, _ := parent.Deadline()
	if !dl.Equal(pdl.Add(-time.Second)) {
		t.Errorf("deadline %v, want the caller's less 1s (%v)", dl, pdl.Add(-time.Second))
	}
}

func TestSplitKeepsTheReserve(t *testing.T) {
	b := Budget{Request: 10 * time.Second, Reserve: 3 * time.Second}
	parent, pcancel := context.WithTimeout(context.Background(), 8*time.Second)
	work, cancel := b.Split(parent)
	defer cancel()
	dl, _ := work.Deadline()
	pdl, _ := parent.Deadline()
	if !dl.Equal(pdl.Add(-3 * time.Second)) {
		t.Errorf("work deadline %v, want the caller's less the reserve", dl)
	}
	// The caller hanging up does not cut the work short.
	pcancel()
	if work.Err() != nil {
		t.Error("work canceled with its caller")
	}
	failure, fcancel := b.Reserved(parent)
	defer fcancel()
	if failure.Err() != nil {
		t.Error("the failure path inherited its caller's cancellation")
	}
	if dl, _ := failure.Deadline(); time.Until(dl) > 3*time.Second {
		t.Errorf("failure path deadline in %v, want the reserve", time.Until(dl))
	}
	// Without a caller's deadline, work gets Request less Reserve.
	work, cancel = b.Split(context.Background())
	defer cancel()
	if dl, _ := work.Deadline(); time.Until(dl) > 7*time.Second || time.Until(dl) < 6*time.Second {
		t.Errorf("work deadline in %v, want about 7s", time.Until(dl))
	}
}

func TestAgentCall(t *testing.T) {
	b := Budget{Invocation: 12 * time.Second}
	if got := b.AgentCall(context.Background(), time.Minute); got != time.Minute {
		t.Errorf("without a deadline = %v, want the agent's timeout", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if got := b.AgentCall(ctx, time.Minute); got > 8*time.Second || got < 7*time.Second {
		t.Errorf("with 20s left = %v, want about 8s", got)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if got := b.AgentCall(ctx, time.Minute); got > 0 {
		t.Errorf("with 5s left = %v, want none", got)
	}
}

func TestOutcomeBackoffAt(t *testing.T) {
	b := Budget{Outcome: 10 * time.Second, OutcomeBackoff: 100 * time.Millisecond}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 2500 * time.Millisecond, 2500 * time.Millisecond}
	for i, w := range want {
		if got := b.OutcomeBackoffAt(i + 1); got != w {
			t.Errorf("OutcomeBackoffAt(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := b.OutcomeBackoffAt(1000); got != 2500*time.Millisecond {
		t.Errorf("OutcomeBackoffAt(1000) = %v", got)
	}
}

func TestAWS(t *testing.T) {
	b := Default()
	base := aws.Config{Region: "us-east-1", RetryMaxAttempts: 7}
	cfg := b.AWS(base)
	if base.HTTPClient != nil || base.RetryMaxAttempts != 7 {
		t.Error("AWS changed the configuration it was given")
	}
	if cfg.Retryer == nil || cfg.Retryer().MaxAttempts() != 3 || cfg.RetryMaxAttempts != 0 {
		t.Errorf("retryer attempts = %d", cfg.Retryer().MaxAttempts())
	}
	if got := b.HTTPClient().GetTimeout(); got != 2*time.Second {
		t.Errorf("per-attempt timeout = %v, want 2s", got)
	}
}
