package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"

	"github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tasklog"
)

// Progress is where an agent may report progress on the call's task: the URL of the task's
// progress route (HTTP and Lambda agents; see progressFields), the URL of its A2A push route
// (A2A agents whose card says they push), and the task's token for both.
type Progress struct {
	URL     string
	PushURL string
	Token   string
}

// ProgressTargets answers where the agent of a task reports progress: the task's progress and
// push routes under base (the URL the stream routes are served at), and its token from keys.
func ProgressTargets(keys *progress.Keys, base string) func(tenant, id string) *Progress {
	base = strings.TrimRight(base, "/")
	return func(tenant, id string) *Progress {
		u := base + "/v1/tasks/" + url.PathEscape(id)
		return &Progress{URL: u + "/progress", PushURL: u + "/push", Token: keys.Token(tenant, id)}
	}
}

// push is an A2A 1.0 push notification (a StreamResponse: a task, a message, a status update or
// an artifact update) read as the remote task it is about and the events it makes.
type push struct {
	remoteTaskID string
	events       []progress.Report
}

// DecodePush reads an A2A 1.0 push notification body (see eventsOf for what it makes); it is
// the progress service's progress.PushDecoder.
func DecodePush(body []byte) (remoteTaskID string, reports []progress.Report, err error) {
	var sr a2a.StreamResponse
	if err := json.Unmarshal(body, &sr); err != nil {
		return "", nil, errors.New("not an A2A push notification (a StreamResponse: task, message, statusUpdate or artifactUpdate)")
	}
	p, ok := eventsOf(sr.Event)
	if !ok {
		return "", nil, errors.New("an A2A push notification holds a task, a message, a statusUpdate or an artifactUpdate with its artifact")
	}
	return p.remoteTaskID, p.events, nil
}

var _ progress.PushDecoder = DecodePush

// eventsOf reads an A2A event (pushed, or streamed by SendStreamingMessage) as the remote task it
// is about and the log events it makes: status updates and tasks become status events (the
// state, named as in 0.3, and the status message's text); artifact updates become artifact
// events (id, name, text, data, append, last_chunk); a message becomes a status event.
func eventsOf(ev a2a.Event) (push, bool) {
	switch ev := ev.(type) {
	case *a2a.TaskStatusUpdateEvent:
		return push{string(ev.TaskID), []progress.Report{statusEvent(ev.Status)}}, true
	case *a2a.Task:
		return push{string(ev.ID), []progress.Report{statusEvent(ev.Status)}}, true
	case *a2a.TaskArtifactUpdateEvent:
		if ev.Artifact == nil {
			return push{}, false
		}
		text, data := partsText(ev.Artifact.Parts)
		return push{string(ev.TaskID), []progress.Report{event(tasklog.Artifact, map[string]any{
			"artifact_id": ev.Artifact.ID, "name": ev.Artifact.Name, "text": text, "data": rawOrNil(data),
			"append": ev.Append, "last_chunk": ev.LastChunk,
		})}}, true
	case *a2a.Message:
		text, _ := partsText(ev.Parts)
		return push{string(ev.TaskID), []progress.Report{event(tasklog.Status, map[string]any{"message": text})}}, true
	}
	return push{}, false
}

func statusEvent(s a2a.TaskStatus) progress.Report {
	msg := ""
	if s.Message != nil {
		msg, _ = partsText(s.Message.Parts)
	}
	return event(tasklog.Status, map[string]any{"state": stateName(s.State), "message": msg})
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

// pushTo asks an A2A 1.0 agent whose card declares push notifications to push its task's
// updates to the call's push route, with the task's token: the agent reports progress while no
// worker holds a connection to it. A 0.3 agent, or one that does not push, is asked nothing (an
// SDK server without push refuses a message that carries a push configuration); an envelope's
// own push configuration is kept.
func (ac *a2aClient) pushTo(s a2aSession, c Call, params *a2a.SendMessageRequest) {
	if c.Progress == nil || c.Progress.PushURL == "" || s.version != a2a.Version || params.Config.PushConfig != nil {
		return
	}
	if !ac.cards.pushes(s.ctx, c.Agent) {
		return
	}
	params.Config.PushConfig = &a2a.PushConfig{ID: "agentq", URL: c.Progress.PushURL, Token: c.Progress.Token}
}

// streamA2A sends the call with SendStreamingMessage, to an agent whose card declares streaming,
// when the caller listens (Call.OnEvent): the agent's updates are handed over as they arrive,
// while the worker holds its short call anyway. The stream is read for at most the A2A wait;
// then, or when the stream ends with the agent still working, the task is *Pending as with
// SendMessage, and checks (and pushes) take over.
func (cl *Client) streamA2A(s a2aSession, c Call, params *a2a.SendMessageRequest) (Result, error) {
	ctx, cancel := context.WithTimeout(s.ctx, cl.a2a.wait)
	defer cancel()
	params.Config.ReturnImmediately = false
	var pending *Pending
	for ev, err := range s.client.SendStreamingMessage(ctx, params) {
		if err != nil {
			if pending != nil { // the agent has the task: whatever broke the stream, check later
				return Result{}, pending
			}
			return Result{}, a2aFailure(err, c.Agent.Endpoint)
		}
		if p, ok := eventsOf(ev); ok {
			for _, e := range p.events {
				c.OnEvent(e)
			}
		}
		switch v := ev.(type) {
		case *a2a.Message:
			return messageResult(v, s.version), nil
		case *a2a.Task:
			res, err := taskOutcome(v, s.version)
			if p, ok := errors.AsType[*Pending](err); ok {
				pending = p
				continue
			}
			return res, err
		case *a2a.TaskStatusUpdateEvent:
			switch v.Status.State {
			case a2a.TaskStateSubmitted, a2a.TaskStateWorking:
				pending = &Pending{RemoteTaskID: string(v.TaskID), State: stateName(v.Status.State)}
				continue
			}
			// The task left working: its outcome (artifacts and all) is the task's.
			t, err := s.client.GetTask(s.ctx, &a2a.GetTaskRequest{ID: v.TaskID, HistoryLength: new(0)})
			if err != nil {
				return Result{}, &Pending{RemoteTaskID: string(v.TaskID), State: stateName(v.Status.State)}
			}
			return taskOutcome(t, s.version)
		}
	}
	if pending != nil {
		return Result{}, pending
	}
	return Result{}, &Error{Reason: task.ReasonInvalidResponse, Message: "the agent's stream ended without a task or a message"}
}
