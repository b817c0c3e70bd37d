// Package authctx keeps auth contexts: credentials an admin stores once for a tenant, which
// invocations then name by id (ServiceNet's auth_context_id) and the worker presents to the agent
// at call time. A context lives in the task table as one item (pk AUTHCTX#<tenant>#<id>, sk
// AUTHCTX) whose secret is sealed (see Sealer) and bound to that item; nothing but Resolve ever
// opens it, and no type of this package that leaves it holds a secret in a printable form.
package authctx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/table"
)

// Kind is how the worker presents a context's secret to the agent.
type Kind string

// The kinds.
const (
	// Bearer sends the secret as Authorization: Bearer <secret>.
	Bearer Kind = "bearer"
	// Header sends the secret as the value of the context's own header.
	Header Kind = "header"
)

// Limits of a context's fields.
const (
	MaxTenantBytes = apikey.MaxTenantBytes
	MaxNameBytes   = 256
	MaxHeaderBytes = 128
	// MaxSecretBytes bounds a secret: a header value that large already strains most servers.
	MaxSecretBytes = 8 << 10
)

// Errors of the store.
var (
	// ErrNotFound means the tenant has no auth context with that id (or the id is not a UUID).
	ErrNotFound = errors.New("auth context not found")
	// ErrInvalid means an Input (or its tenant) was refused; the error's text says why and never
	// holds the secret.
	ErrInvalid = errors.New("invalid auth context")
)

// Input is what an admin gives to create a context.
type Input struct {
	Name string
	Kind Kind
	// Header names the header of a Header context; empty for Bearer.
	Header string
	Secret string
}

// String leaves the secret out, so printing an Input is safe.
func (in Input) String() string {
	return fmt.Sprintf("authctx.Input{Name:%q Kind:%q Header:%q Secret:<redacted>}", in.Name, in.Kind, in.Header)
}

// GoString leaves the secret out of %#v.
func (in Input) GoString() string { return in.String() }

// LogValue leaves the secret out of logs.
func (in Input) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", in.Name), slog.String("kind", string(in.Kind)), slog.String("header", in.Header))
}

// Context is a stored auth context's metadata: everything but the secret, which no route returns.
type Context struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Name      string    `json:"name"`
	Kind      Kind      `json:"kind"`
	Header    string    `json:"header,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Credential is a resolved context: what the worker presents to the agent. It is for the call
// only: it is never stored, logged or serialized (String, LogValue and MarshalJSON redact Secret).
type Credential struct {
	Kind Kind
	// Header names the header of a Header credential; empty for Bearer (Authorization).
	Header string
	Secret string
}

// Apply sets the credential on an outgoing request's headers: Authorization: Bearer <secret>, or
// <Header>: <secret>.
func (c Credential) Apply(h http.Header) {
	switch c.Kind {
	case Bearer:
		h.Set("Authorization", "Bearer "+c.Secret)
	case Header:
		h.Set(c.Header, c.Secret)
	}
}

// String leaves the secret out, so printing a Credential is safe.
func (c Credential) String() string {
	return fmt.Sprintf("authctx.Credential{Kind:%q Header:%q Secret:<redacted>}", c.Kind, c.Header)
}

// GoString leaves the secret out of %#v.
func (c Credential) GoString() string { return c.String() }

// LogValue leaves the secret out of logs.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kind", string(c.Kind)), slog.String("header", c.Header))
}

// MarshalJSON leaves the secret out: a credential has no business in a JSON document.
func (c Credential) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"kind": string(c.Kind), "header": c.Header, "secret": "<redacted>"})
}

// DynamoDB is the part of the DynamoDB API the store uses.
type DynamoDB interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

var _ DynamoDB = (*dynamodb.Client)(nil)

// Store keeps auth contexts in the task table.
type Store struct {
	db     DynamoDB
	table  string
	sealer Sealer
	now    func() time.Time
	newID  func() string
}

// New returns a store over the table whose secrets s seals.
func New(db DynamoDB, table string, s Sealer) *Store {
	return &Store{db: db, table: table, sealer: s, now: time.Now, newID: uuid.NewString}
}

// sortKey is every context item's sort key.
const sortKey = "AUTHCTX"

// item is a context as stored. Sealed is the sealed secret: the only form in which it is stored.
type item struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	ID        string `dynamodbav:"auth_context_id"`
	Tenant    string `dynamodbav:"tenant"`
	Name      string `dynamodbav:"name"`
	Kind      string `dynamodbav:"kind"`
	Header    string `dynamodbav:"header,omitempty"`
	Sealed    []byte `dynamodbav:"sealed"`
	CreatedAt string `dynamodbav:"created_at"`
}

func (it *item) context() (Context, error) {
	created, err := time.Parse(time.RFC3339Nano, it.CreatedAt)
	if err != nil {
		return Context{}, fmt.Errorf("decode auth context %s: created_at: %w", it.ID, err)
	}
	return Context{ID: it.ID, Tenant: it.Tenant, Name: it.Name, Kind: Kind(it.Kind), Header: it.Header, CreatedAt: created}, nil
}

func key(tenant, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		table.AttrPK: &types.AttributeValueMemberS{Value: table.TenantKey("AUTHCTX", tenant, id)},
		table.AttrSK: &types.AttributeValueMemberS{Value: sortKey},
	}
}

// canonicalID returns id in the form the store keys it by (lower-case UUID), or ErrNotFound.
func canonicalID(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return "", fmt.Errorf("auth context %q: %w", truncate(id), ErrNotFound)
	}
	return u.String(), nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// ValidateTenant checks a tenant can own contexts: a tenant name as apikey.ValidateTenant says.
func ValidateTenant(tenant string) error {
	if err := apikey.ValidateTenant(tenant); err != nil {
		return fmt.Errorf("%w: tenant must be %s", ErrInvalid, apikey.TenantRule)
	}
	return nil
}

// reservedHeaders are headers a context may not set: the transport owns them.
var reservedHeaders = []string{
	"Host", "Content-Length", "Content-Type", "Content-Encoding", "Transfer-Encoding", "Connection", "Keep-Alive",
	"Proxy-Connection", "Upgrade", "Te", "Trailer", "Expect",
}

// Validate checks an Input. Its errors never quote the secret.
func (in Input) Validate() error {
	var problems []string
	switch {
	case in.Name == "":
		problems = append(problems, "name is required")
	case len(in.Name) > MaxNameBytes || !printable(in.Name):
		problems = append(problems, fmt.Sprintf("name must be 1 to %d bytes of text without control characters", MaxNameBytes))
	}
	switch in.Kind {
	case Bearer:
		if in.Header != "" {
			problems = append(problems, `header is only for kind "header"`)
		}
	case Header:
		canonical := http.CanonicalHeaderKey(in.Header)
		switch {
		case in.Header == "":
			problems = append(problems, `header is required for kind "header"`)
		case len(in.Header) > MaxHeaderBytes || !isToken(in.Header):
			problems = append(problems, fmt.Sprintf("header must be an HTTP header name of at most %d characters", MaxHeaderBytes))
		case slices.Contains(reservedHeaders, canonical):
			problems = append(problems, fmt.Sprintf("header %s is set by the transport and cannot carry a secret", canonical))
		}
	default:
		problems = append(problems, `kind must be "bearer" or "header"`)
	}
	switch {
	case in.Secret == "":
		problems = append(problems, "secret is required")
	case len(in.Secret) > MaxSecretBytes:
		problems = append(problems, fmt.Sprintf("secret is longer than %d bytes", MaxSecretBytes))
	case !headerValue(in.Secret):
		problems = append(problems, "secret must be a valid header value: no control characters but tab")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// isToken reports whether s is an HTTP token (RFC 9110 5.6.2), the syntax of a header name.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return s != ""
}

// headerValue reports whether s can be sent as a header value: no control bytes but tab.
func headerValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// Create validates in, seals its secret and stores a new context for tenant. It returns the
// context without its secret.
func (s *Store) Create(ctx context.Context, tenant string, in Input) (Context, error) {
	if err := ValidateTenant(tenant); err != nil {
		return Context{}, fmt.Errorf("create auth context: %w", err)
	}
	if err := in.Validate(); err != nil {
		return Context{}, fmt.Errorf("create auth context: %w", err)
	}
	id := s.newID()
	header := ""
	if in.Kind == Header {
		header = http.CanonicalHeaderKey(in.Header)
	}
	sealed, err := s.sealer.Seal(ctx, []byte(in.Secret), Binding(tenant, id))
	if err != nil {
		return Context{}, fmt.Errorf("create auth context %s: %w", id, err)
	}
	it := item{
		PK: table.TenantKey("AUTHCTX", tenant, id), SK: sortKey, ID: id, Tenant: tenant, Name: in.Name, Kind: string(in.Kind),
		Header: header, Sealed: sealed, CreatedAt: s.now().UTC().Format(time.RFC3339Nano),
	}
	av, err := attributevalue.MarshalMap(it)
	if err != nil {
		return Context{}, fmt.Errorf("create auth context %s: %w", id, err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: av,
		ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": table.AttrPK},
	}); err != nil {
		return Context{}, fmt.Errorf("create auth context %s: %w", id, err)
	}
	return it.context()
}

// read returns the tenant's context item, reading only the attributes named (all when none).
func (s *Store) read(ctx context.Context, tenant, id string, attrs ...string) (*item, error) {
	id, err := canonicalID(id)
	if err != nil {
		return nil, err
	}
	in := &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(tenant, id), ConsistentRead: aws.Bool(true)}
	if len(attrs) > 0 {
		in.ExpressionAttributeNames = map[string]string{}
		names := make([]string, len(attrs))
		for i, a := range attrs {
			names[i] = fmt.Sprintf("#a%d", i)
			in.ExpressionAttributeNames[names[i]] = a
		}
		in.ProjectionExpression = aws.String(strings.Join(names, ", "))
	}
	out, err := s.db.GetItem(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("read auth context %s: %w", id, err)
	}
	if len(out.Item) == 0 {
		return nil, fmt.Errorf("read auth context %s: %w", id, ErrNotFound)
	}
	var it item
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return nil, fmt.Errorf("decode auth context %s: %w", id, err)
	}
	return &it, nil
}

// metadata lists every attribute but the sealed secret.
var metadata = []string{"auth_context_id", "tenant", "name", "kind", "header", "created_at"}

// Get returns the tenant's context, without its secret (which it does not even read).
func (s *Store) Get(ctx context.Context, tenant, id string) (Context, error) {
	it, err := s.read(ctx, tenant, id, metadata...)
	if err != nil {
		return Context{}, err
	}
	return it.context()
}

// Exists returns nil if the tenant has a context with that id, an error wrapping ErrNotFound if
// it has none, and any other error if the table could not be read.
func (s *Store) Exists(ctx context.Context, tenant, id string) error {
	_, err := s.read(ctx, tenant, id, table.AttrPK)
	return err
}

// Delete removes the tenant's context, or returns ErrNotFound. Tasks accepted with it and not yet
// run will find it gone.
func (s *Store) Delete(ctx context.Context, tenant, id string) error {
	id, err := canonicalID(id)
	if err != nil {
		return err
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: key(tenant, id),
		ConditionExpression: aws.String("attribute_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": table.AttrPK},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("delete auth context %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete auth context %s: %w", id, err)
	}
	return nil
}

// Resolve reads the tenant's context and opens its secret: for the worker, at call time, only.
// It returns ErrNotFound if the context is gone, an error wrapping ErrUnsealable if its secret
// does not open (tampered with, or sealed under another key: retrying cannot help), and any other
// error if the table or KMS could not be reached (retrying may).
func (s *Store) Resolve(ctx context.Context, tenant, id string) (Credential, error) {
	id, err := canonicalID(id)
	if err != nil {
		return Credential{}, err
	}
	it, err := s.read(ctx, tenant, id)
	if err != nil {
		return Credential{}, err
	}
	// Bound to the key it was read by, never to what the item says about itself: a sealed secret
	// copied into another record does not open there.
	plain, err := s.sealer.Open(ctx, it.Sealed, Binding(tenant, id))
	if err != nil {
		return Credential{}, fmt.Errorf("resolve auth context %s: %w", id, err)
	}
	c := Credential{Kind: Kind(it.Kind), Header: it.Header, Secret: string(plain)}
	clear(plain)
	return c, nil
}
