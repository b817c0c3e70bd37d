package config

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

func TestSealing(t *testing.T) {
	key := bytes.Repeat([]byte{7}, SealKeySize)
	b64 := base64.StdEncoding.EncodeToString(key)
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		local   bool
		kms     string
	}{
		{name: "neither", env: map[string]string{}},
		{name: "local key", env: map[string]string{EnvSealKey: b64}, local: true},
		{name: "local key unpadded", env: map[string]string{EnvSealKey: strings.TrimRight(b64, "=")}, local: true},
		{name: "kms", env: map[string]string{EnvKMSKeyID: "alias/agentq-auth-contexts"}, kms: "alias/agentq-auth-contexts"},
		{name: "both", env: map[string]string{EnvSealKey: b64, EnvKMSKeyID: "alias/k"}, wantErr: "not both"},
		{name: "short key", env: map[string]string{EnvSealKey: base64.StdEncoding.EncodeToString(key[:16])}, wantErr: EnvSealKey},
		{name: "not base64", env: map[string]string{EnvSealKey: "not base64 at all!"}, wantErr: EnvSealKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load err = %v, want mention of %s", err, tt.wantErr)
				}
				if v := tt.env[EnvSealKey]; v != "" && strings.Contains(err.Error(), v) {
					t.Errorf("the error quotes the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Equal(c.SealKey, key); got != tt.local || c.KMSKeyID != tt.kms || c.AuthContexts() != (tt.local || tt.kms != "") {
				t.Errorf("seal key %v, kms %q, enabled %v", got, c.KMSKeyID, c.AuthContexts())
			}
			for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
				if s := fmt.Sprintf(f, c); strings.Contains(s, "7 7 7") || strings.Contains(s, "\x07\x07") || strings.Contains(s, "0x7, 0x7") {
					t.Errorf("%s shows the seal key: %s", f, s)
				}
			}
		})
	}
}
