// Package infratest holds what the construct tests share: placeholder Lambda binaries, a
// synthesized template read once and walked as plain Go maps, and assertions that report a
// mismatch as a test failure instead of a jsii panic.
//
// Synthesizing costs seconds (every call crosses into the jsii Node.js kernel), so each test
// package synthesizes its stack once and runs all its assertions against that template.
package infratest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/config"
)

// StubLambdaDir writes a placeholder bootstrap for each name under a new temporary directory and
// returns it; the caller removes it. The stubs only need to exist: synthesis hashes and copies
// them, it never runs them.
func StubLambdaDir(names ...string) (string, error) {
	dir, err := os.MkdirTemp("", "agentq-lambda-*")
	if err != nil {
		return "", fmt.Errorf("stub lambda dir: %w", err)
	}
	for _, name := range names {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return "", fmt.Errorf("stub lambda dir: %w", err)
		}
		stub := []byte("#!/bin/sh\n# placeholder for " + name + "\n")
		if err := os.WriteFile(filepath.Join(dir, name, "bootstrap"), stub, 0o755); err != nil {
			return "", fmt.Errorf("stub lambda dir: %w", err)
		}
	}
	return dir, nil
}

// NewStack returns an environment-agnostic stack in a new app (NewApp) whose output goes to
// outdir.
func NewStack(outdir string) awscdk.Stack {
	return awscdk.NewStack(NewApp(outdir), jsii.String("Test"), nil)
}

// NewApp returns an app whose output goes to outdir, with the feature flags of the repository's
// cdk.json, as the CDK CLI runs the real one: a test then checks the template a deploy would
// produce. It panics when cdk.json cannot be read, which no test could get past anyway.
func NewApp(outdir string) awscdk.App {
	cwd, err := os.Getwd()
	if err != nil {
		panic(fmt.Sprintf("infratest: working directory: %v", err))
	}
	flags, err := config.FeatureFlags(config.RepoRoot(cwd))
	if err != nil {
		panic(fmt.Sprintf("infratest: %v", err))
	}
	return awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir), Context: &flags})
}

// SynthErrors synthesizes stack, whose app writes to outdir, and returns the messages of its
// error annotations. With the feature flags of cdk.json an error fails synthesis (as it fails
// `cdk synth`), and the CDK lists the errors in outdir's validation-report.json: read from there.
func SynthErrors(stack awscdk.Stack, outdir string) ([]string, error) {
	var out []string
	if msg := catch(func() {
		for _, m := range *assertions.Annotations_FromStack(stack).FindError(jsii.String("*"), assertions.Match_AnyValue()) {
			if m.Entry != nil {
				out = append(out, fmt.Sprint(m.Entry.Data))
			}
		}
	}); msg == "" {
		return out, nil
	}
	raw, err := os.ReadFile(filepath.Join(outdir, "validation-report.json"))
	if err != nil {
		return nil, fmt.Errorf("synthesis failed without a validation report: %w", err)
	}
	var report struct {
		PluginReports []struct {
			Violations []struct {
				Description string `json:"description"`
				Severity    string `json:"severity"`
				Constructs  []struct {
					Path string `json:"constructPath"`
				} `json:"violatingConstructs"`
			} `json:"violations"`
		} `json:"pluginReports"`
	}
	if err := json.Unmarshal(raw, &report); err != nil {
		return nil, fmt.Errorf("validation report: %w", err)
	}
	for _, p := range report.PluginReports {
		for _, v := range p.Violations {
			if v.Severity != "error" {
				continue
			}
			for _, c := range v.Constructs {
				out = append(out, c.Path+": "+v.Description)
			}
		}
	}
	return out, nil
}

// Template is a synthesized stack: the assertions view and the decoded JSON.
type Template struct {
	// Assertions is the CDK assertions template.
	Assertions assertions.Template
	// JSON is the whole CloudFormation template.
	JSON map[string]any
}

// Synth renders stack's template once.
func Synth(stack awscdk.Stack) (*Template, error) {
	tpl := assertions.Template_FromStack(stack, nil)
	raw, err := json.Marshal(tpl.ToJSON())
	if err != nil {
		return nil, fmt.Errorf("encode template: %w", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("decode template: %w", err)
	}
	return &Template{Assertions: tpl, JSON: doc}, nil
}

// Resource is one CloudFormation resource.
type Resource struct {
	ID         string
	Type       string
	Properties map[string]any
	Raw        map[string]any
}

// Resources returns the resources of type typ, sorted by logical id.
func (t *Template) Resources(typ string) []Resource {
	res, _ := t.JSON["Resources"].(map[string]any)
	var out []Resource
	for id, v := range res {
		r, _ := v.(map[string]any)
		if r["Type"] != typ {
			continue
		}
		props, _ := r["Properties"].(map[string]any)
		out = append(out, Resource{ID: id, Type: typ, Properties: props, Raw: r})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Only returns the single resource of type typ whose logical id starts with prefix, failing the
// test when there is not exactly one.
func (t *Template) Only(tb testing.TB, typ, prefix string) Resource {
	tb.Helper()
	var found []Resource
	for _, r := range t.Resources(typ) {
		if strings.HasPrefix(r.ID, prefix) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		ids := make([]string, len(found))
		for i, r := range found {
			ids[i] = r.ID
		}
		tb.Fatalf("want one %s with id prefix %q, found %d: %v", typ, prefix, len(found), ids)
	}
	return found[0]
}

// HasResourceProperties is assertions.Template.HasResourceProperties reporting a mismatch through
// tb instead of panicking.
func (t *Template) HasResourceProperties(tb testing.TB, typ string, props any) {
	tb.Helper()
	if msg := catch(func() { t.Assertions.HasResourceProperties(jsii.String(typ), props) }); msg != "" {
		tb.Errorf("%s: %s", typ, msg)
	}
}

// HasResource is assertions.Template.HasResource reporting a mismatch through tb.
func (t *Template) HasResource(tb testing.TB, typ string, props any) {
	tb.Helper()
	if msg := catch(func() { t.Assertions.HasResource(jsii.String(typ), props) }); msg != "" {
		tb.Errorf("%s: %s", typ, msg)
	}
}

// ResourceCountIs is assertions.Template.ResourceCountIs reporting a mismatch through tb.
func (t *Template) ResourceCountIs(tb testing.TB, typ string, n int) {
	tb.Helper()
	if msg := catch(func() { t.Assertions.ResourceCountIs(jsii.String(typ), jsii.Number(n)) }); msg != "" {
		tb.Errorf("%s: %s", typ, msg)
	}
}

func catch(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// Ref returns the logical id a {"Ref": id} or {"Fn::GetAtt": [id, attr]} value points to.
func Ref(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if id, ok := m["Ref"].(string); ok {
		return id
	}
	if ga, ok := m["Fn::GetAtt"].([]any); ok && len(ga) > 0 {
		id, _ := ga[0].(string)
		return id
	}
	return ""
}

// Statement is one IAM policy statement with its actions flattened to a list.
type Statement struct {
	// Policy is the logical id of the resource holding the statement.
	Policy string
	// Type is that resource's type: AWS::IAM::Policy, or the resource policy's (bucket, key, ...).
	Type      string
	Effect    string
	Actions   []string
	Resource  any
	Principal any
	Condition map[string]any
}

// PolicyStatements returns every statement of every AWS::IAM::Policy attached to the role with
// logical id role (or of all policies when role is empty).
func (t *Template) PolicyStatements(role string) []Statement {
	var out []Statement
	for _, p := range t.Resources("AWS::IAM::Policy") {
		if role != "" && !attachedTo(p, role) {
			continue
		}
		out = append(out, statements(p, p.Properties["PolicyDocument"])...)
	}
	return out
}

// resourcePolicies names, per resource type, the property holding its resource policy.
var resourcePolicies = map[string]string{
	"AWS::S3::BucketPolicy": "PolicyDocument",
	"AWS::SQS::QueuePolicy": "PolicyDocument",
	"AWS::SNS::TopicPolicy": "PolicyDocument",
	"AWS::KMS::Key":         "KeyPolicy",
}

// ResourcePolicyStatements returns every statement of every resource policy in the template:
// bucket, queue, topic and key policies.
func (t *Template) ResourcePolicyStatements() []Statement {
	var out []Statement
	types := make([]string, 0, len(resourcePolicies))
	for typ := range resourcePolicies {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		for _, r := range t.Resources(typ) {
			out = append(out, statements(r, r.Properties[resourcePolicies[typ]])...)
		}
	}
	return out
}

// statements decodes the statements of a policy document held by r.
func statements(r Resource, document any) []Statement {
	doc, _ := document.(map[string]any)
	stmts, _ := doc["Statement"].([]any)
	var out []Statement
	for _, s := range stmts {
		sm, _ := s.(map[string]any)
		st := Statement{Policy: r.ID, Type: r.Type, Resource: sm["Resource"], Principal: sm["Principal"]}
		st.Effect, _ = sm["Effect"].(string)
		st.Condition, _ = sm["Condition"].(map[string]any)
		switch a := sm["Action"].(type) {
		case string:
			st.Actions = []string{a}
		case []any:
			for _, x := range a {
				s, _ := x.(string)
				st.Actions = append(st.Actions, s)
			}
		}
		out = append(out, st)
	}
	return out
}

func attachedTo(policy Resource, role string) bool {
	roles, _ := policy.Properties["Roles"].([]any)
	for _, r := range roles {
		if Ref(r) == role {
			return true
		}
	}
	return false
}

// Actions returns the set of actions granted to role, with the logical ids each statement's
// resources point to.
func (t *Template) Actions(role string) map[string][]string {
	out := map[string][]string{}
	for _, st := range t.PolicyStatements(role) {
		if st.Effect != "Allow" {
			continue
		}
		for _, a := range st.Actions {
			out[a] = append(out[a], refs(st.Resource)...)
		}
	}
	return out
}

// Grants returns, for each action an Allow statement grants role, the resources it is granted on
// as ResourcePaths renders them ("Bucket/requests/*", "Table"), sorted.
func (t *Template) Grants(role string) map[string][]string {
	out := map[string][]string{}
	for _, st := range t.PolicyStatements(role) {
		if st.Effect != "Allow" {
			continue
		}
		for _, a := range st.Actions {
			out[a] = append(out[a], ResourcePaths(st.Resource)...)
		}
	}
	for a := range out {
		slices.Sort(out[a])
	}
	return out
}

// ResourcePaths renders a statement's Resource as logical ids and the literal text joined to them:
// {"Ref": "Key"} is "Key", {"Fn::GetAtt": ["Bucket", "Arn"]} joined with "/requests/*" is
// "Bucket/requests/*". A literal ARN stays as it is; anything else is "?".
func ResourcePaths(v any) []string {
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	var out []string
	for _, r := range list {
		if s, ok := r.(string); ok {
			out = append(out, s)
			continue
		}
		if id := Ref(r); id != "" {
			out = append(out, id)
			continue
		}
		m, _ := r.(map[string]any)
		join, _ := m["Fn::Join"].([]any)
		if len(join) != 2 {
			out = append(out, "?")
			continue
		}
		parts, _ := join[1].([]any)
		var b strings.Builder
		for _, p := range parts {
			if id := Ref(p); id != "" {
				b.WriteString(id)
			} else if s, ok := p.(string); ok {
				b.WriteString(s)
			} else {
				b.WriteString("?")
			}
		}
		out = append(out, b.String())
	}
	return out
}

// OnIndexes reports whether role may do action on every index of the table with logical id table:
// an Allow statement with the action names the table's ARN followed by "/index/*" (as
// Table.Grant* write it for a table with indexes). A Query of a GSI is authorized on the index's
// ARN, not the table's.
func (t *Template) OnIndexes(role, action, table string) bool {
	for _, st := range t.PolicyStatements(role) {
		if st.Effect != "Allow" || !slices.Contains(st.Actions, action) {
			continue
		}
		resources, ok := st.Resource.([]any)
		if !ok {
			resources = []any{st.Resource}
		}
		for _, r := range resources {
			m, _ := r.(map[string]any)
			join, _ := m["Fn::Join"].([]any)
			if len(join) != 2 {
				continue
			}
			parts, _ := join[1].([]any)
			if len(parts) == 2 && Ref(parts[0]) == table && parts[1] == "/index/*" {
				return true
			}
		}
	}
	return false
}

// refs collects the logical ids a statement's Resource points to, anywhere inside it.
func refs(v any) []string {
	var out []string
	var walk func(any)
	walk = func(v any) {
		if id := Ref(v); id != "" {
			out = append(out, id)
			return
		}
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// RoleOf returns the logical id of the execution role of the Lambda function with logical id fn.
func (t *Template) RoleOf(tb testing.TB, fn Resource) string {
	tb.Helper()
	role := Ref(fn.Properties["Role"])
	if role == "" {
		tb.Fatalf("function %s has no role reference", fn.ID)
	}
	return role
}

// Env returns a function's environment variables.
func Env(fn Resource) map[string]any {
	env, _ := fn.Properties["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	return vars
}

// Number reads a JSON number property.
func Number(v any) float64 {
	switch n := v.(type) {
	case float64:
		return n
	case int:
		return float64(n)
	default:
		return -1
	}
}

// AutoDeleteObjectsRole is the logical-id prefix of the role of CDK's auto-delete-objects
// provider, which an ephemeral stack's bucket brings (autoDeleteObjects) to empty it on delete.
const AutoDeleteObjectsRole = "CustomS3AutoDeleteObjectsCustomResourceProviderRole"

// CheckLeastPrivilege fails tb for any statement that grants a wildcard action, and for any role
// with a managed or inline policy: the stack grants with Grant* only, exact actions.
//
// The rule is about what is granted. Every statement of every AWS::IAM::Policy counts. In resource
// policies (bucket, queue, topic, key) Allow statements count and Deny statements do not: they
// grant nothing (EnforceSSL's "Deny s3:* unless TLS" is one). The one Allow let through is a KMS
// key policy's statement for the account's root, which only delegates the key to IAM policies
// (CDK writes it for every key; without it the grants in the roles' policies would not work).
func (t *Template) CheckLeastPrivilege(tb testing.TB) {
	tb.Helper()
	t.checkLeastPrivilege(tb, "")
}

// CheckLeastPrivilegeExceptAutoDelete is CheckLeastPrivilege for an ephemeral stack: it also lets
// through CDK's auto-delete-objects provider (AutoDeleteObjectsRole), its bucket-policy statement
// and its managed policy, and nothing else. The caller pins what that provider may do.
func (t *Template) CheckLeastPrivilegeExceptAutoDelete(tb testing.TB) {
	tb.Helper()
	t.checkLeastPrivilege(tb, AutoDeleteObjectsRole)
}

// RestLogRole is the logical-id prefix of API Gateway's account-wide CloudWatch role, which the
// REST flavour creates with -c restLogRole=create, with AWS's managed policy for it.
const RestLogRole = "ApiRestApiCloudWatchRole"

// CheckLeastPrivilegeExcept is CheckLeastPrivilege letting through the roles whose logical ids
// start with the given prefixes (AutoDeleteObjectsRole, RestLogRole): their resource-policy
// statements and managed policies. The caller pins what each may do.
func (t *Template) CheckLeastPrivilegeExcept(tb testing.TB, exemptRoles ...string) {
	tb.Helper()
	t.checkLeastPrivilege(tb, exemptRoles...)
}

func (t *Template) checkLeastPrivilege(tb testing.TB, exemptRoles ...string) {
	tb.Helper()
	policies := t.Resources("AWS::IAM::Policy")
	if len(policies) == 0 {
		tb.Errorf("no AWS::IAM::Policy in the template: nothing was granted")
	}
	for _, st := range t.PolicyStatements("") {
		if len(st.Actions) == 0 {
			tb.Errorf("policy %s: statement without Action (NotAction?)", st.Policy)
		}
		for _, a := range st.Actions {
			if strings.Contains(a, "*") {
				tb.Errorf("policy %s grants wildcard action %q", st.Policy, a)
			}
		}
	}
	for _, st := range t.ResourcePolicyStatements() {
		if st.Effect != "Allow" || IsAccountRootKeyStatement(st) {
			continue
		}
		if slices.ContainsFunc(exemptRoles, func(r string) bool { return PrincipalIsRole(st, r) }) {
			continue
		}
		if len(st.Actions) == 0 {
			tb.Errorf("%s %s: Allow without Action (NotAction?)", st.Type, st.Policy)
		}
		for _, a := range st.Actions {
			if strings.Contains(a, "*") {
				tb.Errorf("%s %s allows wildcard action %q to %v", st.Type, st.Policy, a, st.Principal)
			}
		}
	}
	for _, role := range t.Resources("AWS::IAM::Role") {
		exempt := slices.ContainsFunc(exemptRoles, func(r string) bool { return strings.HasPrefix(role.ID, r) })
		if arns, ok := role.Properties["ManagedPolicyArns"]; ok && !exempt {
			tb.Errorf("role %s has managed policies %v; grant with Grant* instead", role.ID, arns)
		}
		if inline, ok := role.Properties["Policies"]; ok {
			tb.Errorf("role %s has inline policies %v; grant with Grant* instead", role.ID, inline)
		}
	}
}

// IsAccountRootKeyStatement reports whether st is a KMS key policy's Allow for this account's root
// (arn:${Partition}:iam::${AccountId}:root): the statement that lets IAM policies grant the key.
func IsAccountRootKeyStatement(st Statement) bool {
	if st.Type != "AWS::KMS::Key" || st.Effect != "Allow" {
		return false
	}
	p, _ := st.Principal.(map[string]any)
	arn, _ := p["AWS"].(map[string]any)
	join, _ := arn["Fn::Join"].([]any)
	if len(p) != 1 || len(join) != 2 {
		return false
	}
	parts, _ := join[1].([]any)
	want := []string{"arn:", "AWS::Partition", ":iam::", "AWS::AccountId", ":root"}
	if len(parts) != len(want) {
		return false
	}
	for i, part := range parts {
		if s, ok := part.(string); ok && s == want[i] {
			continue
		}
		if m, ok := part.(map[string]any); ok && m["Ref"] == want[i] {
			continue
		}
		return false
	}
	return true
}

// PrincipalIsRole reports whether st's principal is the role whose logical id starts with prefix.
func PrincipalIsRole(st Statement, prefix string) bool {
	p, _ := st.Principal.(map[string]any)
	if len(p) != 1 {
		return false
	}
	return strings.HasPrefix(Ref(p["AWS"]), prefix)
}

// CheckGoFunction fails tb unless fn is an arm64 provided.al2023 function started by bootstrap.
func CheckGoFunction(tb testing.TB, fn Resource) {
	tb.Helper()
	if got := fn.Properties["Runtime"]; got != "provided.al2023" {
		tb.Errorf("%s: Runtime = %v, want provided.al2023", fn.ID, got)
	}
	if got, _ := fn.Properties["Architectures"].([]any); len(got) != 1 || got[0] != "arm64" {
		tb.Errorf("%s: Architectures = %v, want [arm64]", fn.ID, got)
	}
	if got := fn.Properties["Handler"]; got != "bootstrap" {
		tb.Errorf("%s: Handler = %v, want bootstrap", fn.ID, got)
	}
	if _, ok := fn.Properties["FunctionName"]; ok {
		tb.Errorf("%s: fixed FunctionName; want a generated one", fn.ID)
	}
	if tracing, _ := fn.Properties["TracingConfig"].(map[string]any); tracing["Mode"] != "Active" {
		tb.Errorf("%s: TracingConfig = %v, want X-Ray active tracing", fn.ID, fn.Properties["TracingConfig"])
	}
}

// tlsOnly are the resource types that must refuse any request without TLS, by the property of
// their policy resource that names them.
var tlsOnly = map[string]struct{ policy, property string }{
	"AWS::SQS::Queue": {"AWS::SQS::QueuePolicy", "Queues"},
	"AWS::SNS::Topic": {"AWS::SNS::TopicPolicy", "Topics"},
	"AWS::S3::Bucket": {"AWS::S3::BucketPolicy", "Bucket"},
}

// CheckTLSOnly fails unless every queue, topic and bucket of the template has a resource policy
// that denies every request made without TLS (Deny on aws:SecureTransport false).
func (t *Template) CheckTLSOnly(tb testing.TB) {
	tb.Helper()
	denied := map[string]bool{}
	for typ, p := range tlsOnly {
		for _, policy := range t.Resources(p.policy) {
			var targets []string
			switch v := policy.Properties[p.property].(type) {
			case []any:
				for _, x := range v {
					targets = append(targets, Ref(x))
				}
			default:
				targets = append(targets, Ref(v))
			}
			for _, st := range statements(policy, policy.Properties["PolicyDocument"]) {
				cond, _ := st.Condition["Bool"].(map[string]any)
				if st.Effect == "Deny" && fmt.Sprint(cond["aws:SecureTransport"]) == "false" && st.Principal != nil {
					for _, id := range targets {
						denied[typ+" "+id] = true
					}
				}
			}
		}
	}
	for typ := range tlsOnly {
		for _, r := range t.Resources(typ) {
			if !denied[typ+" "+r.ID] {
				tb.Errorf("%s %s accepts requests without TLS: want a Deny on aws:SecureTransport false", typ, r.ID)
			}
		}
	}
}

// TracingActions are what X-Ray active tracing adds to a function's role, on resource "*" (X-Ray
// takes no resource-level permissions).
var TracingActions = []string{"xray:PutTelemetryRecords", "xray:PutTraceSegments"}
