package store_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task/tasktest"
)

// The conformance tests share one DynamoDB Local; each subtest gets a table of its own.
var (
	suite  emulators.Suite
	dynamo *dynamodb.Client
)

func TestMain(m *testing.M) {
	os.Exit(suite.Main(m, func(emu *emulators.Emulators) {
		dynamo = emu.DynamoDB()
	}))
}

// TestConformance runs on DynamoDB Local the checks the in-memory test store passes too, so the
// services' tests rely on the conditions the real store writes under.
func TestConformance(t *testing.T) {
	suite.Require(t)
	tasktest.Conformance(t, func(t *testing.T) tasktest.Conformer {
		name := "conform-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
		if err := table.CreateTable(context.Background(), dynamo, name); err != nil {
			t.Fatal(err)
		}
		return store.New(dynamo, name)
	})
}
