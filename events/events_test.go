// Package events_test checks the sample events in this directory: each parses into its
// aws-lambda-go type with no field left unknown, and survives a round trip through that type.
package events_test

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/queue"
)

// newEvent returns a pointer to the event type a sample file holds, chosen by its name.
func newEvent(t *testing.T, name string) any {
	t.Helper()
	switch {
	case strings.HasPrefix(name, "apigw-v2-"):
		return &events.APIGatewayV2HTTPRequest{}
	case strings.HasPrefix(name, "apigw-v1-"):
		return &events.APIGatewayProxyRequest{}
	case strings.HasPrefix(name, "sqs-"):
		return &events.SQSEvent{}
	}
	t.Fatalf("%s: no event type for this name; name samples apigw-v1-*, apigw-v2-* or sqs-*", name)
	return nil
}

func sampleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found %d sample events, want at least 5: %v", len(files), files)
	}
	return files
}

func TestSamplesRoundTrip(t *testing.T) {
	for _, name := range sampleFiles(t) {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			// Every field must be one the type knows: a misspelt key would silently vanish.
			ev := newEvent(t, name)
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(ev); err != nil {
				t.Fatalf("decode %s strictly: %v", name, err)
			}
			out, err := json.Marshal(ev)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			again := newEvent(t, name)
			if err := json.Unmarshal(out, again); err != nil {
				t.Fatalf("decode re-encoded event: %v", err)
			}
			if !reflect.DeepEqual(ev, again) {
				t.Errorf("event changed in a round trip:\nfirst:  %+v\nsecond: %+v", ev, again)
			}
			// What the file says must still be said after the round trip; keys the type leaves
			// out (omitempty) may only go if they held a zero value.
			var before, after any
			if err := json.Unmarshal(raw, &before); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(out, &after); err != nil {
				t.Fatal(err)
			}
			if path, ok := contains(after, before, "$"); !ok {
				t.Errorf("round trip lost or changed %s", path)
			}
		})
	}
}

// contains reports whether got holds everything want holds, and where it does not.
func contains(got, want any, path string) (string, bool) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return path, false
		}
		for k, wv := range w {
			gv, present := g[k]
			if !present {
				if isZero(wv) {
					continue
				}
				return path + "." + k, false
			}
			if p, ok := contains(gv, wv, path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return path, false
		}
		for i := range w {
			if p, ok := contains(g[i], w[i], path+"["+strconv.Itoa(i)+"]"); !ok {
				return p, false
			}
		}
		return "", true
	case nil:
		return "", isZero(got)
	default:
		return path, reflect.DeepEqual(got, want)
	}
}

func isZero(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case string:
		return v == ""
	case float64:
		return v == 0
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}

func readSQS(t *testing.T) events.SQSEvent {
	t.Helper()
	raw, err := os.ReadFile("sqs-invoke-batch.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestSQSBatchBodiesAreWorkMessages(t *testing.T) {
	ev := readSQS(t)
	if len(ev.Records) != 2 {
		t.Fatalf("records = %d, want 2", len(ev.Records))
	}
	seen := map[string]bool{}
	for _, rec := range ev.Records {
		t.Run(rec.MessageId, func(t *testing.T) {
			m, err := queue.Decode(rec.Body)
			if err != nil {
				t.Fatalf("queue.Decode: %v", err)
			}
			if m.Agent.ID != "echo" || m.Agent.Protocol != "http" || m.Agent.Endpoint != "http://127.0.0.1:9/" {
				t.Errorf("agent = %+v, want echo over http at http://127.0.0.1:9/", m.Agent)
			}
			if m.AcceptedAt.IsZero() || m.Text == "" {
				t.Errorf("message lacks accepted_at or text: %+v", m)
			}
			if seen[m.TaskID] {
				t.Errorf("task %s appears twice in the batch", m.TaskID)
			}
			seen[m.TaskID] = true
			sum := md5.Sum([]byte(rec.Body))
			if got := hex.EncodeToString(sum[:]); got != rec.Md5OfBody {
				t.Errorf("md5OfBody = %s, want %s", rec.Md5OfBody, got)
			}
			if rec.Attributes["ApproximateReceiveCount"] == "" || rec.EventSource != "aws:sqs" {
				t.Errorf("record lacks SQS attributes: %+v", rec)
			}
		})
	}
}

func TestAPIGatewayBodiesAreValidRequests(t *testing.T) {
	tests := []struct {
		file   string
		decode func([]byte) (*dialect.Invocation, error)
	}{
		{"apigw-v2-invoke-xpander.json", dialect.DecodeXpander},
		{"apigw-v2-invoke-servicenet.json", dialect.DecodeServiceNet},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.RawPath != ev.RequestContext.HTTP.Path {
				t.Errorf("rawPath %q and requestContext.http.path %q differ", ev.RawPath, ev.RequestContext.HTTP.Path)
			}
			if _, err := tt.decode([]byte(ev.Body)); err != nil {
				t.Errorf("body is not a valid request: %v", err)
			}
		})
	}
	raw, err := os.ReadFile("apigw-v1-invoke-xpander.json")
	if err != nil {
		t.Fatal(err)
	}
	var v1 events.APIGatewayProxyRequest
	if err := json.Unmarshal(raw, &v1); err != nil {
		t.Fatal(err)
	}
	if _, err := dialect.DecodeXpander([]byte(v1.Body)); err != nil {
		t.Errorf("apigw-v1-invoke-xpander.json: body is not a valid request: %v", err)
	}
}
