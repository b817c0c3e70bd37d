package emulators

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/agentq/agentq/shared/table"
)

// Suite shares one pair of emulators among the tests of a test binary: starting them is the slow
// part. Where the emulators are not installed, the tests that Require them are skipped, or fail
// when CI is set (CI must never pass by skipping).
type Suite struct {
	err    error
	skip   bool
	dynamo *dynamodb.Client
}

// Main starts the emulators, hands them to setup (which makes the binary's clients; nil when
// Table is all the tests need), runs the tests and stops the emulators. Call it from TestMain:
//
//	var suite emulators.Suite
//	func TestMain(m *testing.M) { os.Exit(suite.Main(m, func(e *emulators.Emulators) { ... })) }
func (s *Suite) Main(m *testing.M, setup func(*Emulators)) int {
	if err := CheckInstalled(Options{}); err != nil {
		if os.Getenv("CI") != "" {
			s.err = err
		} else {
			s.skip = true
		}
		return m.Run()
	}
	emu, err := Start(context.Background(), Options{})
	if err != nil {
		s.err = err
		return m.Run()
	}
	defer func() { _ = emu.Close() }()
	s.dynamo = emu.DynamoDB()
	if setup != nil {
		setup(emu)
	}
	return m.Run()
}

// Require ends a test that needs the emulators when they are not there: skipped where they are
// not installed (outside CI), failed where they could not start.
func (s *Suite) Require(t testing.TB) {
	t.Helper()
	switch {
	case s.skip:
		t.Skip("emulators not installed (make tools)")
	case s.err != nil:
		t.Fatal(s.err)
	}
}

// Table is a fresh task table on the suite's DynamoDB Local, named after the test, and a client of
// it; the test ends first when the emulators are not there (Require).
func (s *Suite) Table(t testing.TB, prefix string) (*dynamodb.Client, string) {
	t.Helper()
	s.Require(t)
	name := prefix + "-" + strings.ReplaceAll(t.Name(), "/", "-")
	if err := table.CreateTable(context.Background(), s.dynamo, name); err != nil {
		t.Fatal(err)
	}
	return s.dynamo, name
}
