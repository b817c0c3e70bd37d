package eventbus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// targetPutEvents is the X-Amz-Target of PutEvents in the EventBridge JSON protocol (AWS JSON 1.1).
const targetPutEvents = "AWSEvents.PutEvents"

const contentType = "application/x-amz-json-1.1"

// putEventsInput is the PutEvents request, field for field as the SDKs send it.
type putEventsInput struct {
	Entries    *[]putEventsEntry `json:"Entries"`
	EndpointID *string           `json:"EndpointId"`
}

type putEventsEntry struct {
	Source       *string  `json:"Source"`
	DetailType   *string  `json:"DetailType"`
	Detail       *string  `json:"Detail"`
	EventBusName *string  `json:"EventBusName"`
	Resources    []string `json:"Resources"`
	// Time is epoch seconds (what the SDKs send: the protocol's timestamp format) or an RFC 3339
	// string.
	Time        json.RawMessage `json:"Time"`
	TraceHeader *string         `json:"TraceHeader"`
}

// resultEntry is one entry of the answer: an EventId, or an ErrorCode and ErrorMessage.
type resultEntry struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

type putEventsOutput struct {
	FailedEntryCount int           `json:"FailedEntryCount"`
	Entries          []resultEntry `json:"Entries"`
}

// awsError is an error of the whole call, in the AWS JSON protocol's shape.
type awsError struct {
	status  int
	code    string
	message string
}

func validation(msg string) *awsError {
	return &awsError{http.StatusBadRequest, "ValidationException", msg}
}

func (b *Bus) serveAPI(w http.ResponseWriter, r *http.Request) {
	if target := r.Header.Get("X-Amz-Target"); target != targetPutEvents {
		writeAWSError(w, &awsError{http.StatusBadRequest, "UnknownOperationException",
			fmt.Sprintf("operation %q is not served by the local bus: only %s", target, targetPutEvents)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeAWSError(w, validation("Total size of the entries in the request is over the limit."))
			return
		}
		writeAWSError(w, &awsError{http.StatusBadRequest, "SerializationException", "the request body could not be read"})
		return
	}
	out, aerr := b.putEvents(body)
	if aerr != nil {
		writeAWSError(w, aerr)
		return
	}
	b2, err := json.Marshal(out)
	if err != nil {
		writeAWSError(w, &awsError{http.StatusInternalServerError, "InternalException", "the answer could not be encoded"})
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-Requestid", uuid.NewString())
	_, _ = w.Write(b2)
}

// putEvents validates the call as a whole, then each entry, keeping the entries that pass.
func (b *Bus) putEvents(body []byte) (*putEventsOutput, *awsError) {
	var in putEventsInput
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil {
		return nil, &awsError{http.StatusBadRequest, "SerializationException", "the request body is not a PutEvents request: " + err.Error()}
	}
	if in.Entries == nil {
		return nil, validation("1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null")
	}
	entries := *in.Entries
	switch {
	case len(entries) < 1:
		return nil, validation("1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1")
	case len(entries) > MaxEntries:
		return nil, validation(fmt.Sprintf("1 validation error detected: Value '[PutEventsRequestEntry]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to %d", MaxEntries))
	}
	total := 0
	for _, e := range entries {
		total += entrySize(e)
	}
	if total > MaxEntriesBytes {
		return nil, validation("Total size of the entries in the request is over the limit.")
	}
	out := &putEventsOutput{Entries: make([]resultEntry, len(entries))}
	var accepted []Event
	for i, e := range entries {
		ev, res := b.admit(e)
		out.Entries[i] = res
		if res.ErrorCode != "" {
			out.FailedEntryCount++
			continue
		}
		accepted = append(accepted, ev)
	}
	for _, ev := range accepted {
		b.keep(ev)
		attrs := []any{"event_id", ev.ID, "detail_type", ev.DetailType, "source", ev.Source, "bus", ev.Bus}
		if id := taskID(ev.Detail); id != "" {
			attrs = append(attrs, "task_id", id)
		}
		b.o.Logger.Info("event put", attrs...)
		if isInvoke(ev) && b.o.OnInvoke != nil {
			b.deliver(ev)
		}
	}
	return out, nil
}

// entrySize counts an entry as EventBridge does: 14 bytes for a Time, then Source, DetailType,
// Detail and each of Resources in UTF-8 bytes.
func entrySize(e putEventsEntry) int {
	n := 0
	if len(e.Time) > 0 && string(e.Time) != "null" {
		n += timeBytes
	}
	for _, s := range []*string{e.Source, e.DetailType, e.Detail} {
		if s != nil {
			n += len(*s)
		}
	}
	for _, r := range e.Resources {
		n += len(r)
	}
	return n
}

// admit checks one entry and makes its event, or answers why it failed.
func (b *Bus) admit(e putEventsEntry) (Event, resultEntry) {
	if code, ok := b.injected(); ok {
		return Event{}, resultEntry{ErrorCode: code, ErrorMessage: "failure injected by the local bus (FailNext)"}
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"Source", e.Source}, {"DetailType", e.DetailType}, {"Detail", e.Detail}} {
		if f.v == nil || *f.v == "" {
			return Event{}, invalid(fmt.Sprintf("Parameter %s is not valid. Reason: %s is a required argument.", f.name, f.name))
		}
	}
	var fields map[string]json.RawMessage
	if !utf8.ValidString(*e.Detail) || json.Unmarshal([]byte(*e.Detail), &fields) != nil || fields == nil {
		return Event{}, resultEntry{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed."}
	}
	if strings.HasPrefix(*e.Source, "aws.") {
		return Event{}, resultEntry{ErrorCode: "NotAuthorizedForSourceException", ErrorMessage: "Not authorized for the source."}
	}
	if e.EventBusName != nil && *e.EventBusName != "" {
		name, ok := busName(*e.EventBusName)
		if !ok {
			return Event{}, invalid("Parameter EventBusName is not valid. Reason: not a name or an event bus ARN.")
		}
		if name != b.Name {
			return Event{}, resultEntry{ErrorCode: "ResourceNotFoundException", ErrorMessage: "Event bus " + name + " does not exist."}
		}
	}
	at, err := entryTime(e.Time, b.o.Now)
	if err != nil {
		return Event{}, invalid("Parameter Time is not valid. Reason: " + err.Error())
	}
	res := e.Resources
	if res == nil {
		res = []string{}
	}
	ev := Event{
		ID: uuid.NewString(), Source: *e.Source, DetailType: *e.DetailType, Detail: json.RawMessage(*e.Detail),
		Bus: b.Name, Resources: res, Time: at, Account: Account, Region: b.o.Region,
	}
	if e.TraceHeader != nil {
		ev.TraceHeader = *e.TraceHeader
	}
	return ev, resultEntry{EventID: ev.ID}
}

func invalid(msg string) resultEntry {
	return resultEntry{ErrorCode: "InvalidArgument", ErrorMessage: msg}
}

// entryTime reads an entry's Time: epoch seconds, possibly fractional, or RFC 3339; now when
// absent. EventBridge keeps whole seconds.
func entryTime(raw json.RawMessage, now func() time.Time) (time.Time, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return now().UTC().Truncate(time.Second), nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, errors.New("not an RFC 3339 timestamp")
		}
		return t.UTC().Truncate(time.Second), nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 253402300799 {
		return time.Time{}, errors.New("not a timestamp")
	}
	return time.Unix(int64(f), 0).UTC(), nil
}

// taskID is the task an event is about, when its detail says (task_id), for the log: the
// detail itself is never logged.
func taskID(detail json.RawMessage) string {
	var d struct {
		TaskID any `json:"task_id"`
	}
	_ = json.Unmarshal(detail, &d)
	if s, ok := d.TaskID.(string); ok && len(s) <= 128 {
		return s
	}
	return ""
}

func writeAWSError(w http.ResponseWriter, e *awsError) {
	b, _ := json.Marshal(map[string]string{"__type": e.code, "message": e.message})
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-Errortype", e.code)
	w.Header().Set("X-Amzn-Requestid", uuid.NewString())
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}
