package stack_test

import (
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/config"
	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/internal/infratest"
	"github.com/agentq/agentq/infra/stack"
)

var (
	once     sync.Once
	shared   *infratest.Template
	warnings []string
	errs     []string
	synthErr error
)

// template synthesizes the whole stack once, as `cdk synth` would with no context flags beyond
// the binaries' location and a log level.
func template(t *testing.T) *infratest.Template {
	t.Helper()
	once.Do(func() {
		synthErr = func() error {
			lambdaDir, err := infratest.StubLambdaDir(config.Functions...)
			if err != nil {
				return err
			}
			defer os.RemoveAll(lambdaDir)
			out, err := os.MkdirTemp("", "agentq-cdk-*")
			if err != nil {
				return err
			}
			defer os.RemoveAll(out)
			app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out)})
			s := stack.New(app, "Agentq", &stack.Props{Config: config.Config{
				LambdaDir:  lambdaDir,
				TaskTTL:    "720h",
				AgentsJSON: "[]",
				API:        config.APIHTTP,
				LogLevel:   "info",
			}})
			if shared, err = infratest.Synth(s.Stack); err != nil {
				return err
			}
			annotations := assertions.Annotations_FromStack(s.Stack)
			collect := func(msgs *[]*cxapi.SynthesisMessage) (out []string) {
				for _, m := range *msgs {
					if m.Entry != nil {
						b, _ := json.Marshal(m.Entry.Data)
						out = append(out, string(b))
					}
				}
				return out
			}
			warnings = collect(annotations.FindWarning(jsii.String("*"), assertions.Match_AnyValue()))
			errs = collect(annotations.FindError(jsii.String("*"), assertions.Match_AnyValue()))
			return nil
		}()
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
	return shared
}

func TestComposesEveryUnit(t *testing.T) {
	tpl := template(t)
	for typ, n := range map[string]int{
		"AWS::DynamoDB::Table":            1,
		"AWS::SQS::Queue":                 2,
		"AWS::Lambda::Function":           3,
		"AWS::Lambda::EventSourceMapping": 2,
		"AWS::ApiGatewayV2::Api":          1,
		"AWS::CloudWatch::Alarm":          5,
		"AWS::CloudWatch::Dashboard":      1,
	} {
		tpl.ResourceCountIs(t, typ, n)
	}
	if len(errs) > 0 {
		t.Errorf("synthesis errors: %v", errs)
	}
}

func TestEveryFunctionIsGoOnArm(t *testing.T) {
	tpl := template(t)
	table := tpl.Only(t, "AWS::DynamoDB::Table", "Storage")
	for _, fn := range tpl.Resources("AWS::Lambda::Function") {
		infratest.CheckGoFunction(t, fn)
		env := infratest.Env(fn)
		if infratest.Ref(env[golambda.EnvTable]) != table.ID {
			t.Errorf("%s: %s = %v, want the table", fn.ID, golambda.EnvTable, env[golambda.EnvTable])
		}
		if env[golambda.EnvTaskTTL] != "720h" || env[golambda.EnvLogLevel] != "info" {
			t.Errorf("%s: TTL %v, log level %v", fn.ID, env[golambda.EnvTaskTTL], env[golambda.EnvLogLevel])
		}
	}
}

func TestNoWildcardActions(t *testing.T) {
	template(t).CheckLeastPrivilege(t)
}

func TestWithoutKeysEveryRequestIsRejected(t *testing.T) {
	tpl := template(t)
	for _, fn := range tpl.Resources("AWS::Lambda::Function") {
		if _, ok := infratest.Env(fn)[golambda.EnvAPIKeys]; ok {
			t.Errorf("%s: %s set although no keys were given", fn.ID, golambda.EnvAPIKeys)
		}
	}
	found := false
	for _, w := range warnings {
		found = found || strings.Contains(w, "rejects every request")
	}
	if !found {
		t.Errorf("no warning about the missing API keys; warnings: %v", warnings)
	}
}

func TestOutputs(t *testing.T) {
	tpl := template(t)
	outputs, _ := tpl.JSON["Outputs"].(map[string]any)
	for _, name := range []string{
		stack.OutputAPIURL, stack.OutputAPIID, stack.OutputAPIStage, stack.OutputTableName,
		stack.OutputQueueURL, stack.OutputDeadLetterQueueURL, stack.OutputAlarmTopicARN, stack.OutputDashboardName,
	} {
		if _, ok := outputs[name]; !ok {
			t.Errorf("no output %s", name)
		}
	}
	url, _ := json.Marshal(outputs[stack.OutputAPIURL])
	api := tpl.Only(t, "AWS::ApiGatewayV2::Api", "Api")
	if !strings.Contains(string(url), `"`+api.ID+`"`) || !strings.Contains(string(url), "execute-api") {
		t.Errorf("ApiUrl = %s, want the HTTP API's execute-api URL", url)
	}
}

func TestEnvironmentAgnostic(t *testing.T) {
	// No account or region is baked in: the template deploys anywhere and synthesizes offline.
	raw, _ := json.Marshal(template(t).JSON)
	for _, s := range []string{"us-east-1", "eu-west-1", "000000000000"} {
		if strings.Contains(string(raw), s) {
			t.Errorf("template contains %s", s)
		}
	}
}
