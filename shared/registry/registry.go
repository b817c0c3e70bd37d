// Package registry keeps published agents in DynamoDB: a draft per agent, immutable numbered
// versions, and a head record that names the current version and holds a copy of it, so that
// resolving an agent on the accept path is one read (and usually none: lookups are cached).
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/table"
)

// DynamoDB is the part of the DynamoDB API the registry uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// Errors of the registry besides agent.ErrNotFound and agent.ErrVersionNotFound.
var (
	// ErrNoDraft means there is nothing to publish.
	ErrNoDraft = errors.New("agent has no draft")
	// ErrConflict means another writer published the agent at the same moment; try again.
	ErrConflict = errors.New("agent changed concurrently")
)

// Registry reads and writes agents in the task table.
type Registry struct {
	db    DynamoDB
	table string
	ttl   time.Duration
	now   func() time.Time
	// static holds the agents kept as code; a registry record of the same id overrides one.
	static *agent.Static

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	a       agent.Agent
	err     error
	expires time.Time
}

// New returns a registry over the table. Lookups of an agent's current version are cached for
// cacheTTL (0 disables the cache): an agent published or unpublished is seen by every function
// within that time.
func New(db DynamoDB, table string, cacheTTL time.Duration) *Registry {
	return &Registry{db: db, table: table, ttl: cacheTTL, now: time.Now, cache: map[string]cached{}}
}

// WithFallback layers agents kept as code (configuration, an agents file) under the registry:
// an id with no registry record resolves to its static definition; publishing the same id in the
// registry overrides it, and unpublishing hides it.
func (r *Registry) WithFallback(s *agent.Static) *Registry {
	r.static = s
	return r
}

// errNoRecord means the registry holds nothing at all for an id (not even an unpublished head).
// A type rather than fmt.Errorf at init: the first fmt call of a process allocates its printer
// (18 KB), and package init is paid at every cold start.
var errNoRecord error = noRecordError{}

type noRecordError struct{}

func (noRecordError) Error() string { return "no registry record: " + agent.ErrNotFound.Error() }
func (noRecordError) Unwrap() error { return agent.ErrNotFound }

// Sources of a Summary.
const (
	SourceRegistry = "registry"
	SourceConfig   = "config"
)

// Summary is an agent as the registry lists it.
type Summary struct {
	Agent agent.Agent `json:"agent"`
	// Source says where the agent is defined: the registry, or configuration.
	Source string `json:"source"`
	// Current is the current published version number; 0 when never published.
	Current   int       `json:"current_version"`
	Deleted   bool      `json:"deleted"`
	HasDraft  bool      `json:"has_draft"`
	UpdatedAt time.Time `json:"updated_at"`
}

type headItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	GSI1PK    string `dynamodbav:"gsi1pk"`
	GSI1SK    string `dynamodbav:"gsi1sk"`
	AgentID   string `dynamodbav:"agent_id"`
	Current   int    `dynamodbav:"current_version"`
	Published string `dynamodbav:"published,omitempty"`
	Deleted   bool   `dynamodbav:"deleted"`
	HasDraft  bool   `dynamodbav:"has_draft"`
	UpdatedAt string `dynamodbav:"updated_at"`
}

type specItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Spec      string `dynamodbav:"spec"`
	CreatedAt string `dynamodbav:"created_at"`
}

// listPartition groups every agent's head record in the by_tenant index, so listing is a Query.
const listPartition = "AGENTS"

func key(id, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		table.AttrPK: &types.AttributeValueMemberS{Value: "AGENT#" + id},
		table.AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

func versionSK(n int) string { return fmt.Sprintf("V#%010d", n) }

func (r *Registry) stamp() string { return r.now().UTC().Format(time.RFC3339Nano) }

// PutDraft validates an agent and stores it as the agent's draft, replacing any earlier draft.
func (r *Registry) PutDraft(ctx context.Context, a agent.Agent) error {
	a.Version = ""
	if err := a.Validate(); err != nil {
		return fmt.Errorf("put draft: %w", err)
	}
	spec, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("put draft of %s: %w", a.ID, err)
	}
	now := r.stamp()
	draft, err := attributevalue.MarshalMap(specItem{PK: "AGENT#" + a.ID, SK: "DRAFT", Spec: string(spec), CreatedAt: now})
	if err != nil {
		return fmt.Errorf("put draft of %s: %w", a.ID, err)
	}
	_, err = r.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(r.table), Item: draft}},
		{Update: &types.Update{
			TableName:        aws.String(r.table),
			Key:              key(a.ID, "META"),
			UpdateExpression: aws.String("SET #draft = :t, #updated = :now, #gpk = :gpk, #gsk = :id, #aid = :id, #cur = if_not_exists(#cur, :zero), #del = if_not_exists(#del, :f)"),
			ExpressionAttributeNames: map[string]string{
				"#draft": "has_draft", "#updated": "updated_at", "#gpk": "gsi1pk", "#gsk": "gsi1sk", "#aid": "agent_id",
				"#cur": "current_version", "#del": "deleted",
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":t": &types.AttributeValueMemberBOOL{Value: true}, ":f": &types.AttributeValueMemberBOOL{Value: false},
				":now": table.S(now), ":gpk": table.S(listPartition), ":id": table.S(a.ID), ":zero": &types.AttributeValueMemberN{Value: "0"},
			},
		}},
	}})
	if err != nil {
		return fmt.Errorf("put draft of %s: %w", a.ID, conflict(err))
	}
	return nil
}

// Publish makes the agent's draft its next numbered version and the current one. It returns the
// published agent.
func (r *Registry) Publish(ctx context.Context, id string) (agent.Agent, error) {
	head, err := r.head(ctx, id)
	if err != nil && !errors.Is(err, agent.ErrNotFound) {
		return agent.Agent{}, err
	}
	draft, err := r.spec(ctx, id, "DRAFT")
	if errors.Is(err, agent.ErrVersionNotFound) {
		return agent.Agent{}, fmt.Errorf("publish %s: %w", id, ErrNoDraft)
	}
	if err != nil {
		return agent.Agent{}, err
	}
	current := 0
	if head != nil {
		current = head.Current
	}
	next := current + 1
	draft.Version = strconv.Itoa(next)
	spec, err := json.Marshal(draft)
	if err != nil {
		return agent.Agent{}, fmt.Errorf("publish %s: %w", id, err)
	}
	now := r.stamp()
	version, err := attributevalue.MarshalMap(specItem{PK: "AGENT#" + id, SK: versionSK(next), Spec: string(spec), CreatedAt: now})
	if err != nil {
		return agent.Agent{}, fmt.Errorf("publish %s: %w", id, err)
	}
	newHead, err := attributevalue.MarshalMap(headItem{
		PK: "AGENT#" + id, SK: "META", GSI1PK: listPartition, GSI1SK: id, AgentID: id,
		Current: next, Published: string(spec), UpdatedAt: now,
	})
	if err != nil {
		return agent.Agent{}, fmt.Errorf("publish %s: %w", id, err)
	}
	_, err = r.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{
			TableName: aws.String(r.table), Item: version,
			ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": table.AttrPK},
		}},
		{Put: &types.Put{
			TableName: aws.String(r.table), Item: newHead,
			ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #cur = :cur"),
			ExpressionAttributeNames:  map[string]string{"#pk": table.AttrPK, "#cur": "current_version"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":cur": &types.AttributeValueMemberN{Value: strconv.Itoa(current)}},
		}},
		{Delete: &types.Delete{TableName: aws.String(r.table), Key: key(id, "DRAFT")}},
	}})
	if err != nil {
		return agent.Agent{}, fmt.Errorf("publish %s: %w", id, conflict(err))
	}
	r.forget(id)
	return draft, nil
}

// Unpublish marks the agent deleted: new invocations answer not found; its tasks and versions stay.
func (r *Registry) Unpublish(ctx context.Context, id string) error {
	_, err := r.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(r.table),
		Key:                       key(id, "META"),
		UpdateExpression:          aws.String("SET #del = :t, #updated = :now"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#del": "deleted", "#updated": "updated_at", "#pk": table.AttrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}, ":now": table.S(r.stamp())},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return r.hideStatic(ctx, id)
	}
	if err != nil {
		return fmt.Errorf("unpublish %s: %w", id, err)
	}
	r.forget(id)
	return nil
}

// hideStatic unpublishes an agent defined only in configuration, by writing a deleted head.
func (r *Registry) hideStatic(ctx context.Context, id string) error {
	if r.static == nil {
		return fmt.Errorf("unpublish %s: %w", id, agent.ErrNotFound)
	}
	if _, err := r.static.Lookup(ctx, id, ""); err != nil {
		return fmt.Errorf("unpublish %s: %w", id, err)
	}
	head, err := attributevalue.MarshalMap(headItem{
		PK: "AGENT#" + id, SK: "META", GSI1PK: listPartition, GSI1SK: id, AgentID: id, Deleted: true, UpdatedAt: r.stamp(),
	})
	if err != nil {
		return fmt.Errorf("unpublish %s: %w", id, err)
	}
	if _, err := r.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(r.table), Item: head,
		ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": table.AttrPK},
	}); err != nil {
		return fmt.Errorf("unpublish %s: %w", id, conflict(err))
	}
	r.forget(id)
	return nil
}

// Lookup returns the agent in the given version: "" or agent.Latest for the current published
// one, agent.Draft for the draft, or a version number. Unpublished agents are not found.
func (r *Registry) Lookup(ctx context.Context, id, version string) (agent.Agent, error) {
	a, err := r.lookup(ctx, id, version)
	if errors.Is(err, errNoRecord) && r.static != nil {
		return r.static.Lookup(ctx, id, version)
	}
	return a, err
}

func (r *Registry) lookup(ctx context.Context, id, version string) (agent.Agent, error) {
	switch version {
	case "", agent.Latest:
		return r.current(ctx, id)
	case agent.Draft:
		if _, err := r.current(ctx, id); err != nil && !errors.Is(err, agent.ErrVersionNotFound) {
			return agent.Agent{}, err
		}
		return r.spec(ctx, id, "DRAFT")
	}
	n, err := strconv.Atoi(version)
	if err != nil || n < 1 {
		return agent.Agent{}, fmt.Errorf("lookup %s version %q: %w", id, version, agent.ErrVersionNotFound)
	}
	if _, err := r.current(ctx, id); err != nil {
		return agent.Agent{}, err
	}
	return r.spec(ctx, id, versionSK(n))
}

func (r *Registry) current(ctx context.Context, id string) (agent.Agent, error) {
	if !agent.ValidID(id) {
		return agent.Agent{}, fmt.Errorf("lookup %q: %w", id, agent.ErrNotFound)
	}
	now := r.now()
	r.mu.Lock()
	c, ok := r.cache[id]
	r.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.a, c.err
	}
	a, err := r.loadCurrent(ctx, id)
	if err == nil || errors.Is(err, agent.ErrNotFound) || errors.Is(err, agent.ErrVersionNotFound) {
		if r.ttl > 0 {
			r.mu.Lock()
			r.cache[id] = cached{a: a, err: err, expires: now.Add(r.ttl)}
			r.mu.Unlock()
		}
	}
	return a, err
}

func (r *Registry) loadCurrent(ctx context.Context, id string) (agent.Agent, error) {
	h, err := r.head(ctx, id)
	if err != nil {
		return agent.Agent{}, err
	}
	if h.Deleted {
		return agent.Agent{}, fmt.Errorf("lookup %s: unpublished: %w", id, agent.ErrNotFound)
	}
	if h.Current == 0 {
		// Only a draft: the agent exists but has no published version to run by default.
		return agent.Agent{}, fmt.Errorf("lookup %s: never published: %w", id, agent.ErrVersionNotFound)
	}
	var a agent.Agent
	if err := json.Unmarshal([]byte(h.Published), &a); err != nil {
		return agent.Agent{}, fmt.Errorf("lookup %s: decode published version: %w", id, err)
	}
	return a, nil
}

func (r *Registry) forget(id string) {
	r.mu.Lock()
	delete(r.cache, id)
	r.mu.Unlock()
}

func (r *Registry) head(ctx context.Context, id string) (*headItem, error) {
	out, err := r.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.table), Key: key(id, "META"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read agent %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("read agent %s: %w", id, errNoRecord)
	}
	var h headItem
	if err := attributevalue.UnmarshalMap(out.Item, &h); err != nil {
		return nil, fmt.Errorf("decode agent %s: %w", id, err)
	}
	return &h, nil
}

func (r *Registry) spec(ctx context.Context, id, sk string) (agent.Agent, error) {
	out, err := r.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(r.table), Key: key(id, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return agent.Agent{}, fmt.Errorf("read agent %s %s: %w", id, sk, err)
	}
	if len(out.Item) == 0 {
		return agent.Agent{}, fmt.Errorf("read agent %s %s: %w", id, sk, agent.ErrVersionNotFound)
	}
	var it specItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return agent.Agent{}, fmt.Errorf("decode agent %s %s: %w", id, sk, err)
	}
	var a agent.Agent
	if err := json.Unmarshal([]byte(it.Spec), &a); err != nil {
		return agent.Agent{}, fmt.Errorf("decode agent %s %s: %w", id, sk, err)
	}
	if sk == "DRAFT" {
		a.Version = agent.Draft
	}
	return a, nil
}

// Get returns an agent's summary: its current published version (or its draft, if it has none).
func (r *Registry) Get(ctx context.Context, id string) (Summary, error) {
	h, err := r.head(ctx, id)
	if errors.Is(err, errNoRecord) && r.static != nil {
		a, serr := r.static.Lookup(ctx, id, "")
		if serr != nil {
			return Summary{}, serr
		}
		return staticSummary(a), nil
	}
	if err != nil {
		return Summary{}, err
	}
	return r.summary(ctx, h)
}

func staticSummary(a agent.Agent) Summary {
	n, _ := strconv.Atoi(a.Version)
	return Summary{Agent: a, Source: SourceConfig, Current: n}
}

func (r *Registry) summary(ctx context.Context, h *headItem) (Summary, error) {
	s := Summary{Source: SourceRegistry, Current: h.Current, Deleted: h.Deleted, HasDraft: h.HasDraft}
	s.UpdatedAt, _ = time.Parse(time.RFC3339Nano, h.UpdatedAt)
	if h.Published == "" && h.Deleted && !h.HasDraft && r.static != nil {
		// A configured agent that was unpublished.
		if a, err := r.static.Lookup(ctx, h.AgentID, ""); err == nil {
			s.Agent, s.Source = a, SourceConfig
			return s, nil
		}
	}
	if h.Published != "" {
		if err := json.Unmarshal([]byte(h.Published), &s.Agent); err != nil {
			return Summary{}, fmt.Errorf("decode agent %s: %w", h.AgentID, err)
		}
		return s, nil
	}
	a, err := r.spec(ctx, h.AgentID, "DRAFT")
	if err != nil {
		return Summary{}, err
	}
	s.Agent = a
	return s, nil
}

// heads reads every agent's head record: the by_tenant index's entries under listPartition,
// then the records they name.
func (r *Registry) heads(ctx context.Context) ([]*headItem, error) {
	ix := table.Indexes[0]
	p := dynamodb.NewQueryPaginator(r.db, &dynamodb.QueryInput{
		TableName:                 aws.String(r.table),
		IndexName:                 aws.String(ix.Name),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": ix.PartitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": table.S(listPartition)},
	})
	var keys []map[string]types.AttributeValue
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list agents: %w", err)
		}
		for _, e := range page.Items {
			keys = append(keys, table.ItemKey(e))
		}
	}
	items, err := table.BatchGet(ctx, r.db, r.table, keys)
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	heads := make([]*headItem, 0, len(items))
	for _, av := range items {
		var h headItem
		if err := attributevalue.UnmarshalMap(av, &h); err != nil {
			return nil, fmt.Errorf("list agents: %w", err)
		}
		heads = append(heads, &h)
	}
	return heads, nil
}

// List returns every agent the registry knows, published or not, and the configured agents it
// does not override, ordered by id. The by_tenant index holds the head records' entries (it
// copies only what tasks are listed by), so the heads are read back by their entries.
func (r *Registry) List(ctx context.Context) ([]Summary, error) {
	heads, err := r.heads(ctx)
	if err != nil {
		return nil, err
	}
	var out []Summary
	for _, h := range heads {
		s, err := r.summary(ctx, h)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if r.static != nil {
		seen := make(map[string]bool, len(out))
		for _, s := range out {
			seen[s.Agent.ID] = true
		}
		for _, a := range r.static.All() {
			if !seen[a.ID] {
				out = append(out, staticSummary(a))
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Agent.ID < out[j].Agent.ID })
	return out, nil
}

func conflict(err error) error {
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) {
		return ErrConflict
	}
	return err
}
