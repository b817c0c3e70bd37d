package keystore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/tenantlimit"
)

// A tenant's own limits are kept beside its keys: pk "APIKEYS#<tenant>" is its keys' listing
// partition, and the limits are one item in it under sort key "LIMITS".
const limitsSortKey = "LIMITS"

type limitsItem struct {
	PK          string `dynamodbav:"pk"`
	SK          string `dynamodbav:"sk"`
	Rate        int    `dynamodbav:"rate"`
	MaxInFlight int    `dynamodbav:"max_in_flight"`
}

var _ tenantlimit.Overrides = (*Store)(nil)

func limitsKey(tenant string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{table.AttrPK: table.S(listPartition(tenant)), table.AttrSK: table.S(limitsSortKey)}
}

// TenantLimits answers the tenant's own limits, if it has any (tenantlimit.Overrides).
func (s *Store) TenantLimits(ctx context.Context, tenant string) (tenantlimit.Limits, bool, error) {
	if err := apikey.ValidateTenant(tenant); err != nil {
		return tenantlimit.Limits{}, false, fmt.Errorf("read limits: %w: %v", ErrInvalid, err)
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: limitsKey(tenant)})
	if err != nil {
		return tenantlimit.Limits{}, false, fmt.Errorf("read limits of tenant %s: %w", tenant, err)
	}
	if out.Item == nil {
		return tenantlimit.Limits{}, false, nil
	}
	var it limitsItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return tenantlimit.Limits{}, false, fmt.Errorf("decode limits of tenant %s: %w", tenant, err)
	}
	return tenantlimit.Limits{Rate: it.Rate, MaxInFlight: it.MaxInFlight}, true, nil
}

// SetTenantLimits stores the tenant's own limits (zero means unbounded), or, with nil, removes
// them so the defaults apply again. Limiters see the change within a minute.
func (s *Store) SetTenantLimits(ctx context.Context, tenant string, l *tenantlimit.Limits) error {
	if err := apikey.ValidateTenant(tenant); err != nil {
		return fmt.Errorf("set limits: %w: tenant must be %s", ErrInvalid, apikey.TenantRule)
	}
	if l == nil {
		if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: limitsKey(tenant)}); err != nil {
			return fmt.Errorf("remove limits of tenant %s: %w", tenant, err)
		}
		return nil
	}
	if l.Rate < 0 || l.MaxInFlight < 0 {
		return fmt.Errorf("set limits: %w: rate and max_in_flight must not be negative", ErrInvalid)
	}
	it, err := attributevalue.MarshalMap(limitsItem{PK: listPartition(tenant), SK: limitsSortKey, Rate: l.Rate, MaxInFlight: l.MaxInFlight})
	if err != nil {
		return fmt.Errorf("set limits of tenant %s: %w", tenant, err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: it}); err != nil {
		return fmt.Errorf("set limits of tenant %s: %w", tenant, err)
	}
	return nil
}
