package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Queues names a work queue and its dead-letter queue.
type Queues struct {
	URL, ARN       string
	DLQURL, DLQARN string
}

// Provisioner is the part of the SQS API that Create uses.
type Provisioner interface {
	CreateQueue(ctx context.Context, in *sqs.CreateQueueInput, opts ...func(*sqs.Options)) (*sqs.CreateQueueOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Create makes the work queue called name and its dead-letter queue name+"-dlq", with the same
// redrive settings the CDK stack uses. It is idempotent.
func Create(ctx context.Context, api Provisioner, name string, visibility time.Duration) (Queues, error) {
	var q Queues
	var err error
	q.DLQURL, q.DLQARN, err = create(ctx, api, name+"-dlq", map[string]string{
		"MessageRetentionPeriod": seconds(DeadLetterRetentionPeriod),
	})
	if err != nil {
		return Queues{}, err
	}
	redrive, err := json.Marshal(map[string]string{
		"deadLetterTargetArn": q.DLQARN,
		"maxReceiveCount":     strconv.Itoa(MaxReceiveCount),
	})
	if err != nil {
		return Queues{}, fmt.Errorf("create queue %s: %w", name, err)
	}
	q.URL, q.ARN, err = create(ctx, api, name, map[string]string{
		"MessageRetentionPeriod": seconds(RetentionPeriod),
		"VisibilityTimeout":      seconds(visibility),
		"RedrivePolicy":          string(redrive),
	})
	if err != nil {
		return Queues{}, err
	}
	return q, nil
}

func create(ctx context.Context, api Provisioner, name string, attrs map[string]string) (url, arn string, err error) {
	out, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", name, err)
	}
	got, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       out.QueueUrl,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", "", fmt.Errorf("read arn of queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), got.Attributes[string(types.QueueAttributeNameQueueArn)], nil
}

func seconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
