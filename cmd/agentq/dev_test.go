package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/local/eventbus"
	"github.com/agentq/agentq/shared/local/system"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/trigger"
)

// acceptAll is the accept core of the dev tests: every submission makes a queued task.
type acceptAll struct{}

func (acceptAll) Submit(_ context.Context, sub accept.Submission) (*task.Task, error) {
	return &task.Task{ID: "81250b20-e9d7-4b3b-9995-07dc72b4bb59", Tenant: sub.Tenant, AgentID: sub.AgentID, Source: sub.Source, State: task.Queued}, nil
}

// dlq is the trigger's dead-letter queue in the dev tests.
type dlq struct {
	mu  sync.Mutex
	got []trigger.Rejection
}

func (d *dlq) Reject(_ context.Context, r trigger.Rejection) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, r)
	return nil
}

func startBus(t *testing.T, fn func(ctx context.Context, raw json.RawMessage) (any, error)) *eventbus.Bus {
	t.Helper()
	b, err := eventbus.Start(context.Background(), eventbus.Options{Trigger: fn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestDevSendEvent(t *testing.T) {
	rejects := &dlq{}
	h := trigger.New(trigger.Config{Submitter: acceptAll{}, Rejects: rejects})
	// As the local system wires it: the verbose answer, with every record's outcome.
	verbose := startBus(t, h.HandleVerbose)
	// As a Lambda answers: a Result, or an SQS batch response.
	lambdaShaped := startBus(t, h.Handle)
	failing := startBus(t, func(context.Context, json.RawMessage) (any, error) { return nil, errors.New("task store unavailable") })

	dir := t.TempDir()
	state := filepath.Join(dir, "local.json")
	if err := system.WriteState(state, system.WorkerOptions{BusURL: verbose.URL}); err != nil {
		t.Fatal(err)
	}
	noBus := filepath.Join(dir, "old.json")
	if err := system.WriteState(noBus, system.WorkerOptions{Table: "t"}); err != nil {
		t.Fatal(err)
	}
	notJSON := filepath.Join(dir, "x.json")
	if err := os.WriteFile(notJSON, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string { return map[string]string{"AGENTQ_STATE": state}[k] }

	tests := []struct {
		name    string
		args    []string
		out     []string
		wantErr string
	}{
		{name: "eventbridge, bus from the state file", args: []string{"../../events/eventbridge-invoke.json"},
			out: []string{"accepted  task 81250b20-e9d7-4b3b-9995-07dc72b4bb59", "agent echo, tenant default, source eventbridge, state queued"}},
		{name: "schedule", args: []string{"-bus", verbose.URL, "../../events/scheduler-invoke.json"}, out: []string{"accepted", "source scheduler"}},
		{name: "sqs", args: []string{"-bus", verbose.URL, "../../events/sqs-ingest.json"}, out: []string{"accepted", "tenant default, source sqs"}},
		{name: "rejected", args: []string{"../../events/eventbridge-invoke-rejected.json"},
			out:     []string{"rejected  validation_failed: invalid request: body.input.text: field required", "dead-letter queue"},
			wantErr: "1 event(s) rejected"},
		{name: "lambda-shaped result", args: []string{"-bus", lambdaShaped.URL, "../../events/eventbridge-invoke.json"}, out: []string{"accepted  task 81250b20"}},
		{name: "lambda-shaped sqs response", args: []string{"-bus", lambdaShaped.URL, "../../events/sqs-ingest.json"}, out: []string{"handled   every record"}},
		{name: "lambda-shaped rejection", args: []string{"-bus", lambdaShaped.URL, "../../events/eventbridge-invoke-rejected.json"},
			out: []string{"rejected  validation_failed"}, wantErr: "rejected"},
		{name: "trigger error", args: []string{"-bus", failing.URL, "../../events/eventbridge-invoke.json"}, wantErr: "task store unavailable"},
		{name: "state without a bus", args: []string{"-state", noBus, "../../events/eventbridge-invoke.json"}, wantErr: "names no event bus"},
		{name: "no state file", args: []string{"-state", filepath.Join(dir, "nope.json"), "../../events/eventbridge-invoke.json"}, wantErr: "read state"},
		{name: "no such file", args: []string{"nope.json"}, wantErr: "nope.json"},
		{name: "not json", args: []string{notJSON}, wantErr: "is not JSON"},
		{name: "no file", args: []string{}, wantErr: "usage"},
		{name: "two files", args: []string{"a", "b"}, wantErr: "usage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), append([]string{"dev", "send-event"}, tt.args...), env, &out, io.Discard)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v; out %s", err, out.String())
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			for _, w := range tt.out {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output %q lacks %q", out.String(), w)
				}
			}
		})
	}
	rejects.mu.Lock()
	defer rejects.mu.Unlock()
	if len(rejects.got) != 2 || rejects.got[0].Reason != "validation_failed" {
		t.Errorf("dead-lettered %+v", rejects.got)
	}
}

func TestDevSendEventSQSFailures(t *testing.T) {
	b := startBus(t, func(context.Context, json.RawMessage) (any, error) {
		return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "m-1"}}}, nil
	})
	var out bytes.Buffer
	err := run(context.Background(), []string{"dev", "send-event", "-bus", b.URL, "../../events/sqs-ingest.json"}, func(string) string { return "" }, &out, io.Discard)
	if err == nil || !strings.Contains(out.String(), "failed    SQS message m-1") {
		t.Errorf("err %v, out %q", err, out.String())
	}
}

func TestDevUsage(t *testing.T) {
	for _, args := range [][]string{{"dev"}, {"dev", "nope"}} {
		if err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "send-event") {
			t.Errorf("%v: err = %v", args, err)
		}
	}
	var help bytes.Buffer
	if err := run(context.Background(), []string{"dev", "send-event", "-h"}, func(string) string { return "" }, io.Discard, &help); err != nil {
		t.Errorf("-h: err = %v", err)
	}
	if !strings.Contains(help.String(), "Hands FILE, a Lambda payload") || !strings.Contains(help.String(), "-bus") {
		t.Errorf("help: %s", help.String())
	}
}
