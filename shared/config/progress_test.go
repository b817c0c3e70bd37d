package config_test

import (
	"strings"
	"testing"

	"github.com/agentq/agentq/shared/config"
)

func TestProgressConfig(t *testing.T) {
	key := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	tests := []struct {
		name, key, url, wantErr string
	}{
		{name: "neither: no progress routes", key: "", url: ""},
		{name: "both", key: key, url: "https://abc.lambda-url.us-east-1.on.aws/"},
		{name: "a key alone", key: key, wantErr: "set together"},
		{name: "a URL alone", url: "https://x", wantErr: "set together"},
		{name: "a short key", key: "AAAA", url: "https://x", wantErr: config.EnvProgressKey},
		{name: "not base64", key: "!!!", url: "https://x", wantErr: config.EnvProgressKey},
		{name: "not a URL", key: key, url: "ftp://x", wantErr: config.EnvStreamURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{config.EnvProgressKey: tt.key, config.EnvStreamURL: tt.url}
			c, err := config.Load(func(k string) string { return env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || (tt.key != "" && strings.Contains(err.Error(), tt.key)) {
					t.Fatalf("err = %v, want one naming %s and not quoting the key", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tt.key != "") != (len(c.ProgressKey) == 32) || strings.HasSuffix(c.StreamURL, "/") {
				t.Fatalf("ProgressKey %d bytes, StreamURL %q", len(c.ProgressKey), c.StreamURL)
			}
		})
	}
}
