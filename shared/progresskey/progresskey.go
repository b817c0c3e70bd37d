// Package progresskey keeps the key that progress tokens are derived from in the task table,
// sealed with the deployment's sealer (on AWS the KMS envelope sealer), so no plaintext key is in
// any function's environment: a sealed key item (package sealedkey), created by whichever
// function needs it first and opened once per function instance, lazily on its first use.
package progresskey

import (
	"github.com/agentq/agentq/shared/authctx"
	"github.com/agentq/agentq/shared/sealedkey"
)

// Size is the size of the key, in bytes.
const Size = 32

// BindingID is the sealed key's aad, and on KMS its encryption context ({"tenant": "*", "id":
// "progress-key/v1"}): the sealed bytes open as this record and no other, and an IAM grant may be
// narrowed to this key alone with the condition kms:EncryptionContext:id = BindingID.
const BindingID = "progress-key/v1"

// record is the key's item: one per table, outside every tenant's and task's partitions.
var record = sealedkey.Record{Partition: "CONFIG#progress-key", SortKey: "KEY", BindingID: BindingID, Name: "progress key", Size: Size}

// DynamoDB is the part of the DynamoDB API the store uses.
type DynamoDB = sealedkey.DynamoDB

// Store answers the table's progress key, creating it on first use (Store.Key).
type Store = sealedkey.Store

// New returns the store of the progress key in table, sealed by sealer.
func New(db DynamoDB, table string, sealer authctx.Sealer) *Store {
	return sealedkey.New(db, table, sealer, record)
}
