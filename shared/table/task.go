package table

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Task items are keyed partition "TASK#<task id>", sort "TASK". The table holds other items too
// (threads, idempotency keys, agents, API keys, webhook deliveries), and its stream carries them
// all, so its readers tell the tasks by these keys.
const (
	taskPrefix  = "TASK#"
	TaskSortKey = "TASK"
)

// TaskPartition is the partition key of the task with the given id.
func TaskPartition(id string) string { return taskPrefix + id }

// IsTask reports whether a table item's keys are a task's.
func IsTask(keys map[string]types.AttributeValue) bool {
	pk, ok1 := keys[AttrPK].(*types.AttributeValueMemberS)
	sk, ok2 := keys[AttrSK].(*types.AttributeValueMemberS)
	return ok1 && ok2 && sk.Value == TaskSortKey && strings.HasPrefix(pk.Value, taskPrefix)
}
