package awsenv

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	base := map[string]string{EnvRegion: "eu-west-1", EnvAccessKeyID: "AKID", EnvSecretKey: "secret", EnvSessionToken: "tok"}
	cfg, err := Load(env(base))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" || cfg.BaseEndpoint != nil {
		t.Errorf("region %q endpoint %v", cfg.Region, cfg.BaseEndpoint)
	}
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || creds.AccessKeyID != "AKID" || creds.SecretAccessKey != "secret" || creds.SessionToken != "tok" {
		t.Errorf("credentials = %+v, %v", creds, err)
	}
}

func TestLoadErrors(t *testing.T) {
	for name, m := range map[string]map[string]string{
		"no region":      {EnvAccessKeyID: "a", EnvSecretKey: "s"},
		"no credentials": {EnvRegion: "us-east-1"},
		"no secret":      {EnvRegion: "us-east-1", EnvAccessKeyID: "a"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Load(env(m)); err == nil {
				t.Fatal("Load succeeded")
			}
		})
	}
	if _, err := Load(env(map[string]string{EnvRegion: "us-east-1"})); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("err = %v, want ErrNoCredentials", err)
	}
}

// TestEndpoints checks what the service clients make of the overrides: the per-service variable
// wins over the global one, and the ignore switch drops both.
func TestEndpoints(t *testing.T) {
	for _, tc := range []struct {
		name          string
		vars          map[string]string
		wantDB, wantQ string
	}{
		{"none", nil, "", ""},
		{"global", map[string]string{EnvEndpointURL: "http://127.0.0.1:1"}, "http://127.0.0.1:1", "http://127.0.0.1:1"},
		{"per service", map[string]string{EnvEndpointURL + "_DYNAMODB": "http://127.0.0.1:2"}, "http://127.0.0.1:2", ""},
		{"per service wins", map[string]string{EnvEndpointURL: "http://127.0.0.1:1", EnvEndpointURL + "_SQS": "http://127.0.0.1:3"},
			"http://127.0.0.1:1", "http://127.0.0.1:3"},
		{"ignored", map[string]string{EnvEndpointURL: "http://127.0.0.1:1", EnvEndpointURL + "_SQS": "http://127.0.0.1:3", EnvIgnoreEndpoints: "true"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[string]string{EnvRegion: "us-east-1", EnvAccessKeyID: "a", EnvSecretKey: "s"}
			for k, v := range tc.vars {
				m[k] = v
				t.Setenv(k, v) // the clients look the variables up themselves to order them
			}
			cfg, err := Load(env(m))
			if err != nil {
				t.Fatal(err)
			}
			db := dynamodb.NewFromConfig(cfg).Options().BaseEndpoint
			q := sqs.NewFromConfig(cfg).Options().BaseEndpoint
			if aws.ToString(db) != tc.wantDB || aws.ToString(q) != tc.wantQ {
				t.Errorf("dynamodb %q sqs %q, want %q %q", aws.ToString(db), aws.ToString(q), tc.wantDB, tc.wantQ)
			}
		})
	}
}
