package storage_test

import (
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"github.com/agentq/agentq/infra/construct/storage"
	"github.com/agentq/agentq/infra/internal/infratest"
	"github.com/agentq/agentq/shared/store"
)

var (
	once      sync.Once
	kept, tmp *infratest.Template
	synthErr  error
)

// templates synthesizes a default and an ephemeral table once for the whole package.
func templates(t *testing.T) (keptTpl, ephemeralTpl *infratest.Template) {
	t.Helper()
	once.Do(func() {
		out, err := os.MkdirTemp("", "agentq-cdk-*")
		if err != nil {
			synthErr = err
			return
		}
		defer os.RemoveAll(out)
		s := infratest.NewStack(out)
		storage.New(s, "Storage", nil)
		if kept, synthErr = infratest.Synth(s); synthErr != nil {
			return
		}
		s2 := infratest.NewStack(out + "-ephemeral")
		defer os.RemoveAll(out + "-ephemeral")
		storage.New(s2, "Storage", &storage.Props{Ephemeral: true})
		tmp, synthErr = infratest.Synth(s2)
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
	return kept, tmp
}

func TestTableKeysAndBilling(t *testing.T) {
	tpl, _ := templates(t)
	tpl.ResourceCountIs(t, "AWS::DynamoDB::Table", 1)
	tpl.HasResourceProperties(t, "AWS::DynamoDB::Table", map[string]any{
		"KeySchema": []any{
			map[string]any{"AttributeName": store.AttrPK, "KeyType": "HASH"},
			map[string]any{"AttributeName": store.AttrSK, "KeyType": "RANGE"},
		},
		"BillingMode":                      "PAY_PER_REQUEST",
		"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		"TimeToLiveSpecification":          map[string]any{"AttributeName": store.AttrExpiresAt, "Enabled": true},
	})
	// The table is created without a fixed name: CloudFormation generates it and the functions
	// get it from AGENTQ_TABLE.
	table := tpl.Only(t, "AWS::DynamoDB::Table", "Storage")
	if _, ok := table.Properties["TableName"]; ok {
		t.Errorf("table has a fixed TableName; want a generated one")
	}
}

func TestTableIndexes(t *testing.T) {
	tpl, _ := templates(t)
	table := tpl.Only(t, "AWS::DynamoDB::Table", "Storage")
	gsis, _ := table.Properties["GlobalSecondaryIndexes"].([]any)
	if len(gsis) != len(store.Indexes) {
		t.Fatalf("got %d GSIs, want %d (store.Indexes)", len(gsis), len(store.Indexes))
	}
	attrTypes := map[string]string{}
	defs, _ := table.Properties["AttributeDefinitions"].([]any)
	for _, d := range defs {
		m := d.(map[string]any)
		attrTypes[m["AttributeName"].(string)] = m["AttributeType"].(string)
	}
	for _, ix := range store.Indexes {
		t.Run(ix.Name, func(t *testing.T) {
			tpl.HasResourceProperties(t, "AWS::DynamoDB::Table", map[string]any{
				"GlobalSecondaryIndexes": assertions.Match_ArrayWith(&[]any{
					map[string]any{
						"IndexName": ix.Name,
						"KeySchema": []any{
							map[string]any{"AttributeName": ix.PartitionKey, "KeyType": "HASH"},
							map[string]any{"AttributeName": ix.SortKey, "KeyType": "RANGE"},
						},
						"Projection": map[string]any{"ProjectionType": "ALL"},
					},
				}),
			})
			for _, a := range []string{ix.PartitionKey, ix.SortKey} {
				if attrTypes[a] != "S" {
					t.Errorf("attribute %s has type %q, want S", a, attrTypes[a])
				}
			}
		})
	}
}

func TestTableIsProtectedByDefault(t *testing.T) {
	tpl, _ := templates(t)
	tpl.HasResource(t, "AWS::DynamoDB::Table", map[string]any{
		"Properties":          map[string]any{"DeletionProtectionEnabled": true},
		"DeletionPolicy":      "Retain",
		"UpdateReplacePolicy": "Retain",
	})
}

func TestEphemeralTableCanBeDeleted(t *testing.T) {
	_, tpl := templates(t)
	tpl.HasResource(t, "AWS::DynamoDB::Table", map[string]any{
		"Properties":     map[string]any{"DeletionProtectionEnabled": false},
		"DeletionPolicy": "Delete",
	})
	// Everything else stays as in a real stack.
	tpl.HasResourceProperties(t, "AWS::DynamoDB::Table", map[string]any{
		"BillingMode":             "PAY_PER_REQUEST",
		"TimeToLiveSpecification": map[string]any{"AttributeName": store.AttrExpiresAt, "Enabled": true},
	})
}
