// Package config reads the functions' configuration from the environment into one typed struct,
// once, at start. A bad value stops the function at init with a message that names the variable.
package config

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/tenantlimit"
)

// Environment variable names.
const (
	EnvTable    = "AGENTQ_TABLE"
	EnvQueueURL = "AGENTQ_QUEUE_URL"
	EnvDLQARN   = "AGENTQ_DLQ_ARN"
	EnvAPIKeys  = "AGENTQ_API_KEYS"
	// EnvAdminKeys holds the admin keys' hashes, tenant:sha256hex pairs like EnvAPIKeys.
	EnvAdminKeys  = "AGENTQ_ADMIN_KEYS"
	EnvAgents     = "AGENTQ_AGENTS"
	EnvAgentsFile = "AGENTQ_AGENTS_FILE"
	EnvTaskTTL    = "AGENTQ_TASK_TTL"
	EnvLogLevel   = "AGENTQ_LOG_LEVEL"
	// EnvAllowLoopbackURLs, set to 1, lets outbound calls (agents) reach this machine: local
	// development and tests only.
	EnvAllowLoopbackURLs = "AGENTQ_ALLOW_LOOPBACK_URLS"
	// EnvResultsBucket names the S3 bucket for payloads too large for the task record (optional:
	// unset, requests over the inline limit are refused with 413 and such answers fail their task).
	EnvResultsBucket = "AGENTQ_RESULTS_BUCKET"
	// EnvEventBus names the EventBridge bus (name or ARN) that completion events are put on.
	EnvEventBus = "AGENTQ_EVENT_BUS"
	// EnvWebhookQueueURL is the queue of webhook deliveries (first attempts and retries).
	EnvWebhookQueueURL = "AGENTQ_WEBHOOK_QUEUE_URL"
	// EnvWebhookDLQURL is where deliveries end that failed every attempt.
	EnvWebhookDLQURL = "AGENTQ_WEBHOOK_DLQ_URL"
	// EnvWebhookSecret is the operator's default signing secret (whsec_...), used for tenants
	// that have none of their own.
	EnvWebhookSecret = "AGENTQ_WEBHOOK_SECRET"
	// EnvTriggerDLQURL is where events the trigger function rejects go, with the reason.
	EnvTriggerDLQURL = "AGENTQ_TRIGGER_DLQ_URL"
	// EnvDefaultTenant is the tenant of triggered invocations that name none; default "default".
	EnvDefaultTenant = "AGENTQ_DEFAULT_TENANT"
	// EnvProgressKey is the key (base64, at least 32 bytes) that per-task progress tokens are
	// derived from; without it agents get no progress_url and the progress routes are off.
	EnvProgressKey = "AGENTQ_PROGRESS_KEY"
	// EnvStreamURL is the base URL agents reach the progress routes at (the stream function's
	// URL on AWS, http://127.0.0.1:8042 under make run).
	EnvStreamURL = "AGENTQ_STREAM_URL"
	// EnvTenantRate is the requests per second a tenant may make (default
	// tenantlimit.Defaults.Rate; 0 unbounded); a tenant's own limits win.
	EnvTenantRate = "AGENTQ_TENANT_RATE"
	// EnvTenantMaxInFlight is how many tasks a tenant may have queued, running or paused at once
	// (default tenantlimit.Defaults.MaxInFlight; 0 unbounded); a tenant's own limits win.
	EnvTenantMaxInFlight = "AGENTQ_TENANT_MAX_IN_FLIGHT"
)

// DefaultTenant is the tenant of triggered invocations that name none, when
// AGENTQ_DEFAULT_TENANT is unset.
const DefaultTenant = "default"

// DefaultTaskTTL is how long task records are kept when AGENTQ_TASK_TTL is unset.
const DefaultTaskTTL = 30 * 24 * time.Hour

// Config is everything a function may need; each function requires the part it uses.
type Config struct {
	Table    string
	QueueURL string
	DLQARN   string
	Keys     *apikey.Keys
	// AdminKeys may publish agents; none disables the admin routes.
	AdminKeys *apikey.Keys
	Agents    *agent.Static
	TaskTTL   time.Duration
	LogLevel  string
	// AllowLoopbackURLs lets agent calls reach loopback addresses.
	AllowLoopbackURLs bool
	// ResultsBucket is the bucket for large payloads; empty keeps every payload in the table.
	ResultsBucket string
	// SealKey (local) or KMSKeyID (AWS), at most one of them, seals auth contexts' secrets;
	// neither disables auth contexts.
	SealKey  SealKey
	KMSKeyID string
	// EventBus is the bus completion events go to; empty publishes none.
	EventBus string
	// WebhookQueueURL and WebhookDLQURL are the webhook delivery queue and its final resting
	// place; WebhookSecret the operator's default signing secret (may be empty).
	WebhookQueueURL string
	WebhookDLQURL   string
	WebhookSecret   string
	// TriggerDLQURL receives the events the trigger function rejects.
	TriggerDLQURL string
	// DefaultTenant owns triggered invocations that name no tenant.
	DefaultTenant string
	// ProgressKey derives per-task progress tokens; StreamURL is where agents send progress.
	ProgressKey []byte
	StreamURL   string
	// TenantLimits are every tenant's limits unless it has its own.
	TenantLimits tenantlimit.Limits
	// ReceiptKeyID is the KMS key ServiceNet receipts are signed with (empty: the sealed key of
	// the table), and ReceiptPreviousKeyIDs the keys it replaced, newest first.
	ReceiptKeyID          string
	ReceiptPreviousKeyIDs []string
	// ReceiptKeyGeneration is the generation of the table's sealed receipt key that signs (1 or
	// more; the earlier ones stay listed).
	ReceiptKeyGeneration int

	set map[string]bool
}

// Load parses the environment through getenv.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{
		Table: getenv(EnvTable), QueueURL: getenv(EnvQueueURL), DLQARN: getenv(EnvDLQARN),
		LogLevel: getenv(EnvLogLevel), TaskTTL: DefaultTaskTTL, ResultsBucket: getenv(EnvResultsBucket), set: map[string]bool{},
		EventBus: getenv(EnvEventBus), WebhookQueueURL: getenv(EnvWebhookQueueURL), WebhookDLQURL: getenv(EnvWebhookDLQURL),
		WebhookSecret: getenv(EnvWebhookSecret), TriggerDLQURL: getenv(EnvTriggerDLQURL), DefaultTenant: getenv(EnvDefaultTenant),
	}
	if c.DefaultTenant == "" {
		c.DefaultTenant = DefaultTenant
	}

	for _, n := range []string{EnvTable, EnvQueueURL, EnvDLQARN, EnvAPIKeys, EnvAgents, EnvAgentsFile, EnvResultsBucket,
		EnvEventBus, EnvWebhookQueueURL, EnvWebhookDLQURL, EnvTriggerDLQURL} {
		c.set[n] = getenv(n) != ""
	}
	c.AllowLoopbackURLs = getenv(EnvAllowLoopbackURLs) == "1"
	var errs []error
	var err error
	if c.Keys, err = apikey.Parse(getenv(EnvAPIKeys)); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvAPIKeys, err))
	}
	if c.AdminKeys, err = apikey.Parse(getenv(EnvAdminKeys)); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvAdminKeys, err))
	}
	agents := getenv(EnvAgents)
	if f := getenv(EnvAgentsFile); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvAgentsFile, err))
		}
		agents = string(b)
	}
	if strings.TrimSpace(agents) == "" {
		agents = "[]"
	}
	if c.Agents, err = agent.ParseJSON([]byte(agents)); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvAgents, err))
	}
	if v := getenv(EnvTaskTTL); v != "" {
		if c.TaskTTL, err = time.ParseDuration(v); err != nil || c.TaskTTL <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive duration such as 720h", EnvTaskTTL, v))
		}
	}
	if c.WebhookSecret != "" && (!strings.HasPrefix(c.WebhookSecret, "whsec_") || len(c.WebhookSecret) < len("whsec_")+16) {
		errs = append(errs, fmt.Errorf("%s: must be a whsec_ secret of at least 16 base64 characters", EnvWebhookSecret))
	}
	if err := c.loadSealing(getenv); err != nil {
		errs = append(errs, err)
	}
	if err := c.loadProgress(getenv); err != nil {
		errs = append(errs, err)
	}
	if err := apikey.ValidateTenant(c.DefaultTenant); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvDefaultTenant, err))
	}
	if c.TenantLimits, err = TenantLimits(getenv); err != nil {
		errs = append(errs, err)
	}
	if err := c.loadReceiptKeys(getenv); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return c, nil
}

// TenantLimits reads every tenant's default limits: AGENTQ_TENANT_RATE and
// AGENTQ_TENANT_MAX_IN_FLIGHT, each tenantlimit.Defaults' when unset, 0 for unbounded.
func TenantLimits(getenv func(string) string) (tenantlimit.Limits, error) {
	l := tenantlimit.Defaults
	var errs []error
	for _, v := range []struct {
		name string
		into *int
	}{{EnvTenantRate, &l.Rate}, {EnvTenantMaxInFlight, &l.MaxInFlight}} {
		if s := getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("%s: %q is not a whole number, 0 or more (0: unbounded)", v.name, s))
				continue
			}
			*v.into = n
		}
	}
	return l, errors.Join(errs...)
}

// Require fails unless every named variable was set.
func (c *Config) Require(names ...string) error {
	var missing []string
	for _, n := range names {
		if !c.set[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("config: %s must be set", strings.Join(missing, ", "))
	}
	return nil
}
