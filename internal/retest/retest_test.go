package retest_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/retest"
	"github.com/quantumlayer/qlp/internal/validation"
)

func check(name, status string, findings ...validation.Finding) validation.Check {
	return validation.Check{Name: name, Tool: name, ToolVersion: "1.0", Status: status, Findings: findings}
}

func TestCompare(t *testing.T) {
	leak := validation.Finding{File: "main.go", Line: 3, RuleID: "aws-access-key-id", Message: "AWS access key id"}
	tests := []struct {
		name   string
		status string
		checks []validation.Check
		tests  *validation.TestRun
		now    validation.Report
		diffs  []string
		notes  []string
	}{
		{"same", "passed", []validation.Check{check("go-build", "passed"), check("secrets", "passed")}, nil,
			validation.Report{OverallStatus: "passed", Checks: []validation.Check{check("secrets", "passed"), check("go-build", "passed")}}, nil, nil},
		{"durations and caching do not count", "passed", []validation.Check{{Name: "x", Status: "passed", DurationMS: 5}}, nil,
			validation.Report{OverallStatus: "passed", Checks: []validation.Check{{Name: "x", Status: "passed", DurationMS: 900, Cached: true, Output: "o"}}}, nil, nil},
		{"status and finding", "passed", []validation.Check{check("secrets", "passed")}, nil,
			validation.Report{OverallStatus: "failed", Checks: []validation.Check{check("secrets", "failed", leak)}},
			[]string{"report overall status: capsule passed, retest failed", "secrets status: capsule passed, retest failed",
				"secrets finding: capsule absent, retest main.go:3: AWS access key id [aws-access-key-id]"}, nil},
		{"finding gone", "warning", []validation.Check{check("secrets", "warning", leak)}, nil,
			validation.Report{OverallStatus: "warning", Checks: []validation.Check{check("secrets", "warning")}},
			[]string{"secrets finding: capsule main.go:3: AWS access key id [aws-access-key-id], retest absent"}, nil},
		{"check missing and new", "passed", []validation.Check{check("a", "passed")}, nil,
			validation.Report{OverallStatus: "passed", Checks: []validation.Check{check("b", "skipped")}},
			[]string{"a presence: capsule ran (passed), retest did not run", "b presence: capsule did not run, retest ran (skipped)"}, nil},
		{"tests counts", "passed", nil, &validation.TestRun{Counted: true, Total: 4, Passed: 4},
			validation.Report{OverallStatus: "passed", Tests: &validation.TestRun{Counted: true, Total: 4, Passed: 3, Failed: 1}},
			[]string{"tests counts: capsule 4 total, 4 passed, 0 failed, 0 skipped, retest 4 total, 3 passed, 1 failed, 0 skipped"}, nil},
		{"tool version is a note", "passed", []validation.Check{check("staticcheck", "passed")}, nil,
			validation.Report{OverallStatus: "passed", Checks: []validation.Check{{Name: "staticcheck", Tool: "staticcheck", ToolVersion: "2.0", Status: "passed"}}},
			nil, []string{"staticcheck: staticcheck 1.0 then, 2.0 now"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			diffs, notes := retest.Compare(tt.status, tt.checks, tt.tests, &tt.now)
			var got []string
			for _, d := range diffs {
				got = append(got, d.String())
			}
			require.Equal(t, tt.diffs, got)
			if tt.notes == nil {
				require.Empty(t, notes)
			} else {
				require.Equal(t, tt.notes, notes)
			}
		})
	}
}

// recordingValidator records the request and answers with a fixed report: the
// real mesh is exercised by the CLI's retest test.
type recordingValidator struct {
	req validation.Request
	rep validation.Report
}

func (v *recordingValidator) Validate(_ context.Context, req validation.Request) (*validation.Report, error) {
	v.req = req
	return &v.rep, nil
}

func build(t *testing.T, report capsule.Report) map[string][]byte {
	t.Helper()
	s, err := capsule.LoadOrCreateSigner(t.TempDir())
	require.NoError(t, err)
	c, err := capsule.Build(capsule.Input{ID: "cap-1", Version: 1, Name: "app", Description: "d", Request: "r", RequestID: "req-1",
		Language: "go", Commands: capsule.Commands{Test: "go test ./..."}, Dependencies: []string{"github.com/google/uuid@v1.6.0"},
		Files:  map[string][]byte{"main.go": []byte("package main\n\nfunc main() {}\n"), "README.md": []byte("# App\n\nOwn words.\n")},
		Report: report, CreatedAt: "2026-11-25T10:00:00Z"}, s)
	require.NoError(t, err)
	return c.Files
}

// TestRunRebuildsTheJobsRequest: the retest validates the project files
// (QLP's own files left out, README.md without QLP's section) with the
// manifest's language, commands and dependencies, quickly when the job
// did, and reports a changed file as an integrity problem.
func TestRunRebuildsTheJobsRequest(t *testing.T) {
	checks, _ := json.Marshal([]validation.Check{check("go-build", "passed"),
		{Name: "staticcheck", Status: "skipped", Reason: "quick validation: staticcheck runs on the assembled project"}})
	files := build(t, capsule.Report{OverallStatus: "passed", Summary: "ok", Checks: checks})
	v := &recordingValidator{rep: validation.Report{OverallStatus: "passed", Checks: []validation.Check{check("go-build", "passed"),
		{Name: "staticcheck", Status: "skipped"}}}}
	res, err := retest.Run(context.Background(), files, v)
	require.NoError(t, err)
	require.True(t, res.Same(), "%v %v", res.Integrity, res.Differences)
	require.True(t, res.Quick)
	require.True(t, v.req.Quick)
	require.Equal(t, "go", v.req.Language)
	require.Equal(t, "go test ./...", v.req.Commands.Test)
	require.Equal(t, []string{"github.com/google/uuid@v1.6.0"}, v.req.Dependencies)
	var paths []string
	for _, f := range v.req.Files {
		paths = append(paths, f.Path)
		if f.Path == "README.md" {
			require.Equal(t, "# App\n\nOwn words.\n", f.Content)
		}
	}
	require.Equal(t, []string{"README.md", "main.go"}, paths)

	files["main.go"] = []byte("package main\n\nfunc main() { x() }\n")
	v.rep = validation.Report{OverallStatus: "failed", Checks: []validation.Check{check("go-build", "failed"), {Name: "staticcheck", Status: "skipped"}}}
	res, err = retest.Run(context.Background(), files, v)
	require.NoError(t, err)
	require.False(t, res.Same())
	require.Contains(t, strings.Join(res.Integrity, "\n"), "main.go: size")
	require.Len(t, res.Differences, 2)
}

func TestRunRefusesAnUnvalidatedCapsule(t *testing.T) {
	files := build(t, capsule.NotValidated("no validator"))
	_, err := retest.Run(context.Background(), files, &recordingValidator{})
	require.ErrorContains(t, err, "never validated")
}
