// Package keystore keeps tenants' API keys in the task table, created and revoked by an admin.
// A key is known only by its SHA-256: the store keeps the hash (item pk APIKEY#<sha256hex>, sk
// APIKEY) and answers the key in the clear once, from Create. Keys answers which tenant owns a key,
// the configured keys (AGENTQ_API_KEYS) first and then the stored ones, with a short cache.
package keystore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/deadline"
	"github.com/agentq/agentq/shared/table"
)

// Limits of a key's fields.
const (
	MaxTenantBytes = apikey.MaxTenantBytes
	MaxNameBytes   = 256
	// IDLength is how many hex digits of a key's hash make its id.
	IDLength = 16
	// KeyPrefix starts every key the store makes, so a leaked one is easy to recognize.
	KeyPrefix = "aq_"
)

// Errors of the store.
var (
	// ErrNotFound means no stored key has that id.
	ErrNotFound = errors.New("api key not found")
	// ErrInvalid means a tenant or name was refused; the error's text says why.
	ErrInvalid = errors.New("invalid api key request")
)

// Record is a stored key's metadata: never the key, never the whole hash.
type Record struct {
	// ID is the first IDLength hex digits of the key's SHA-256.
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	Revoked   bool       `json:"revoked"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// DynamoDB is the part of the DynamoDB API the store uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

var _ DynamoDB = (*dynamodb.Client)(nil)

// Store keeps API keys in the task table and authenticates callers by them.
type Store struct {
	db     DynamoDB
	table  string
	ttl    time.Duration
	now    func() time.Time
	random func([]byte) (int, error)
	// static holds the configured keys, which the store can neither list nor revoke.
	static *apikey.Keys
	// lookupTimeout bounds one table read of Tenant, whose interface carries no context.
	lookupTimeout time.Duration

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	tenant  string
	ok      bool
	expires time.Time
}

// maxCached bounds the cache: guesses at keys are cached too (as misses), and must not grow it
// without end.
const maxCached = 10000

// New returns a store over the table. Lookups are cached for cacheTTL (0 disables the cache): a
// key revoked stops working everywhere within that time.
func New(db DynamoDB, table string, cacheTTL time.Duration) *Store {
	return &Store{db: db, table: table, ttl: cacheTTL, now: time.Now, random: rand.Read,
		lookupTimeout: deadline.KeyLookup, cache: map[string]cached{}}
}

// WithConfigured layers the configured keys beneath the store: they authenticate without a read.
func (s *Store) WithConfigured(k *apikey.Keys) *Store {
	s.static = k
	return s
}

const sortKey = "APIKEY"

// item is a key as stored: its hash, never the key.
type item struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	GSI1PK    string `dynamodbav:"gsi1pk"`
	GSI1SK    string `dynamodbav:"gsi1sk"`
	ID        string `dynamodbav:"api_key_id"`
	Tenant    string `dynamodbav:"tenant"`
	Name      string `dynamodbav:"name"`
	CreatedAt string `dynamodbav:"created_at"`
	Revoked   bool   `dynamodbav:"revoked"`
	RevokedAt string `dynamodbav:"revoked_at,omitempty"`
}

// idItem finds a key's item from its id, for Revoke.
type idItem struct {
	PK   string `dynamodbav:"pk"`
	SK   string `dynamodbav:"sk"`
	Hash string `dynamodbav:"key_hash"`
}

func (it *item) record() (Record, error) {
	created, err := time.Parse(time.RFC3339Nano, it.CreatedAt)
	if err != nil {
		return Record{}, fmt.Errorf("decode api key %s: created_at: %w", it.ID, err)
	}
	r := Record{ID: it.ID, Tenant: it.Tenant, Name: it.Name, CreatedAt: created, Revoked: it.Revoked}
	if it.RevokedAt != "" {
		if at, err := time.Parse(time.RFC3339Nano, it.RevokedAt); err == nil {
			r.RevokedAt = &at
		}
	}
	return r, nil
}

func hashKey(hash string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{table.AttrPK: table.S("APIKEY#" + hash), table.AttrSK: table.S(sortKey)}
}

func idKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{table.AttrPK: table.S("APIKEYID#" + id), table.AttrSK: table.S("APIKEYID")}
}

func listPartition(tenant string) string { return table.TenantPartition("APIKEYS", tenant) }

// Validate checks a tenant and name can make a key: the tenant as apikey.ValidateTenant says,
// the name 1 to MaxNameBytes bytes of UTF-8 text without control characters.
func Validate(tenant, name string) error {
	var problems []string
	if err := apikey.ValidateTenant(tenant); err != nil {
		problems = append(problems, "tenant must be "+apikey.TenantRule)
	}
	if name == "" {
		problems = append(problems, "name is required")
	} else if len(name) > MaxNameBytes || !printable(name) {
		problems = append(problems, fmt.Sprintf("name must be 1 to %d bytes of text without control characters", MaxNameBytes))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}

// Create makes a key for tenant and stores its hash. The key is answered here only: nothing can
// read it back.
func (s *Store) Create(ctx context.Context, tenant, name string) (string, Record, error) {
	if err := Validate(tenant, name); err != nil {
		return "", Record{}, fmt.Errorf("create api key: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := s.random(raw); err != nil {
		return "", Record{}, fmt.Errorf("create api key: %w", err)
	}
	key := KeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	hash := apikey.Hash(key)
	id := hash[:IDLength]
	now := s.now().UTC()
	stamp := now.Format(time.RFC3339Nano)
	it, err := attributevalue.MarshalMap(item{
		PK: "APIKEY#" + hash, SK: sortKey, GSI1PK: listPartition(tenant), GSI1SK: stamp + "#" + id,
		ID: id, Tenant: tenant, Name: name, CreatedAt: stamp,
	})
	if err != nil {
		return "", Record{}, fmt.Errorf("create api key: %w", err)
	}
	ref, err := attributevalue.MarshalMap(idItem{PK: "APIKEYID#" + id, SK: "APIKEYID", Hash: hash})
	if err != nil {
		return "", Record{}, fmt.Errorf("create api key: %w", err)
	}
	fresh := aws.String("attribute_not_exists(pk)")
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(s.table), Item: it, ConditionExpression: fresh}},
		{Put: &types.Put{TableName: aws.String(s.table), Item: ref, ConditionExpression: fresh}},
	}})
	if err != nil {
		return "", Record{}, fmt.Errorf("create api key for tenant %s: %w", tenant, err)
	}
	s.forget(hash)
	return key, Record{ID: id, Tenant: tenant, Name: name, CreatedAt: now}, nil
}

// Get reads a stored key's metadata by id.
func (s *Store) Get(ctx context.Context, id string) (Record, error) {
	_, it, err := s.byID(ctx, id)
	if err != nil {
		return Record{}, err
	}
	return it.record()
}

func validID(id string) bool {
	if len(id) != IDLength {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func (s *Store) byID(ctx context.Context, id string) (string, *item, error) {
	if !validID(id) {
		return "", nil, fmt.Errorf("api key %.32q: %w", id, ErrNotFound)
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: idKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return "", nil, fmt.Errorf("get api key %s: %w", id, err)
	}
	if out.Item == nil {
		return "", nil, fmt.Errorf("api key %s: %w", id, ErrNotFound)
	}
	var ref idItem
	if err := attributevalue.UnmarshalMap(out.Item, &ref); err != nil {
		return "", nil, fmt.Errorf("get api key %s: %w", id, err)
	}
	it, err := s.item(ctx, ref.Hash, true)
	if err != nil {
		return "", nil, err
	}
	if it == nil {
		return "", nil, fmt.Errorf("api key %s: %w", id, ErrNotFound)
	}
	return ref.Hash, it, nil
}

func (s *Store) item(ctx context.Context, hash string, consistent bool) (*item, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: hashKey(hash), ConsistentRead: aws.Bool(consistent)})
	if err != nil {
		return nil, fmt.Errorf("get api key: %w", err)
	}
	if out.Item == nil {
		return nil, nil
	}
	var it item
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return nil, fmt.Errorf("decode api key: %w", err)
	}
	return &it, nil
}

// Revoke marks a stored key revoked and answers it so. The item stays, so the key's name and
// dates remain listed; revoking twice is not an error.
func (s *Store) Revoke(ctx context.Context, id string) (Record, error) {
	hash, it, err := s.byID(ctx, id)
	if err != nil {
		return Record{}, err
	}
	if !it.Revoked {
		it.Revoked, it.RevokedAt = true, s.now().UTC().Format(time.RFC3339Nano)
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                aws.String(s.table),
			Key:                      hashKey(hash),
			UpdateExpression:         aws.String("SET #r = :t, #at = :at"),
			ConditionExpression:      aws.String("attribute_exists(pk)"),
			ExpressionAttributeNames: map[string]string{"#r": "revoked", "#at": "revoked_at"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":t": &types.AttributeValueMemberBOOL{Value: true}, ":at": table.S(it.RevokedAt),
			},
		})
		if err != nil {
			return Record{}, fmt.Errorf("revoke api key %s: %w", id, err)
		}
	}
	s.forget(hash)
	return it.record()
}

// List answers a tenant's stored keys, oldest first, revoked ones too. Configured keys are not
// listed: configuration owns them. The by_tenant index holds the keys' entries, not the keys
// (it copies only what tasks are listed by), so the keys are read back by their entries.
func (s *Store) List(ctx context.Context, tenant string) ([]Record, error) {
	if err := Validate(tenant, "-"); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	ix := table.Indexes[0]
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(ix.Name),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": ix.PartitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": table.S(listPartition(tenant))},
	}
	var keys []map[string]types.AttributeValue
	p := dynamodb.NewQueryPaginator(s.db, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list api keys of %s: %w", tenant, err)
		}
		for _, e := range page.Items {
			keys = append(keys, table.ItemKey(e))
		}
	}
	items, err := table.BatchGet(ctx, s.db, s.table, keys)
	if err != nil {
		return nil, fmt.Errorf("list api keys of %s: %w", tenant, err)
	}
	byKey := make(map[string]map[string]types.AttributeValue, len(items))
	for _, av := range items {
		byKey[table.KeyString(av)] = av
	}
	records := []Record{}
	for _, k := range keys { // the index's order: oldest first
		av, ok := byKey[table.KeyString(k)]
		if !ok {
			continue // deleted since
		}
		var it item
		if err := attributevalue.UnmarshalMap(av, &it); err != nil {
			return nil, fmt.Errorf("list api keys of %s: %w", tenant, err)
		}
		r, err := it.record()
		if err != nil {
			return nil, err
		}
		records = append(records, r)
	}
	return records, nil
}

// Tenant answers the tenant owning key: a configured key's at once, else a stored key's unless it
// is revoked. A failed read answers false (the caller is refused, not let in) and is not cached.
func (s *Store) Tenant(key string) (string, bool) {
	if key == "" {
		return "", false
	}
	if s.static != nil {
		if tenant, ok := s.static.Tenant(key); ok {
			return tenant, true
		}
	}
	hash := apikey.Hash(key)
	now := s.now()
	if s.ttl > 0 {
		s.mu.Lock()
		c, hit := s.cache[hash]
		s.mu.Unlock()
		if hit && now.Before(c.expires) {
			return c.tenant, c.ok
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.lookupTimeout)
	defer cancel()
	it, err := s.item(ctx, hash, false)
	if err != nil {
		return "", false
	}
	tenant, ok := "", it != nil && !it.Revoked
	if ok {
		tenant = it.Tenant
	}
	if s.ttl > 0 {
		s.mu.Lock()
		if len(s.cache) >= maxCached {
			clear(s.cache)
		}
		s.cache[hash] = cached{tenant: tenant, ok: ok, expires: now.Add(s.ttl)}
		s.mu.Unlock()
	}
	return tenant, ok
}

// forget drops a key from this instance's cache; other instances see the change within the TTL.
func (s *Store) forget(hash string) {
	s.mu.Lock()
	delete(s.cache, hash)
	s.mu.Unlock()
}
