package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/deadline"
	"github.com/agentq/agentq/shared/netguard"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/telemetry"
	"github.com/agentq/agentq/shared/webhook/settings"
)

// Timing of an attempt.
const (
	// AttemptTimeout bounds one POST, from dial to the end of the answer's headers
	// (deadline.WebhookAttempt).
	AttemptTimeout = deadline.WebhookAttempt
	// Lease is how long a deliverer holds an attempt it claimed. The webhook queue's visibility
	// timeout must be longer, so that a message whose handling failed comes back only after its
	// lease has lapsed (see VisibilityTimeout).
	Lease = AttemptTimeout + 20*time.Second
	// VisibilityTimeout is the least visibility timeout the webhook queue needs.
	VisibilityTimeout = 2 * Lease
	// MaxPayloadBytes bounds an event's JSON body.
	MaxPayloadBytes = 256 << 10
	// MinRetention is how much longer than its schedule a delivery's record is kept at least,
	// whatever its task's expiry: the log outlives the last attempt by a day.
	MinRetention = 24 * time.Hour
)

// Config holds what a Service needs.
type Config struct {
	DB    DynamoDB
	Table string
	// Tenants holds the tenants' default URLs and signing keys.
	Tenants *settings.Tenants
	// URLsTTL is how long Notify reuses a tenant's default URLs before reading them again (0:
	// read for every notification). A notifier handles outcomes of the same few tenants over and
	// over; a URL added or removed reaches deliveries within URLsTTL.
	URLsTTL time.Duration
	// Queue is the webhook queue, which feeds Handle: first attempts and retries. nil leaves a
	// service that only reads the delivery log (Notify, Replay and Handle then fail).
	Queue Sender
	// DeadLetters receives a note of each delivery that failed every attempt.
	DeadLetters Sender
	// Client posts deliveries. nil: HTTPClient with netguard.Policy{AllowLoopback:
	// AllowLoopback}. A client of your own must not follow redirects (a redirect is a failed
	// attempt) and should check the address it dials.
	Client *http.Client
	// AllowLoopback lets deliveries reach this machine: local development and tests only.
	AllowLoopback bool
	// Schedule is the wait before attempts 2, 3, ...; nil means DefaultSchedule. At most
	// MaxAttempts-1 waits are used.
	Schedule []time.Duration
	Logger   *slog.Logger
	Metrics  *telemetry.Metrics
	Now      func() time.Time
}

// Service records deliveries, sends their messages and makes their attempts.
type Service struct {
	c Config

	mu   sync.Mutex
	urls map[string]tenantURLs // by tenant, while URLsTTL holds
}

// tenantURLs are a tenant's default URLs as read at read.
type tenantURLs struct {
	urls []string
	read time.Time
}

// maxCachedTenants bounds the tenants whose URLs a Service keeps: past it the cache starts over.
const maxCachedTenants = 10000

// New returns a Service.
func New(c Config) *Service {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Schedule == nil {
		c.Schedule = DefaultSchedule
	}
	c.Schedule = slices.Clone(c.Schedule[:min(len(c.Schedule), MaxAttempts-1)])
	if c.Client == nil {
		c.Client = HTTPClient(netguard.Policy{AllowLoopback: c.AllowLoopback})
	}
	return &Service{c: c, urls: map[string]tenantURLs{}}
}

// HTTPClient returns the client deliveries are posted with: every address dialed is checked
// against guard (so a host name that resolves to a forbidden address is refused on each attempt,
// DNS rebinding included), no proxy, no redirect followed, and AttemptTimeout per request.
func HTTPClient(guard netguard.Policy) *http.Client {
	c := guard.HTTPClient()
	c.Timeout = AttemptTimeout
	return c
}

// Notification is an event of a task to deliver.
type Notification struct {
	TaskID string
	Tenant string
	// TaskVersion is the task's version the event is about: with TaskID it identifies the event,
	// so notifying it again creates nothing twice.
	TaskVersion int64
	// EventSeq, when set, names a progress event of the task's log instead (its sequence
	// number): the event is then identified by TaskID and EventSeq, whatever TaskVersion says.
	EventSeq int64
	// URL is the task's own webhook_url; "" when it has none.
	URL   string
	Event Event
	// ExpiresAt is when the task's record expires; the deliveries' records expire with it, but
	// never sooner than MinRetention after their last scheduled attempt.
	ExpiresAt time.Time
}

// Notify records a delivery of n's event to each target (the task's URL, then the tenant's default
// URLs, without repeats) and sends each its first message. It is idempotent: a delivery's id
// derives from the task, its version and the URL, so a repeated call records nothing twice, and
// only sends again the messages of deliveries that have made no attempt yet (the deliverer's claim
// makes a duplicate message harmless). Any error means some delivery may lack its message: call
// Notify again. ErrInvalid (no task id, tenant or event type; a payload over MaxPayloadBytes) is
// permanent.
func (s *Service) Notify(ctx context.Context, n Notification) error {
	if n.TaskID == "" || n.Tenant == "" || n.Event.Type == "" {
		return fmt.Errorf("notify task %q: %w: task id, tenant and event type are required", n.TaskID, ErrInvalid)
	}
	payload, err := json.Marshal(n.Event)
	if err != nil {
		return fmt.Errorf("notify task %s: %w: encode event: %v", n.TaskID, ErrInvalid, err)
	}
	if len(payload) > MaxPayloadBytes {
		return fmt.Errorf("notify task %s: %w: the event is %d bytes, more than %d", n.TaskID, ErrInvalid, len(payload), MaxPayloadBytes)
	}
	var targets []string
	if n.URL != "" {
		targets = append(targets, n.URL)
	}
	defaults, err := s.defaultURLs(ctx, n.Tenant)
	if err != nil {
		return fmt.Errorf("notify task %s: %w", n.TaskID, err)
	}
	for _, u := range defaults {
		if !slices.Contains(targets, u) {
			targets = append(targets, u)
		}
	}
	now := s.c.Now()
	msgID, idOf := messageID(n.TaskID, n.TaskVersion), func(url string) string { return deliveryID(n.TaskID, n.TaskVersion, url) }
	if n.EventSeq > 0 {
		msgID, idOf = eventMessageID(n.TaskID, n.EventSeq), func(url string) string { return eventDeliveryID(n.TaskID, n.EventSeq, url) }
	}
	for _, target := range targets {
		d := &Delivery{
			ID: idOf(target), TaskID: n.TaskID, Tenant: n.Tenant, URL: target,
			MessageID: msgID, EventType: n.Event.Type, Payload: payload, State: Pending, Attempts: []Attempt{},
			CreatedAt: now, UpdatedAt: now, ExpiresAt: s.expiry(n.ExpiresAt, now),
		}
		created, existing, err := s.putDelivery(ctx, d, n.TaskVersion)
		if err != nil {
			return fmt.Errorf("notify task %s: %w", n.TaskID, err)
		}
		if !created && (existing.State != string(Pending) || existing.AttemptCount > 0) {
			continue // its messages are on their way, or it is over
		}
		if err := s.sendAttempt(ctx, d.ID, d.TaskID, 1, now, now); err != nil {
			return fmt.Errorf("notify task %s: delivery %s: %w", n.TaskID, d.ID, err)
		}
		if created {
			s.c.Logger.Info("webhook delivery created", "task_id", n.TaskID, "tenant", n.Tenant, "delivery_id", d.ID,
				"event_type", n.Event.Type, "url", settings.RedactURL(target))
		}
	}
	return nil
}

// Replay delivers a delivery's event again, to the same URL with the same payload and message id
// (receivers see the webhook-id they may have seen before), as a new delivery with its own
// attempts, whatever the state of the original. A delivery of another tenant is ErrNotFound.
func (s *Service) Replay(ctx context.Context, tenant, taskID, deliveryID string) (*Delivery, error) {
	orig, err := s.getItem(ctx, taskID, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	if orig.Tenant != tenant || tenant == "" {
		return nil, fmt.Errorf("replay delivery %s: %w", deliveryID, ErrNotFound)
	}
	if err := s.countReplay(ctx, orig); err != nil {
		return nil, fmt.Errorf("replay delivery %s: %w", deliveryID, err)
	}
	suffix, err := randomHex(13)
	if err != nil {
		return nil, fmt.Errorf("replay delivery %s: %w", deliveryID, err)
	}
	now := s.c.Now()
	var expires time.Time
	if orig.ExpiresAt != 0 {
		expires = time.Unix(orig.ExpiresAt, 0)
	}
	d := &Delivery{
		ID: "dlv_" + suffix, TaskID: orig.TaskID, Tenant: orig.Tenant, URL: orig.URL, MessageID: orig.MessageID,
		EventType: orig.EventType, Payload: json.RawMessage(orig.Payload), State: Pending, Attempts: []Attempt{},
		CreatedAt: now, UpdatedAt: now, ReplayOf: orig.ID, ExpiresAt: s.expiry(expires, now),
	}
	created, _, err := s.putDelivery(ctx, d, orig.TaskVersion)
	if err != nil {
		return nil, fmt.Errorf("replay delivery %s: %w", deliveryID, err)
	}
	if !created {
		return nil, fmt.Errorf("replay delivery %s: new delivery id %s is taken", deliveryID, d.ID)
	}
	if err := s.sendAttempt(ctx, d.ID, d.TaskID, 1, now, now); err != nil {
		// Nothing will make an attempt: say so in the log rather than leave it pending forever.
		if ferr := s.abandon(context.WithoutCancel(ctx), d, "the replay could not be queued"); ferr != nil {
			s.c.Logger.Error("mark unqueued replay failed", "delivery_id", d.ID, "err", ferr)
		}
		return nil, fmt.Errorf("replay delivery %s: %w", deliveryID, err)
	}
	s.c.Logger.Info("webhook delivery replayed", "task_id", d.TaskID, "tenant", tenant, "delivery_id", d.ID,
		"replay_of", orig.ID, "url", settings.RedactURL(d.URL))
	return d, nil
}

// MaxReplays bounds the replays of one delivery, counting replays of its replays: each sends a
// signed POST to a URL the tenant chose, so they must not become a flood.
const MaxReplays = 5

// countReplay counts one more replay of orig's first delivery (the one orig replays, or orig),
// or returns ErrReplayLimit when it has had MaxReplays.
func (s *Service) countReplay(ctx context.Context, orig *deliveryItem) error {
	first := orig.ID
	if orig.ReplayOf != "" {
		first = orig.ReplayOf
	}
	_, err := s.c.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.c.Table),
		Key:                      deliveryKey(orig.TaskID, first),
		UpdateExpression:         aws.String("ADD #n :one"),
		ConditionExpression:      aws.String("attribute_exists(#pk) AND (attribute_not_exists(#n) OR #n < :max)"),
		ExpressionAttributeNames: map[string]string{"#pk": table.AttrPK, "#n": "replays"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": &types.AttributeValueMemberN{Value: "1"}, ":max": &types.AttributeValueMemberN{Value: strconv.Itoa(MaxReplays)},
		},
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		return fmt.Errorf("%w: %d replays already", ErrReplayLimit, MaxReplays)
	case err != nil:
		return fmt.Errorf("count replays: %w", err)
	}
	return nil
}

// abandon fails a delivery that made no attempt, recording why.
func (s *Service) abandon(ctx context.Context, d *Delivery, why string) error {
	_, err := s.c.DB.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.c.Table),
		Key:                      deliveryKey(d.TaskID, d.ID),
		UpdateExpression:         aws.String("SET #state = :failed, #updated = :now, #reason = :why"),
		ConditionExpression:      aws.String("#state = :pending AND #count = :zero"),
		ExpressionAttributeNames: map[string]string{"#state": "state", "#updated": "updated_at", "#reason": "reason", "#count": "attempt_count"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":failed": table.S(string(Failed)), ":pending": table.S(string(Pending)), ":now": table.S(table.Stamp(s.c.Now())),
			":why": table.S(why), ":zero": table.N(0),
		},
	})
	if err != nil {
		return fmt.Errorf("abandon delivery %s: %w", d.ID, err)
	}
	d.State = Failed
	return nil
}

// errNoQueue is the error of a service built to read the delivery log only.
var errNoQueue = errors.New("no webhook queue configured")

// sendAttempt sends the message of attempt n, due at due.
func (s *Service) sendAttempt(ctx context.Context, id, taskID string, n int, due, now time.Time) error {
	body, err := encodeMessage(message{DeliveryID: id, TaskID: taskID, Attempt: n, NotBefore: due})
	if err != nil {
		return err
	}
	if s.c.Queue == nil {
		return fmt.Errorf("send attempt %d of delivery %s: %w", n, id, errNoQueue)
	}
	if err := s.c.Queue.Send(ctx, body, min(max(due.Sub(now), 0), MaxDelay)); err != nil {
		return fmt.Errorf("send attempt %d of delivery %s: %w", n, id, err)
	}
	return nil
}

// expiry is when a delivery's record expires: with its task, but not before its schedule is over
// and MinRetention has passed.
func (s *Service) expiry(task time.Time, now time.Time) time.Time {
	least := now.Add(total(s.c.Schedule) + total(s.c.Schedule)/5 + MinRetention)
	return maxTime(task, least)
}

// deliveryID derives a delivery's id from its event and URL: "dlv_" and 26 hex digits.
func deliveryID(taskID string, version int64, url string) string {
	return "dlv_" + digest(taskID, strconv.FormatInt(version, 10), url)
}

// messageID derives an event's webhook-id from the task and its version: "msg_" and 26 hex
// digits. Every URL the event goes to sees the same id.
func messageID(taskID string, version int64) string {
	return "msg_" + digest(taskID, strconv.FormatInt(version, 10))
}

// eventDeliveryID derives the id of a progress event's delivery from the task, the event's
// sequence number and the URL; the "event" part keeps it apart from every version's.
func eventDeliveryID(taskID string, seq int64, url string) string {
	return "dlv_" + digest(taskID, "event", strconv.FormatInt(seq, 10), url)
}

// eventMessageID derives a progress event's webhook-id from the task and the event's sequence
// number: the same on every attempt, every redelivery of the stream record and every URL.
func eventMessageID(taskID string, seq int64) string {
	return "msg_" + digest(taskID, "event", strconv.FormatInt(seq, 10))
}

func digest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		// Length-prefixed, so that no two lists of parts hash alike.
		h.Write([]byte(strconv.Itoa(len(p)) + ":" + p))
	}
	return hex.EncodeToString(h.Sum(nil))[:26]
}

// defaultURLs answers the tenant's default URLs: from memory when read less than URLsTTL ago, else
// from its settings. A failed read is not remembered.
func (s *Service) defaultURLs(ctx context.Context, tenant string) ([]string, error) {
	if s.c.Tenants == nil {
		return nil, nil
	}
	now := s.c.Now()
	s.mu.Lock()
	c, ok := s.urls[tenant]
	s.mu.Unlock()
	if ok && now.Sub(c.read) < s.c.URLsTTL {
		return c.urls, nil
	}
	set, err := s.c.Tenants.Settings(ctx, tenant)
	if err != nil {
		return nil, err
	}
	if s.c.URLsTTL > 0 {
		s.mu.Lock()
		if len(s.urls) >= maxCachedTenants {
			clear(s.urls)
		}
		s.urls[tenant] = tenantURLs{urls: set.URLs, read: now}
		s.mu.Unlock()
	}
	return set.URLs, nil
}
