package eval

import (
	"bytes"
	"encoding/xml"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/validation"
)

func TestParse(t *testing.T) {
	ok := `{"id":"a","language":"golang","request":"r","hidden_tests":{"h_test.go":"package x"}}`
	for _, tc := range []struct {
		name, data, want string
	}{
		{"one task, alias normalised", ok + "\n# a comment\n\n", ""},
		{"empty", "\n# nothing\n", "holds no task"},
		{"not JSON", "{", "line 1"},
		{"unknown field", `{"id":"a","language":"go","request":"r","hidden_tests":{"h":"x"},"solution":1}`, `unknown field "solution"`},
		{"no id", `{"language":"go","request":"r","hidden_tests":{"h":"x"}}`, "id is empty"},
		{"no request", `{"id":"a","language":"go","hidden_tests":{"h":"x"}}`, "request is empty"},
		{"no hidden tests", `{"id":"a","language":"go","request":"r"}`, "hidden_tests is empty"},
		{"unknown language", `{"id":"a","language":"cobol","request":"r","hidden_tests":{"h":"x"}}`, `language "cobol"`},
		{"escaping path", `{"id":"a","language":"go","request":"r","hidden_tests":{"../h_test.go":"x"}}`, "leaves its directory"},
		{"reserved path", `{"id":"a","language":"go","request":"r","hidden_tests":{"qlp-manifest.json":"x"}}`, "reserved"},
		{"duplicate id", ok + "\n" + ok, `id "a" is also on line 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := Parse("d.jsonl", []byte(tc.data))
			if tc.want != "" {
				require.ErrorContains(t, err, tc.want)
				return
			}
			require.NoError(t, err)
			require.Len(t, ds.Tasks, 1)
			require.Equal(t, "go", ds.Tasks[0].Language)
			require.Len(t, ds.Digest, 64)
		})
	}
}

// TestShippedDataset: examples/eval parses, has Go and Python tasks, and its
// digest changes with one byte of it.
func TestShippedDataset(t *testing.T) {
	data, err := os.ReadFile("../../examples/eval/tasks.jsonl")
	require.NoError(t, err)
	ds, err := Parse("tasks.jsonl", data)
	require.NoError(t, err)
	langs := map[string]bool{}
	for _, task := range ds.Tasks {
		langs[task.Language] = true
		require.NotEmpty(t, task.Reference, task.ID)
	}
	require.True(t, langs["go"] && langs["python"])
	other, err := Parse("tasks.jsonl", bytes.Replace(data, []byte("Table-driven"), []byte("Table-Driven"), 1))
	require.NoError(t, err)
	require.NotEqual(t, ds.Digest, other.Digest)
}

func TestGraded(t *testing.T) {
	check := func(cat, status string) validation.Check {
		return validation.Check{Name: cat + "-check", Category: cat, Status: status}
	}
	for _, tc := range []struct {
		name   string
		checks []validation.Check
		pass   bool
		why    string
	}{
		{"compiles and tests pass", []validation.Check{check("compile", "passed"), check("tests", "passed"), check("style", "failed")}, true, "tests passed"},
		{"tests fail", []validation.Check{check("compile", "passed"), {Name: "tests", Category: "tests", Status: "failed",
			Findings: []validation.Finding{{File: "h_test.go", Line: 3, RuleID: "TestHidden", Severity: "high", Message: "want 1"}}}}, false, "TestHidden"},
		{"does not compile", []validation.Check{check("compile", "failed"), check("tests", "skipped")}, false, "compile-check failed"},
		{"tests skipped", []validation.Check{check("compile", "passed"), check("tests", "skipped")}, false, "did not run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pass, why := graded(&validation.Report{Checks: tc.checks})
			require.Equal(t, tc.pass, pass)
			require.Contains(t, why, tc.why)
		})
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]TaskResult{
		{ID: "a", Passed: true, Attempts: 1, TokensIn: 10, TokensOut: 5, CostUSD: "0.000001", WallSeconds: 2},
		{ID: "b", Passed: true, Attempts: 3, TokensIn: 20, TokensOut: 5, CostUSD: "0.000002", WallSeconds: 4},
		{ID: "c", Attempts: 2, CostUSD: "0.000004", WallSeconds: 6, FailureKind: FailJob},
		{ID: "d", Attempts: 1, CostUSD: "0", WallSeconds: 0, FailureKind: FailHiddenTests},
	})
	require.Equal(t, Summary{Tasks: 4, Passed: 2, PassAt1: 0.5, Attempts: 7, AttemptsMean: 1.75, TokensIn: 30, TokensOut: 10,
		CostUSD: "0.000007", USDPerSolved: "0.000004", WallSecondsMean: 3, WallSecondsTotal: 12,
		Failures: map[string]int{FailJob: 1, FailHiddenTests: 1}}, s)
	require.Empty(t, summarize([]TaskResult{{ID: "x", CostUSD: "0.1", FailureKind: FailJob}}).USDPerSolved, "nothing solved: no price per solution")
}

// TestReportOutputs: the table names every task and the summary; the SVG
// is well-formed XML with a bar per task, and task ids are escaped.
func TestReportOutputs(t *testing.T) {
	res := &Result{Dataset: "d.jsonl", Digest: strings.Repeat("ab", 32), Options: Options{Concurrency: 2},
		Tasks: []TaskResult{{ID: "a<b>", Language: "go", Passed: true, Attempts: 1, CostUSD: "0.01", WallSeconds: 3},
			{ID: "c", Language: "python", Attempts: 2, CostUSD: "0.03", WallSeconds: 6, FailureKind: FailJob, Failure: "job x failed: stuck & broken"}}}
	res.Summary = summarize(res.Tasks)
	var b bytes.Buffer
	require.NoError(t, res.WriteTable(&b))
	for _, want := range []string{"a<b>", "job x failed", "pass@1    50.0% (1 of 2)", "$0.040000, $0.040000 per solved task", "job_failed 1"} {
		require.Contains(t, b.String(), want)
	}
	svg := res.SVG()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	for {
		if _, err := dec.Token(); err != nil {
			require.ErrorContains(t, err, "EOF", "the SVG is well-formed")
			break
		}
	}
	require.Equal(t, 2, strings.Count(string(svg), "<rect x="))
	require.Contains(t, string(svg), "a&lt;b&gt;")
	require.Contains(t, string(svg), "stuck &amp; broken")
}
