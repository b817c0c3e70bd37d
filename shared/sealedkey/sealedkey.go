// Package sealedkey keeps a deployment's secret key as one item of the task table, sealed with
// the deployment's sealer (on AWS the KMS envelope sealer) and bound to its record, so no
// plaintext key is in any function's environment. Whichever function needs the key first creates
// it, with a conditional write so that concurrent first users agree on one key; each function
// instance then opens it once, lazily on its first use (never at start, which keeps cold starts
// free of KMS), and keeps it in memory: one KMS call per instance, not per use. The progress key
// (package progresskey) and the receipt signing key (package receiptkey) are such keys.
package sealedkey

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/table"
)

// attrKey is the attribute holding the sealed key.
const attrKey = "sealed"

// Record says where a key is kept and what it is bound to.
type Record struct {
	// Partition and SortKey are the item's keys: outside every tenant's and task's partitions.
	Partition, SortKey string
	// BindingID is the sealed key's aad, and on KMS its encryption context ({"tenant": "*",
	// "id": BindingID}): the sealed bytes open as this record and no other, and an IAM grant may
	// be narrowed to this key alone with the condition kms:EncryptionContext:id = BindingID. "*"
	// is no tenant's name, so the record is no tenant's either.
	BindingID string
	// Name names the key in errors ("progress key").
	Name string
	// Size is the key's size in bytes.
	Size int
}

// ErrNotFound means a key that is only read (Store.Existing) is not in the table.
var ErrNotFound = errors.New("no such key")

// DynamoDB is the part of the DynamoDB API a store uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Store answers one record's key, creating it on first use unless it is only read.
type Store struct {
	db       DynamoDB
	table    string
	sealer   authctx.Sealer
	rec      Record
	readOnly bool
	opened   func(ctx context.Context)

	mu  sync.Mutex // one load at a time: concurrent callers wait for it rather than call KMS too
	key []byte
}

// New returns the store of rec's key in table, sealed by sealer.
func New(db DynamoDB, table string, sealer authctx.Sealer, rec Record) *Store {
	return &Store{db: db, table: table, sealer: sealer, rec: rec}
}

// Existing returns a store like s (not yet opened) that never creates the key: a missing item
// is ErrNotFound. A retired key is read so.
func (s *Store) Existing() *Store {
	return &Store{db: s.db, table: s.table, sealer: s.sealer, rec: s.rec, readOnly: true, opened: s.opened}
}

// OnOpen returns a store like s (not yet opened) that calls f each time it opens the sealed key:
// on KMS, a Decrypt request (the bench counts them).
func (s *Store) OnOpen(f func(ctx context.Context)) *Store {
	return &Store{db: s.db, table: s.table, sealer: s.sealer, rec: s.rec, readOnly: s.readOnly, opened: f}
}

// Key answers the key: the one this instance opened already, or the table's (created now when
// there is none and s may create it). A failure is not remembered; the next call tries again.
func (s *Store) Key(ctx context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	key, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	s.key = key
	return key, nil
}

func (s *Store) itemKey() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{table.AttrPK: table.S(s.rec.Partition), table.AttrSK: table.S(s.rec.SortKey)}
}

func (s *Store) binding() []byte { return authctx.Binding("*", s.rec.BindingID) }

// load reads and opens the stored key, or creates it; when another instance creates it first,
// its key is read and used.
func (s *Store) load(ctx context.Context) ([]byte, error) {
	sealed, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	if sealed == nil {
		if s.readOnly {
			return nil, fmt.Errorf("read the %s %s: %w", s.rec.Name, s.rec.BindingID, ErrNotFound)
		}
		if sealed, err = s.create(ctx); err != nil {
			return nil, err
		}
	}
	if s.opened != nil {
		s.opened(ctx)
	}
	key, err := s.sealer.Open(ctx, sealed, s.binding())
	if err != nil {
		return nil, fmt.Errorf("open the %s: %w", s.rec.Name, err)
	}
	if len(key) != s.rec.Size {
		return nil, fmt.Errorf("open the %s: %d bytes, not %d", s.rec.Name, len(key), s.rec.Size)
	}
	return key, nil
}

// read answers the sealed key, or nil when none is stored.
func (s *Store) read(ctx context.Context) ([]byte, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: s.itemKey(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read the %s: %w", s.rec.Name, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	b, ok := out.Item[attrKey].(*types.AttributeValueMemberB)
	if !ok || len(b.Value) == 0 {
		return nil, fmt.Errorf("read the %s: the item holds no sealed key", s.rec.Name)
	}
	return b.Value, nil
}

// create makes, seals and stores a new key unless one is stored already, and answers the sealed
// key that won.
func (s *Store) create(ctx context.Context) ([]byte, error) {
	key := make([]byte, s.rec.Size)
	rand.Read(key)
	sealed, err := s.sealer.Seal(ctx, key, s.binding())
	if err != nil {
		return nil, fmt.Errorf("seal a new %s: %w", s.rec.Name, err)
	}
	// A conditional UpdateItem rather than a PutItem: the functions that need a key first may
	// already update items and need no new table action for this.
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: s.itemKey(),
		UpdateExpression:          aws.String("SET #sealed = :sealed"),
		ConditionExpression:       aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#pk": table.AttrPK, "#sealed": attrKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":sealed": &types.AttributeValueMemberB{Value: sealed}},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		// Another instance stored its key first: every instance uses that one.
		won, err := s.read(ctx)
		if err == nil && won == nil {
			err = fmt.Errorf("read the %s: gone after a conditional write failed", s.rec.Name)
		}
		return won, err
	}
	if err != nil {
		return nil, fmt.Errorf("store a new %s: %w", s.rec.Name, err)
	}
	return sealed, nil
}
