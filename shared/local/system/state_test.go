package system

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/agentq/agentq/shared/queue"
)

func TestStateRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "local.json")
	want := WorkerOptions{
		DynamoDBEndpoint: "http://127.0.0.1:1", SQSEndpoint: "http://127.0.0.1:2", Table: "t", Bucket: "b",
		Queues:  queue.Queues{URL: "u", ARN: "a", DLQURL: "du", DLQARN: "da"},
		SealKey: bytes.Repeat([]byte{1}, 32), LambdaEndpoint: "http://127.0.0.1:3",
	}
	if err := WriteState(path, want); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi.Mode(), err)
	}
	got, err := ReadState(path)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadState = %+v, %v; want %+v", got, err, want)
	}
	if _, err := ReadState(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("read a missing state file")
	}
}

func TestRunWorkerNeedsQueues(t *testing.T) {
	if err := RunWorker(context.Background(), WorkerOptions{DynamoDBEndpoint: "x", SQSEndpoint: "y"}); err == nil {
		t.Fatal("RunWorker without a table and queues")
	}
}
