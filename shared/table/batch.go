package table

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// BatchGetter is the part of the DynamoDB API that BatchGet uses.
type BatchGetter interface {
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// batchSize is the most keys one BatchGetItem request takes.
const batchSize = 100

// BatchGet reads the items of a table that keys name (each a pk and sk), 100 a request,
// eventually consistently, asking again for the keys a throttled request left out. It answers the
// items found, in no particular order: an item deleted since its key was read is left out.
func BatchGet(ctx context.Context, db BatchGetter, name string, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	for len(keys) > 0 {
		n := min(len(keys), batchSize)
		req := map[string]types.KeysAndAttributes{name: {Keys: keys[:n]}}
		keys = keys[n:]
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt == 5 {
				return nil, fmt.Errorf("read items of %s: %w", name, errThrottled)
			}
			out, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, fmt.Errorf("read items of %s: %w", name, err)
			}
			items = append(items, out.Responses[name]...)
			req = out.UnprocessedKeys
		}
	}
	return items, nil
}

var errThrottled = errors.New("batch read throttled five times")

// ItemKey is the table key (pk, sk) of an item or of an index entry.
func ItemKey(av map[string]types.AttributeValue) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrPK: av[AttrPK], AttrSK: av[AttrSK]}
}

// KeyString is an item's pk and sk joined, to find an item read back by its key.
func KeyString(av map[string]types.AttributeValue) string {
	text := func(k string) string {
		if v, ok := av[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	return text(AttrPK) + "\x00" + text(AttrSK)
}
