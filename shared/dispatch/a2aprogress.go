package dispatch

import (
	"encoding/json"
	"errors"

	"github.com/a2aproject/a2a-go/v2/a2a"

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

// PushEvent is one event of an A2A push notification, in the task log's terms.
type PushEvent struct {
	Type tasklog.Type
	Data json.RawMessage
}

// Push is an A2A 1.0 push notification (a StreamResponse: a task, a message, a status update or
// an artifact update) read as the remote task it is about and the events it makes.
type Push struct {
	RemoteTaskID string
	Events       []PushEvent
}

// DecodePush reads an A2A 1.0 push notification body. Status updates and tasks become status
// events (the A2A state, named as in 0.3, and the status message's text); artifact updates become
// artifact events (id, name, text, data, append, last_chunk); a message becomes a status event.
func DecodePush(body []byte) (Push, error) {
	var sr a2a.StreamResponse
	if err := json.Unmarshal(body, &sr); err != nil {
		return Push{}, errors.New("not an A2A push notification (a StreamResponse: task, message, statusUpdate or artifactUpdate)")
	}
	switch ev := sr.Event.(type) {
	case *a2a.TaskStatusUpdateEvent:
		return Push{RemoteTaskID: string(ev.TaskID), Events: []PushEvent{statusEvent(ev.Status)}}, nil
	case *a2a.Task:
		return Push{RemoteTaskID: string(ev.ID), Events: []PushEvent{statusEvent(ev.Status)}}, nil
	case *a2a.TaskArtifactUpdateEvent:
		if ev.Artifact == nil {
			return Push{}, errors.New("an artifact update without an artifact")
		}
		text, data := partsText(ev.Artifact.Parts)
		return Push{RemoteTaskID: string(ev.TaskID), Events: []PushEvent{event(tasklog.Artifact, map[string]any{
			"artifact_id": ev.Artifact.ID, "name": ev.Artifact.Name, "text": text, "data": rawOrNil(data),
			"append": ev.Append, "last_chunk": ev.LastChunk,
		})}}, nil
	case *a2a.Message:
		text, _ := partsText(ev.Parts)
		return Push{RemoteTaskID: string(ev.TaskID), Events: []PushEvent{event(tasklog.Status, map[string]any{"message": text})}}, nil
	}
	return Push{}, errors.New("an A2A push notification holds a task, a message, a statusUpdate or an artifactUpdate")
}

func statusEvent(s a2a.TaskStatus) PushEvent {
	msg := ""
	if s.Message != nil {
		msg, _ = partsText(s.Message.Parts)
	}
	return event(tasklog.Status, map[string]any{"state": stateName(s.State), "message": msg})
}

func event(t tasklog.Type, data map[string]any) PushEvent {
	raw, _ := json.Marshal(data) // plain values
	return PushEvent{Type: t, Data: raw}
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
