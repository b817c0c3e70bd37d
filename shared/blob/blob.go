// Package blob keeps large task payloads in S3: request bodies and agent answers too large for the
// task's DynamoDB item (400 KB at most) are written to one bucket under a key the item records,
// and read back when the task is read.
//
// Objects are written once and never changed; they are encrypted at rest by the bucket's default
// encryption and expire by the bucket's lifecycle rule, both set where the bucket is defined.
package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3 is the part of the S3 API the store uses.
type S3 interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

var _ S3 = (*s3.Client)(nil)

// ErrNotFound means no object has the key.
var ErrNotFound = errors.New("blob not found")

// Store reads and writes objects in one bucket.
type Store struct {
	api    S3
	bucket string
}

// New returns a store over the named bucket.
func New(api S3, bucket string) *Store { return &Store{api: api, bucket: bucket} }

// Put writes data under key, replacing any object there.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	_, err := s.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
		// A bytes.Reader can be rewound, so the SDK can sign, checksum and retry the body.
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String("application/json"),
	})
	if err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	return nil
}

// Get reads the object under key. It returns an error wrapping ErrNotFound when there is none.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return nil, fmt.Errorf("get blob %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get blob %s: %w", key, err)
	}
	defer out.Body.Close()
	var buf bytes.Buffer
	if n := aws.ToInt64(out.ContentLength); n > 0 {
		buf.Grow(int(n))
	}
	if _, err := io.Copy(&buf, out.Body); err != nil {
		return nil, fmt.Errorf("get blob %s: read body: %w", key, err)
	}
	return buf.Bytes(), nil
}
