package tasklog_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/agentq/agentq/shared/local/emulators"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/tasklog"
	"github.com/agentq/agentq/shared/tasklog/tasklogtest"
)

var (
	suite  emulators.Suite
	dynamo *dynamodb.Client
)

var _ store.Recorder = (*tasklog.Recorder)(nil)

func TestMain(m *testing.M) {
	os.Exit(suite.Main(m, func(emu *emulators.Emulators) { dynamo = emu.DynamoDB() }))
}

// newTable makes a table of its own for the test.
func newTable(t *testing.T) string {
	t.Helper()
	name := "log-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, t.Name())
	name = name[:min(len(name), 200)]
	if err := table.CreateTable(context.Background(), dynamo, name); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestConformance runs on DynamoDB Local the checks the in-memory log passes too.
func TestConformance(t *testing.T) {
	suite.Require(t)
	tasklogtest.Conformance(t, func(t *testing.T) tasklogtest.Conformer { return tasklog.New(dynamo, newTable(t)) })
}
