package emulators

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// start starts the emulators for one test and stops them when it ends. It
// skips the test when the tools are not installed, unless CI is set.
func start(t *testing.T, opts Options) *Emulators {
	t.Helper()
	if err := CheckInstalled(opts); errors.Is(err, ErrNotInstalled) && os.Getenv("CI") == "" {
		t.Skipf("skipping: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	opts.Stderr = t.Output()
	began := time.Now()
	e, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("emulators ready in %v: dynamodb %s, sqs %s", time.Since(began).Round(time.Millisecond), e.DynamoDBEndpoint, e.SQSEndpoint)
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// clients returns SDK clients for the emulators.
func clients(t *testing.T, e *Emulators) (*dynamodb.Client, *sqs.Client) {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(t.Context(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
	)
	if err != nil {
		t.Fatalf("load AWS config: %v", err)
	}
	ddb := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(e.DynamoDBEndpoint) })
	q := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(e.SQSEndpoint) })
	return ddb, q
}

// loopbackPort returns the port of endpoint, failing the test unless it is
// an http URL on 127.0.0.1.
func loopbackPort(t *testing.T, endpoint string) string {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Port() == "" {
		t.Fatalf("endpoint %q is not http://127.0.0.1:PORT", endpoint)
	}
	return u.Port()
}

func TestEmulators(t *testing.T) {
	e := start(t, Options{})
	ddbPort := loopbackPort(t, e.DynamoDBEndpoint)
	sqsPort := loopbackPort(t, e.SQSEndpoint)
	ddb, q := clients(t, e)
	ctx := t.Context()

	t.Run("dynamodb", func(t *testing.T) {
		createTable(t, ddb, "things")
		_, err := ddb.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String("things"),
			Item: map[string]ddbtypes.AttributeValue{
				"pk":   &ddbtypes.AttributeValueMemberS{Value: "a"},
				"note": &ddbtypes.AttributeValueMemberS{Value: "hello"},
			},
		})
		if err != nil {
			t.Fatalf("PutItem: %v", err)
		}
		got, err := ddb.GetItem(ctx, &dynamodb.GetItemInput{
			TableName:      aws.String("things"),
			Key:            map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "a"}},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			t.Fatalf("GetItem: %v", err)
		}
		if note, ok := got.Item["note"].(*ddbtypes.AttributeValueMemberS); !ok || note.Value != "hello" {
			t.Fatalf("GetItem: item %v, want note=hello", got.Item)
		}
	})

	t.Run("sqs", func(t *testing.T) {
		dlq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("work-dlq")})
		if err != nil {
			t.Fatalf("CreateQueue dlq: %v", err)
		}
		dlqAttrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
		})
		if err != nil {
			t.Fatalf("GetQueueAttributes dlq: %v", err)
		}
		dlqArn := dlqAttrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
		redrive := `{"deadLetterTargetArn":"` + dlqArn + `","maxReceiveCount":"1"}`
		work, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{
			QueueName:  aws.String("work"),
			Attributes: map[string]string{"RedrivePolicy": redrive, "VisibilityTimeout": "30"},
		})
		if err != nil {
			t.Fatalf("CreateQueue: %v", err)
		}
		attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: work.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameRedrivePolicy},
		})
		if err != nil {
			t.Fatalf("GetQueueAttributes: %v", err)
		}
		if got := attrs.Attributes["RedrivePolicy"]; !strings.Contains(got, dlqArn) {
			t.Fatalf("RedrivePolicy = %q, want it to name %s", got, dlqArn)
		}

		// Send, receive and delete.
		send(t, q, work.QueueUrl, "one")
		m := receiveOne(t, q, work.QueueUrl, "one")
		if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: work.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
			t.Fatalf("DeleteMessage: %v", err)
		}
		receiveNone(t, q, work.QueueUrl)

		// A message received more than maxReceiveCount times moves to the DLQ.
		// (ReceiveMessage's VisibilityTimeout 0 would not be sent: the SDK
		// omits zero, so the message is made visible again explicitly.)
		send(t, q, work.QueueUrl, "two")
		m = receiveOne(t, q, work.QueueUrl, "two")
		_, err = q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: work.QueueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
		})
		if err != nil {
			t.Fatalf("ChangeMessageVisibility: %v", err)
		}
		receiveNone(t, q, work.QueueUrl)
		receiveOne(t, q, dlq.QueueUrl, "two")
	})

	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for name, port := range map[string]string{"dynamodb": ddbPort, "sqs": sqsPort} {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), time.Second); err == nil {
			c.Close()
			t.Errorf("%s port %s still open after Close", name, port)
		}
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestDataDir checks that DynamoDB Local keeps its tables in DataDir across
// restarts.
func TestDataDir(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: -short")
	}
	opts := Options{DataDir: t.TempDir()}
	e := start(t, opts)
	ddb, _ := clients(t, e)
	createTable(t, ddb, "kept")
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	e = start(t, opts)
	ddb, _ = clients(t, e)
	out, err := ddb.ListTables(t.Context(), &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatalf("ListTables: %v", err)
	}
	if !slices.Contains(out.TableNames, "kept") {
		t.Fatalf("tables after restart = %v, want kept", out.TableNames)
	}
}

func TestEnv(t *testing.T) {
	e := &Emulators{DynamoDBEndpoint: "http://127.0.0.1:1", SQSEndpoint: "http://127.0.0.1:2"}
	want := []string{
		"AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:1",
		"AWS_ENDPOINT_URL_SQS=http://127.0.0.1:2",
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
	}
	if got := e.Env(); !slices.Equal(got, want) {
		t.Fatalf("Env() = %q, want %q", got, want)
	}
}

func TestNotInstalled(t *testing.T) {
	_, err := Start(t.Context(), Options{Dir: t.TempDir()})
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("Start in an empty dir: err = %v, want ErrNotInstalled", err)
	}
	if !strings.Contains(err.Error(), "run localstack/emulators/install.sh (or make tools)") {
		t.Fatalf("error %q does not say how to install", err)
	}
}

func TestDirFromEnv(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("AGENTQ_EMULATORS_DIR", dir)
	err := CheckInstalled(Options{})
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("CheckInstalled with AGENTQ_EMULATORS_DIR=%s: err = %v, want ErrNotInstalled naming the dir", dir, err)
	}
}

func createTable(t *testing.T, ddb *dynamodb.Client, name string) {
	t.Helper()
	_, err := ddb.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatalf("CreateTable %s: %v", name, err)
	}
}

func send(t *testing.T, q *sqs.Client, queueURL *string, body string) {
	t.Helper()
	if _, err := q.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: queueURL, MessageBody: aws.String(body)}); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
}

// receiveOne receives one message, which must have body.
func receiveOne(t *testing.T, q *sqs.Client, queueURL *string, body string) sqstypes.Message {
	t.Helper()
	out, err := q.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{
		QueueUrl: queueURL, MaxNumberOfMessages: 1, WaitTimeSeconds: 2,
	})
	if err != nil {
		t.Fatalf("ReceiveMessage %s: %v", *queueURL, err)
	}
	if len(out.Messages) != 1 || aws.ToString(out.Messages[0].Body) != body {
		t.Fatalf("ReceiveMessage %s: got %d messages %+v, want one with body %q", *queueURL, len(out.Messages), out.Messages, body)
	}
	return out.Messages[0]
}

func receiveNone(t *testing.T, q *sqs.Client, queueURL *string) {
	t.Helper()
	out, err := q.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: queueURL, WaitTimeSeconds: 0})
	if err != nil {
		t.Fatalf("ReceiveMessage %s: %v", *queueURL, err)
	}
	if len(out.Messages) != 0 {
		t.Fatalf("ReceiveMessage %s: got %d messages, want none", *queueURL, len(out.Messages))
	}
}
