package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	legacy "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"

	"github.com/agentq/agentq/shared/a2a03"
	"github.com/agentq/agentq/shared/a2apush"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/netguard"
	"github.com/agentq/agentq/shared/task"
)

// A2A agents (protocol "a2a") are called over A2A JSON-RPC: A2A 1.0 (SendMessage, GetTask,
// CancelTask, with an "A2A-Version: 1.0" header) with the official Go SDK,
// github.com/a2aproject/a2a-go/v2, or A2A 0.3 (message/send, tasks/get, tasks/cancel) with
// agentq's own small 0.3 client (rpc03, in a2arpc03.go). Which one an agent is spoken to in is chosen per agent (see
// a2acard.go): its registry field a2a_version, else its agent card, else 0.3. Call sends one
// message:
//
//   - The message is the user's: the task's text as a text part (or, when the request has no
//     text, its "input" object as a data part). messageId is agentq's task id, so a redelivered
//     task sends the same id and the agent may recognise it. contextId is ConversationID of the
//     tenant and the thread (Call.ThreadID, else the body's "context_id"): never the caller's id
//     itself, so equal thread ids of two tenants never meet at a shared agent. taskId is the
//     agent's task the tenant's own previous turn recorded (Call.ResumeTaskID), never one the
//     body names. The body's "skill_id" travels as the message's metadata "skill_id": A2A has
//     no field for it; metadata "agentq_tenant" and the X-Agentq-Tenant header carry the tenant.
//   - A body's "agent_envelope" replaces that message and is sent as given (see envelopeParams
//     for the shapes it may take, in either version): agentq fills what it leaves empty
//     (messageId, role, metadata skill_id), and always sets contextId, taskId and the tenant as
//     above, and drops referenceTaskIds, push notification configuration and the request's
//     agent-side tenant (the dialect refuses envelopes that set them).
//   - configuration.returnImmediately is always set (in 0.3, blocking is false): the agent
//     answers as soon as it has a task, and agentq checks back later (*Pending, Check) rather
//     than holding a connection, and a worker, for as long as the agent works.
//   - Auth forward sends Call.AuthToken as "Authorization: Bearer"; the call also carries
//     "Idempotency-Key: <task id>", as HTTP agents' do.
//
// The answer, an A2A Message or Task, decides the outcome (see taskOutcome). The answer agentq
// keeps (Result.Output, NeedsInput.Raw) is in the JSON of the version the agent speaks, and
// states are named as in 0.3 ("working", "input-required") whatever the version, so that
// records and API answers read the same for agents of either version.

// Pending means the agent accepted the task and is still working on it (A2A states submitted and
// working). Keep RemoteTaskID and ask again later with Check, and stop the agent's task with
// Cancel if agentq's ends first. Calling Call again would start a second task on the agent.
//
// Pending is not an *Error, so Retryable reports true for it: look for *Pending (and *NeedsInput)
// before asking Retryable.
type Pending struct {
	// RemoteTaskID is the agent's id for its task.
	RemoteTaskID string
	// State is the task's A2A state: "submitted" or "working".
	State string
}

func (p *Pending) Error() string {
	return "the agent is still working on its task " + p.RemoteTaskID + " (" + p.State + ")"
}

// NeedsInput means the agent paused its task until the caller answers (A2A input-required) or
// authenticates (auth-required). The caller answers with a new request whose "task_id" is
// RemoteTaskID; Call forwards it as the message's taskId, which resumes the agent's task.
//
// Like *Pending, it is not an *Error: look for it before asking Retryable.
type NeedsInput struct {
	// RemoteTaskID is the agent's id for its task.
	RemoteTaskID string
	// State is "input-required" or "auth-required".
	State string
	// Message is the text of the agent's question (its status message).
	Message string
	// Raw is the agent's task as JSON, without its history.
	Raw json.RawMessage
}

func (n *NeedsInput) Error() string {
	msg := "the agent's task " + n.RemoteTaskID + " is " + n.State
	if n.Message != "" {
		msg += ": " + n.Message
	}
	return msg
}

// WithA2AWait makes Call keep checking an A2A task that is still running for up to d (and never
// past the call's deadline) before it returns *Pending, so that agents that finish within
// seconds need no check later. The default, 0, returns *Pending at once.
func WithA2AWait(d time.Duration) Option {
	return func(cl *Client) { cl.a2a.wait = d }
}

// Check asks an A2A agent for the state of its task remoteTaskID (A2A GetTask, or tasks/get in
// 0.3) and returns the outcome as Call does: a Result, *Pending, *NeedsInput or *Error. It
// presents creds as Call does.
func (cl *Client) Check(ctx context.Context, a agent.Agent, remoteTaskID string, creds Credentials) (Result, error) {
	res, err := cl.check(ctx, a, remoteTaskID, creds)
	return res, redacted(err)
}

func (cl *Client) check(ctx context.Context, a agent.Agent, remoteTaskID string, creds Credentials) (Result, error) {
	s, err := cl.a2a.remoteTask(ctx, a, remoteTaskID, creds)
	if err != nil {
		return Result{}, err
	}
	t, err := s.client.GetTask(s.ctx, &a2a.GetTaskRequest{ID: a2a.TaskID(remoteTaskID), HistoryLength: new(0)})
	if err != nil {
		return Result{}, a2aFailure(err, a.Endpoint)
	}
	return taskOutcome(t, s.version)
}

// Cancel asks an A2A agent to stop its task remoteTaskID (A2A CancelTask, or tasks/cancel in
// 0.3). It returns nil when the task is canceled or the agent accepted to cancel it (Check then
// reports when it stops), a non-retryable *Error when the task has already ended otherwise or is
// unknown to the agent, and a retryable *Error when the agent could not be reached. It presents
// creds as Call does.
func (cl *Client) Cancel(ctx context.Context, a agent.Agent, remoteTaskID string, creds Credentials) error {
	return redacted(cl.cancel(ctx, a, remoteTaskID, creds))
}

func (cl *Client) cancel(ctx context.Context, a agent.Agent, remoteTaskID string, creds Credentials) error {
	s, err := cl.a2a.remoteTask(ctx, a, remoteTaskID, creds)
	if err != nil {
		return err
	}
	t, err := s.client.CancelTask(s.ctx, &a2a.CancelTaskRequest{ID: a2a.TaskID(remoteTaskID)})
	if err != nil {
		return a2aFailure(err, a.Endpoint)
	}
	if st := t.Status.State; st.Terminal() && st != a2a.TaskStateCanceled {
		return &Error{Reason: task.ReasonAgentRejected, Message: "the agent's task " + remoteTaskID + " has already ended " + stateName(st)}
	}
	return nil
}

// callA2A sends the task to an A2A agent (SendMessage) and reads the outcome from its answer.
func (cl *Client) callA2A(ctx context.Context, c Call) (Result, error) {
	params, err := a2aParams(c)
	if err != nil {
		return Result{}, err
	}
	s, err := cl.a2a.session(ctx, c.Agent, c.Credentials, c.TaskID)
	if err != nil {
		return Result{}, err
	}
	cl.a2a.pushTo(s, c, params)
	if c.OnEvent != nil && cl.a2a.wait > 0 && cl.a2a.cards.streams(s.ctx, c.Agent) {
		return cl.streamA2A(s, c, params)
	}
	reply, err := s.client.SendMessage(s.ctx, params)
	if err != nil {
		return Result{}, a2aFailure(err, c.Agent.Endpoint)
	}
	switch r := reply.(type) {
	case *a2a.Message:
		return messageResult(r, s.version), nil
	case *a2a.Task:
		res, err := taskOutcome(r, s.version)
		if p, ok := errors.AsType[*Pending](err); ok && cl.a2a.wait > 0 {
			return cl.a2a.await(s, p, c.Agent.Endpoint)
		}
		return res, err
	default:
		return Result{}, &Error{Reason: task.ReasonInvalidResponse, Message: fmt.Sprintf("the agent answered SendMessage with %T, not a message or a task", reply)}
	}
}

// a2aClient builds clients for A2A agents: JSON-RPC only, the SDK's in A2A 1.0 and rpc03 in
// 0.3, over the dispatch HTTP client with its answers bounded.
type a2aClient struct {
	hc      *http.Client // bounded
	factory *a2aclient.Factory
	cards   *cardVersions
	wait    time.Duration
}

func newA2AClient(hc *http.Client) *a2aClient {
	bc := boundedClient(hc)
	return &a2aClient{
		hc:      bc,
		factory: a2aclient.NewFactory(a2aclient.WithDefaultsDisabled(), a2aclient.WithJSONRPCTransport(bc)),
		cards:   newCardVersions(bc),
	}
}

// a2aSession is a client for one agent, the version it speaks, and the context its requests are
// made with (for the SDK's client, it carries their extra HTTP headers).
type a2aSession struct {
	ctx     context.Context
	client  a2aConn
	version a2a.ProtocolVersion
}

// session returns a client for agent a. Its only I/O is the agent card, when the version is
// neither pinned nor known yet: the JSON-RPC transport connects on the first request, through the
// shared HTTP client's connection pool.
func (ac *a2aClient) session(ctx context.Context, a agent.Agent, creds Credentials, idempotencyKey string) (a2aSession, error) {
	if u, err := url.Parse(a.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return a2aSession{}, &Error{Reason: task.ReasonAgentFailed, Message: "bad agent endpoint: not an http(s) URL"}
	}
	version, err := ac.cards.version(ctx, a)
	if err != nil {
		return a2aSession{}, err
	}
	hh := http.Header{}
	creds.apply(a, hh)
	if idempotencyKey != "" {
		hh.Set("Idempotency-Key", idempotencyKey)
	}
	if version == a2a03.Version {
		return a2aSession{ctx: ctx, client: &rpc03{hc: ac.hc, url: a.Endpoint, header: hh}, version: version}, nil
	}
	iface := &a2a.AgentInterface{URL: a.Endpoint, ProtocolBinding: a2a.TransportProtocolJSONRPC, ProtocolVersion: version}
	client, err := ac.factory.CreateFromEndpoints(ctx, []*a2a.AgentInterface{iface})
	if err != nil {
		return a2aSession{}, &Error{Reason: task.ReasonAgentFailed, Message: "A2A client: " + Redact(err.Error())}
	}
	h := a2aclient.ServiceParams{}
	for k := range hh {
		h[k] = []string{hh.Get(k)}
	}
	if len(h) > 0 {
		ctx = a2aclient.AttachServiceParams(ctx, h)
	}
	return a2aSession{ctx: ctx, client: client, version: version}, nil
}

// remoteTask returns a session for requests about an existing task of agent a.
func (ac *a2aClient) remoteTask(ctx context.Context, a agent.Agent, remoteTaskID string, creds Credentials) (a2aSession, error) {
	if a.Protocol != agent.A2A {
		return a2aSession{}, &Error{Reason: task.ReasonAgentFailed, Message: fmt.Sprintf("agent %s speaks %q: only A2A agents have tasks to check or cancel", a.ID, a.Protocol)}
	}
	if remoteTaskID == "" {
		return a2aSession{}, &Error{Reason: task.ReasonAgentFailed, Message: "no remote task id"}
	}
	return ac.session(ctx, a, creds, "")
}

// await checks a pending task, backing off from 50 ms to 1 s, until it is no longer pending, the
// wait is over or the session's context ends; then the task is still p. A check that fails in a
// way that may mend is tried again; once the agent has a task, its id must not be lost to a
// transient error.
func (ac *a2aClient) await(s a2aSession, p *Pending, endpoint string) (Result, error) {
	deadline := time.Now().Add(ac.wait)
	delay := 50 * time.Millisecond
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return Result{}, p
		}
		timer := time.NewTimer(min(delay, left))
		select {
		case <-s.ctx.Done():
			timer.Stop()
			return Result{}, p
		case <-timer.C:
		}
		delay = min(2*delay, time.Second)
		t, err := s.client.GetTask(s.ctx, &a2a.GetTaskRequest{ID: a2a.TaskID(p.RemoteTaskID), HistoryLength: new(0)})
		if err != nil {
			if f := a2aFailure(err, endpoint); !Retryable(f) {
				return Result{}, f
			}
			continue
		}
		res, err := taskOutcome(t, s.version)
		if next, ok := errors.AsType[*Pending](err); ok {
			p = next
			continue
		}
		return res, err
	}
}

// a2aParams builds the SendMessage request for a call (see the comment at the top).
func a2aParams(c Call) (*a2a.SendMessageRequest, error) {
	// The body was validated by its dialect; a field of another type is simply absent here.
	var body struct {
		TaskID    string          `json:"task_id"`
		ContextID string          `json:"context_id"`
		SkillID   string          `json:"skill_id"`
		Envelope  json.RawMessage `json:"agent_envelope"`
		Input     json.RawMessage `json:"input"`
	}
	_ = json.Unmarshal(c.Request, &body)

	var params *a2a.SendMessageRequest
	if env := bytes.TrimSpace(body.Envelope); len(env) > 0 && !bytes.Equal(env, []byte("null")) {
		p, err := envelopeParams(env)
		if err != nil {
			return nil, &Error{Reason: task.ReasonAgentRejected, Message: "agent_envelope: " + err.Error()}
		}
		params = p
	} else {
		var part *a2a.Part
		var input map[string]any
		switch {
		case c.Text != "":
			part = a2a.NewTextPart(c.Text)
		case json.Unmarshal(body.Input, &input) == nil && len(input) > 0:
			part = a2a.NewDataPart(input)
		default:
			return nil, &Error{Reason: task.ReasonAgentRejected, Message: "nothing to send: the request has no text, input or agent_envelope"}
		}
		params = &a2a.SendMessageRequest{Message: &a2a.Message{Parts: a2a.ContentParts{part}}}
	}
	if params.Config == nil {
		params.Config = &a2a.SendMessageConfig{}
	}
	params.Config.ReturnImmediately = true

	m := params.Message
	if m.ID == "" {
		m.ID = c.TaskID
		if m.ID == "" {
			m.ID = a2a.NewMessageID()
		}
	}
	if m.Role == a2a.MessageRoleUnspecified {
		m.Role = a2a.MessageRoleUser
	}
	// The conversation and the agent's task are agentq's to name, never the caller's: a contextId
	// a tenant chose could be another tenant's, and so could a taskId. The conversation is
	// derived from the tenant and its thread; a task is continued only when this tenant's own
	// previous turn recorded it (ResumeTaskID). Push notifications would send the agent's updates
	// to an address the caller chose, past agentq's webhook guard: never asked for. The request's
	// tenant is the agent owner's (A2A 1.0), not a caller's to pick.
	thread := c.ThreadID
	if thread == "" {
		thread = body.ContextID
	}
	m.ContextID = ConversationID(c.Tenant, thread)
	m.TaskID = a2a.TaskID(c.ResumeTaskID)
	m.ReferenceTasks = nil
	params.Config.PushConfig = nil
	params.Tenant = ""
	md := make(map[string]any, len(m.Metadata)+2)
	for k, v := range m.Metadata {
		md[k] = v
	}
	if _, set := md["skill_id"]; body.SkillID != "" && !set {
		md["skill_id"] = body.SkillID
	}
	md[TenantMetadata] = c.Tenant
	m.Metadata = md
	return params, nil
}

// envelopeParams reads an agent_envelope, in A2A 1.0 or 0.3. It may be any of:
//
//   - a whole JSON-RPC request, {"jsonrpc":"2.0","method":"SendMessage","params":{...}} (or
//     "message/send" in 0.3): its params are used (its id is not: the client numbers its own
//     requests), and any other method is refused;
//   - SendMessage params, {"message":{...},"configuration":{...},"metadata":{...}};
//   - a bare message, {"role":"ROLE_USER","parts":[...],...}.
//
// It is 0.3 when its method is message/send or its message carries "kind" (every 0.3 message
// and part does; no 1.0 one does), and is then read with a2a-go's 0.3 types and converted
// (package a2a03). It
// is decoded into the SDK's types and sent from them, in the version the agent speaks, so every
// field A2A defines reaches the agent as given, except configuration.returnImmediately (always
// set; blocking false in 0.3); fields outside the spec are dropped.
func envelopeParams(raw json.RawMessage) (*a2a.SendMessageRequest, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, errors.New("not a JSON object")
	}
	_, hasRPC := top["jsonrpc"]
	_, hasMethod := top["method"]
	_, hasParams := top["params"]
	method := ""
	if hasRPC || hasMethod || hasParams {
		_ = json.Unmarshal(top["method"], &method)
		if method != "" && method != "SendMessage" && method != "message/send" {
			return nil, fmt.Errorf("method %q is not supported: agentq sends SendMessage (message/send in A2A 0.3)", method)
		}
		if !hasParams {
			return nil, errors.New("a JSON-RPC request without params")
		}
		raw = top["params"]
		top = nil
		if err := json.Unmarshal(raw, &top); err != nil {
			return nil, errors.New("params is not a JSON object")
		}
	}
	isParams := top["message"] != nil
	if !isParams && top["parts"] == nil {
		return nil, errors.New("want a JSON-RPC SendMessage request, its params or an A2A message")
	}
	var params *a2a.SendMessageRequest
	if method == "message/send" || (method == "" && legacyShaped(top, isParams)) {
		var lp legacy.MessageSendParams
		if isParams {
			if err := json.Unmarshal(raw, &lp); err != nil {
				return nil, fmt.Errorf("not A2A 0.3 message/send params: %s", jsonProblem(err))
			}
		} else {
			lp.Message = &legacy.Message{}
			if err := json.Unmarshal(raw, lp.Message); err != nil {
				return nil, fmt.Errorf("not an A2A 0.3 message: %s", jsonProblem(err))
			}
		}
		if lp.Message == nil || len(lp.Message.Parts) == 0 {
			return nil, errors.New("the message has no parts")
		}
		p, err := a2a03.ToSendParams(&lp)
		if err != nil {
			return nil, fmt.Errorf("not a usable A2A 0.3 message: %w", err)
		}
		params = p
	} else {
		params = &a2a.SendMessageRequest{}
		if isParams {
			if err := json.Unmarshal(raw, params); err != nil {
				return nil, fmt.Errorf("not A2A SendMessage params: %s", jsonProblem(err))
			}
		} else {
			params.Message = &a2a.Message{}
			if err := json.Unmarshal(raw, params.Message); err != nil {
				return nil, fmt.Errorf("not an A2A message: %s", jsonProblem(err))
			}
		}
		if params.Message != nil {
			switch params.Message.Role {
			case a2a.MessageRoleUnspecified, a2a.MessageRoleUser:
			default:
				return nil, fmt.Errorf("the message's role is %q: a message agentq sends is the user's (ROLE_USER)", params.Message.Role)
			}
		}
	}
	if params.Message == nil || len(params.Message.Parts) == 0 {
		return nil, errors.New("the message has no parts")
	}
	return params, nil
}

// legacyShaped reports whether an envelope without a method is an A2A 0.3 one: its message
// carries "kind", or one of its parts does.
func legacyShaped(top map[string]json.RawMessage, isParams bool) bool {
	msg := top
	if isParams {
		msg = nil
		if json.Unmarshal(top["message"], &msg) != nil {
			return false
		}
	}
	if _, ok := msg["kind"]; ok {
		return true
	}
	var parts []map[string]json.RawMessage
	_ = json.Unmarshal(msg["parts"], &parts)
	for _, p := range parts {
		if _, ok := p["kind"]; ok {
			return true
		}
	}
	return false
}

// jsonProblem says what was wrong with a JSON value without quoting it.
func jsonProblem(err error) string {
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return fmt.Sprintf("%s must be a %s, not a %s", te.Field, te.Type, te.Value)
	}
	return err.Error()
}

// stateName names a task state as A2A 0.3 does ("working", "input-required"), whatever the
// version the agent speaks.
func stateName(s a2a.TaskState) string { return a2a03.StateName(s) }

// taskOutcome maps an A2A task to an outcome:
//
//   - completed: a Result whose text is the artifacts' text parts (else their first data part as
//     JSON, else the status message's text) and whose Output is the task as JSON, without history;
//   - failed, rejected, canceled: a non-retryable *Error (agent_failed) quoting the status message;
//   - submitted, working: *Pending;
//   - input-required, auth-required: *NeedsInput;
//   - anything else: a non-retryable *Error (invalid_agent_response).
func taskOutcome(t *a2a.Task, version a2a.ProtocolVersion) (Result, error) {
	if t == nil {
		return Result{}, &Error{Reason: task.ReasonInvalidResponse, Message: "the agent answered with no task"}
	}
	state := t.Status.State
	switch state {
	case a2a.TaskStateCompleted:
		text, data := "", ""
		for _, art := range t.Artifacts {
			if art == nil {
				continue
			}
			s, d := partsText(art.Parts)
			if s != "" {
				if text != "" {
					text += "\n"
				}
				text += s
			}
			if data == "" {
				data = d
			}
		}
		if text == "" {
			text = data
		}
		if text == "" && t.Status.Message != nil {
			text, _ = partsText(t.Status.Message.Parts)
		}
		return Result{Text: text, Output: taskJSON(t, version), Usage: MetadataUsage(t.Metadata)}, nil
	case a2a.TaskStateFailed, a2a.TaskStateRejected, a2a.TaskStateCanceled:
		return Result{}, &Error{Reason: task.ReasonAgentFailed, Message: "the agent's task ended " + stateName(state) + errorDetail([]byte(statusText(t)))}
	}
	if t.ID == "" {
		return Result{}, &Error{Reason: task.ReasonInvalidResponse, Message: "the agent answered with a task without an id"}
	}
	switch state {
	case a2a.TaskStateSubmitted, a2a.TaskStateWorking:
		return Result{}, &Pending{RemoteTaskID: string(t.ID), State: stateName(state)}
	case a2a.TaskStateInputRequired, a2a.TaskStateAuthRequired:
		return Result{}, &NeedsInput{RemoteTaskID: string(t.ID), State: stateName(state), Message: statusText(t), Raw: taskJSON(t, version)}
	default:
		return Result{}, &Error{Reason: task.ReasonInvalidResponse, Message: fmt.Sprintf("the agent's task is in state %q", state)}
	}
}

// messageResult is the result of an agent's direct answer: its text parts, concatenated (else
// its first data part as JSON), and the message as JSON.
func messageResult(m *a2a.Message, version a2a.ProtocolVersion) Result {
	text, data := partsText(m.Parts)
	if text == "" {
		text = data
	}
	return Result{Text: text, Output: versionJSON(m, a2a03.FromMessage, version), Usage: MetadataUsage(m.Metadata)}
}

// partsText concatenates the text parts and returns the first data part as JSON.
func partsText(parts a2a.ContentParts) (text, data string) { return a2apush.PartsText(parts) }

func statusText(t *a2a.Task) string {
	if t.Status.Message == nil {
		return ""
	}
	s, _ := partsText(t.Status.Message.Parts)
	return s
}

// taskJSON is the task as JSON without its history: the history repeats the caller's own
// messages, which the task record already holds.
func taskJSON(t *a2a.Task, version a2a.ProtocolVersion) json.RawMessage {
	c := *t
	c.History = nil
	return versionJSON(&c, a2a03.FromTask, version)
}

// versionJSON is v as JSON in the version the agent speaks: in 0.3's shape, converted by
// legacyOf, for 0.3 agents, so that what agentq keeps of an answer is what the agent sent.
func versionJSON[V, L any](v *V, legacyOf func(*V) *L, version a2a.ProtocolVersion) json.RawMessage {
	var out []byte
	var err error
	if version == a2a03.Version {
		out, err = json.Marshal(legacyOf(v))
	} else {
		out, err = json.Marshal(v)
	}
	if err != nil {
		return nil
	}
	return out
}

// a2aFailure classifies an error of an A2A request: HTTP answers other than 200 as an HTTP
// agent's are, timeouts and connection failures as retryable, JSON-RPC errors as the agent's
// non-retryable refusal, and answers that are too large or not A2A as invalid.
func a2aFailure(err error, endpoint string) error {
	if errors.Is(err, netguard.ErrBlocked) {
		return blocked(err)
	}
	if errors.Is(err, errAnswerTooLarge) {
		return &Error{Reason: task.ReasonInvalidResponse, Message: fmt.Sprintf("the agent's answer is larger than %d bytes", MaxResponseBytes)}
	}
	if se, ok := errors.AsType[*statusError](err); ok {
		msg := "agent answered " + strconv.Itoa(se.code) + errorDetail(se.body)
		if retryableStatus(se.code) {
			return &Error{Reason: task.ReasonAgentUnavailable, Message: msg, Retryable: true}
		}
		return &Error{Reason: task.ReasonAgentRejected, Message: msg}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Reason: task.ReasonAgentTimeout, Message: "the agent did not answer in time", Retryable: true}
	}
	// The SDK makes every JSON-RPC error answer an *a2a.Error (codes it does not know become
	// internal errors); rpc03 an *rpcError.
	_, isRPC := errors.AsType[*rpcError](err)
	if _, ok := errors.AsType[*a2a.Error](err); ok || isRPC {
		return &Error{Reason: task.ReasonAgentRejected, Message: "the agent answered with a JSON-RPC error: " + err.Error()}
	}
	_, isURL := errors.AsType[*url.Error](err)
	_, isNet := errors.AsType[net.Error](err)
	if isURL || isNet || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled) {
		return &Error{Reason: task.ReasonAgentUnavailable, Message: "could not reach the agent: " + Redact(err.Error()), Retryable: true}
	}
	return &Error{Reason: task.ReasonInvalidResponse, Message: "the agent's answer is not A2A: " + Redact(err.Error())}
}

// retryableStatus reports whether an HTTP status may mend with time: 408, 429 and 5xx.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// errAnswerTooLarge ends the reading of an answer larger than MaxResponseBytes.
var errAnswerTooLarge = errors.New("answer too large")

// statusError is an HTTP answer other than 200 to an A2A request.
type statusError struct {
	code int
	body []byte
}

func (e *statusError) Error() string { return "agent answered " + strconv.Itoa(e.code) }

// boundedClient returns a copy of hc for the A2A clients (the SDK's reads answers to the end
// and without a limit and keeps only the status line of an HTTP error): its transport turns HTTP
// answers other than 200 into a *statusError (quoting the start of the body) and fails the
// reading of a body past MaxResponseBytes with errAnswerTooLarge.
func boundedClient(hc *http.Client) *http.Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := *hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = boundedTransport{base: base}
	return &c
}

type boundedTransport struct{ base http.RoundTripper }

func (t boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		// Enough to quote (errorDetail keeps 200 bytes); the rest is not read.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		resp.Body.Close()
		return nil, &statusError{code: resp.StatusCode, body: body}
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: MaxResponseBytes}
	return resp, nil
}

// boundedBody reads at most left bytes and fails with errAnswerTooLarge if there are more.
type boundedBody struct {
	io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errAnswerTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = -1
		return n, errAnswerTooLarge
	}
	b.left -= int64(n)
	return n, err
}
