package settings

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/webhook/signing"
)

// Limits of a tenant's settings.
const (
	// MaxURLs bounds a tenant's default URLs.
	MaxURLs = 10
	// MaxSecrets bounds the keys a tenant holds at once (the current one and those in their grace
	// period); a rotation beyond it drops the previous keys that expire first.
	MaxSecrets = 10
	// DefaultGrace is how long the previous key stays valid after a rotation given no grace.
	DefaultGrace = 24 * time.Hour
	// MaxGrace is the longest grace a rotation may give the previous key.
	MaxGrace = 7 * 24 * time.Hour
)

// SecretInfo describes one of a tenant's signing secrets; never its value.
type SecretInfo struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is when a previous secret stops signing; zero for the current one.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Settings are a tenant's webhook settings: the URLs every task's events go to (besides a task's
// own webhook_url) and the secrets deliveries are signed with, current first.
type Settings struct {
	Tenant    string       `json:"tenant"`
	URLs      []string     `json:"urls"`
	Secrets   []SecretInfo `json:"secrets"`
	UpdatedAt time.Time    `json:"updated_at,omitzero"`
}

// Tenants keeps tenants' webhook settings in the task table, one item per tenant (pk
// TENANT#<tenant>, sk WEBHOOKS). Secrets are stored sealed, each bound to its tenant and id; the
// opened keys are cached in memory by id, so signing costs one read of the item per attempt and
// no KMS call once a key has been opened.
type Tenants struct {
	db            DynamoDB
	table         string
	sealer        authctx.Sealer
	operator      []byte
	operatorErr   error
	allowLoopback bool
	now           func() time.Time

	mu   sync.Mutex
	keys map[string][]byte // tenant \x00 secret id -> opened key
}

// NewTenants returns the settings store over table. sealer seals tenants' secrets (nil: tenants
// cannot have secrets of their own, and only the operator's signs). operatorSecret
// (AGENTQ_WEBHOOK_SECRET, may be "") signs the deliveries of tenants that have no secret.
func NewTenants(db DynamoDB, table string, sealer authctx.Sealer, operatorSecret string) *Tenants {
	t := &Tenants{db: db, table: table, sealer: sealer, now: time.Now, keys: map[string][]byte{}}
	if operatorSecret != "" {
		t.operator, t.operatorErr = signing.ParseSecret(operatorSecret)
	}
	return t
}

// WithLoopback makes SetURLs accept loopback URLs (see CheckURL): for local development and
// tests only. It returns t.
func (t *Tenants) WithLoopback(allow bool) *Tenants {
	t.allowLoopback = allow
	return t
}

// WithClock makes t read the time from now instead of the system clock: for tests that move time
// through a rotation's grace period. It returns t.
func (t *Tenants) WithClock(now func() time.Time) *Tenants {
	t.now = now
	return t
}

// settingsSortKey is the sort key of every settings item.
const settingsSortKey = "WEBHOOKS"

// settingsItem is a tenant's settings as stored. It has no gsi* attribute and no expires_at: no
// index sees it, and it does not expire.
type settingsItem struct {
	PK        string       `dynamodbav:"pk"`
	SK        string       `dynamodbav:"sk"`
	Tenant    string       `dynamodbav:"tenant"`
	URLs      []string     `dynamodbav:"urls,omitempty"`
	Secrets   []secretItem `dynamodbav:"secrets,omitempty"`
	Version   int64        `dynamodbav:"version"`
	UpdatedAt string       `dynamodbav:"updated_at"`
}

// secretItem is one secret as stored: sealed, the only form in which it is ever stored.
type secretItem struct {
	ID        string `dynamodbav:"id"`
	Sealed    []byte `dynamodbav:"sealed"`
	CreatedAt string `dynamodbav:"created_at"`
	// ValidUntil ends a previous secret's grace; empty for the current one.
	ValidUntil string `dynamodbav:"valid_until,omitempty"`
}

func settingsKey(tenant string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		table.AttrPK: &types.AttributeValueMemberS{Value: table.TenantPartition("TENANT", tenant)},
		table.AttrSK: &types.AttributeValueMemberS{Value: settingsSortKey},
	}
}

// secretBinding binds a sealed secret to its tenant and id: it opens in no other record.
func secretBinding(tenant, id string) []byte { return authctx.Binding(tenant, "webhook-secret/"+id) }

func validTenant(tenant string) error {
	if err := authctx.ValidateTenant(tenant); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// read returns the tenant's item, or nil when none is stored.
func (t *Tenants) read(ctx context.Context, tenant string) (*settingsItem, error) {
	out, err := t.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(t.table), Key: settingsKey(tenant), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("read webhook settings of tenant %s: %w", tenant, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	var it settingsItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return nil, fmt.Errorf("decode webhook settings of tenant %s: %w", tenant, err)
	}
	return &it, nil
}

// write stores it if the stored item is still at version prev (0: there is none). It reports
// false when another writer got there first.
func (t *Tenants) write(ctx context.Context, it *settingsItem, prev int64) (bool, error) {
	av, err := attributevalue.MarshalMap(it)
	if err != nil {
		return false, fmt.Errorf("encode webhook settings of tenant %s: %w", it.Tenant, err)
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(t.table), Item: av, ExpressionAttributeNames: map[string]string{"#pk": table.AttrPK}}
	if prev == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
	} else {
		in.ConditionExpression = aws.String("attribute_exists(#pk) AND #version = :prev")
		in.ExpressionAttributeNames["#version"] = "version"
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":prev": table.N(prev)}
	}
	_, err = t.db.PutItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("write webhook settings of tenant %s: %w", it.Tenant, err)
	}
	return true, nil
}

// update applies change to the tenant's item (a new one when none is stored) and writes it,
// reading and applying once more if another writer got there first; a second loss is
// ErrConflict.
func (t *Tenants) update(ctx context.Context, tenant string, change func(it *settingsItem, now time.Time) error) (*settingsItem, error) {
	for range 2 {
		it, err := t.read(ctx, tenant)
		if err != nil {
			return nil, err
		}
		if it == nil {
			it = &settingsItem{PK: table.TenantPartition("TENANT", tenant), SK: settingsSortKey, Tenant: tenant}
		}
		prev := it.Version
		now := t.now()
		if err := change(it, now); err != nil {
			return nil, err
		}
		it.Version, it.UpdatedAt = prev+1, table.Stamp(now)
		ok, err := t.write(ctx, it, prev)
		if err != nil {
			return nil, err
		}
		if ok {
			return it, nil
		}
	}
	return nil, fmt.Errorf("update webhook settings of tenant %s: %w", tenant, ErrConflict)
}

// Settings returns the tenant's settings: empty ones, not an error, when none are stored.
func (t *Tenants) Settings(ctx context.Context, tenant string) (*Settings, error) {
	if err := validTenant(tenant); err != nil {
		return nil, fmt.Errorf("webhook settings: %w", err)
	}
	it, err := t.read(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return it.settings(tenant)
}

func (it *settingsItem) settings(tenant string) (*Settings, error) {
	s := &Settings{Tenant: tenant, URLs: []string{}, Secrets: []SecretInfo{}}
	if it == nil {
		return s, nil
	}
	s.URLs = append(s.URLs, it.URLs...)
	var err error
	if s.UpdatedAt, err = table.ParseStamp(it.UpdatedAt); err != nil {
		return nil, fmt.Errorf("decode webhook settings of tenant %s: %w", tenant, err)
	}
	for _, sec := range it.Secrets {
		info := SecretInfo{ID: sec.ID}
		if info.CreatedAt, err = table.ParseStamp(sec.CreatedAt); err == nil {
			info.ExpiresAt, err = table.ParseStamp(sec.ValidUntil)
		}
		if err != nil {
			return nil, fmt.Errorf("decode webhook secret %s of tenant %s: %w", sec.ID, tenant, err)
		}
		s.Secrets = append(s.Secrets, info)
	}
	return s, nil
}

// SetURLs replaces the tenant's default URLs: each is checked with ValidateURL (CheckURL when
// WithLoopback allows loopback), duplicates are dropped, and at most MaxURLs remain. A tenant
// without a secret of its own gets one, returned once in newSecret (and never again); otherwise
// newSecret is "". Without a sealer no secret can be stored: the URLs are then kept only if the
// operator's secret can sign for the tenant (otherwise an error wrapping both ErrNoSealer and
// ErrNoSecret).
func (t *Tenants) SetURLs(ctx context.Context, tenant string, urls []string) (s *Settings, newSecret string, err error) {
	if err := validTenant(tenant); err != nil {
		return nil, "", fmt.Errorf("set webhook urls: %w", err)
	}
	var clean []string
	for i, u := range urls {
		if err := CheckURL(u, t.allowLoopback); err != nil {
			return nil, "", fmt.Errorf("set webhook urls: url %d: %w", i+1, err)
		}
		if !slices.Contains(clean, u) {
			clean = append(clean, u)
		}
	}
	if len(clean) > MaxURLs {
		return nil, "", fmt.Errorf("set webhook urls: %w: at most %d URLs, got %d", ErrInvalid, MaxURLs, len(clean))
	}
	it, err := t.update(ctx, tenant, func(it *settingsItem, now time.Time) error {
		it.URLs, newSecret = clean, ""
		if len(it.Secrets) > 0 {
			return nil
		}
		if t.sealer == nil {
			if t.operator == nil {
				return fmt.Errorf("set webhook urls of tenant %s: %w (%w)", tenant, ErrNoSealer, ErrNoSecret)
			}
			return nil
		}
		sec, secret, err := t.newSecret(ctx, tenant, now)
		if err != nil {
			return err
		}
		it.Secrets, newSecret = []secretItem{sec}, secret
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	s, err = it.settings(tenant)
	if err != nil {
		return nil, "", err
	}
	return s, newSecret, nil
}

// RotateSecret gives the tenant a new current secret, returned once in secret (and never again).
// The previous current secret keeps signing until now+grace (DefaultGrace when grace is 0; more
// than MaxGrace, or negative, is ErrInvalid), so receivers can switch over; secrets whose grace
// has ended are removed. Deliveries carry a signature by every secret still valid. Without a
// sealer it fails with an error wrapping both ErrNoSealer and ErrNoSecret.
func (t *Tenants) RotateSecret(ctx context.Context, tenant string, grace time.Duration) (s *Settings, secret string, err error) {
	if err := validTenant(tenant); err != nil {
		return nil, "", fmt.Errorf("rotate webhook secret: %w", err)
	}
	switch {
	case grace == 0:
		grace = DefaultGrace
	case grace < 0 || grace > MaxGrace:
		return nil, "", fmt.Errorf("rotate webhook secret: %w: the grace period must be between 0 and %v", ErrInvalid, MaxGrace)
	}
	if t.sealer == nil {
		return nil, "", fmt.Errorf("rotate webhook secret of tenant %s: %w (%w)", tenant, ErrNoSealer, ErrNoSecret)
	}
	it, err := t.update(ctx, tenant, func(it *settingsItem, now time.Time) error {
		sec, plain, err := t.newSecret(ctx, tenant, now)
		if err != nil {
			return err
		}
		kept := []secretItem{sec}
		for _, old := range it.Secrets {
			if old.ValidUntil == "" {
				old.ValidUntil = table.Stamp(now.Add(grace))
			}
			if until, err := table.ParseStamp(old.ValidUntil); err != nil || !until.After(now) {
				continue // expired (or unreadable): it signs nothing any more
			}
			kept = append(kept, old)
		}
		// Latest expiry first, so that the cap drops those that expire first.
		slices.SortStableFunc(kept[1:], func(a, b secretItem) int { return -compareStamps(a.ValidUntil, b.ValidUntil) })
		it.Secrets, secret = kept[:min(len(kept), MaxSecrets)], plain
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	s, err = it.settings(tenant)
	if err != nil {
		return nil, "", err
	}
	return s, secret, nil
}

func compareStamps(a, b string) int {
	ta, _ := table.ParseStamp(a)
	tb, _ := table.ParseStamp(b)
	return ta.Compare(tb)
}

// newSecret makes a secret and seals it for the tenant.
func (t *Tenants) newSecret(ctx context.Context, tenant string, now time.Time) (secretItem, string, error) {
	id, err := randomHex(12)
	if err != nil {
		return secretItem{}, "", fmt.Errorf("new webhook secret for tenant %s: %w", tenant, err)
	}
	id = "whk_" + id
	key := make([]byte, signing.SecretBytes)
	if _, err := rand.Read(key); err != nil {
		return secretItem{}, "", fmt.Errorf("new webhook secret for tenant %s: %w", tenant, err)
	}
	sealed, err := t.sealer.Seal(ctx, key, secretBinding(tenant, id))
	if err != nil {
		return secretItem{}, "", fmt.Errorf("seal webhook secret %s of tenant %s: %w", id, tenant, err)
	}
	secret := signing.FormatSecret(key)
	clear(key)
	return secretItem{ID: id, Sealed: sealed, CreatedAt: table.Stamp(now)}, secret, nil
}

// SigningKeys returns the keys that sign the tenant's deliveries at now: its current key and the
// previous ones still in their grace period, current first; with none of its own, the operator's
// key; with neither, ErrNoSecret. A key that does not open is an error wrapping
// authctx.ErrUnsealable.
func (t *Tenants) SigningKeys(ctx context.Context, tenant string, now time.Time) ([][]byte, error) {
	it, err := t.read(ctx, tenant)
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	if it != nil {
		for _, sec := range it.Secrets {
			if sec.ValidUntil != "" {
				until, err := table.ParseStamp(sec.ValidUntil)
				if err != nil || !until.After(now) {
					continue
				}
			}
			key, err := t.open(ctx, tenant, sec)
			if err != nil {
				return nil, err
			}
			keys = append(keys, key)
		}
	}
	if len(keys) > 0 {
		return keys, nil
	}
	if t.operatorErr != nil {
		return nil, fmt.Errorf("signing keys of tenant %s: %w (the operator's secret is unusable: %v)", tenant, ErrNoSecret, t.operatorErr)
	}
	if t.operator != nil {
		return [][]byte{t.operator}, nil
	}
	return nil, fmt.Errorf("signing keys of tenant %s: %w", tenant, ErrNoSecret)
}

// maxCachedKeys bounds the cache of opened keys; it is emptied when full.
const maxCachedKeys = 1024

// open returns a secret's key, opening it once per process.
func (t *Tenants) open(ctx context.Context, tenant string, sec secretItem) ([]byte, error) {
	ck := tenant + "\x00" + sec.ID
	t.mu.Lock()
	key, ok := t.keys[ck]
	t.mu.Unlock()
	if ok {
		return key, nil
	}
	if t.sealer == nil {
		return nil, fmt.Errorf("open webhook secret %s of tenant %s: %w: no sealer is configured", sec.ID, tenant, authctx.ErrUnsealable)
	}
	key, err := t.sealer.Open(ctx, sec.Sealed, secretBinding(tenant, sec.ID))
	if err != nil {
		return nil, fmt.Errorf("open webhook secret %s of tenant %s: %w", sec.ID, tenant, err)
	}
	t.mu.Lock()
	if len(t.keys) >= maxCachedKeys {
		clear(t.keys)
	}
	t.keys[ck] = key
	t.mu.Unlock()
	return key, nil
}

// CanSign reports whether the tenant's deliveries can be signed: it has a secret of its own, or
// the operator configured one. The accept path checks it before taking a webhook_url.
func (t *Tenants) CanSign(ctx context.Context, tenant string) (bool, error) {
	if t.operator != nil {
		return true, nil
	}
	it, err := t.read(ctx, tenant)
	if err != nil {
		return false, err
	}
	if it == nil || t.sealer == nil {
		return false, nil
	}
	now := t.now()
	for _, sec := range it.Secrets {
		if until, err := table.ParseStamp(sec.ValidUntil); err == nil && (until.IsZero() || until.After(now)) {
			return true, nil
		}
	}
	return false, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
