package a2a03_test

import (
	"encoding/json"
	"strings"
	"testing"

	legacy "github.com/a2aproject/a2a-go/a2a"
	"github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentq/agentq/shared/a2a03"
)

// TestSendParamsWire: a SendMessage request is written as 0.3 message/send params: kinds on the
// message and parts, 0.3 roles, blocking as returnImmediately's opposite, the push configuration
// as pushNotificationConfig, raw bytes as base64 file bytes and a non-object data value wrapped.
func TestSendParamsWire(t *testing.T) {
	req := &a2a.SendMessageRequest{
		Message: &a2a.Message{ID: "m1", ContextID: "c1", TaskID: "t1", Role: a2a.MessageRoleUser, Parts: a2a.ContentParts{
			a2a.NewTextPart("hi"), a2a.NewDataPart(map[string]any{"k": 1.0}), a2a.NewDataPart([]any{1.0}),
			{Content: a2a.Raw("abc"), Filename: "f.txt", MediaType: "text/plain"}, a2a.NewFileURLPart("https://x.example/f", "image/png"),
		}},
		Config: &a2a.SendMessageConfig{ReturnImmediately: true, PushConfig: &a2a.PushConfig{ID: "agentq", URL: "https://aq.example/push", Token: "tok"}},
	}
	raw, err := json.Marshal(a2a03.FromSendParams(req))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kind":"message"`, `"role":"user"`, `"taskId":"t1"`, `"kind":"text","text":"hi"`, `"kind":"data","data":{"k":1}`,
		`"data":{"value":[1]},"metadata":{"data_part_compat":true}`, `"bytes":"YWJj"`, `"name":"f.txt"`, `"mimeType":"text/plain"`, `"uri":"https://x.example/f"`,
		`"blocking":false`, `"pushNotificationConfig":{"id":"agentq","token":"tok","url":"https://aq.example/push"}`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("params %s lack %s", raw, want)
		}
	}

	// And read back, as an envelope is, it is the same request.
	var lp legacy.MessageSendParams
	if err := json.Unmarshal(raw, &lp); err != nil {
		t.Fatal(err)
	}
	back, err := a2a03.ToSendParams(&lp)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(req)
	got, _ := json.Marshal(back)
	if string(got) != string(want) {
		t.Errorf("read back\n%s\nwant\n%s", got, want)
	}
}

func TestDecodeResult(t *testing.T) {
	tests := []struct{ name, raw, want string }{
		{"task", `{"kind":"task","id":"r","contextId":"c","status":{"state":"input-required","message":{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"text","text":"which?"}]}},"artifacts":[{"artifactId":"a","parts":[{"kind":"file","file":{"uri":"https://x.example/a"}}]}]}`,
			`*a2a.Task r TASK_STATE_INPUT_REQUIRED ROLE_AGENT`},
		{"unknown state", `{"kind":"task","id":"r","contextId":"c","status":{"state":"unknown"}}`, `*a2a.Task r TASK_STATE_UNSPECIFIED`},
		{"message", `{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"data","data":{"value":"x"},"metadata":{"data_part_compat":true}}]}`, `*a2a.Message m "x"`},
		{"a status update is no result", `{"kind":"status-update","taskId":"r","contextId":"c","status":{"state":"working"},"final":false}`, ``},
		{"no kind", `{"id":"r"}`, ``},
		{"bad base64", `{"kind":"message","messageId":"m","role":"agent","parts":[{"kind":"file","file":{"bytes":"!!"}}]}`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := a2a03.DecodeResult([]byte(tt.raw))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("accepted %T", res)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got string
			switch r := res.(type) {
			case *a2a.Task:
				got = "*a2a.Task " + string(r.ID) + " " + r.Status.State.String()
				if r.Status.Message != nil {
					got += " " + string(r.Status.Message.Role)
				}
			case *a2a.Message:
				v, _ := json.Marshal(r.Parts[0].Data())
				got = "*a2a.Message " + r.ID + " " + string(v)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseCard(t *testing.T) {
	tests := []struct{ name, card, want string }{
		{"1.0", `{"supportedInterfaces":[{"url":"https://a.example","protocolBinding":"JSONRPC","protocolVersion":"1.0"}],"capabilities":{"pushNotifications":true}}`,
			"JSONRPC@https://a.example@1.0 push=true"},
		{"0.3", `{"url":"https://a.example","preferredTransport":"JSONRPC","protocolVersion":"0.3.0","additionalInterfaces":[{"url":"https://a.example","transport":"JSONRPC"},{"url":"https://g.example","transport":"GRPC"}],"capabilities":{"streaming":true}}`,
			"JSONRPC@https://a.example@0.3.0 GRPC@https://g.example@0.3.0 push=false"},
		{"0.3 without a version", `{"url":"https://a.example","preferredTransport":"JSONRPC"}`, "JSONRPC@https://a.example@0.3 push=false"},
		{"no interface", `{"jsonrpc":"2.0"}`, "push=false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := a2a03.ParseCard([]byte(tt.card))
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, i := range c.SupportedInterfaces {
				parts = append(parts, string(i.ProtocolBinding)+"@"+i.URL+"@"+string(i.ProtocolVersion))
			}
			parts = append(parts, "push="+map[bool]string{true: "true", false: "false"}[c.Capabilities.PushNotifications])
			if got := strings.Join(parts, " "); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := a2a03.ParseCard([]byte("<html>")); err == nil {
		t.Error("read HTML as a card")
	}
}
