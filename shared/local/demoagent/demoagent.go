// Package demoagent is the echo agent that the local runner publishes: a plain-HTTP agent that
// answers with the text it was given. Through its input it can also be made slow or failing, so
// that slow and failing agents can be tried by hand:
//
//	{"input": {"text": "hi", "delay_ms": 3000}}      answers after 3 s
//	{"input": {"text": "hi", "fail": "permanent"}}   answers 422: the task fails
//	{"input": {"text": "hi", "fail": "transient"}}   answers 503: the call is retried
package demoagent

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/agentq/agentq/shared/dispatch"
)

// MaxDelay caps delay_ms.
const MaxDelay = 10 * time.Minute

// maxRequestBytes bounds the agent request it reads. A request carries the caller's body (up to
// 1 MiB) up to three times: as the text, in the input and whole.
const maxRequestBytes = 8 << 20

type directives struct {
	DelayMS int64 `json:"delay_ms"`
	Fail    any   `json:"fail"`
}

// Handler returns the echo agent.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			reply(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST a task"})
			return
		}
		var req dispatch.HTTPRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, maxRequestBytes)).Decode(&req); err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"error": "body is not an agent request: " + err.Error()})
			return
		}
		var d directives
		_ = json.Unmarshal(req.Input, &d) // an input without directives is the common case
		if d.DelayMS > 0 {
			// Capped in milliseconds first: a huge delay_ms would overflow a Duration.
			delay := time.Duration(min(d.DelayMS, MaxDelay.Milliseconds())) * time.Millisecond
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		switch d.Fail {
		case nil, false, "":
		case "transient":
			reply(w, http.StatusServiceUnavailable, map[string]string{"error": "echo was asked to fail transiently"})
			return
		default:
			reply(w, http.StatusUnprocessableEntity, map[string]string{"error": "echo was asked to fail"})
			return
		}
		reply(w, http.StatusOK, map[string]any{"output": req.Text, "task_id": req.TaskID, "attempt": req.Attempt})
	})
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
