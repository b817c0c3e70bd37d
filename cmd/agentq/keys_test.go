package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestKeys(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("x-api-key")+" "+string(body))
		key := `{"id":"0123456789abcdef","tenant":"acme","name":"CI","created_at":"2026-01-01T00:00:00Z","revoked":false}`
		switch {
		case strings.HasSuffix(r.URL.Path, "/limits"):
			_, _ = io.WriteString(w, `{"tenant":"acme","rate":5,"max_in_flight":0,"own":true}`)
		case strings.Contains(r.URL.Path, "nope"):
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"detail":"no such key","code":"api_key_not_found"}`)
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, strings.Replace(key, `"revoked"`, `"key":"aq_new","revoked"`, 1))
		case r.Method == http.MethodGet:
			_, _ = io.WriteString(w, `{"items":[`+key+`]}`)
		default:
			_, _ = io.WriteString(w, key)
		}
	}))
	defer srv.Close()
	env := func(k string) string {
		return map[string]string{"AGENTQ_ADMIN_KEY": "adm", "AGENTQ_API_URL": srv.URL}[k]
	}
	tests := []struct {
		args    []string
		want    string
		wantErr string
	}{
		{args: []string{"keys", "create", "-tenant", "acme", "-name", "CI"}, want: `POST /v1/api-keys adm {"name":"CI","tenant":"acme"}`},
		{args: []string{"keys", "list", "-tenant", "a b"}, want: "GET /v1/api-keys?tenant=a+b adm "},
		{args: []string{"keys", "revoke", "0123456789abcdef"}, want: "DELETE /v1/api-keys/0123456789abcdef adm "},
		{args: []string{"keys", "revoke", "nope"}, wantErr: "api_key_not_found"},
		{args: []string{"keys", "limits", "-tenant", "acme", "-rate", "5", "-max-in-flight", "0"}, want: `PUT /v1/tenants/acme/limits adm {"max_in_flight":0,"rate":5}`},
		{args: []string{"keys", "limits", "-tenant", "acme"}, want: "GET /v1/tenants/acme/limits adm "},
		{args: []string{"keys", "limits", "-tenant", "acme", "-reset"}, want: "DELETE /v1/tenants/acme/limits adm "},
		{args: []string{"keys", "limits", "-tenant", "acme", "-rate", "5"}, wantErr: "usage"},
		{args: []string{"keys", "create", "-tenant", "acme"}, wantErr: "usage"},
		{args: []string{"keys", "list"}, wantErr: "usage"},
		{args: []string{"keys", "revoke"}, wantErr: "usage"},
		{args: []string{"keys"}, wantErr: "usage"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got = nil
			var out bytes.Buffer
			err := run(context.Background(), tt.args, env, &out, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != 1 || got[0] != tt.want || !strings.Contains(out.String(), `"tenant": "acme"`) {
				t.Fatalf("err %v, requests %q, out %q; want %q", err, got, out.String(), tt.want)
			}
		})
	}
	if err := run(context.Background(), []string{"keys", "list", "-tenant", "a"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "AGENTQ_ADMIN_KEY") {
		t.Fatalf("no admin key: err = %v", err)
	}
}
