package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBootstrapAndDeployBuildFirst: on a fresh checkout `make cdk-bootstrap` and `make deploy`
// build the Lambda binaries before the CLI synthesizes the app (which refuses to run without
// them), and bootstrap passes the same context as synth. Read from make's dry run.
func TestBootstrapAndDeployBuildFirst(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	for _, target := range []string{"cdk-bootstrap", "deploy", "deploy-check"} {
		// -B: every prerequisite as if out of date, as on a fresh checkout.
		cmd := exec.Command("make", "-n", "-B", "--no-print-directory", "-f", "mk/infra.mk", target)
		cmd.Dir = ".."
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %s: %v\n%s", target, err, out)
		}
		plan := string(out)
		build := strings.Index(plan, "./functions/$fn")
		cli := strings.Index(plan, "node_modules/.bin/cdk ")
		if build < 0 || cli < 0 || build > cli {
			t.Errorf("make %s does not build the functions before running the CDK CLI:\n%s", target, plan)
		}
		if !strings.Contains(plan[cli:], "-c lambdaDir=") {
			t.Errorf("make %s runs the CDK CLI without the synth context:\n%s", target, plan)
		}
	}
}
