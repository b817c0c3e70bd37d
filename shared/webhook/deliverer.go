package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/netguard"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/telemetry"
	"github.com/agentq/agentq/shared/webhook/settings"
	"github.com/agentq/agentq/shared/webhook/signing"
)

// dueSlack is how early a message may be handled without being sent back: SQS delays are whole
// seconds, so the last part of a wait is slept through instead.
const dueSlack = time.Second

// recordMargin is the time an attempt keeps back from the invocation's deadline to record its
// outcome.
const recordMargin = 5 * time.Second

// maxErrorBytes bounds the error recorded for an attempt.
const maxErrorBytes = 500

// Handle is the deliverer: the Lambda handler of the webhook queue. It handles the records of a
// batch concurrently and answers the ones SQS must redeliver (transient DynamoDB or SQS errors).
func (s *Service) Handle(ctx context.Context, recs []batch.Record) []string {
	return batch.Process(ctx, recs, 0, func(ctx context.Context, _ int, rec batch.Record) error {
		if s.handleRecord(ctx, rec) {
			return errRedeliver
		}
		return nil
	})
}

// errRedeliver marks a record of a batch to deliver again.
var errRedeliver = errors.New("redeliver")

// handleRecord handles one message and reports whether SQS must deliver it again.
func (s *Service) handleRecord(ctx context.Context, rec batch.Record) (retry bool) {
	log := s.c.Logger.With("message_id", rec.ID)
	m, err := decodeMessage(rec.Body)
	if err != nil {
		// Not ours, or not a delivery: no retry can make it one.
		log.Error("drop malformed webhook message", "err", err, "bytes", len(rec.Body))
		return false
	}
	log = log.With("delivery_id", m.DeliveryID, "task_id", m.TaskID, "attempt", m.Attempt)
	if retry, due := s.waitUntilDue(ctx, log, m); !due {
		return retry
	}
	return s.deliver(ctx, log, m)
}

// waitUntilDue sleeps through the last moment before m is due, and reports due; a message due
// later is sent back delayed (SQS delays a message 15 minutes at most, so longer waits are
// chained), and retry then says whether SQS must deliver this one again.
func (s *Service) waitUntilDue(ctx context.Context, log *slog.Logger, m message) (retry, due bool) {
	wait := m.NotBefore.Sub(s.c.Now())
	if wait > dueSlack {
		if err := s.sendAttempt(ctx, m.DeliveryID, m.TaskID, m.Attempt, m.NotBefore, s.c.Now()); err != nil {
			log.Error("send a waiting attempt back", "err", err)
			return true, false
		}
		return false, false
	}
	if wait > 0 {
		select {
		case <-ctx.Done():
			return true, false
		case <-time.After(wait):
		}
	}
	return false, true
}

// deliver claims the attempt m asks for, makes it and records it; it reports whether SQS must
// deliver m again.
func (s *Service) deliver(ctx context.Context, log *slog.Logger, m message) (retry bool) {
	it, err := s.getItem(ctx, m.TaskID, m.DeliveryID)
	if errors.Is(err, ErrNotFound) {
		log.Warn("drop message of a delivery that is gone")
		return false
	}
	if err != nil {
		log.Error("read delivery", "err", err)
		return true
	}
	log = log.With("tenant", it.Tenant, "url", settings.RedactURL(it.URL))
	if it.Handoff != "" && it.AttemptCount == m.Attempt {
		// The attempt was recorded, and what had to follow it may not have been sent.
		return s.handoff(ctx, log, it)
	}
	if it.State != string(Pending) || it.AttemptCount != m.Attempt-1 {
		log.Info("drop duplicate webhook message", "state", it.State, "attempts", it.AttemptCount)
		return false
	}
	d, err := it.delivery()
	if err != nil {
		log.Error("drop message of an unreadable delivery", "err", err)
		return false
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < AttemptTimeout+recordMargin {
		return true // not enough time left to make the attempt and record it
	}
	token, err := randomHex(12)
	if err != nil {
		log.Error("claim token", "err", err)
		return true
	}
	if err := s.claim(ctx, m.TaskID, m.DeliveryID, m.Attempt, token, s.c.Now()); err != nil {
		if errors.Is(err, errLost) {
			log.Info("drop duplicate webhook message: the attempt is claimed or made")
			return false
		}
		log.Error("claim attempt", "err", err)
		return true
	}
	return s.attemptAndRecord(ctx, log, m, it, d, token)
}

// attemptAndRecord makes the claimed attempt, records its outcome and sends what follows it; it
// reports whether SQS must deliver m again.
func (s *Service) attemptAndRecord(ctx context.Context, log *slog.Logger, m message, it *deliveryItem, d *Delivery, token string) (retry bool) {
	a, permanent, err := s.attempt(ctx, d, m.Attempt)
	if err != nil {
		// The lease lapses before SQS shows the message again (VisibilityTimeout > Lease).
		log.Error("make attempt", "err", err)
		return true
	}
	r := result{attempt: a}
	switch {
	case a.Error == "":
		r.state = Succeeded
	case !permanent && m.Attempt <= len(s.c.Schedule):
		first := a.At
		if len(d.Attempts) > 0 {
			first = d.Attempts[0].At
		}
		r.state, r.handoff = Pending, handoffNext
		r.next = nextAttempt(s.c.Schedule, first, m.Attempt, s.c.Now())
	default:
		r.state, r.handoff = Failed, handoffDeadLetter
	}
	// The outcome is recorded even if the invocation is ending: the attempt was made.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordMargin)
	defer cancel()
	if err := s.recordAttempt(wctx, m.TaskID, m.DeliveryID, token, r); err != nil {
		if errors.Is(err, errLost) {
			log.Warn("attempt outcome superseded: another deliverer took the attempt over")
			return false
		}
		log.Error("record attempt", "err", err)
		return true
	}
	switch r.state {
	case Succeeded:
		log.Info("webhook delivered", "status", a.StatusCode, "duration_ms", a.DurationMS)
		s.c.Metrics.Count(telemetry.WebhookDelivered, 1)
		return false
	case Pending:
		log.Warn("webhook attempt failed; will retry", "status", a.StatusCode, "err", a.Error, "next_attempt_at", r.next)
	default:
		log.Error("webhook delivery failed: no attempts left", "status", a.StatusCode, "err", a.Error)
	}
	s.c.Metrics.Count(telemetry.WebhookAttemptFailed, 1)
	it.State, it.AttemptCount, it.Handoff, it.NextAttemptAt = string(r.state), m.Attempt, r.handoff, table.Stamp(r.next)
	it.Attempts = append(it.Attempts, toAttemptItem(a))
	return s.handoff(wctx, log, it)
}

// handoff sends what must follow a recorded attempt: the next attempt's message, or the note to
// the dead-letter queue. It clears the hand-off once sent.
func (s *Service) handoff(ctx context.Context, log *slog.Logger, it *deliveryItem) (retry bool) {
	var err error
	switch it.Handoff {
	case handoffNext:
		next, perr := table.ParseStamp(it.NextAttemptAt)
		if perr != nil || next.IsZero() {
			next = s.c.Now()
		}
		err = s.sendAttempt(ctx, it.ID, it.TaskID, it.AttemptCount+1, next, s.c.Now())
	case handoffDeadLetter:
		err = s.sendDeadLetter(ctx, it)
		if err == nil {
			s.c.Metrics.Count(telemetry.WebhookDeadLettered, 1)
			log.Error("webhook delivery dead-lettered", "attempts", it.AttemptCount)
		}
	default:
		log.Error("unknown hand-off; clearing it", "handoff", it.Handoff)
	}
	if err != nil {
		log.Error("hand off the attempt's outcome", "handoff", it.Handoff, "err", err)
		return true
	}
	if err := s.clearHandoff(ctx, it.TaskID, it.ID, it.AttemptCount, it.Handoff); err != nil {
		// Sent all the same; at worst a later duplicate sends it again, which is harmless.
		log.Warn("clear hand-off", "err", err)
	}
	return false
}

func (s *Service) sendDeadLetter(ctx context.Context, it *deliveryItem) error {
	if s.c.DeadLetters == nil {
		return nil
	}
	last := ""
	if n := len(it.Attempts); n > 0 {
		last = it.Attempts[n-1].Error
	}
	body, err := json.Marshal(deadLetter{
		Kind: MessageKind, DeliveryID: it.ID, TaskID: it.TaskID, Tenant: it.Tenant, URL: settings.RedactURL(it.URL),
		MessageID: it.MessageID, EventType: it.EventType, Attempts: it.AttemptCount, LastError: last,
	})
	if err != nil {
		return fmt.Errorf("encode dead letter of delivery %s: %w", it.ID, err)
	}
	if err := s.c.DeadLetters.Send(ctx, string(body), 0); err != nil {
		return fmt.Errorf("dead-letter delivery %s: %w", it.ID, err)
	}
	return nil
}

// attempt makes attempt n of d: one signed POST. A failed attempt has Error set; permanent says
// that retrying cannot help. err is set only when the attempt could not be made for a reason
// that may pass (reading the signing keys failed).
func (s *Service) attempt(ctx context.Context, d *Delivery, n int) (a Attempt, permanent bool, err error) {
	at := s.c.Now()
	a = Attempt{N: n, At: at}
	if _, err := settings.ParseURL(d.URL, s.c.AllowLoopback); err != nil {
		a.Error = "the URL cannot receive webhooks (" + err.Error() + ")"
		return a, true, nil
	}
	var keys [][]byte
	if s.c.Tenants != nil {
		keys, err = s.c.Tenants.SigningKeys(ctx, d.Tenant, at)
	} else {
		err = ErrNoSecret
	}
	switch {
	case errors.Is(err, ErrNoSecret):
		a.Error = "no signing secret"
		return a, true, nil
	case errors.Is(err, authctx.ErrUnsealable):
		a.Error = "the signing secret could not be opened"
		return a, false, nil
	case err != nil:
		return a, false, err
	}

	actx, cancel := context.WithTimeout(ctx, AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, d.URL, bytes.NewReader(d.Payload))
	if err != nil {
		a.Error = "the URL cannot receive webhooks"
		return a, true, nil
	}
	signing.SetHeaders(req.Header, keys, d.MessageID, at, d.Payload)
	start := time.Now()
	resp, err := s.c.Client.Do(req)
	a.DurationMS = time.Since(start).Milliseconds()
	if err != nil {
		a.Error = describe(err, d.URL)
		return a, false, nil
	}
	// Drained (a little) so that the connection can be reused; what the receiver says is not
	// recorded: it might echo a header.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	a.StatusCode = resp.StatusCode
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
	case code >= 300 && code < 400:
		a.Error = fmt.Sprintf("the receiver answered %d, a redirect, which is not followed", code)
	default:
		a.Error = fmt.Sprintf("the receiver answered %d", code)
	}
	return a, false, nil
}

// describe says why a POST got no answer, without the URL's query or any header value.
func describe(err error, raw string) string {
	var msg string
	var ne net.Error
	switch {
	case errors.Is(err, netguard.ErrBlocked):
		reason := netguard.ErrBlocked.Error()
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			reason = op.Err.Error()
		}
		msg = "refused: the URL leads to an address webhooks may not reach (" + reason + ")"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		msg = fmt.Sprintf("no answer within %v", AttemptTimeout)
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL
		}
		msg = "could not reach the receiver: " + err.Error()
	}
	return scrub(msg, raw)
}

// scrub removes the URL's query (and the URL itself) from msg, and bounds its length.
func scrub(msg, raw string) string {
	if u, err := url.Parse(raw); err == nil && u.RawQuery != "" {
		msg = strings.ReplaceAll(msg, raw, settings.RedactURL(raw))
		msg = strings.ReplaceAll(msg, u.RawQuery, "[query]")
	}
	if len(msg) > maxErrorBytes {
		msg = msg[:maxErrorBytes] + "..."
	}
	return msg
}
