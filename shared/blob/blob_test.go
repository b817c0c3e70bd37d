package blob_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/agentq/agentq/shared/blob"
)

// fakeS3 keeps objects in memory, one bucket's worth, and records the requests it gets.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	puts    []*s3.PutObjectInput
	gets    []*s3.GetObjectInput
	err     error
	// body, when set, replaces the body GetObject answers.
	body io.ReadCloser
}

func newFakeS3() *fakeS3 { return &fakeS3{objects: map[string][]byte{}} }

func (f *fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts = append(f.puts, in)
	if f.err != nil {
		return nil, f.err
	}
	data, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	f.objects[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)] = data
	return &s3.PutObjectOutput{}, nil
}

func (f *fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets = append(f.gets, in)
	if f.err != nil {
		return nil, f.err
	}
	if f.body != nil {
		return &s3.GetObjectOutput{Body: f.body}, nil
	}
	data, ok := f.objects[aws.ToString(in.Bucket)+"/"+aws.ToString(in.Key)]
	if !ok {
		return nil, &types.NoSuchKey{Message: aws.String("The specified key does not exist.")}
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader(data)), ContentLength: aws.Int64(int64(len(data)))}, nil
}

func TestPutGetRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", []byte{}},
		{"json", []byte(`{"result":"hi","output":"{\"output\": \"hi\"}"}`)},
		{"large and not ascii", bytes.Repeat([]byte("ünïcødé <&> \"\n"), 50_000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeS3()
			s := blob.New(api, "agentq-results")
			if err := s.Put(context.Background(), "results/t1/3.json", tt.data); err != nil {
				t.Fatal(err)
			}
			in := api.puts[0]
			if aws.ToString(in.Bucket) != "agentq-results" || aws.ToString(in.Key) != "results/t1/3.json" ||
				aws.ToInt64(in.ContentLength) != int64(len(tt.data)) {
				t.Errorf("PutObject to %s/%s, %d bytes", aws.ToString(in.Bucket), aws.ToString(in.Key), aws.ToInt64(in.ContentLength))
			}
			got, err := s.Get(context.Background(), "results/t1/3.json")
			if err != nil || !bytes.Equal(got, tt.data) {
				t.Fatalf("Get = %d bytes, %v; want the %d bytes put", len(got), err, len(tt.data))
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }
func (failingReader) Close() error             { return nil }

func TestErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		api         *fakeS3
		op          func(s *blob.Store) error
		wantMissing bool
		wantText    []string
	}{
		{"put fails", &fakeS3{err: errors.New("AccessDenied")},
			func(s *blob.Store) error { return s.Put(ctx, "requests/t1.json", []byte("{}")) },
			false, []string{"put blob requests/t1.json", "AccessDenied"}},
		{"get fails", &fakeS3{err: errors.New("SlowDown")},
			func(s *blob.Store) error { _, err := s.Get(ctx, "requests/t1.json"); return err },
			false, []string{"get blob requests/t1.json", "SlowDown"}},
		{"no such key", newFakeS3(),
			func(s *blob.Store) error { _, err := s.Get(ctx, "requests/t1.json"); return err },
			true, []string{"get blob requests/t1.json"}},
		{"body cut short", &fakeS3{body: failingReader{}},
			func(s *blob.Store) error { _, err := s.Get(ctx, "requests/t1.json"); return err },
			false, []string{"get blob requests/t1.json", "connection reset"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op(blob.New(tt.api, "b"))
			if err == nil || errors.Is(err, blob.ErrNotFound) != tt.wantMissing {
				t.Fatalf("err = %v, want an error (ErrNotFound %v)", err, tt.wantMissing)
			}
			for _, want := range tt.wantText {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func ExampleStore() {
	s := blob.New(newFakeS3(), "agentq-results") // in a function: s3.NewFromConfig(awsCfg)
	ctx := context.Background()
	if err := s.Put(ctx, "results/81250b20/3.json", []byte(`{"result":"a long answer"}`)); err != nil {
		fmt.Println(err)
		return
	}
	data, err := s.Get(ctx, "results/81250b20/3.json")
	fmt.Println(string(data), err)
	_, err = s.Get(ctx, "results/81250b20/4.json")
	fmt.Println(errors.Is(err, blob.ErrNotFound))
	// Output:
	// {"result":"a long answer"} <nil>
	// true
}
