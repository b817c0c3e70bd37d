// Package progresskey keeps the key that progress tokens are derived from in the task table,
// sealed with the deployment's sealer (on AWS the KMS envelope sealer), so no plaintext key is in
// any function's environment. Whichever function needs the key first creates it, with a
// conditional write so that concurrent first users agree on one key; each function instance then
// opens it once, lazily on its first use (never at start, which keeps cold starts free of KMS),
// and keeps it in memory: one KMS call per instance, not per task.
package progresskey

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

// The key's item: one per table, outside every tenant's and task's partitions.
const (
	partition = "CONFIG#progress-key"
	sortKey   = "KEY"
	attrKey   = "sealed"
	// Size is the size of the key, in bytes.
	Size = 32
)

// Binding is the sealed key's aad, and on KMS its encryption context ({"tenant": "*", "id":
// "progress-key/v1"}): the sealed bytes open as this record and no other, and an IAM grant may be
// narrowed to this key alone with the condition kms:EncryptionContext:id = BindingID. "*" is no
// tenant's name, so the record is no tenant's either.
const BindingID = "progress-key/v1"

var binding = authctx.Binding("*", BindingID)

// DynamoDB is the part of the DynamoDB API the store uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// Store answers the table's progress key, creating it on first use.
type Store struct {
	db     DynamoDB
	table  string
	sealer authctx.Sealer

	mu  sync.Mutex // one load at a time: concurrent callers wait for it rather than call KMS too
	key []byte
}

// New returns the store of the progress key in table, sealed by sealer.
func New(db DynamoDB, table string, sealer authctx.Sealer) *Store {
	return &Store{db: db, table: table, sealer: sealer}
}

// Key answers the progress key: the one this instance opened already, or the table's (created
// now when there is none). A failure is not remembered; the next call tries again.
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

func itemKey() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{table.AttrPK: table.S(partition), table.AttrSK: table.S(sortKey)}
}

// load reads and opens the stored key, or creates it; when another instance creates it first,
// its key is read and used.
func (s *Store) load(ctx context.Context) ([]byte, error) {
	sealed, err := s.read(ctx)
	if err != nil {
		return nil, err
	}
	if sealed == nil {
		if sealed, err = s.create(ctx); err != nil {
			return nil, err
		}
	}
	key, err := s.sealer.Open(ctx, sealed, binding)
	if err != nil {
		return nil, fmt.Errorf("open the progress key: %w", err)
	}
	if len(key) != Size {
		return nil, fmt.Errorf("open the progress key: %d bytes, not %d", len(key), Size)
	}
	return key, nil
}

// read answers the sealed key, or nil when none is stored.
func (s *Store) read(ctx context.Context) ([]byte, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: itemKey(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("read the progress key: %w", err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	b, ok := out.Item[attrKey].(*types.AttributeValueMemberB)
	if !ok || len(b.Value) == 0 {
		return nil, errors.New("read the progress key: the item holds no sealed key")
	}
	return b.Value, nil
}

// create makes, seals and stores a new key unless one is stored already, and answers the sealed
// key that won.
func (s *Store) create(ctx context.Context) ([]byte, error) {
	key := make([]byte, Size)
	rand.Read(key)
	sealed, err := s.sealer.Seal(ctx, key, binding)
	if err != nil {
		return nil, fmt.Errorf("seal a new progress key: %w", err)
	}
	// A conditional UpdateItem rather than a PutItem: the worker, which usually needs the key
	// first, may already update items and needs no new table action for this.
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: itemKey(),
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
			err = errors.New("read the progress key: gone after a conditional write failed")
		}
		return won, err
	}
	if err != nil {
		return nil, fmt.Errorf("store a new progress key: %w", err)
	}
	return sealed, nil
}
