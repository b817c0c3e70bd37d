// Package config reads the CDK context flags (`cdk synth -c key=value`, or the "context" block of
// cdk.json) that shape the agentq stack, and checks them before anything is synthesized: a bad flag
// or a missing Lambda binary stops `cdk synth` with one clear line instead of a jsii stack trace or,
// worse, a stack that deploys and then rejects every request.
package config

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/apikey"
)

// Context keys the stack reads.
const (
	// KeyLambdaDir names the directory holding <function>/bootstrap for every function in
	// Functions. Relative paths are taken from the repository root (where cdk.json lives).
	KeyLambdaDir = "lambdaDir"
	// KeyAPIKeyHashes holds comma-separated tenant:sha256hex pairs, the hashes of the API keys the
	// invoke and poll functions accept. Unset means no key is valid: every request is rejected.
	KeyAPIKeyHashes = "apiKeyHashes"
	// KeyTaskTTL is how long a task record lives before DynamoDB's TTL removes it, as a Go duration.
	KeyTaskTTL = "taskTTL"
	// KeyAgentsFile names a JSON file holding the array of agent definitions handed to the invoke
	// function. Relative paths are taken from the repository root.
	KeyAgentsFile = "agentsFile"
	// KeyAPI selects the API Gateway flavour: "http" (default) or "rest" (LocalStack community).
	KeyAPI = "api"
	// KeyEphemeral marks a throwaway stack: the table loses its deletion protection and retain
	// policy, and logs are deleted with the stack.
	KeyEphemeral = "ephemeral"
	// KeyLogLevel sets AGENTQ_LOG_LEVEL on every function (debug, info, warn or error).
	KeyLogLevel = "logLevel"
)

// API flavours accepted by KeyAPI.
const (
	// APIHTTP fronts the functions with an API Gateway HTTP API (payload format 2.0).
	APIHTTP = "http"
	// APIREST fronts them with a REST API (payload format 1.0), which LocalStack's free image
	// emulates; HTTP APIs need a paid LocalStack plan.
	APIREST = "rest"
)

// Defaults applied when a key is absent.
const (
	// DefaultTaskTTL keeps task records for 30 days.
	DefaultTaskTTL = "720h"
	// DefaultLambdaDir is where the Makefile writes the bootstraps, relative to the repository root.
	DefaultLambdaDir = "build/lambda"
	// DefaultAgentsFile is read when KeyAgentsFile is unset and the file exists at the repository
	// root; otherwise the registry is empty.
	DefaultAgentsFile = "agents.json"
)

// Functions names the Lambda functions of the stack: each needs <LambdaDir>/<name>/bootstrap.
var Functions = []string{"invoke", "worker", "poll"}

// maxSettingsBytes bounds the size of the settings that travel in environment variables. Lambda
// allows 4 KB for a function's whole environment; the rest is left for the table name, queue URL
// and the small settings.
const maxSettingsBytes = 3300

// Config is the checked form of the context flags.
type Config struct {
	// LambdaDir is the absolute directory holding <function>/bootstrap.
	LambdaDir string
	// APIKeyHashes is the normalized tenant:sha256hex list, or empty when no key was given.
	APIKeyHashes string
	// TaskTTL is the task lifetime as a Go duration string, handed to the functions unchanged.
	TaskTTL string
	// AgentsJSON is the compacted JSON array of agent definitions.
	AgentsJSON string
	// API is APIHTTP or APIREST.
	API string
	// Ephemeral relaxes the table's deletion protection and retain policy.
	Ephemeral bool
	// LogLevel is the optional AGENTQ_LOG_LEVEL value.
	LogLevel string
}

// Lookup returns the context value stored under key, or nil when it is unset. A CDK app passes
// a function calling app.Node().TryGetContext.
type Lookup func(key string) any

// Load reads and checks every context flag. root is the repository root: the directory holding
// cdk.json, against which relative paths are resolved.
func Load(lookup Lookup, root string) (Config, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return Config{}, fmt.Errorf("resolve repository root %q: %w", root, err)
	}
	var cfg Config
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	lambdaDir, err := stringValue(lookup, KeyLambdaDir, DefaultLambdaDir)
	check(err)
	cfg.LambdaDir = resolve(root, lambdaDir)
	check(CheckLambdaDir(cfg.LambdaDir))

	keys, err := stringValue(lookup, KeyAPIKeyHashes, "")
	check(err)
	cfg.APIKeyHashes, err = ParseAPIKeyHashes(keys)
	check(err)

	cfg.TaskTTL, err = stringValue(lookup, KeyTaskTTL, DefaultTaskTTL)
	check(err)
	if err == nil {
		check(checkTTL(cfg.TaskTTL))
	}

	agentsFile, err := stringValue(lookup, KeyAgentsFile, "")
	check(err)
	cfg.AgentsJSON, err = loadAgents(root, agentsFile)
	check(err)

	cfg.API, err = stringValue(lookup, KeyAPI, APIHTTP)
	check(err)
	cfg.API = strings.ToLower(cfg.API)
	if cfg.API != APIHTTP && cfg.API != APIREST {
		check(fmt.Errorf("context %s=%q: want %q or %q", KeyAPI, cfg.API, APIHTTP, APIREST))
	}

	cfg.Ephemeral, err = boolValue(lookup, KeyEphemeral)
	check(err)

	cfg.LogLevel, err = stringValue(lookup, KeyLogLevel, "")
	check(err)
	cfg.LogLevel = strings.ToLower(cfg.LogLevel)
	switch cfg.LogLevel {
	case "", "debug", "info", "warn", "error":
	default:
		check(fmt.Errorf("context %s=%q: want debug, info, warn or error", KeyLogLevel, cfg.LogLevel))
	}

	if n := len(cfg.AgentsJSON) + len(cfg.APIKeyHashes); n > maxSettingsBytes {
		check(fmt.Errorf("agents (%d bytes) and API key hashes (%d bytes) exceed the %d bytes left in Lambda's 4 KB environment",
			len(cfg.AgentsJSON), len(cfg.APIKeyHashes), maxSettingsBytes))
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("agentq stack context: %w", errors.Join(errs...))
	}
	return cfg, nil
}

// RepoRoot returns the nearest directory at or above dir that holds cdk.json, or dir's parent
// when none does (the app runs from infra/, one level below the root).
func RepoRoot(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return filepath.Join(dir, "..")
	}
	for d := abs; ; {
		if _, err := os.Stat(filepath.Join(d, "cdk.json")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return filepath.Dir(abs)
		}
		d = parent
	}
}

// CheckLambdaDir reports a missing or empty bootstrap for any of Functions.
func CheckLambdaDir(dir string) error {
	var missing []string
	for _, name := range Functions {
		p := filepath.Join(dir, name, "bootstrap")
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() || st.Size() == 0 {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("lambda binaries missing: %s (run `make build`, or pass -c %s=DIR)",
			strings.Join(missing, ", "), KeyLambdaDir)
	}
	return nil
}

// ParseAPIKeyHashes checks a comma-separated list of tenant:sha256hex pairs and returns it with
// blanks removed and hashes lower-cased. An empty input gives an empty list.
func ParseAPIKeyHashes(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	var pairs []string
	for i, raw := range strings.Split(s, ",") {
		pair := strings.TrimSpace(raw)
		tenant, hash, ok := strings.Cut(pair, ":")
		if !ok || tenant == "" || strings.ContainsAny(tenant, " \t") {
			return "", fmt.Errorf("context %s: entry %d: want tenant:sha256hex", KeyAPIKeyHashes, i+1)
		}
		hash = strings.ToLower(hash)
		if b, err := hex.DecodeString(hash); err != nil || len(b) != 32 {
			// The entry is not echoed: a pasted raw key must not end up in a CI log.
			return "", fmt.Errorf("context %s: entry %d (tenant %q): want a 64-digit hex SHA-256 of the key, not the key itself",
				KeyAPIKeyHashes, i+1, tenant)
		}
		pairs = append(pairs, tenant+":"+hash)
	}
	out := strings.Join(pairs, ",")
	// The functions parse the list with shared/apikey at start; what passes here passes there.
	if _, err := apikey.Parse(out); err != nil {
		return "", fmt.Errorf("context %s: %w", KeyAPIKeyHashes, err)
	}
	return out, nil
}

func checkTTL(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("context %s=%q: %w", KeyTaskTTL, s, err)
	}
	if d <= 0 {
		return fmt.Errorf("context %s=%q: must be positive", KeyTaskTTL, s)
	}
	return nil
}

// loadAgents reads the agent registry: the named file, else agents.json at the root if present,
// else an empty array.
func loadAgents(root, name string) (string, error) {
	path := resolve(root, name)
	if name == "" {
		path = filepath.Join(root, DefaultAgentsFile)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return "[]", nil
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read agents file: %w", err)
	}
	var agents []json.RawMessage
	if err := json.Unmarshal(data, &agents); err != nil {
		return "", fmt.Errorf("agents file %s: want a JSON array of agent definitions: %w", path, err)
	}
	// The invoke function parses the registry with shared/agent at start: a definition it would
	// reject fails synthesis here instead of every cold start after the deploy.
	if _, err := agent.ParseJSON(data); err != nil {
		return "", fmt.Errorf("agents file %s: %w", path, err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return "", fmt.Errorf("compact agents file %s: %w", path, err)
	}
	return buf.String(), nil
}

func resolve(root, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(root, p)
}

// stringValue reads a context value given on the command line (always a string) or in cdk.json
// (any JSON scalar).
func stringValue(lookup Lookup, key, def string) (string, error) {
	switch v := lookup(key).(type) {
	case nil:
		return def, nil
	case string:
		if strings.TrimSpace(v) == "" {
			return def, nil
		}
		return strings.TrimSpace(v), nil
	case *string:
		if v == nil || strings.TrimSpace(*v) == "" {
			return def, nil
		}
		return strings.TrimSpace(*v), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	default:
		return "", fmt.Errorf("context %s: want a string, got %T", key, v)
	}
}

func boolValue(lookup Lookup, key string) (bool, error) {
	switch v := lookup(key).(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	case *bool:
		return v != nil && *v, nil
	default:
		s, err := stringValue(lookup, key, "false")
		if err != nil {
			return false, err
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			return false, fmt.Errorf("context %s=%q: want true or false", key, s)
		}
		return b, nil
	}
}
