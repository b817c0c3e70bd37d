package config

import (
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/apikey"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c *Config)
	}{
		{name: "defaults", env: map[string]string{}, check: func(t *testing.T, c *Config) {
			if c.TaskTTL != DefaultTaskTTL || c.Keys.Len() != 0 {
				t.Errorf("got ttl %v keys %d", c.TaskTTL, c.Keys.Len())
			}
		}},
		{name: "full", env: map[string]string{
			EnvTable: "t", EnvQueueURL: "http://q", EnvTaskTTL: "1h",
			EnvAPIKeys: "acme:" + apikey.Hash("k"),
			EnvAgents:  `[{"id":"echo","protocol":"http","endpoint":"http://127.0.0.1:9/"}]`,
		}, check: func(t *testing.T, c *Config) {
			if c.Table != "t" || c.TaskTTL != time.Hour {
				t.Errorf("got %+v", c)
			}
			if tenant, ok := c.Keys.Tenant("k"); !ok || tenant != "acme" {
				t.Errorf("key not loaded")
			}
			if err := c.Require(EnvTable, EnvQueueURL); err != nil {
				t.Error(err)
			}
		}},
		{name: "bad ttl", env: map[string]string{EnvTaskTTL: "forever"}, wantErr: EnvTaskTTL},
		{name: "negative ttl", env: map[string]string{EnvTaskTTL: "-1h"}, wantErr: EnvTaskTTL},
		{name: "bad keys", env: map[string]string{EnvAPIKeys: "nope"}, wantErr: EnvAPIKeys},
		{name: "bad admin keys", env: map[string]string{EnvAdminKeys: "admin:zz"}, wantErr: EnvAdminKeys},
		{name: "bad agents", env: map[string]string{EnvAgents: "{"}, wantErr: EnvAgents},
		{name: "tenant limits", env: map[string]string{EnvTenantRate: "7", EnvTenantMaxInFlight: "0"}, check: func(t *testing.T, c *Config) {
			if c.TenantLimits.Rate != 7 || c.TenantLimits.MaxInFlight != 0 {
				t.Errorf("limits = %+v", c.TenantLimits)
			}
		}},
		{name: "default tenant limits", env: map[string]string{}, check: func(t *testing.T, c *Config) {
			if c.TenantLimits.Rate <= 0 || c.TenantLimits.MaxInFlight <= 0 {
				t.Errorf("limits = %+v, want bounded by default", c.TenantLimits)
			}
		}},
		{name: "bad tenant rate", env: map[string]string{EnvTenantRate: "-1"}, wantErr: EnvTenantRate},
		{name: "bad tenant cap", env: map[string]string{EnvTenantMaxInFlight: "lots"}, wantErr: EnvTenantMaxInFlight},
		{name: "bad default tenant", env: map[string]string{EnvDefaultTenant: "bad tenant!"}, wantErr: EnvDefaultTenant},
		{name: "a key for a tenant with the separator", env: map[string]string{EnvAPIKeys: "a#b:" + apikey.Hash("k")}, wantErr: EnvAPIKeys},
		{name: "missing agents file", env: map[string]string{EnvAgentsFile: "/nonexistent/agents.json"}, wantErr: EnvAgentsFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load err = %v, want mention of %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestRequire(t *testing.T) {
	c, err := Load(env(map[string]string{EnvTable: "t"}))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Require(EnvTable, EnvQueueURL, EnvDLQARN)
	if err == nil || !strings.Contains(err.Error(), EnvQueueURL) || !strings.Contains(err.Error(), EnvDLQARN) || strings.Contains(err.Error(), EnvTable) {
		t.Fatalf("Require = %v", err)
	}
}
