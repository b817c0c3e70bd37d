package config

import "testing"

func TestResultsBucketIsOptional(t *testing.T) {
	c, err := Load(env(map[string]string{}))
	if err != nil || c.ResultsBucket != "" {
		t.Fatalf("Load = %+v, %v; want no bucket", c, err)
	}
	c, err = Load(env(map[string]string{EnvResultsBucket: "agentq-results-123"}))
	if err != nil || c.ResultsBucket != "agentq-results-123" {
		t.Fatalf("Load = %+v, %v; want the bucket", c, err)
	}
	if err := c.Require(EnvResultsBucket); err != nil {
		t.Errorf("Require(%s) = %v once set", EnvResultsBucket, err)
	}
}
