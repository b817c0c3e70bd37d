package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/construct/api"
	"github.com/agentq/agentq/infra/construct/golambda"
	"github.com/agentq/agentq/infra/construct/storage"
	"github.com/agentq/agentq/infra/internal/infratest"
	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/store"
)

const (
	testKeys   = "acme:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testAgents = `[{"id":"echo"}]`
)

var (
	once      sync.Once
	templates map[api.Kind]*infratest.Template
	synthErr  error
)

// template synthesizes both API flavours once for the whole package: the HTTP one with API keys,
// the REST one without.
func template(t *testing.T, kind api.Kind) *infratest.Template {
	t.Helper()
	once.Do(func() {
		templates = map[api.Kind]*infratest.Template{}
		synthErr = func() error {
			lambdaDir, err := infratest.StubLambdaDir("invoke", "poll")
			if err != nil {
				return err
			}
			defer os.RemoveAll(lambdaDir)
			for _, kind := range []api.Kind{api.HTTP, api.REST} {
				out, err := os.MkdirTemp("", "agentq-cdk-*")
				if err != nil {
					return err
				}
				defer os.RemoveAll(out)
				s := infratest.NewStack(out)
				table := storage.New(s, "Storage", nil)
				q := awssqs.NewQueue(s, jsii.String("WorkQueue"), nil)
				keys := testKeys
				if kind == api.REST {
					keys = ""
				}
				api.New(s, "Api", &api.Props{
					Kind:             kind,
					Table:            table.Table,
					Queue:            q,
					InvokeCodeDir:    filepath.Join(lambdaDir, "invoke"),
					PollCodeDir:      filepath.Join(lambdaDir, "poll"),
					Environment:      map[string]string{golambda.EnvTaskTTL: "24h"},
					APIKeyHashes:     keys,
					AgentsJSON:       testAgents,
					LogRemovalPolicy: awscdk.RemovalPolicy_DESTROY,
				})
				if templates[kind], err = infratest.Synth(s); err != nil {
					return fmt.Errorf("synth %s: %w", kind, err)
				}
			}
			return nil
		}()
	})
	if synthErr != nil {
		t.Fatal(synthErr)
	}
	return templates[kind]
}

type functions struct {
	invoke, poll infratest.Resource
	table, queue string
}

func lookup(t *testing.T, tpl *infratest.Template) functions {
	return functions{
		invoke: tpl.Only(t, "AWS::Lambda::Function", "ApiInvoke"),
		poll:   tpl.Only(t, "AWS::Lambda::Function", "ApiPoll"),
		table:  tpl.Only(t, "AWS::DynamoDB::Table", "Storage").ID,
		queue:  tpl.Only(t, "AWS::SQS::Queue", "WorkQueue").ID,
	}
}

func TestFunctions(t *testing.T) {
	for _, kind := range []api.Kind{api.HTTP, api.REST} {
		t.Run(string(kind), func(t *testing.T) {
			tpl := template(t, kind)
			f := lookup(t, tpl)
			for _, c := range []struct {
				fn              infratest.Resource
				memory, timeout float64
			}{
				{f.invoke, api.InvokeMemoryMB, api.InvokeTimeoutSeconds},
				{f.poll, api.PollMemoryMB, api.PollTimeoutSeconds},
			} {
				infratest.CheckGoFunction(t, c.fn)
				if got := infratest.Number(c.fn.Properties["MemorySize"]); got != c.memory {
					t.Errorf("%s: MemorySize = %v, want %v", c.fn.ID, got, c.memory)
				}
				if got := infratest.Number(c.fn.Properties["Timeout"]); got != c.timeout || got > api.GatewayTimeoutSeconds {
					t.Errorf("%s: Timeout = %v, want %v (at most API Gateway's %d s)", c.fn.ID, got, c.timeout, api.GatewayTimeoutSeconds)
				}
				env := infratest.Env(c.fn)
				if infratest.Ref(env[golambda.EnvTable]) != f.table {
					t.Errorf("%s: %s = %v, want the table", c.fn.ID, golambda.EnvTable, env[golambda.EnvTable])
				}
				if env[golambda.EnvTaskTTL] != "24h" {
					t.Errorf("%s: %s = %v, want 24h", c.fn.ID, golambda.EnvTaskTTL, env[golambda.EnvTaskTTL])
				}
				keys, ok := env[golambda.EnvAPIKeys]
				switch {
				case kind == api.HTTP && keys != testKeys:
					t.Errorf("%s: %s = %v, want %q", c.fn.ID, golambda.EnvAPIKeys, keys, testKeys)
				case kind == api.REST && ok:
					t.Errorf("%s: %s set without keys: %v", c.fn.ID, golambda.EnvAPIKeys, keys)
				}
			}

			invokeEnv := infratest.Env(f.invoke)
			if infratest.Ref(invokeEnv[golambda.EnvQueueURL]) != f.queue {
				t.Errorf("invoke: %s = %v, want the work queue", golambda.EnvQueueURL, invokeEnv[golambda.EnvQueueURL])
			}
			if invokeEnv[golambda.EnvAgents] != testAgents {
				t.Errorf("invoke: %s = %v, want %s", golambda.EnvAgents, invokeEnv[golambda.EnvAgents], testAgents)
			}
			pollEnv := infratest.Env(f.poll)
			for _, name := range []string{golambda.EnvQueueURL, golambda.EnvAgents, golambda.EnvDLQARN} {
				if _, ok := pollEnv[name]; ok {
					t.Errorf("poll gets %s; it does not need it", name)
				}
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	tpl := template(t, api.HTTP)
	f := lookup(t, tpl)
	invokeRole, pollRole := tpl.RoleOf(t, f.invoke), tpl.RoleOf(t, f.poll)

	// invoke: exactly InvokeTableActions on the table, and sending to the work queue.
	invoke := tpl.Actions(invokeRole)
	for _, a := range api.InvokeTableActions {
		if !slices.Contains(invoke[a], f.table) {
			t.Errorf("invoke lacks %s on the table", a)
		}
	}
	// TransactWriteItems has no IAM action of its own: its Put, Update and ConditionCheck
	// elements are authorized as PutItem, UpdateItem and ConditionCheckItem.
	for _, a := range []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:BatchGetItem"} {
		if !slices.Contains(api.InvokeTableActions, a) {
			t.Errorf("InvokeTableActions lacks %s, which the accept, sync-wait and stop paths use", a)
		}
	}
	if !slices.Contains(invoke["sqs:SendMessage"], f.queue) {
		t.Errorf("invoke lacks sqs:SendMessage on the work queue")
	}
	for a := range invoke {
		if strings.HasPrefix(a, "dynamodb:") && !slices.Contains(api.InvokeTableActions, a) {
			t.Errorf("invoke may %s; it may only %v", a, api.InvokeTableActions)
		}
		if strings.HasPrefix(a, "sqs:") && !slices.Contains([]string{"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}, a) {
			t.Errorf("invoke may %s; it only sends", a)
		}
	}

	// poll: reads only, including Query on both GSIs (lists: by_tenant, threads: by_thread).
	poll := tpl.Actions(pollRole)
	for _, a := range []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"} {
		if !slices.Contains(poll[a], f.table) {
			t.Errorf("poll lacks %s on the table", a)
		}
	}
	if !tpl.OnIndexes(pollRole, "dynamodb:Query", f.table) {
		t.Errorf("poll may not Query the table's indexes")
	}
	for a := range poll {
		if strings.HasPrefix(a, "sqs:") || slices.Contains([]string{
			"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
		}, a) {
			t.Errorf("poll may %s; it only reads", a)
		}
	}
	tpl.CheckLeastPrivilege(t)
}

// TestTimeoutsCoverWaits: a sync invoke or a long poll waits up to httpapi.MaxWait; the function
// must outlast that wait and the gateway must outlast the function.
func TestTimeoutsCoverWaits(t *testing.T) {
	if got := time.Duration(api.MaxWaitSeconds) * time.Second; got != httpapi.MaxWait {
		t.Errorf("api.MaxWaitSeconds = %v, httpapi.MaxWait = %v: they must agree", got, httpapi.MaxWait)
	}
	// After the wait: the handler's one-second margin before the deadline, a last read, the
	// answer, and for a sync invoke the accept before it.
	const after = 3
	for name, timeout := range map[string]int{"invoke": api.InvokeTimeoutSeconds, "poll": api.PollTimeoutSeconds} {
		if timeout < api.MaxWaitSeconds+after || timeout > api.GatewayTimeoutSeconds {
			t.Errorf("%s: timeout %d s, want from %d s (wait %d s + %d s) to API Gateway's %d s",
				name, timeout, api.MaxWaitSeconds+after, api.MaxWaitSeconds, after, api.GatewayTimeoutSeconds)
		}
	}
	// No integration is cut shorter than its function (absent means the gateway's default: 30 s
	// for an HTTP API, 29 s for a REST API).
	httpTpl := template(t, api.HTTP)
	for _, i := range httpTpl.Resources("AWS::ApiGatewayV2::Integration") {
		if ms, ok := i.Properties["TimeoutInMillis"]; ok && infratest.Number(ms) < api.GatewayTimeoutSeconds*1000 {
			t.Errorf("%s: TimeoutInMillis = %v, shorter than the functions' timeouts", i.ID, ms)
		}
	}
	restTpl := template(t, api.REST)
	for _, m := range restTpl.Resources("AWS::ApiGateway::Method") {
		integ, _ := m.Properties["Integration"].(map[string]any)
		if ms, ok := integ["TimeoutInMillis"]; ok && infratest.Number(ms) < api.GatewayTimeoutSeconds*1000 {
			t.Errorf("%s: TimeoutInMillis = %v, shorter than the functions' timeouts", m.ID, ms)
		}
	}
}

// TestRoutesServedByTheirFunction sends every route of api.Routes to the handler each function
// builds (configured as functions/invoke and functions/poll configure it) and checks that the
// route's target serves it and the other function does not: a route the gateway sends to a
// function whose handler lacks it would answer 404 in production only.
func TestRoutesServedByTheirFunction(t *testing.T) {
	// The handlers are only routed and authenticated here, never reach the store.
	tasks := store.New(nil, "tasks")
	handlers := map[api.Target]http.Handler{
		api.Invoke: httpapi.New(httpapi.Config{
			Submitter: accept.New(accept.Config{Store: tasks}), Reader: tasks, Resolver: tasks, Stopper: tasks,
			Routes: httpapi.WriteRoutes,
		}),
		api.Poll: httpapi.New(httpapi.Config{
			Reader: tasks, Resolver: tasks, Lister: tasks, Threads: tasks,
			Routes: httpapi.ReadRoutes,
		}),
	}
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	for _, r := range api.Routes {
		path := param.ReplaceAllString(r.Path, "x1")
		for target, h := range handlers {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(r.Method, path, nil))
			// Without an API key a served route answers 401; an unknown one 404 (or 405 when
			// the path is known with another method).
			served := rec.Code == http.StatusUnauthorized
			switch {
			case target == r.Target && !served:
				t.Errorf("%s %s goes to %s, whose handler answers %d: %s", r.Method, r.Path, target, rec.Code, rec.Body)
			case target != r.Target && served:
				t.Errorf("%s %s goes to %s, but %s serves it too", r.Method, r.Path, r.Target, target)
			}
		}
	}
}

func TestHTTPRoutes(t *testing.T) {
	tpl := template(t, api.HTTP)
	f := lookup(t, tpl)
	tpl.ResourceCountIs(t, "AWS::ApiGatewayV2::Api", 1)
	tpl.HasResourceProperties(t, "AWS::ApiGatewayV2::Api", map[string]any{"ProtocolType": "HTTP"})

	integrations := map[string]infratest.Resource{}
	for _, i := range tpl.Resources("AWS::ApiGatewayV2::Integration") {
		integrations[i.ID] = i
	}
	routes := tpl.Resources("AWS::ApiGatewayV2::Route")
	if len(routes) != len(api.Routes) {
		t.Errorf("got %d routes, want %d", len(routes), len(api.Routes))
	}
	for _, want := range api.Routes {
		key := want.Method + " " + want.Path
		t.Run(key, func(t *testing.T) {
			fn := f.invoke.ID
			if want.Target == api.Poll {
				fn = f.poll.ID
			}
			for _, r := range routes {
				if r.Properties["RouteKey"] != key {
					continue
				}
				integ, ok := integrations[integrationOf(r.Properties["Target"])]
				if !ok {
					t.Fatalf("route target %v is no integration", r.Properties["Target"])
				}
				if got := infratest.Ref(integ.Properties["IntegrationUri"]); got != fn {
					t.Errorf("served by %s, want %s", got, fn)
				}
				if integ.Properties["PayloadFormatVersion"] != "2.0" || integ.Properties["IntegrationType"] != "AWS_PROXY" {
					t.Errorf("integration = %v %v, want AWS_PROXY 2.0",
						integ.Properties["IntegrationType"], integ.Properties["PayloadFormatVersion"])
				}
				return
			}
			t.Errorf("no route %q", key)
		})
	}
}

// integrationOf reads the integration id out of a route target "integrations/<id>".
func integrationOf(target any) string {
	join, _ := target.(map[string]any)["Fn::Join"].([]any)
	if len(join) != 2 {
		return ""
	}
	parts, _ := join[1].([]any)
	for _, p := range parts {
		if id := infratest.Ref(p); id != "" {
			return id
		}
	}
	return ""
}

func TestHTTPStage(t *testing.T) {
	tpl := template(t, api.HTTP)
	stages := tpl.Resources("AWS::ApiGatewayV2::Stage")
	if len(stages) != 1 {
		t.Fatalf("got %d stages, want 1", len(stages))
	}
	st := stages[0].Properties
	if st["StageName"] != "$default" || st["AutoDeploy"] != true {
		t.Errorf("stage = %v auto-deploy %v, want $default auto-deployed", st["StageName"], st["AutoDeploy"])
	}
	routeSettings, _ := st["DefaultRouteSettings"].(map[string]any)
	if infratest.Number(routeSettings["ThrottlingRateLimit"]) != api.DefaultThrottleRateLimit ||
		infratest.Number(routeSettings["ThrottlingBurstLimit"]) != api.DefaultThrottleBurstLimit {
		t.Errorf("throttling = %v, want rate %d burst %d", routeSettings, api.DefaultThrottleRateLimit, api.DefaultThrottleBurstLimit)
	}
	checkAccessLog(t, tpl, st["AccessLogSettings"], "$context.routeKey")
}

func checkAccessLog(t *testing.T, tpl *infratest.Template, settings any, route string) {
	t.Helper()
	s, _ := settings.(map[string]any)
	logs := tpl.Only(t, "AWS::Logs::LogGroup", "ApiAccessLogs")
	if infratest.Ref(s["DestinationArn"]) != logs.ID {
		t.Errorf("access logs go to %v, want %s", s["DestinationArn"], logs.ID)
	}
	format, _ := s["Format"].(string)
	var line map[string]string
	if err := json.Unmarshal([]byte(format), &line); err != nil {
		t.Fatalf("access log format is not one JSON object: %v (%s)", err, format)
	}
	if line["requestId"] != "$context.requestId" || line["route"] != route || line["status"] != "$context.status" {
		t.Errorf("access log format = %s", format)
	}
	if strings.Contains(strings.ToLower(format), "header") || strings.Contains(strings.ToLower(format), "api-key") {
		t.Errorf("access log format logs headers: %s", format)
	}
}

func TestRESTRoutes(t *testing.T) {
	tpl := template(t, api.REST)
	f := lookup(t, tpl)
	tpl.ResourceCountIs(t, "AWS::ApiGateway::RestApi", 1)
	tpl.ResourceCountIs(t, "AWS::ApiGatewayV2::Api", 0)
	// No account-wide logging role is created (it would need a managed policy).
	tpl.ResourceCountIs(t, "AWS::ApiGateway::Account", 0)

	paths := restPaths(tpl)
	methods := tpl.Resources("AWS::ApiGateway::Method")
	if len(methods) != len(api.Routes) {
		t.Errorf("got %d methods, want %d", len(methods), len(api.Routes))
	}
	for _, want := range api.Routes {
		key := want.Method + " " + want.Path
		t.Run(key, func(t *testing.T) {
			fn := f.invoke.ID
			if want.Target == api.Poll {
				fn = f.poll.ID
			}
			for _, m := range methods {
				if m.Properties["HttpMethod"] != want.Method || paths[infratest.Ref(m.Properties["ResourceId"])] != want.Path {
					continue
				}
				integ, _ := m.Properties["Integration"].(map[string]any)
				if integ["Type"] != "AWS_PROXY" || integ["IntegrationHttpMethod"] != "POST" {
					t.Errorf("integration = %v via %v, want AWS_PROXY via POST", integ["Type"], integ["IntegrationHttpMethod"])
				}
				uri, _ := json.Marshal(integ["Uri"])
				if !strings.Contains(string(uri), `"`+fn+`"`) {
					t.Errorf("integration URI %s does not invoke %s", uri, fn)
				}
				return
			}
			t.Errorf("no method %q (resources: %v)", key, paths)
		})
	}
}

// restPaths maps each AWS::ApiGateway::Resource id to its full path.
func restPaths(tpl *infratest.Template) map[string]string {
	parents := map[string]string{}
	parts := map[string]string{}
	for _, r := range tpl.Resources("AWS::ApiGateway::Resource") {
		parts[r.ID], _ = r.Properties["PathPart"].(string)
		if id := infratest.Ref(r.Properties["ParentId"]); id != "" && r.Properties["ParentId"].(map[string]any)["Ref"] != nil {
			parents[r.ID] = id
		}
	}
	paths := map[string]string{}
	for id := range parts {
		p := ""
		for cur := id; cur != ""; cur = parents[cur] {
			p = "/" + parts[cur] + p
		}
		paths[id] = p
	}
	return paths
}

func TestRESTStage(t *testing.T) {
	tpl := template(t, api.REST)
	stages := tpl.Resources("AWS::ApiGateway::Stage")
	if len(stages) != 1 {
		t.Fatalf("got %d stages, want 1", len(stages))
	}
	st := stages[0].Properties
	if st["StageName"] != api.RestStageName {
		t.Errorf("StageName = %v, want %s", st["StageName"], api.RestStageName)
	}
	settings, _ := st["MethodSettings"].([]any)
	throttled := false
	for _, s := range settings {
		m, _ := s.(map[string]any)
		if m["ResourcePath"] == "/*" && m["HttpMethod"] == "*" &&
			infratest.Number(m["ThrottlingRateLimit"]) == api.DefaultThrottleRateLimit &&
			infratest.Number(m["ThrottlingBurstLimit"]) == api.DefaultThrottleBurstLimit {
			throttled = true
		}
	}
	if !throttled {
		t.Errorf("MethodSettings = %v, want stage-wide throttling", settings)
	}
	checkAccessLog(t, tpl, st["AccessLogSetting"], "$context.resourcePath")
}

func TestGatewayMayInvokeFunctions(t *testing.T) {
	for _, kind := range []api.Kind{api.HTTP, api.REST} {
		t.Run(string(kind), func(t *testing.T) {
			tpl := template(t, kind)
			f := lookup(t, tpl)
			allowed := map[string]bool{}
			for _, p := range tpl.Resources("AWS::Lambda::Permission") {
				if p.Properties["Principal"] == "apigateway.amazonaws.com" && p.Properties["Action"] == "lambda:InvokeFunction" {
					allowed[infratest.Ref(p.Properties["FunctionName"])] = true
				}
			}
			if !allowed[f.invoke.ID] || !allowed[f.poll.ID] {
				t.Errorf("API Gateway may invoke %v; want invoke and poll", allowed)
			}
		})
	}
}
