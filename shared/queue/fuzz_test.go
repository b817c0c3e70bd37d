package queue_test

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/agentq/agentq/shared/queue"
)

// FuzzDecode feeds queue.Decode any message body: it must never panic, must refuse with
// ErrMalformed, and what it accepts must survive Encode and Decode again unchanged.
func FuzzDecode(f *testing.F) {
	raw, err := os.ReadFile("../../events/sqs-invoke-batch.json")
	if err != nil {
		f.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		f.Fatal(err)
	}
	for _, rec := range ev.Records {
		f.Add(rec.Body)
	}
	body, err := queue.Encode(fullMessage())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	for _, s := range []string{``, `null`, `{}`, `[]`, `{"kind":"invoke","task_id":"t","agent":{"id":"a","protocol":"lambda","endpoint":"arn:x"},"accepted_at":"2026-02-07T02:13:26+14:00"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		m, err := queue.Decode(body)
		if err != nil {
			if !errors.Is(err, queue.ErrMalformed) {
				t.Fatalf("Decode error %v is not ErrMalformed", err)
			}
			return
		}
		if m.Kind != queue.KindInvoke || m.TaskID == "" {
			t.Fatalf("accepted a message without kind or task: %+v", m)
		}
		again, err := queue.Encode(m)
		if err != nil {
			t.Fatalf("an accepted message does not encode: %v", err)
		}
		m2, err := queue.Decode(again)
		if err != nil {
			t.Fatalf("a re-encoded message does not decode: %v\n%s", err, again)
		}
		if !m2.AcceptedAt.Equal(m.AcceptedAt) {
			t.Fatalf("accepted_at changed: %v -> %v", m.AcceptedAt, m2.AcceptedAt)
		}
		m2.AcceptedAt = m.AcceptedAt
		if !reflect.DeepEqual(normalize(t, m), normalize(t, m2)) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, m2)
		}
	})
}

// normalize re-reads a message through JSON so that equal raw JSON compares equal however it was
// spaced.
func normalize(t *testing.T, m *queue.Message) map[string]any {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}
