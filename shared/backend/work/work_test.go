package work

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/agentq/agentq/shared/backend"
	"github.com/agentq/agentq/shared/config"
)

func TestWorker(t *testing.T) {
	// Clients that are never called: building the parts connects to nothing.
	ddb, sq := dynamodb.New(dynamodb.Options{Region: "us-east-1"}), sqs.New(sqs.Options{Region: "us-east-1"})
	for _, tt := range []struct {
		name      string
		cfg       config.Config
		wantQueue bool
	}{
		{"no queue", config.Config{Table: "t"}, false},
		{"queue", config.Config{Table: "t", QueueURL: "http://127.0.0.1:1/q", DLQARN: "arn:aws:sqs:us-east-1:1:q-dlq"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := backend.Build(&tt.cfg, backend.Clients{DynamoDB: ddb, SQS: sq}, backend.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if w := Worker(p, nil); (w != nil) != tt.wantQueue {
				t.Errorf("worker = %v, want one: %v", w, tt.wantQueue)
			}
			if Dispatcher(p, LambdaClient(aws.Config{Region: "us-east-1"})) == nil {
				t.Error("no dispatcher")
			}
		})
	}
}
