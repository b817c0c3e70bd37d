package dispatch

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentq/agentq/shared/a2apush"
	"github.com/agentq/agentq/shared/progress"
	"github.com/agentq/agentq/shared/task"
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
func ProgressTargets(keys *progress.Keys, base string) func(ctx context.Context, tenant, id string) (*Progress, error) {
	base = strings.TrimRight(base, "/")
	return func(ctx context.Context, tenant, id string) (*Progress, error) {
		tok, err := keys.Token(ctx, tenant, id)
		if err != nil {
			return nil, err
		}
		u := base + "/v1/tasks/" + url.PathEscape(id)
		return &Progress{URL: u + "/progress", PushURL: u + "/push", Token: tok}, nil
	}
}

// pushTo asks an A2A agent whose card declares push notifications to push its task's updates
// to the call's push route, with the task's token: the agent reports progress while no worker
// holds a connection to it. In 1.0 that is configuration.taskPushNotificationConfig (and the
// agent pushes StreamResponses); in 0.3 configuration.pushNotificationConfig {url, token} (and
// the agent pushes its whole task). An agent that does not push is asked nothing (an SDK server
// without push refuses a message that carries a push configuration); an envelope's own push
// configuration is kept.
func (ac *a2aClient) pushTo(s a2aSession, c Call, params *a2a.SendMessageRequest) {
	if c.Progress == nil || c.Progress.PushURL == "" || params.Config.PushConfig != nil {
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
		if _, reports, ok := a2apush.Events(ev); ok {
			for _, e := range reports {
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
