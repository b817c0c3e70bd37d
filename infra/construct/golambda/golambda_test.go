package golambda_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/internal/infratest"
)

var (
	once     sync.Once
	shared   *infratest.Template
	missing  []string // error annotations of a function whose bootstrap is missing
	large    []string // and of one whose environment is too large
	synthErr error
)

func template(t *testing.T) *infratest.Template {
	t.Helper()
	once.Do(func() {
		synthErr = func() error {
			lambdaDir, err := infratest.StubLambdaDir("fn")
			if err != nil {
				return err
			}
			defer os.RemoveAll(lambdaDir)
			out, err := os.MkdirTemp("", "agentq-cdk-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(out)
			s := infratest.NewStack(out)
			golambda.New(s, "Fn", &golambda.Props{
				CodeDir:     filepath.Join(lambdaDir, "fn"),
				Description: "test function",
				MemorySize:  256,
				Timeout:     awscdk.Duration_Seconds(jsii.Number(7)),
				Environment: map[string]string{"SET": "value", "EMPTY": ""},
			})
			if shared, err = infratest.Synth(s); err != nil {
				return err
			}

			// A function whose bootstrap was never built.
			s2 := infratest.NewStack(out + "-missing")
			defer os.RemoveAll(out + "-missing")
			golambda.New(s2, "Missing", &golambda.Props{
				CodeDir: lambdaDir, MemorySize: 128, Timeout: awscdk.Duration_Seconds(jsii.Number(3)),
			})
			if missing, err = infratest.SynthErrors(s2, out+"-missing"); err != nil {
				return err
			}

			// A function whose environment Lambda would refuse: 3,000 bytes of values, under 4 KB
			// raw, but escaped quotes and two generated names push the JSON past it.
			s3 := infratest.NewStack(out + "-large")
			defer os.RemoveAll(out + "-large")
			golambda.New(s3, "Large", &golambda.Props{
				CodeDir: filepath.Join(lambdaDir, "fn"), MemorySize: 128, Timeout: awscdk.Duration_Seconds(jsii.Number(3)),
				Environment: largeEnvironment(s3),
			})
			if large, err = infratest.SynthErrors(s3, out+"-large"); err != nil {
				return err
			}
			return nil
		}()
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
	return shared
}

func TestFunction(t *testing.T) {
	tpl := template(t)
	fn := tpl.Only(t, "AWS::Lambda::Function", "Fn")
	infratest.CheckGoFunction(t, fn)
	if infratest.Number(fn.Properties["MemorySize"]) != 256 || infratest.Number(fn.Properties["Timeout"]) != 7 {
		t.Errorf("memory %v timeout %v, want 256 and 7", fn.Properties["MemorySize"], fn.Properties["Timeout"])
	}
	env := infratest.Env(fn)
	if env["SET"] != "value" {
		t.Errorf("SET = %v, want value", env["SET"])
	}
	if _, ok := env["EMPTY"]; ok {
		t.Errorf("empty variables must be dropped")
	}
	logging, _ := fn.Properties["LoggingConfig"].(map[string]any)
	logs := tpl.Only(t, "AWS::Logs::LogGroup", "Fn")
	if infratest.Ref(logging["LogGroup"]) != logs.ID {
		t.Errorf("LoggingConfig = %v, want the function's own log group", logging)
	}
}

func TestLogGroup(t *testing.T) {
	tpl := template(t)
	tpl.HasResource(t, "AWS::Logs::LogGroup", map[string]any{
		"Properties":     map[string]any{"RetentionInDays": 30},
		"DeletionPolicy": "Retain",
	})
}

func TestRoleMayOnlyWriteItsLogs(t *testing.T) {
	tpl := template(t)
	fn := tpl.Only(t, "AWS::Lambda::Function", "Fn")
	logs := tpl.Only(t, "AWS::Logs::LogGroup", "Fn")
	actions := tpl.Actions(tpl.RoleOf(t, fn))
	for _, a := range []string{"logs:CreateLogStream", "logs:PutLogEvents"} {
		if !slices.Contains(actions[a], logs.ID) {
			t.Errorf("role lacks %s on its log group", a)
		}
	}
	for _, a := range infratest.TracingActions {
		if _, ok := actions[a]; !ok {
			t.Errorf("role lacks %s (active tracing)", a)
		}
	}
	if len(actions) != 2+len(infratest.TracingActions) {
		t.Errorf("role may %v; want only its two log actions and X-Ray's", actions)
	}
	tpl.CheckLeastPrivilege(t)
}

func TestMissingBootstrapFailsSynthesis(t *testing.T) {
	template(t)
	if len(missing) != 1 || !strings.Contains(missing[0], "bootstrap not found") {
		t.Errorf("error annotations = %q, want one naming the missing bootstrap", missing)
	}
}

// largeEnvironment is 3,000 bytes of values, a third of them quotes, and a queue URL only
// CloudFormation knows: under 4 KB counted raw, over it as Lambda measures it.
func largeEnvironment(scope awscdk.Stack) map[string]string {
	return map[string]string{
		"AGENTQ_AGENTS":    strings.Repeat(`{"a"}`, 3000/5),
		"AGENTQ_QUEUE_URL": *awssqs.NewQueue(scope, jsii.String("Queue"), nil).QueueUrl(),
	}
}

func TestEnvironmentSize(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{"empty", map[string]string{}, len(`{}`)},
		{"one", map[string]string{"A": "b"}, len(`{"A":"b"}`)},
		{"two", map[string]string{"A": "b", "C": "d"}, len(`{"A":"b","C":"d"}`)},
		{"quotes and backslashes are escaped", map[string]string{"A": `"\`}, len(`{"A":"\"\\"}`)},
		{"HTML characters are not", map[string]string{"A": "<&>"}, len(`{"A":"<&>"}`)},
		{"a generated name counts as the longest", map[string]string{"T": "${Token[TOKEN.12]}"}, len(`{"T":""}`) + golambda.TokenBytes},
		{"inside a longer value", map[string]string{"T": "arn:${Token[AWS.Partition.3]}:x"}, len(`{"T":"arn::x"}`) + golambda.TokenBytes},
	} {
		if got := golambda.EnvironmentSize(c.env); got != c.want {
			t.Errorf("%s: EnvironmentSize(%v) = %d, want %d", c.name, c.env, got, c.want)
		}
	}
}

// TestLargeEnvironmentFailsSynthesis: an environment Lambda would refuse at deploy (over 4 KB as
// JSON with the generated queue URL counted in full) fails the synth, saying how large it is and
// what to do, although its values are under 4 KB raw.
func TestLargeEnvironmentFailsSynthesis(t *testing.T) {
	template(t)
	raw := 0
	for k, v := range map[string]string{"AGENTQ_AGENTS": strings.Repeat(`{"a"}`, 600)} {
		raw += len(k) + len(v)
	}
	if raw >= golambda.MaxEnvironmentBytes {
		t.Fatalf("the example is %d bytes raw: it must fit raw to show the difference", raw)
	}
	if len(large) != 1 || !strings.Contains(large[0], "Large") || !strings.Contains(large[0], "over Lambda's 4096") ||
		!strings.Contains(large[0], "AGENTQ_AGENTS") || !strings.Contains(large[0], "PUT /v1/agents") {
		t.Errorf("error annotations = %q, want one on Large naming the size, the largest variable and the remedy", large)
	}
}
