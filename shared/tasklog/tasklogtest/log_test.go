package tasklogtest_test

import (
	"testing"

	"github.com/agentq/agentq/shared/tasklog/tasklogtest"
)

func TestConformance(t *testing.T) {
	tasklogtest.Conformance(t, func(t *testing.T) tasklogtest.Conformer { return tasklogtest.New() })
}
