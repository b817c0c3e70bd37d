// Package settings keeps each tenant's webhook settings: its default URLs and its Standard
// Webhooks signing secrets, sealed with an authctx.Sealer and rotated with a grace period, in one
// item of the task table. It also checks webhook URLs (shape and literal addresses) before they are
// stored or taken with a task. The deliverer (package webhook) reads the settings it needs through
// an interface of its own; signing itself is package signing.
package settings

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Errors of the package. Callers test them with errors.Is.
var (
	// ErrInvalidURL means a URL is not an absolute http(s) URL a webhook can be sent to.
	ErrInvalidURL = errors.New("invalid webhook URL")
	// ErrForbiddenURL means a URL's host is an address webhooks may never reach: private,
	// loopback, link-local or a metadata endpoint.
	ErrForbiddenURL = errors.New("forbidden webhook URL")
	// ErrNoSecret means there is no key to sign a tenant's deliveries with: the tenant has none
	// of its own and the operator configured none.
	ErrNoSecret = errors.New("no webhook signing secret")
	// ErrInvalid means an argument was refused (a grace period, URLs); the error's text says why.
	// Retrying the same call cannot succeed.
	ErrInvalid = errors.New("invalid argument")
	// ErrConflict means a tenant's settings were changed concurrently, twice in a row; the caller
	// may try again.
	ErrConflict = errors.New("webhook settings changed concurrently")
	// ErrNoSealer means a tenant's secret cannot be created because no sealer (seal key or KMS
	// key) is configured to store it with. Errors that wrap it also wrap ErrNoSecret.
	ErrNoSealer = errors.New("webhook secrets cannot be stored: no seal key is configured")
)

// DynamoDB is the part of the DynamoDB API the settings use.
type DynamoDB interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ DynamoDB = (*dynamodb.Client)(nil)
