package golambda_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/internal/infratest"
)

var (
	once     sync.Once
	shared   *infratest.Template
	missing  []string // error annotations of a function whose bootstrap is missing
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
			msgs := assertions.Annotations_FromStack(s2).FindError(jsii.String("*"), assertions.Match_AnyValue())
			for _, m := range *msgs {
				if m.Entry != nil && m.Entry.Data != nil {
					if s, ok := m.Entry.Data.(string); ok {
						missing = append(missing, s)
					}
				}
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
	if len(actions) != 2 {
		t.Errorf("role may %v; want only its two log actions", actions)
	}
	tpl.CheckLeastPrivilege(t)
}

func TestMissingBootstrapFailsSynthesis(t *testing.T) {
	template(t)
	if len(missing) != 1 || !strings.Contains(missing[0], "bootstrap not found") {
		t.Errorf("error annotations = %q, want one naming the missing bootstrap", missing)
	}
}
