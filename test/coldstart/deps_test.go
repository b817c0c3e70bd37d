package coldstart

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden lists the packages (by import path prefix) no function may link: gRPC and protobuf
// (pulled in by the A2A SDK's 0.3 compatibility package), and that package itself.
var forbidden = []string{
	"google.golang.org/grpc", "google.golang.org/protobuf", "google.golang.org/genproto",
	"github.com/a2aproject/a2a-go/a2apb", "github.com/a2aproject/a2a-go/a2aclient",
	"github.com/a2aproject/a2a-go/v2/a2acompat",
}

// sdkSchemaTables matches the AWS SDK's schema-serde packages (`service/<name>/schemas`, from
// dynamodb v1.69.0, sqs v1.49.0, kms v1.61.0, lambda v1.109.0, eventbridge v1.49.0 and
// dynamodbstreams v1.42.0 on): each builds every operation's shape tables in its init, 1–4 ms
// per service at every cold start whether or not a client is built. go.mod keeps each service
// at its last release before them (DESIGN.md, "Cold starts").
func sdkSchemaTables(dep string) bool {
	rest, ok := strings.CutPrefix(dep, "github.com/aws/aws-sdk-go-v2/service/")
	return ok && strings.HasSuffix(rest, "/schemas")
}

// workerOnly lists the packages only the worker, which calls agents, may link: the dispatcher,
// the A2A SDK's client and the Lambda client.
var workerOnly = []string{
	"github.com/agentq/agentq/shared/dispatch", "github.com/a2aproject/a2a-go/v2/a2aclient",
	"github.com/aws/aws-sdk-go-v2/service/lambda",
}

// agentRoutesOnly lists what only the functions that read A2A may link: the worker, which calls
// agents, and the stream function, which serves the routes agents push progress on. A2A's types
// packages register themselves with encoding/gob, whose init (about 1 ms) would otherwise run at
// every cold start of every function.
var agentRoutesOnly = []string{
	"github.com/a2aproject/a2a-go", "encoding/gob", "github.com/agentq/agentq/shared/a2apush",
}

// goList runs go list in the module's root with the functions' build tags.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	t.Chdir(moduleRoot)
	cmd := exec.Command("go", append([]string{"list", "-tags", "lambda.norpc"}, args...)...)
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// TestFunctionDeps: no function links gRPC, protobuf or an AWS SDK service's schema tables, no
// function but the worker links the dispatcher, the A2A client or the Lambda client, and none but
// the worker and the stream function links A2A's types (each costs megabytes of binary or
// milliseconds of init); every main package under functions/ is checked, so a new one is too.
func TestFunctionDeps(t *testing.T) {
	fns := goList(t, "-f", `{{if eq .Name "main"}}{{.ImportPath}}{{end}}`, "./functions/...")
	if len(fns) < 8 {
		t.Fatalf("functions %v", fns)
	}
	for _, fn := range fns {
		name := fn[strings.LastIndex(fn, "/")+1:]
		t.Run(name, func(t *testing.T) {
			banned := forbidden
			if name != "worker" {
				banned = append(append([]string(nil), forbidden...), workerOnly...)
			}
			if name != "worker" && name != "stream" {
				banned = append(banned, agentRoutesOnly...)
			}
			for _, dep := range goList(t, "-deps", fn) {
				if sdkSchemaTables(dep) {
					t.Errorf("%s links %s, whose init builds the service's schema tables", name, dep)
				}
				for _, b := range banned {
					if dep == b || strings.HasPrefix(dep, b+"/") {
						t.Errorf("%s links %s", name, dep)
					}
				}
			}
		})
	}
}

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
	fns := goList(t, "-f", `{{if eq .Name "main"}}{{.ImportPath}}{{end}}`, "./functions/...")
	if len(fns) < 8 {
		t.Fatalf("functions %v", fns)
	}
	for _, fn := range fns {
		name := fn[strings.LastIndex(fn, "/")+1:]
		deps := strings.Join(goList(t, "-deps", fn), "\n")
		for _, lib := range jsonSchemaLibraries {
			linked := strings.Contains(deps, lib)
			switch {
			case linked && strings.Contains(lib, "santhosh"):
				t.Errorf("%s links %s, which compiles five drafts' metaschemas at init", name, lib)
			case linked && !schemaUsers[name]:
				t.Errorf("%s links %s", name, lib)
			}
		}
		if schemaUsers[name] && !strings.Contains(deps, "github.com/agentq/agentq/shared/outputschema") {
			t.Errorf("%s does not link outputschema: it accepts or checks schemas and must compile them", name)
		}
	}
}
