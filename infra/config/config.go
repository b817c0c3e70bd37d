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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/apikey"
	sharedconfig "github.com/agentq/agentq/shared/config"
)

// Context keys the stack reads.
const (
	// KeyLambdaDir names the directory holding <function>/bootstrap for every function in
	// Functions. Relative paths are taken from the repository root (where cdk.json lives).
	KeyLambdaDir = "lambdaDir"
	// KeyAPIKeyHashes holds comma-separated tenant:sha256hex pairs, the hashes of the API keys the
	// invoke and poll functions accept. Unset means no key is valid: every request is rejected.
	KeyAPIKeyHashes = "apiKeyHashes"
	// KeyAdminKeyHashes holds the admin keys' hashes, in the form of KeyAPIKeyHashes. Unset leaves
	// the admin routes (agent registry and auth contexts) out of both API functions.
	KeyAdminKeyHashes = "adminKeyHashes"
	// KeyLambdaAgentARNs holds comma-separated function ARNs the worker may invoke as Lambda agents,
	// on top of the lambda agents of the agents file. The worker's role names each ARN: an agent
	// published later through the API needs its ARN here and a redeploy.
	KeyLambdaAgentARNs = "lambdaAgentArns"
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
	// KeyRestLogRole says, for the REST flavour, who provides API Gateway's account-wide
	// CloudWatch Logs role, which a REST stage's access logs need on AWS: RestLogRoleCreate (the
	// stack sets it) or RestLogRoleExisting (the account has one). Required with api=rest.
	KeyRestLogRole = "restLogRole"
	// KeyDefaultTenant names the tenant that owns triggered invocations (EventBridge events,
	// schedules, ingest queue messages) that name none: AGENTQ_DEFAULT_TENANT on the trigger.
	KeyDefaultTenant = "defaultTenant"
	// KeyReceiptSigner chooses how ServiceNet receipts are signed: ReceiptSignerSealed (default)
	// or ReceiptSignerKMS.
	KeyReceiptSigner = "receiptSigner"
	// KeyReceiptKeyGeneration is the generation of the sealed receipt key that signs (default
	// 1): raising it rotates the key, the earlier generations staying listed. Sealed signer only.
	KeyReceiptKeyGeneration = "receiptKeyGeneration"
)

// Values of KeyReceiptSigner.
const (
	// ReceiptSignerSealed signs with an Ed25519 seed sealed in the table under the seal key
	// (shared/receiptkey): one KMS Decrypt per function instance.
	ReceiptSignerSealed = "sealed"
	// ReceiptSignerKMS signs with an asymmetric KMS key whose private half never leaves KMS: one
	// KMS Sign per signature.
	ReceiptSignerKMS = "kms"
)

// API flavours accepted by KeyAPI.
const (
	// APIHTTP fronts the functions with an API Gateway HTTP API (payload format 2.0).
	APIHTTP = "http"
	// APIREST fronts them with a REST API (payload format 1.0), which LocalStack's free image
	// emulates; HTTP APIs need a paid LocalStack plan.
	APIREST = "rest"
)

// Values of KeyRestLogRole.
const (
	// RestLogRoleCreate: the stack creates the role and makes it the account's API Gateway
	// CloudWatch role in the region (AWS::ApiGateway::Account), retained when the stack goes,
	// since every REST API of the account logs through it.
	RestLogRoleCreate = "create"
	// RestLogRoleExisting: the account already has one (or the target, like LocalStack, does not
	// check); the stack leaves the account setting alone.
	RestLogRoleExisting = "existing"
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
	// DefaultTenant owns triggered invocations that name no tenant, as the functions default it
	// (shared/config).
	DefaultTenant = sharedconfig.DefaultTenant
)

// Functions names the Lambda functions of the stack: each needs <LambdaDir>/<name>/bootstrap.
var Functions = []string{"invoke", "worker", "poll", "sweeper", "trigger", "notify", "deliver", "stream"}

// Config is the checked form of the context flags.
type Config struct {
	// LambdaDir is the absolute directory holding <function>/bootstrap.
	LambdaDir string
	// APIKeyHashes is the normalized tenant:sha256hex list, or empty when no key was given.
	APIKeyHashes string
	// AdminKeyHashes is the normalized tenant:sha256hex list of admin keys, or empty.
	AdminKeyHashes string
	// LambdaAgentARNs lists, sorted and without repeats, every function the worker may invoke:
	// KeyLambdaAgentARNs and the endpoints of the agents file's lambda agents. Empty grants none.
	LambdaAgentARNs []string
	// TaskTTL is the task lifetime as a Go duration string, handed to the functions unchanged.
	TaskTTL string
	// AgentsJSON is the compacted JSON array of agent definitions.
	AgentsJSON string
	// API is APIHTTP or APIREST.
	API string
	// RestLogRole is KeyRestLogRole's value with the REST flavour, empty with the HTTP API.
	RestLogRole string
	// Ephemeral relaxes the table's deletion protection and retain policy.
	Ephemeral bool
	// LogLevel is the optional AGENTQ_LOG_LEVEL value.
	LogLevel string
	// DefaultTenant owns triggered invocations that name no tenant; DefaultTenant unless given.
	DefaultTenant string
	// Schedules are the EventBridge Scheduler schedules that invoke agents: Schedules, checked.
	Schedules []Schedule
	// ReceiptSigner is ReceiptSignerSealed or ReceiptSignerKMS.
	ReceiptSigner string
	// ReceiptKeyGeneration is the sealed receipt key's generation (1 or more; 0 with the KMS
	// signer).
	ReceiptKeyGeneration int
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
	cfg.APIKeyHashes, err = ParseKeyHashes(KeyAPIKeyHashes, keys)
	check(err)

	adminKeys, err := stringValue(lookup, KeyAdminKeyHashes, "")
	check(err)
	cfg.AdminKeyHashes, err = ParseKeyHashes(KeyAdminKeyHashes, adminKeys)
	check(err)

	cfg.TaskTTL, err = stringValue(lookup, KeyTaskTTL, DefaultTaskTTL)
	check(err)
	if err == nil {
		check(checkTTL(cfg.TaskTTL))
	}

	agentsFile, err := stringValue(lookup, KeyAgentsFile, "")
	check(err)
	var fileARNs []string
	cfg.AgentsJSON, fileARNs, err = loadAgents(root, agentsFile)
	check(err)

	arns, err := stringValue(lookup, KeyLambdaAgentARNs, "")
	check(err)
	contextARNs, err := ParseLambdaAgentARNs(arns)
	check(err)
	cfg.LambdaAgentARNs = mergeARNs(contextARNs, fileARNs)

	loadRuntime(lookup, &cfg, check)
	loadReceipts(lookup, &cfg, check)

	cfg.Schedules, err = CheckSchedules(Schedules)
	check(err)

	// Lambda's 4 KB environment is checked per function, as Lambda measures it, when the stack is
	// built (construct/golambda): only there are all of a function's variables known.
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("agentq stack context: %w", errors.Join(errs...))
	}
	return cfg, nil
}

// loadRuntime reads the flags of how the stack runs: the API flavour, ephemerality, the log level
// and the default tenant. check collects their errors.
func loadRuntime(lookup Lookup, cfg *Config, check func(error)) {
	var err error
	cfg.API, err = stringValue(lookup, KeyAPI, APIHTTP)
	check(err)
	cfg.API = strings.ToLower(cfg.API)
	if cfg.API != APIHTTP && cfg.API != APIREST {
		check(fmt.Errorf("context %s=%q: want %q or %q", KeyAPI, cfg.API, APIHTTP, APIREST))
	}

	logRole, err := stringValue(lookup, KeyRestLogRole, "")
	check(err)
	check(checkRestLogRole(cfg, strings.ToLower(logRole)))

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

	cfg.DefaultTenant, err = stringValue(lookup, KeyDefaultTenant, DefaultTenant)
	check(err)
	if err == nil {
		check(checkTenant(cfg.DefaultTenant))
	}
}

// loadReceipts reads how receipts are signed: the signer and the sealed key's generation. check
// collects their errors.
func loadReceipts(lookup Lookup, cfg *Config, check func(error)) {
	signer, err := stringValue(lookup, KeyReceiptSigner, ReceiptSignerSealed)
	check(err)
	cfg.ReceiptSigner = strings.ToLower(signer)
	if cfg.ReceiptSigner != ReceiptSignerSealed && cfg.ReceiptSigner != ReceiptSignerKMS {
		check(fmt.Errorf("context %s=%q: want %q or %q", KeyReceiptSigner, signer, ReceiptSignerSealed, ReceiptSignerKMS))
	}
	gen, err := stringValue(lookup, KeyReceiptKeyGeneration, "")
	check(err)
	switch {
	case gen == "" && cfg.ReceiptSigner == ReceiptSignerSealed:
		cfg.ReceiptKeyGeneration = 1
	case gen == "":
	case cfg.ReceiptSigner != ReceiptSignerSealed:
		check(fmt.Errorf("context %s: only the %q receipt signer has generations", KeyReceiptKeyGeneration, ReceiptSignerSealed))
	default:
		n, err := strconv.Atoi(gen)
		if err != nil || n < 1 || n > sharedconfig.MaxReceiptKeyGeneration {
			check(fmt.Errorf("context %s=%q: want a generation between 1 and %d", KeyReceiptKeyGeneration, gen, sharedconfig.MaxReceiptKeyGeneration))
		}
		cfg.ReceiptKeyGeneration = n
	}
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

// ParseKeyHashes checks a comma-separated list of tenant:sha256hex pairs given in the context
// flag named flag (KeyAPIKeyHashes or KeyAdminKeyHashes) and returns it with blanks removed and
// hashes lower-cased. An empty input gives an empty list. Errors never echo an entry: a pasted raw
// key must not end up in a CI log.
func ParseKeyHashes(flag, s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", nil
	}
	var pairs []string
	for i, raw := range strings.Split(s, ",") {
		pair := strings.TrimSpace(raw)
		tenant, hash, ok := strings.Cut(pair, ":")
		if !ok || tenant == "" || strings.ContainsAny(tenant, " \t") {
			return "", fmt.Errorf("context %s: entry %d: want tenant:sha256hex", flag, i+1)
		}
		hash = strings.ToLower(hash)
		if b, err := hex.DecodeString(hash); err != nil || len(b) != 32 {
			return "", fmt.Errorf("context %s: entry %d (tenant %q): want a 64-digit hex SHA-256 of the key, not the key itself",
				flag, i+1, tenant)
		}
		pairs = append(pairs, tenant+":"+hash)
	}
	out := strings.Join(pairs, ",")
	// The functions parse the list with shared/apikey at start; what passes here passes there.
	if _, err := apikey.Parse(out); err != nil {
		return "", fmt.Errorf("context %s: %w", flag, err)
	}
	return out, nil
}

// functionARN matches a Lambda function's ARN, unqualified or with a version or alias: what the
// worker passes to Invoke as FunctionName and what its role must name. IAM matches a qualified
// ARN only by that qualifier, so the grant names exactly the ARN given.
var functionARN = regexp.MustCompile(`^arn:aws[a-z-]*:lambda:[a-z]{2}(-[a-z]+)+-[0-9]{1,2}:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:(\$LATEST|[A-Za-z0-9_-]{1,128}))?$`)

// ParseLambdaAgentARNs checks a comma-separated list of function ARNs (KeyLambdaAgentARNs) and
// returns them, blanks removed. An empty input gives none.
func ParseLambdaAgentARNs(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []string
	for i, raw := range strings.Split(s, ",") {
		arn := strings.TrimSpace(raw)
		if !functionARN.MatchString(arn) {
			return nil, fmt.Errorf("context %s: entry %d %q: want a function ARN, arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]",
				KeyLambdaAgentARNs, i+1, arn)
		}
		out = append(out, arn)
	}
	return out, nil
}

// mergeARNs returns the ARNs of both lists, sorted and without repeats.
func mergeARNs(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// checkTenant refuses a default tenant that could not be told from its neighbours where tenants
// are listed (tenant:hash pairs, comma-separated) or that a log line would split.
func checkTenant(s string) error {
	if len(s) > 128 || strings.ContainsAny(s, ":,") || strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}) >= 0 {
		return fmt.Errorf("context %s=%q: want at most 128 characters, no blanks, ':' or ','", KeyDefaultTenant, s)
	}
	return nil
}

// checkRestLogRole sets cfg.RestLogRole. A REST stage with access logs fails to deploy in an
// account without API Gateway's CloudWatch role, and whether the account has one cannot be known
// offline: the REST flavour asks, the HTTP API (whose access logs need no such role) refuses an
// answer that would do nothing.
func checkRestLogRole(cfg *Config, v string) error {
	switch {
	case cfg.API != APIREST && v != "":
		return fmt.Errorf("context %s=%q: only the REST flavour (-c %s=%s) uses it", KeyRestLogRole, v, KeyAPI, APIREST)
	case cfg.API == APIREST && v != RestLogRoleCreate && v != RestLogRoleExisting:
		return fmt.Errorf("context %s=%q: the REST flavour's access logs need API Gateway's account-wide CloudWatch role: "+
			"-c %s=%s to have the stack set it, or -c %s=%s when the account already has one (or on LocalStack)",
			KeyRestLogRole, v, KeyRestLogRole, RestLogRoleCreate, KeyRestLogRole, RestLogRoleExisting)
	}
	cfg.RestLogRole = v
	return nil
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
// else an empty array. It returns the compacted array and the endpoints of its lambda agents,
// which the worker's role must name.
func loadAgents(root, name string) (string, []string, error) {
	path := resolve(root, name)
	if name == "" {
		path = filepath.Join(root, DefaultAgentsFile)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return "[]", nil, nil
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("read agents file: %w", err)
	}
	var agents []json.RawMessage
	if err := json.Unmarshal(data, &agents); err != nil {
		return "", nil, fmt.Errorf("agents file %s: want a JSON array of agent definitions: %w", path, err)
	}
	// The invoke function parses the registry with shared/agent at start: a definition it would
	// reject fails synthesis here instead of every cold start after the deploy.
	static, err := agent.ParseJSON(data)
	if err != nil {
		return "", nil, fmt.Errorf("agents file %s: %w", path, err)
	}
	// shared/agent only asks a lambda endpoint to start with "arn:"; the grant needs a function ARN.
	all := static.All()
	slices.SortFunc(all, func(a, b agent.Agent) int { return strings.Compare(a.ID, b.ID) })
	var arns []string
	for _, a := range all {
		if a.Protocol != agent.Lambda {
			continue
		}
		if !functionARN.MatchString(a.Endpoint) {
			return "", nil, fmt.Errorf("agents file %s: agent %s: endpoint %q: want a function ARN, arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]",
				path, a.ID, a.Endpoint)
		}
		arns = append(arns, a.Endpoint)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return "", nil, fmt.Errorf("compact agents file %s: %w", path, err)
	}
	return buf.String(), arns, nil
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
