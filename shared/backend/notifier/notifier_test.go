package notifier

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/config"
)

func TestNew(t *testing.T) {
	ddb, sq := dynamodb.New(dynamodb.Options{Region: "us-east-1"}), sqs.New(sqs.Options{Region: "us-east-1"})
	p, err := backend.Build(&config.Config{Table: "t"}, backend.Clients{DynamoDB: ddb, SQS: sq}, backend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if New(p, nil, "bus") == nil {
		t.Error("no notifier")
	}
}
