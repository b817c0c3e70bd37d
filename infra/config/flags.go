package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CDKFile is the CDK CLI's settings file at the repository root: how to run the app and its
// context, feature flags included.
const CDKFile = "cdk.json"

// FeatureFlags returns the CDK feature flags recorded in root's cdk.json (the context entries
// whose keys start with "@aws-cdk"). The CLI hands them to the app; a test that builds the stack
// in-process passes them to its App, so it checks the template a deploy would produce.
func FeatureFlags(root string) (map[string]any, error) {
	data, err := os.ReadFile(filepath.Join(root, CDKFile))
	if err != nil {
		return nil, fmt.Errorf("read feature flags: %w", err)
	}
	var file struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("read feature flags: %s: %w", CDKFile, err)
	}
	flags := map[string]any{}
	for k, v := range file.Context {
		if strings.HasPrefix(k, "@aws-cdk") {
			flags[k] = v
		}
	}
	return flags, nil
}
