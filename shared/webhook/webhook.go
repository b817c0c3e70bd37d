// Package webhook delivers task events to the URLs callers and tenants name, as Standard Webhooks
// (https://www.standardwebhooks.com): every delivery is signed (webhook-id, webhook-timestamp,
// webhook-signature), recorded in the task table before it is first sent, retried on a schedule
// that spans more than a day, and ends either delivered or failed with a message in a dead-letter
// queue. Nothing is lost between those two ends: each step is a conditional write of the delivery's
// item followed by an SQS message, and a step interrupted between the two is completed by the
// message's redelivery.
//
// A tenant's default URLs and signing secrets are its settings (package settings); the deliverer
// reads them through the Settings interface. The deliverer is the Lambda handler Service.Handle.
package webhook

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/agentq/agentq/shared/webhook/settings"
)

// Errors of the package. Callers test them with errors.Is.
var (
	// ErrNotFound means the task or delivery asked for does not exist, or belongs to another
	// tenant.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means an argument was refused (a payload, a replay); the error's text says why.
	// Retrying the same call cannot succeed. It is the settings' own, so one test covers both.
	ErrInvalid = settings.ErrInvalid
	// ErrNoSecret means there is no key to sign a tenant's deliveries with (the settings' error).
	ErrNoSecret = settings.ErrNoSecret
	// ErrReplayLimit means a delivery was replayed MaxReplays times already.
	ErrReplayLimit = errors.New("replay limit reached")
)

// Event types the task lifecycle produces.
const (
	EventTaskCompleted = "task.completed"
	EventTaskFailed    = "task.failed"
	EventTaskStopped   = "task.stopped"
	EventTaskPaused    = "task.paused"
	// EventTaskProgress is an event of the task's log (tasks that opted in to progress events).
	EventTaskProgress = "task.progress"
)

// Event is the body of every delivery, in the shape Standard Webhooks recommends.
type Event struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// DynamoDB is the part of the DynamoDB API the package uses.
type DynamoDB interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ DynamoDB = (*dynamodb.Client)(nil)

// Sender sends a message body to a queue, delivered no sooner than delay from now (SQS rounds
// the delay down to whole seconds and caps it at 15 minutes).
type Sender interface {
	Send(ctx context.Context, body string, delay time.Duration) error
}

// randomHex returns n random bytes in hex: delivery ids and tokens.
func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
