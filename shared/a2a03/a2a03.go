// Package a2a03 reads and writes A2A 0.3's JSON shapes (message/send params, tasks, messages,
// status and artifact updates, agent cards) as the a2a-go v2 types the rest of agentq works
// with. The 0.3 shapes are those of the a2a-go v0.3 types package, which, unlike the SDK's
// compatibility package (a2acompat/a2av0), pulls in no client, server, gRPC or protobuf: what
// links this package stays small.
package a2a03

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	legacy "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/v2/a2a"
)

// Version is the protocol version this package speaks.
const Version a2a.ProtocolVersion = "0.3"

var states = map[a2a.TaskState]legacy.TaskState{
	a2a.TaskStateAuthRequired:  legacy.TaskStateAuthRequired,
	a2a.TaskStateCanceled:      legacy.TaskStateCanceled,
	a2a.TaskStateCompleted:     legacy.TaskStateCompleted,
	a2a.TaskStateFailed:        legacy.TaskStateFailed,
	a2a.TaskStateInputRequired: legacy.TaskStateInputRequired,
	a2a.TaskStateRejected:      legacy.TaskStateRejected,
	a2a.TaskStateSubmitted:     legacy.TaskStateSubmitted,
	a2a.TaskStateWorking:       legacy.TaskStateWorking,
}

// StateName names a task state as 0.3 does ("working", "input-required"); a state 1.0 does not
// define keeps its own name.
func StateName(s a2a.TaskState) string {
	if name, ok := states[s]; ok {
		return string(name)
	}
	return string(s)
}

// toState reads a 0.3 state; one 1.0 does not define (0.3's "unknown", or any other) is
// unspecified, as 1.0 has it.
func toState(s legacy.TaskState) a2a.TaskState {
	for v1, v0 := range states {
		if v0 == s {
			return v1
		}
	}
	return a2a.TaskStateUnspecified
}

func toRole(r legacy.MessageRole) a2a.MessageRole {
	switch r {
	case legacy.MessageRoleUser:
		return a2a.MessageRoleUser
	case legacy.MessageRoleAgent:
		return a2a.MessageRoleAgent
	}
	return a2a.MessageRoleUnspecified
}

func fromRole(r a2a.MessageRole) legacy.MessageRole {
	switch r {
	case a2a.MessageRoleUser:
		return legacy.MessageRoleUser
	case a2a.MessageRoleAgent:
		return legacy.MessageRoleAgent
	}
	return legacy.MessageRoleUnspecified
}

// dataCompat marks, in a 0.3 data part's metadata, a 1.0 data value that is not an object, sent
// wrapped as {"value": ...} (0.3 data is always an object); the SDK marks it the same way.
const dataCompat = "data_part_compat"

// toParts reads 0.3 parts; a file part whose bytes are not base64 is refused.
func toParts(parts legacy.ContentParts) (a2a.ContentParts, error) {
	if len(parts) == 0 {
		return nil, nil
	}
	out := make(a2a.ContentParts, 0, len(parts))
	for _, p := range parts {
		switch p := p.(type) {
		case legacy.TextPart:
			out = append(out, &a2a.Part{Content: a2a.Text(p.Text), Metadata: p.Metadata})
		case legacy.DataPart:
			var v any = p.Data
			md := p.Metadata
			if wrapped, _ := md[dataCompat].(bool); wrapped {
				v = p.Data["value"]
				md = without(md, dataCompat)
			}
			out = append(out, &a2a.Part{Content: a2a.Data{Value: v}, Metadata: md})
		case legacy.FilePart:
			part, err := toFilePart(p)
			if err != nil {
				return nil, err
			}
			out = append(out, part)
		default:
			return nil, fmt.Errorf("a part of kind %T", p)
		}
	}
	return out, nil
}

func toFilePart(p legacy.FilePart) (*a2a.Part, error) {
	switch f := p.File.(type) {
	case legacy.FileBytes:
		b, err := base64.StdEncoding.DecodeString(f.Bytes)
		if err != nil {
			return nil, errors.New("a file part's bytes are not base64")
		}
		return &a2a.Part{Content: a2a.Raw(b), Filename: f.Name, MediaType: f.MimeType, Metadata: p.Metadata}, nil
	case legacy.FileURI:
		return &a2a.Part{Content: a2a.URL(f.URI), Filename: f.Name, MediaType: f.MimeType, Metadata: p.Metadata}, nil
	}
	return nil, errors.New("a file part with neither bytes nor uri")
}

func without(m map[string]any, key string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// fromParts writes parts in 0.3's shapes.
func fromParts(parts a2a.ContentParts) legacy.ContentParts {
	out := make(legacy.ContentParts, 0, len(parts))
	for _, p := range parts {
		if p == nil {
			continue
		}
		out = append(out, fromPart(p))
	}
	return out
}

func fromPart(p *a2a.Part) legacy.Part {
	meta := legacy.FileMeta{Name: p.Filename, MimeType: p.MediaType}
	switch c := p.Content.(type) {
	case a2a.Text:
		return legacy.TextPart{Text: string(c), Metadata: p.Metadata}
	case a2a.Data:
		if m, ok := c.Value.(map[string]any); ok {
			return legacy.DataPart{Data: m, Metadata: p.Metadata}
		}
		md := make(map[string]any, len(p.Metadata)+1)
		for k, v := range p.Metadata {
			md[k] = v
		}
		md[dataCompat] = true
		return legacy.DataPart{Data: map[string]any{"value": c.Value}, Metadata: md}
	case a2a.Raw:
		return legacy.FilePart{File: legacy.FileBytes{FileMeta: meta, Bytes: base64.StdEncoding.EncodeToString(c)}, Metadata: p.Metadata}
	case a2a.URL:
		return legacy.FilePart{File: legacy.FileURI{FileMeta: meta, URI: string(c)}, Metadata: p.Metadata}
	}
	return legacy.DataPart{Data: map[string]any{}, Metadata: p.Metadata}
}

func taskIDs[F, T ~string](ids []F) []T {
	if ids == nil {
		return nil
	}
	out := make([]T, len(ids))
	for i, id := range ids {
		out[i] = T(id)
	}
	return out
}

// ToMessage reads a 0.3 message.
func ToMessage(m *legacy.Message) (*a2a.Message, error) {
	if m == nil {
		return nil, nil
	}
	parts, err := toParts(m.Parts)
	if err != nil {
		return nil, err
	}
	return &a2a.Message{ID: m.ID, ContextID: m.ContextID, Extensions: m.Extensions, Metadata: m.Metadata, Parts: parts,
		ReferenceTasks: taskIDs[legacy.TaskID, a2a.TaskID](m.ReferenceTasks), Role: toRole(m.Role), TaskID: a2a.TaskID(m.TaskID)}, nil
}

// FromMessage writes a message in 0.3's shape.
func FromMessage(m *a2a.Message) *legacy.Message {
	if m == nil {
		return nil
	}
	return &legacy.Message{ID: m.ID, ContextID: m.ContextID, Extensions: m.Extensions, Metadata: m.Metadata, Parts: fromParts(m.Parts),
		ReferenceTasks: taskIDs[a2a.TaskID, legacy.TaskID](m.ReferenceTasks), Role: fromRole(m.Role), TaskID: legacy.TaskID(m.TaskID)}
}

func toStatus(s legacy.TaskStatus) (a2a.TaskStatus, error) {
	msg, err := ToMessage(s.Message)
	return a2a.TaskStatus{State: toState(s.State), Message: msg, Timestamp: s.Timestamp}, err
}

func toArtifact(a *legacy.Artifact) (*a2a.Artifact, error) {
	if a == nil {
		return nil, nil
	}
	parts, err := toParts(a.Parts)
	if err != nil {
		return nil, err
	}
	return &a2a.Artifact{ID: a2a.ArtifactID(a.ID), Description: a.Description, Extensions: a.Extensions, Metadata: a.Metadata, Name: a.Name, Parts: parts}, nil
}

// ToTask reads a 0.3 task.
func ToTask(t *legacy.Task) (*a2a.Task, error) {
	status, err := toStatus(t.Status)
	if err != nil {
		return nil, err
	}
	out := &a2a.Task{ID: a2a.TaskID(t.ID), ContextID: t.ContextID, Metadata: t.Metadata, Status: status}
	for _, a := range t.Artifacts {
		art, err := toArtifact(a)
		if err != nil {
			return nil, err
		}
		out.Artifacts = append(out.Artifacts, art)
	}
	for _, m := range t.History {
		msg, err := ToMessage(m)
		if err != nil {
			return nil, err
		}
		out.History = append(out.History, msg)
	}
	return out, nil
}

// FromTask writes a task in 0.3's shape.
func FromTask(t *a2a.Task) *legacy.Task {
	out := &legacy.Task{ID: legacy.TaskID(t.ID), ContextID: t.ContextID, Metadata: t.Metadata, Status: legacy.TaskStatus{
		State: legacy.TaskState(StateName(t.Status.State)), Message: FromMessage(t.Status.Message), Timestamp: t.Status.Timestamp}}
	for _, a := range t.Artifacts {
		if a == nil {
			continue
		}
		out.Artifacts = append(out.Artifacts, &legacy.Artifact{ID: legacy.ArtifactID(a.ID), Description: a.Description,
			Extensions: a.Extensions, Metadata: a.Metadata, Name: a.Name, Parts: fromParts(a.Parts)})
	}
	for _, m := range t.History {
		out.History = append(out.History, FromMessage(m))
	}
	return out
}

// ToEvent reads a 0.3 event: a task, a message, a status update or an artifact update.
func ToEvent(ev legacy.Event) (a2a.Event, error) {
	switch ev := ev.(type) {
	case *legacy.Task:
		return ToTask(ev)
	case *legacy.Message:
		return ToMessage(ev)
	case *legacy.TaskStatusUpdateEvent:
		status, err := toStatus(ev.Status)
		if err != nil {
			return nil, err
		}
		return &a2a.TaskStatusUpdateEvent{TaskID: a2a.TaskID(ev.TaskID), ContextID: ev.ContextID, Status: status, Metadata: ev.Metadata}, nil
	case *legacy.TaskArtifactUpdateEvent:
		art, err := toArtifact(ev.Artifact)
		if err != nil {
			return nil, err
		}
		return &a2a.TaskArtifactUpdateEvent{TaskID: a2a.TaskID(ev.TaskID), ContextID: ev.ContextID, Artifact: art,
			Append: ev.Append, LastChunk: ev.LastChunk, Metadata: ev.Metadata}, nil
	}
	return nil, fmt.Errorf("an event of kind %T", ev)
}

// DecodeEvent reads a 0.3 event from JSON, told apart by its "kind": task, message,
// status-update or artifact-update.
func DecodeEvent(raw []byte) (a2a.Event, error) {
	ev, err := legacy.UnmarshalEventJSON(raw)
	if err != nil {
		return nil, err
	}
	return ToEvent(ev)
}

// DecodeResult reads the result of message/send: a task or a message.
func DecodeResult(raw []byte) (a2a.SendMessageResult, error) {
	ev, err := DecodeEvent(raw)
	if err != nil {
		return nil, err
	}
	r, ok := ev.(a2a.SendMessageResult)
	if !ok {
		return nil, fmt.Errorf("message/send answered with %T, not a task or a message", ev)
	}
	return r, nil
}

// FromSendParams writes a SendMessage request as 0.3 message/send params: returnImmediately
// becomes blocking's opposite, and a push configuration becomes pushNotificationConfig
// {id, url, token, authentication}. The 1.0 tenant has no 0.3 field.
func FromSendParams(req *a2a.SendMessageRequest) *legacy.MessageSendParams {
	out := &legacy.MessageSendParams{Message: FromMessage(req.Message), Metadata: req.Metadata}
	if c := req.Config; c != nil {
		blocking := !c.ReturnImmediately
		out.Config = &legacy.MessageSendConfig{AcceptedOutputModes: c.AcceptedOutputModes, HistoryLength: c.HistoryLength, Blocking: &blocking}
		if p := c.PushConfig; p != nil {
			out.Config.PushConfig = &legacy.PushConfig{ID: p.ID, URL: p.URL, Token: p.Token}
			if p.Auth != nil {
				out.Config.PushConfig.Auth = &legacy.PushAuthInfo{Credentials: p.Auth.Credentials, Schemes: []string{p.Auth.Scheme}}
			}
		}
	}
	return out
}

// ToSendParams reads 0.3 message/send params as a SendMessage request.
func ToSendParams(p *legacy.MessageSendParams) (*a2a.SendMessageRequest, error) {
	msg, err := ToMessage(p.Message)
	if err != nil {
		return nil, err
	}
	out := &a2a.SendMessageRequest{Message: msg, Metadata: p.Metadata}
	if c := p.Config; c != nil {
		out.Config = &a2a.SendMessageConfig{AcceptedOutputModes: c.AcceptedOutputModes, HistoryLength: c.HistoryLength}
		if c.Blocking != nil {
			out.Config.ReturnImmediately = !*c.Blocking
		}
		if pc := c.PushConfig; pc != nil {
			out.Config.PushConfig = &a2a.PushConfig{ID: pc.ID, URL: pc.URL, Token: pc.Token}
			if pc.Auth != nil {
				out.Config.PushConfig.Auth = &a2a.PushAuthInfo{Credentials: pc.Auth.Credentials}
				if len(pc.Auth.Schemes) > 0 {
					out.Config.PushConfig.Auth.Scheme = pc.Auth.Schemes[0]
				}
			}
		}
	}
	return out, nil
}

// card is what agentq reads of an agent card in either version's shape: 1.0's
// supportedInterfaces, or 0.3's url, preferredTransport, protocolVersion and
// additionalInterfaces; and the capabilities, named alike in both.
type card struct {
	SupportedInterfaces  []*a2a.AgentInterface `json:"supportedInterfaces"`
	URL                  string                `json:"url"`
	PreferredTransport   a2a.TransportProtocol `json:"preferredTransport"`
	ProtocolVersion      a2a.ProtocolVersion   `json:"protocolVersion"`
	AdditionalInterfaces []struct {
		URL       string                `json:"url"`
		Transport a2a.TransportProtocol `json:"transport"`
	} `json:"additionalInterfaces"`
	Capabilities a2a.AgentCapabilities `json:"capabilities"`
}

// ParseCard reads an agent card in either version's shape as a 1.0 card with its interfaces and
// capabilities (the rest of the card is not read): a 0.3 card's url and additionalInterfaces
// become interfaces in its protocolVersion (0.3 when it names none).
func ParseCard(b []byte) (*a2a.AgentCard, error) {
	var c card
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	out := &a2a.AgentCard{Capabilities: c.Capabilities, SupportedInterfaces: c.SupportedInterfaces}
	if len(out.SupportedInterfaces) > 0 {
		return out, nil
	}
	version := c.ProtocolVersion
	if version == "" {
		version = Version
	}
	if c.URL != "" && c.PreferredTransport != "" {
		out.SupportedInterfaces = append(out.SupportedInterfaces, &a2a.AgentInterface{URL: c.URL, ProtocolBinding: c.PreferredTransport, ProtocolVersion: version})
	}
	for _, i := range c.AdditionalInterfaces {
		if i.URL != c.URL {
			out.SupportedInterfaces = append(out.SupportedInterfaces, &a2a.AgentInterface{URL: i.URL, ProtocolBinding: i.Transport, ProtocolVersion: version})
		}
	}
	return out, nil
}
