// Command infra is agentq's CDK app: it reads the context flags, checks them, and synthesizes the
// agentq stack. Run it through the CDK CLI (`make synth`, `make deploy`, or `npx cdk` at the
// repository root, where cdk.json says how to start it).
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/agentq/agentq/infra/config"
	"github.com/agentq/agentq/infra/stack"
)

// stackName is the CloudFormation stack's name.
const stackName = "Agentq"

func main() {
	err := run()
	jsii.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "agentq infra:", err)
		os.Exit(1)
	}
}

func run() error {
	cwd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	root := config.RepoRoot(cwd)
	app := awscdk.NewApp(nil)
	cfg, err := config.Load(func(key string) any {
		return app.Node().TryGetContext(jsii.String(key))
	}, root)
	if err != nil {
		return err
	}
	// No Env: the stack is environment-agnostic, so synthesis needs no account or credentials and
	// the same template deploys to any account and region.
	stack.New(app, stackName, &stack.Props{Config: cfg})
	app.Synth(nil)
	return nil
}
