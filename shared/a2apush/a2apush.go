// Package a2apush reads A2A events, pushed to a task's push route or streamed to the worker, as
// the progress events they make in the task's log. It reads A2A 1.0 push bodies (a
// StreamResponse) and A2A 0.3 ones (the whole task, told apart by its "kind"), and imports only
// the A2A types packages: what links it (every function, through the progress service) links no
// A2A client, gRPC or protobuf.
package a2apush

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentq/agentq/shared/a2a03"
	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/tasklog"
)

// MaxArtifacts bounds the artifacts a pushed 0.3 task may carry: each makes an event.
const MaxArtifacts = 16

// Decode reads an A2A push notification body, in 1.0's shape (a StreamResponse: task, message,
// statusUpdate or artifactUpdate) or 0.3's (an object with a "kind": the task, as 0.3 agents
// push it, or a message, status-update or artifact-update), as the remote task it is about and
// the reports it makes (see Events, and taskReports for a 0.3 task). It is the progress
// service's progress.PushDecoder; its error says what is wrong, never what was sent.
func Decode(body []byte) (remoteTaskID string, reports []progress.Report, err error) {
	var kind struct {
		Kind *string `json:"kind"`
	}
	if json.Unmarshal(body, &kind) != nil {
		return "", nil, errors.New("not an A2A push notification: not a JSON object")
	}
	var ev a2a.Event
	if kind.Kind != nil {
		if ev, err = a2a03.DecodeEvent(body); err != nil {
			return "", nil, errors.New("not an A2A 0.3 push notification (a task, message, status-update or artifact-update)")
		}
		if t, ok := ev.(*a2a.Task); ok {
			return taskReports(t)
		}
	} else {
		var sr a2a.StreamResponse
		if err := json.Unmarshal(body, &sr); err != nil {
			return "", nil, errors.New("not an A2A push notification (a StreamResponse: task, message, statusUpdate or artifactUpdate)")
		}
		ev = sr.Event
	}
	id, reports, ok := Events(ev)
	if !ok {
		return "", nil, errors.New("an A2A push notification holds a task, a message, a statusUpdate or an artifactUpdate with its artifact")
	}
	return id, reports, nil
}

var _ progress.PushDecoder = Decode

// taskReports reads a task pushed whole, as 0.3 agents push every update: its status makes a
// status event and each artifact an artifact event (its whole content so far: append false).
// Each event is named by a hash of what it reads (Report.Dedupe), so that what a push repeats
// of the previous one (the status, when an artifact grew; the artifacts, when the status
// changed) is logged once.
func taskReports(t *a2a.Task) (string, []progress.Report, error) {
	if len(t.Artifacts) > MaxArtifacts {
		return "", nil, fmt.Errorf("a pushed task carries at most %d artifacts", MaxArtifacts)
	}
	status := statusEvent(t.Status)
	status.Dedupe = "a2a-status:" + digest(t.Status)
	reports := []progress.Report{status}
	for _, art := range t.Artifacts {
		if art == nil {
			continue
		}
		r := artifactEvent(art, false, false)
		r.Dedupe = "a2a-artifact:" + digest(art)
		reports = append(reports, r)
	}
	return string(t.ID), reports, nil
}

// digest names a value by the hash of its JSON.
func digest(v any) string {
	raw, _ := json.Marshal(v) // A2A types
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16])
}

// Events reads an A2A event (pushed, or streamed by SendStreamingMessage) as the remote task it
// is about and the log events it makes: status updates and tasks become status events (the
// state, named as in 0.3, and the status message's text); artifact updates become artifact
// events (id, name, text, data, append, last_chunk); a message becomes a status event. It
// answers false for an event it cannot read.
func Events(ev a2a.Event) (remoteTaskID string, reports []progress.Report, ok bool) {
	switch ev := ev.(type) {
	case *a2a.TaskStatusUpdateEvent:
		return string(ev.TaskID), []progress.Report{statusEvent(ev.Status)}, true
	case *a2a.Task:
		return string(ev.ID), []progress.Report{statusEvent(ev.Status)}, true
	case *a2a.TaskArtifactUpdateEvent:
		if ev.Artifact == nil {
			return "", nil, false
		}
		return string(ev.TaskID), []progress.Report{artifactEvent(ev.Artifact, ev.Append, ev.LastChunk)}, true
	case *a2a.Message:
		text, _ := PartsText(ev.Parts)
		return string(ev.TaskID), []progress.Report{event(tasklog.Status, map[string]any{"message": text})}, true
	}
	return "", nil, false
}

// PartsText concatenates the text parts and returns the first data part as JSON.
func PartsText(parts a2a.ContentParts) (text, data string) {
	var b strings.Builder
	for _, p := range parts {
		if p == nil {
			continue
		}
		switch v := p.Content.(type) {
		case a2a.Text:
			b.WriteString(string(v))
		case a2a.Data:
			if data == "" {
				if j, err := json.Marshal(v.Value); err == nil {
					data = string(j)
				}
			}
		}
	}
	return b.String(), data
}

func artifactEvent(art *a2a.Artifact, appended, last bool) progress.Report {
	text, data := PartsText(art.Parts)
	return event(tasklog.Artifact, map[string]any{
		"artifact_id": art.ID, "name": art.Name, "text": text, "data": rawOrNil(data),
		"append": appended, "last_chunk": last,
	})
}

func statusEvent(s a2a.TaskStatus) progress.Report {
	msg := ""
	if s.Message != nil {
		msg, _ = PartsText(s.Message.Parts)
	}
	return event(tasklog.Status, map[string]any{"state": a2a03.StateName(s.State), "message": msg})
}

func event(t tasklog.Type, data map[string]any) progress.Report {
	raw, _ := json.Marshal(data) // plain values
	return progress.Report{Type: t, Data: raw}
}

func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}
