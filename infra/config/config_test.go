package config_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/agentq/agentq/infra/config"
)

const hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// Function ARNs: unqualified, and with an alias.
const (
	fnA = "arn:aws:lambda:eu-west-1:123456789012:function:agent-a"
	fnB = "arn:aws:lambda:us-gov-west-1:123456789012:function:agent_b:prod"
)

// repo lays out a repository root with built bootstraps and returns it.
func repo(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, name := range config.Functions {
		dir := filepath.Join(root, config.DefaultLambdaDir, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("bin"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func lookup(ctx map[string]any) config.Lookup {
	return func(key string) any { return ctx[key] }
}

func TestDefaults(t *testing.T) {
	root := repo(t)
	cfg, err := config.Load(lookup(nil), root)
	if err != nil {
		t.Fatal(err)
	}
	schedules, err := config.CheckSchedules(config.Schedules)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		LambdaDir:     filepath.Join(root, "build", "lambda"),
		TaskTTL:       "720h",
		AgentsJSON:    "[]",
		API:           config.APIHTTP,
		DefaultTenant: "default",
		Schedules:     schedules,
		// Receipts are signed with the sealed key's first generation.
		ReceiptSigner:        config.ReceiptSignerSealed,
		ReceiptKeyGeneration: 1,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
}

func TestAllFlags(t *testing.T) {
	root := repo(t)
	other := filepath.Join(root, "elsewhere")
	if err := os.Rename(filepath.Join(root, "build", "lambda"), other); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "mine.json"), []byte("[\n  {\"id\": \"echo\", \"protocol\": \"http\", \"endpoint\": \"http://echo:8080/\"}\n]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(lookup(map[string]any{
		config.KeyLambdaDir:            "elsewhere",
		config.KeyAPIKeyHashes:         " acme:" + strings.ToUpper(hash) + ", beta:" + hash,
		config.KeyAdminKeyHashes:       "ops:" + strings.ToUpper(hash) + " ",
		config.KeyLambdaAgentARNs:      " " + fnB + ", " + fnA + "," + fnB,
		config.KeyTaskTTL:              "48h",
		config.KeyAgentsFile:           "mine.json",
		config.KeyAPI:                  "REST",
		config.KeyRestLogRole:          "Existing",
		config.KeyEphemeral:            "true",
		config.KeyLogLevel:             "DEBUG",
		config.KeyDefaultTenant:        " ops-team ",
		config.KeyReceiptKeyGeneration: float64(3), // a number in cdk.json
	}), root)
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{
		LambdaDir:       other,
		APIKeyHashes:    "acme:" + hash + ",beta:" + hash,
		AdminKeyHashes:  "ops:" + hash,
		LambdaAgentARNs: []string{fnA, fnB},
		TaskTTL:         "48h",
		AgentsJSON:      `[{"id":"echo","protocol":"http","endpoint":"http://echo:8080/"}]`,
		API:             config.APIREST,
		RestLogRole:     config.RestLogRoleExisting,
		Ephemeral:       true,
		LogLevel:        "debug",
		DefaultTenant:   "ops-team",
		Schedules:       cfg.Schedules, // TestSchedules
		ReceiptSigner:   config.ReceiptSignerSealed,
		// Rotated twice: the third generation signs.
		ReceiptKeyGeneration: 3,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
}

func TestAgentsFileAtRootIsTheDefault(t *testing.T) {
	root := repo(t)
	if err := os.WriteFile(filepath.Join(root, config.DefaultAgentsFile), []byte(`[{"id":"a","protocol":"http","endpoint":"https://a.example/"}, {"id":"b","protocol":"lambda","endpoint":"arn:aws:lambda:eu-west-1:123456789012:function:b"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(lookup(nil), root)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AgentsJSON != `[{"id":"a","protocol":"http","endpoint":"https://a.example/"},{"id":"b","protocol":"lambda","endpoint":"arn:aws:lambda:eu-west-1:123456789012:function:b"}]` {
		t.Errorf("AgentsJSON = %s", cfg.AgentsJSON)
	}
	if want := []string{"arn:aws:lambda:eu-west-1:123456789012:function:b"}; !reflect.DeepEqual(cfg.LambdaAgentARNs, want) {
		t.Errorf("LambdaAgentARNs = %v, want the lambda agent's endpoint %v", cfg.LambdaAgentARNs, want)
	}
}

// TestLambdaAgentARNs: the worker may invoke the functions of lambdaAgentArns and of the agents
// file's lambda agents, each once, and none when neither names one.
func TestLambdaAgentARNs(t *testing.T) {
	root := repo(t)
	file := filepath.Join(root, "lambda.json")
	body := `[{"id":"b","protocol":"lambda","endpoint":"` + fnB + `"},{"id":"c","protocol":"lambda","endpoint":"` + fnA + `"},{"id":"h","protocol":"http","endpoint":"https://h.example/"}]`
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	const fnC = "arn:aws-cn:lambda:cn-north-1:123456789012:function:c:$LATEST"
	for _, c := range []struct {
		name string
		ctx  map[string]any
		want []string
	}{
		{"none", nil, nil},
		{"context only", map[string]any{config.KeyLambdaAgentARNs: fnC}, []string{fnC}},
		{"agents file only", map[string]any{config.KeyAgentsFile: "lambda.json"}, []string{fnA, fnB}},
		{"both, repeated", map[string]any{config.KeyAgentsFile: "lambda.json", config.KeyLambdaAgentARNs: fnA + "," + fnC}, []string{fnC, fnA, fnB}}, // sorted bytewise
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := config.Load(lookup(c.ctx), root)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.LambdaAgentARNs, c.want) {
				t.Errorf("LambdaAgentARNs = %q, want %q", cfg.LambdaAgentARNs, c.want)
			}
		})
	}
}

func TestCDKJSONTypes(t *testing.T) {
	// cdk.json may hold real booleans; the command line only strings.
	root := repo(t)
	cfg, err := config.Load(lookup(map[string]any{config.KeyEphemeral: true, config.KeyAPI: "http"}), root)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Ephemeral {
		t.Errorf("ephemeral = false, want true")
	}
}

func TestErrors(t *testing.T) {
	root := repo(t)
	if err := os.WriteFile(filepath.Join(root, "object.json"), []byte(`{"id":"echo"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"invalid.json": `[{"id":"echo","protocol":"smtp","endpoint":"mailto:x"}]`,
		"unknown.json": `[{"id":"echo","protocol":"http","endpoint":"http://e/","colour":"red"}]`,
		// shared/agent accepts any "arn:" endpoint; the worker's grant needs a function's.
		"notfn.json": `[{"id":"q","protocol":"lambda","endpoint":"arn:aws:sqs:eu-west-1:123456789012:q"}]`,
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		ctx  map[string]any
		want string
	}{
		{"missing binaries", map[string]any{config.KeyLambdaDir: "nowhere"}, "run `make build`"},
		{"raw key instead of hash", map[string]any{config.KeyAPIKeyHashes: "acme:sk-secret"}, "64-digit hex"},
		{"pair without tenant", map[string]any{config.KeyAPIKeyHashes: ":" + hash}, "tenant:sha256hex"},
		{"raw admin key instead of hash", map[string]any{config.KeyAdminKeyHashes: "ops:sk-secret"}, config.KeyAdminKeyHashes},
		{"admin pair without tenant", map[string]any{config.KeyAdminKeyHashes: hash}, config.KeyAdminKeyHashes},
		{"function name instead of ARN", map[string]any{config.KeyLambdaAgentARNs: "agent-a"}, config.KeyLambdaAgentARNs},
		{"ARN of another service", map[string]any{config.KeyLambdaAgentARNs: "arn:aws:sqs:eu-west-1:123456789012:q"}, "function ARN"},
		{"ARN with a wildcard", map[string]any{config.KeyLambdaAgentARNs: "arn:aws:lambda:eu-west-1:123456789012:function:*"}, "function ARN"},
		{"second ARN bad", map[string]any{config.KeyLambdaAgentARNs: fnA + ",arn:aws:lambda:eu-west-1:1234:function:x"}, "entry 2"},
		{"agent with a non-function ARN", map[string]any{config.KeyAgentsFile: "notfn.json"}, "want a function ARN"},
		{"bad ttl", map[string]any{config.KeyTaskTTL: "30d"}, config.KeyTaskTTL},
		{"negative ttl", map[string]any{config.KeyTaskTTL: "-1h"}, "positive"},
		{"unknown api", map[string]any{config.KeyAPI: "websocket"}, config.KeyAPI},
		{"bad ephemeral", map[string]any{config.KeyEphemeral: "maybe"}, config.KeyEphemeral},
		{"bad log level", map[string]any{config.KeyLogLevel: "loud"}, config.KeyLogLevel},
		{"agents file missing", map[string]any{config.KeyAgentsFile: "none.json"}, "agents file"},
		{"agents not an array", map[string]any{config.KeyAgentsFile: "object.json"}, "JSON array"},
		{"agent the function would reject", map[string]any{config.KeyAgentsFile: "invalid.json"}, "unknown protocol"},
		{"agent with unknown field", map[string]any{config.KeyAgentsFile: "unknown.json"}, "colour"},
		{"REST without a log role answer", map[string]any{config.KeyAPI: "rest"}, "-c restLogRole=create"},
		{"REST with an unknown log role answer", map[string]any{config.KeyAPI: "rest", config.KeyRestLogRole: "maybe"}, config.KeyRestLogRole},
		{"log role with the HTTP API", map[string]any{config.KeyRestLogRole: "create"}, "only the REST flavour"},
		{"wrong type", map[string]any{config.KeyAPI: []any{"http"}}, "want a string"},
		{"default tenant with a blank", map[string]any{config.KeyDefaultTenant: "two words"}, config.KeyDefaultTenant},
		{"default tenant with a colon", map[string]any{config.KeyDefaultTenant: "a:b"}, config.KeyDefaultTenant},
		{"unknown receipt signer", map[string]any{config.KeyReceiptSigner: "hsm"}, config.KeyReceiptSigner},
		{"receipt key generation zero", map[string]any{config.KeyReceiptKeyGeneration: "0"}, config.KeyReceiptKeyGeneration},
		{"receipt key generation not a number", map[string]any{config.KeyReceiptKeyGeneration: "v2"}, config.KeyReceiptKeyGeneration},
		{"receipt key generation with KMS", map[string]any{config.KeyReceiptSigner: "kms", config.KeyReceiptKeyGeneration: "2"}, config.KeyReceiptKeyGeneration},
		{"default tenant too long", map[string]any{config.KeyDefaultTenant: strings.Repeat("t", 129)}, config.KeyDefaultTenant},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := config.Load(lookup(c.ctx), root)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to mention %q", err, c.want)
			}
			if err != nil && strings.Contains(err.Error(), "sk-secret") {
				t.Errorf("error echoes a raw key: %v", err)
			}
		})
	}
}

func TestRepoRoot(t *testing.T) {
	root := t.TempDir()
	infra := filepath.Join(root, "infra")
	if err := os.MkdirAll(filepath.Join(infra, "stack"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Without cdk.json the parent of the app directory is taken.
	if got := config.RepoRoot(infra); got != root {
		t.Errorf("RepoRoot without cdk.json = %s, want %s", got, root)
	}
	if err := os.WriteFile(filepath.Join(root, "cdk.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := config.RepoRoot(filepath.Join(infra, "stack")); got != root {
		t.Errorf("RepoRoot = %s, want %s", got, root)
	}
}

// TestSchedules: the example schedule is checked and disabled (a deploy starts no spending), its
// detail is the invocation with the body's fields as written, and bad schedules are refused.
func TestSchedules(t *testing.T) {
	cfg, err := config.Load(lookup(nil), repo(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Schedules) != 1 {
		t.Fatalf("schedules = %+v, want the one example", cfg.Schedules)
	}
	ex := cfg.Schedules[0]
	if ex.Enabled || ex.Expression != "rate(1 day)" || ex.AgentID != "echo" || ex.Dialect != "xpander" || ex.Timezone != "UTC" {
		t.Errorf("example schedule = %+v, want echo, rate(1 day), xpander, UTC, disabled", ex)
	}
	detail, err := ex.Detail()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(detail); string(got) != `{"agent_id":"echo","dialect":"xpander","input":{"text":"scheduled hello"}}` {
		t.Errorf("detail = %s", got)
	}

	// Defaults filled in; a large number keeps its digits.
	got, err := config.CheckSchedules([]config.Schedule{{
		Name: "nightly", Expression: "cron(0 2 * * ? *)", AgentID: "a", Body: `{"n": 12345678901234567890, "tenant": "acme"}`,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Timezone != "UTC" || got[0].Dialect != "xpander" {
		t.Errorf("defaults = %+v, want UTC and xpander", got[0])
	}
	detail, _ = got[0].Detail()
	if b, _ := json.Marshal(detail); string(b) != `{"agent_id":"a","dialect":"xpander","n":12345678901234567890,"tenant":"acme"}` {
		t.Errorf("detail = %s", b)
	}

	ok := config.Schedule{Name: "s", Expression: "rate(5 minutes)", Timezone: "Europe/Berlin", AgentID: "a", Dialect: "servicenet", Body: `{}`}
	if _, err := config.CheckSchedules([]config.Schedule{ok, {Name: "at-once", Expression: "at(2030-01-01T09:00:00)", AgentID: "a", Body: "{}"}}); err != nil {
		t.Errorf("good schedules refused: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*config.Schedule)
		want string
	}{
		{"bad name", func(s *config.Schedule) { s.Name = "has space" }, "name"},
		{"singular for many", func(s *config.Schedule) { s.Expression = "rate(5 minute)" }, "singular"},
		{"plural for one", func(s *config.Schedule) { s.Expression = "rate(1 days)" }, "singular"},
		{"five-field cron", func(s *config.Schedule) { s.Expression = "cron(0 2 * * *)" }, "expression"},
		{"unknown zone", func(s *config.Schedule) { s.Timezone = "Mars/Olympus" }, "timezone"},
		{"no agent", func(s *config.Schedule) { s.AgentID = "" }, "agent_id"},
		{"unknown dialect", func(s *config.Schedule) { s.Dialect = "soap" }, "dialect"},
		{"body not an object", func(s *config.Schedule) { s.Body = `[1]` }, "JSON object"},
		{"body null", func(s *config.Schedule) { s.Body = `null` }, "JSON object"},
		{"body with trailing data", func(s *config.Schedule) { s.Body = `{} {}` }, "JSON object"},
		{"body sets agent_id", func(s *config.Schedule) { s.Body = `{"agent_id":"b"}` }, "agent_id"},
		{"body too large", func(s *config.Schedule) {
			s.Body = `{"x":"` + strings.Repeat("x", config.MaxScheduleDetailBytes) + `"}`
		}, "bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := ok
			c.edit(&s)
			if _, err := config.CheckSchedules([]config.Schedule{s}); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
	if _, err := config.CheckSchedules([]config.Schedule{ok, ok}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("repeated name: err = %v", err)
	}
}

// TestReceiptSignerKMS: receiptSigner=kms (any case) chooses the KMS key, which has no generation.
func TestReceiptSignerKMS(t *testing.T) {
	cfg, err := config.Load(lookup(map[string]any{config.KeyReceiptSigner: " KMS "}), repo(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ReceiptSigner != config.ReceiptSignerKMS || cfg.ReceiptKeyGeneration != 0 {
		t.Errorf("signer %q generation %d, want %q and none", cfg.ReceiptSigner, cfg.ReceiptKeyGeneration, config.ReceiptSignerKMS)
	}
}
