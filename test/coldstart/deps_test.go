package coldstart

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// schemaUsers are the functions that compile or check output schemas: the accept path (invoke,
// trigger) and the worker.
var schemaUsers = map[string]bool{"invoke": true, "trigger": true, "worker": true}

// jsonSchemaLibraries are the JSON Schema libraries a function could link.
var jsonSchemaLibraries = []string{"github.com/google/jsonschema-go/", "github.com/santhosh-tekuri/jsonschema/", "github.com/agentq/agentq/shared/outputschema"}

// TestOnlySchemaUsersLinkJSONSchema: a linked package's init runs at every cold start, used or
// not, so the functions that never see a schema (poll, authorizer, sweeper, notify, deliver,
// stream and any added later) link no JSON Schema library; and no function links the validator
// that compiles metaschemas at init (santhosh-tekuri/jsonschema).
func TestOnlySchemaUsersLinkJSONSchema(t *testing.T) {
	t.Chdir(moduleRoot)
	entries, err := os.ReadDir("functions")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range entries {
		if !e.IsDir() || e.Name() == "internal" {
			continue
		}
		seen++
		out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", "./functions/"+e.Name()).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", e.Name(), err)
		}
		deps := string(out)
		for _, lib := range jsonSchemaLibraries {
			linked := strings.Contains(deps, lib)
			switch {
			case linked && strings.Contains(lib, "santhosh"):
				t.Errorf("%s links %s, which compiles five drafts' metaschemas at init", e.Name(), lib)
			case linked && !schemaUsers[e.Name()]:
				t.Errorf("%s links %s", e.Name(), lib)
			}
		}
		if schemaUsers[e.Name()] && !strings.Contains(deps, "github.com/agentq/agentq/shared/outputschema") {
			t.Errorf("%s does not link outputschema: it accepts or checks schemas and must compile them", e.Name())
		}
	}
	if seen < 9 {
		t.Errorf("found %d functions, want at least 9", seen)
	}
}
