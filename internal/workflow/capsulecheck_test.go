package workflow

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/validation"
)

func TestRouteFindingsSendsEachFindingToTheTaskThatOwnsItsFile(t *testing.T) {
	tasks := []store.Task{
		{ID: "t1", Seq: 1, Files: []store.File{{Path: "go.mod"}, {Path: "store/store.go"}, {Path: "store/store_test.go"}}},
		{ID: "t2", Seq: 2, Dependencies: []string{"t1"}, Files: []store.File{{Path: "server/server.go"}, {Path: "store/store.go"}}},
		{ID: "t3", Seq: 3, Dependencies: []string{"t2"}, Files: []store.File{{Path: "main.go"}, {Path: "main_test.go"}}},
	}
	rep := &validation.Report{OverallStatus: validation.StatusFailed, Checks: []validation.Check{
		{Name: "go-build", Tool: "go", Status: validation.StatusPassed},
		{Name: "staticcheck", Tool: "staticcheck", Status: validation.StatusFailed, Findings: []validation.Finding{
			{File: "main_test.go", Line: 11, Column: 2, RuleID: "SA4006", Severity: "high", Message: "this value of srv is never used"},
			{File: "store/store.go", Line: 3, Column: 1, RuleID: "SA1019", Severity: "high", Message: "deprecated"},
			{File: "store/store_test.go", Line: 9, Column: 5, RuleID: "SA4006", Severity: "high", Message: "this value of n is never used"},
			{File: "vendor.txt", Line: 1, RuleID: "X", Severity: "high", Message: "nobody's file"},
		}},
		{Name: "commands", Tool: "qlp-consistency", Status: validation.StatusFailed, Reason: "the test command took 12.5s and failed"},
		{Name: "gofmt", Tool: "gofmt", Status: validation.StatusWarning, Findings: []validation.Finding{{File: "main.go", Line: 1, Message: "not formatted"}}},
	}}
	findings, routes := routeFindings(rep, tasks)

	owner := map[string]string{}
	for _, f := range findings {
		owner[f.File+"|"+f.Check] = f.TaskID
	}
	require.Equal(t, map[string]string{
		"main_test.go|staticcheck":        "t3",
		"store/store.go|staticcheck":      "t2", // t2 rewrote t1's file: its version is in the capsule
		"store/store_test.go|staticcheck": "t1",
		"vendor.txt|staticcheck":          "t3", // no task wrote it: the last task in dependency order
		"|commands":                       "t3", // a failed check that names no file
	}, owner, "findings of passing or warning checks are not routed")

	require.Len(t, routes, 3)
	require.Equal(t, []string{"t1", "t2", "t3"}, []string{routes[0].TaskID, routes[1].TaskID, routes[2].TaskID}, "in dependency order")
	require.Equal(t, 1, routes[0].Findings)
	require.Contains(t, routes[0].Failures, "check staticcheck (staticcheck) failed")
	require.Contains(t, routes[0].Failures, "store/store_test.go:9:5: this value of n is never used [high SA4006]")
	require.NotContains(t, routes[0].Failures, "main_test.go", "a task gets only its own findings")
	require.Equal(t, 3, routes[2].Findings)
	require.Contains(t, routes[2].Failures, "check commands (qlp-consistency) failed: the test command took 12.5s and failed")

	// The same findings give the same fingerprint; timings do not matter.
	rep.Checks[2].Reason = "the test command took 3.1s and failed"
	_, again := routeFindings(rep, tasks)
	for i := range routes {
		require.Equal(t, routes[i].Fingerprint, again[i].Fingerprint)
	}
	rep.Checks[1].Findings[0].Line = 12
	_, moved := routeFindings(rep, tasks)
	require.NotEqual(t, routes[2].Fingerprint, moved[2].Fingerprint)
	require.Equal(t, routes[0].Fingerprint, moved[0].Fingerprint)
}

func TestCapsuleFailureNamesEveryFindingWithItsPlace(t *testing.T) {
	c := store.CapsuleCheck{Status: validation.StatusFailed, Findings: []store.CapsuleFinding{
		{TaskID: "t3", Check: "staticcheck", File: "main_test.go", Line: 11, Column: 2, RuleID: "SA4006", Message: "this value of srv is never used"},
		{TaskID: "t3", Check: "commands", Message: "the test command failed"},
	}}
	require.Equal(t, "the capsule failed validation (staticcheck, commands): 2 finding(s): "+
		"main_test.go:11:2: staticcheck SA4006: this value of srv is never used; commands: the test command failed", capsuleFailure(c))

	for i := 0; i < 30; i++ {
		c.Findings = append(c.Findings, store.CapsuleFinding{Check: "gosec", File: "a.go", Line: i + 1, RuleID: "G104", Message: "errors unhandled"})
	}
	s := capsuleFailure(c)
	require.Contains(t, s, "32 finding(s)")
	require.Contains(t, s, "… and 12 more in the capsule's validation report")
	require.Equal(t, maxFailureFindings, strings.Count(s, "; ")) // 20 findings and the rest counted
}

func TestUpstreamOfFollowsDependenciesThroughOtherTasks(t *testing.T) {
	tasks := []TaskRef{{ID: "a"}, {ID: "b", Dependencies: []string{"a"}}, {ID: "c", Dependencies: []string{"b"}}, {ID: "d"}}
	require.Equal(t, []string{"a", "b"}, upstreamOf(tasks, "c"))
	require.Empty(t, upstreamOf(tasks, "d"))
}
