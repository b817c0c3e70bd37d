package task

import (
	"encoding/json"
)

// InlineLimit is the most a task's request (body and text), and separately its answer (result and
// output), may take in the task's item. A larger one is kept in the blob store, and the item
// records where (request_ref, result_ref).
//
// Why 96 KiB: a DynamoDB item holds at most 400 KB, attribute names included. A task item holds
// its request (at most InlineLimit), its answer (at most InlineLimit) and everything else (keys,
// index keys, ids, stamps, reason: about 2 KiB), so at most about 194 KiB, under half the limit.
// The margin is for what still comes (human-in-the-loop requests, metadata) and keeps every write
// clear of the limit without measuring items to the byte. The same bound keeps the work message,
// which carries the request, far below SQS's 256 KiB. A larger limit would also make the common
// task dearer: every write costs one WCU per KB of the item, on the table and on both indexes
// (which project every attribute), at least three times per task (create, claim, outcome). The
// S3 round trip that offloading costs instead is paid only by the rare large payloads.
const InlineLimit = 96 << 10

// encodedLen is how many bytes v takes JSON-encoded, as the work message carries it. Escapes only
// ever add bytes, so a bound on it bounds the item's raw strings too.
func encodedLen(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		// Not JSON (a request body always is, once accepted): count the raw bytes.
		if raw, ok := v.(json.RawMessage); ok {
			return len(raw)
		}
		return 0
	}
	return len(b)
}

// RequestSize is how many bytes t's request (body and text) takes JSON-encoded, as the item and
// the work message carry it.
func RequestSize(t *Task) int {
	n := encodedLen(t.Text)
	if len(t.Request) > 0 {
		n += encodedLen(t.Request)
	}
	return n
}

// RequestFits reports whether t's request (body and text) fits in the task's item and in the work
// message. One that does not needs a store with blobs.
func RequestFits(t *Task) bool { return RequestSize(t) <= InlineLimit }

// InlineRequest returns the parts of t's request that the task's item and its work message carry:
// all of it while t.RequestRef is empty; once the request is staged, no body, and the text only
// when it fits InlineLimit by itself.
func InlineRequest(t *Task) (request json.RawMessage, text string) {
	if t.RequestRef == "" {
		return t.Request, t.Text
	}
	if encodedLen(t.Text) <= InlineLimit {
		return nil, t.Text
	}
	return nil, ""
}
