package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/cli"
	"github.com/quantumlayer/qlp/internal/eval"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/logx"
)

const evalDataset = "../../examples/eval/tasks.jsonl"

// subtlyWrong passes the task's own tests (split on single spaces) but not
// the hidden ones (runs of whitespace).
const subtlyWrong = `package words

import "strings"

// Reverse reverses the words of s, split on single spaces.
func Reverse(s string) string {
	f := strings.Split(s, " ")
	for i, j := 0, len(f)-1; i < j; i, j = i+1, j-1 {
		f[i], f[j] = f[j], f[i]
	}
	return strings.Join(f, " ")
}
`

// evalScript answers every task of the dataset with a one-task plan whose
// files are the task's reference solution, but for the tasks named in
// wrong, answered wrongly (their main file does not compile) by the coder
// and then by the fixer, every time, and go-reverse-words when subtle is
// set, answered with subtlyWrong.
func evalScript(t *testing.T, ds *eval.Dataset, wrong map[string]bool, subtle bool) []llmtest.Rule {
	t.Helper()
	var rules []llmtest.Rule
	for _, task := range ds.Tasks {
		var paths []string
		for p := range task.Reference {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		commands := map[string]string{"build": "go build ./...", "test": "go test ./..."}
		if task.Language == "python" {
			commands = map[string]string{"build": "", "test": "python3 -m pytest -q", "run": "python3 -m pytest -q"}
		}
		plan := map[string]any{
			"project": map[string]any{"name": task.ID, "description": task.Request, "language": task.Language, "framework": "", "entrypoint": "",
				"layout": "every file at the root", "dependencies": []string{}, "commands": commands},
			"tasks": []map[string]any{{"id": "t1", "type": "code_generation", "description": task.Request, "complexity": "simple",
				"dependencies": []string{}, "files": paths}},
		}
		files := func(broken bool) string {
			var fs []map[string]string
			for _, p := range paths {
				c := task.Reference[p]
				isTest := strings.HasSuffix(p, "_test.go") || strings.HasPrefix(p, "test_")
				if broken && !isTest && (strings.HasSuffix(p, ".go") || strings.HasSuffix(p, ".py")) {
					c += "\n)(\n" // a syntax error in either language
				}
				if subtle && task.ID == "go-reverse-words" && p == "words.go" {
					c = subtlyWrong
				}
				fs = append(fs, map[string]string{"path": p, "content": c})
			}
			return llmtest.JSON(map[string]any{"summary": "the solution", "files": fs})
		}
		// Matched on the lines that name this job's own request and
		// project: a prompt may also quote other requests, the similar
		// ones memory recalls.
		answer := files(wrong[task.ID])
		project := "Project: " + task.ID + " — "
		rules = append(rules,
			llmtest.Rule{Role: "decomposer", Contains: "Request: " + task.Request, Replies: []llmtest.Reply{{Content: llmtest.JSON(plan)}}},
			llmtest.Rule{Role: "coder", Contains: project, Replies: []llmtest.Reply{{Content: answer}}},
			llmtest.Rule{Role: "fixer", Contains: project, Replies: []llmtest.Reply{{Content: answer}}})
	}
	return rules
}

// TestEvalOnTheShippedDataset runs `qlp eval` on examples/eval against a
// platform whose scripted model answers half the tasks wrongly twice (the
// job's two attempts, QLP_WORKFLOW_MAX_ATTEMPTS=2) and a third with code
// that passes its own tests but not the hidden ones: pass@1 is one in
// four, the tasks answered wrongly took two attempts and the others one,
// the failures are two jobs' and one grade's, and the dollars per solved
// task are the run's whole cost over the one solved.
func TestEvalOnTheShippedDataset(t *testing.T) {
	data, err := os.ReadFile(evalDataset)
	require.NoError(t, err)
	ds, err := eval.Parse("tasks.jsonl", data)
	require.NoError(t, err)
	require.Len(t, ds.Tasks, 4)
	langs := map[string]int{}
	for _, task := range ds.Tasks {
		langs[task.Language]++
	}
	require.Equal(t, map[string]int{"go": 2, "python": 2}, langs)

	wrong := map[string]bool{"go-roman": true, "py-rle": true}
	model := llmtest.New(llmtest.NewScript(evalScript(t, ds, wrong, true)...).Handle)
	t.Cleanup(model.Close)
	cfg := testConfig(t, "", model.URL)
	cfg.Workflow.MaxAttempts = 2
	p, err := app.Open(t.Context(), cfg, logx.Discard(), app.Options{Run: []string{app.Worker}, Version: "test"})
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	srv := httptest.NewServer(p.APIHandler())
	t.Cleanup(srv.Close)
	pl := &platform{t: t, p: p, srv: srv, model: model, keys: map[string]string{}}
	key := pl.newKey("acme")

	code, _, _ := pl.call("POST", "/api/v2/eval", "", []byte(`{"dataset":""}`), nil)
	require.Equal(t, 401, code, "the route is authenticated")
	code, body, _ := pl.call("POST", "/api/v2/eval", key, []byte(`{"dataset":"{\"id\":\"x\"}"}`), nil)
	require.Equal(t, 400, code)
	require.Contains(t, string(body), "request is empty")

	out := t.TempDir()
	t.Setenv("QLP_URL", srv.URL)
	t.Setenv("QLP_API_KEY", key)
	var stdout, stderr bytes.Buffer
	rc := cli.Execute(t.Context(), "test", []string{"eval", evalDataset, "--concurrency", "2", "--out", out, "--json"}, &stdout, &stderr)
	require.Equal(t, 0, rc, stderr.String())
	var res eval.Result
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), stdout.String())

	sum := sha256.Sum256(data)
	require.Equal(t, hex.EncodeToString(sum[:]), res.Digest, "the result names the dataset by its digest")
	require.Equal(t, 4, res.Summary.Tasks)
	require.Equal(t, 1, res.Summary.Passed, "%+v", res.Tasks)
	require.InDelta(t, 0.25, res.Summary.PassAt1, 1e-9)
	require.Equal(t, 6, res.Summary.Attempts, "1+1 for the tasks answered at once, 2+2 for those answered wrongly twice: %+v", res.Tasks)
	require.InDelta(t, 1.5, res.Summary.AttemptsMean, 1e-9)
	require.Equal(t, map[string]int{eval.FailJob: 2, eval.FailHiddenTests: 1}, res.Summary.Failures)
	require.True(t, res.Scripted || len(res.Models) > 0, "the models are recorded")

	total := new(big.Rat)
	for _, tr := range res.Tasks {
		switch {
		case wrong[tr.ID]:
			require.False(t, tr.Passed, tr.ID)
			require.Equal(t, 2, tr.Attempts, tr.ID)
			require.Equal(t, "failed", tr.JobStatus, tr.ID)
			require.Equal(t, eval.FailJob, tr.FailureKind, tr.ID)
		case tr.ID == "go-reverse-words":
			require.False(t, tr.Passed, "its capsule was validated, but the hidden tests fail it")
			require.Equal(t, 1, tr.Attempts, tr.ID)
			require.Equal(t, "completed", tr.JobStatus)
			require.Equal(t, eval.FailHiddenTests, tr.FailureKind)
			require.Contains(t, tr.Failure, "TestReverseHidden")
		default:
			require.True(t, tr.Passed, "%s: %s", tr.ID, tr.Failure)
			require.Equal(t, 1, tr.Attempts, tr.ID)
			require.Equal(t, 1, tr.HiddenTests)
			require.Contains(t, tr.TestsSummary, "passed", tr.ID)
		}
		require.Positive(t, tr.TokensIn, tr.ID)
		require.Positive(t, tr.WallSeconds, tr.ID)
		c, ok := new(big.Rat).SetString(tr.CostUSD)
		require.True(t, ok, tr.CostUSD)
		total.Add(total, c)
	}
	require.Equal(t, total.FloatString(6), res.Summary.CostUSD)
	require.Equal(t, new(big.Rat).Quo(total, big.NewRat(1, 1)).FloatString(6), res.Summary.USDPerSolved)

	written, err := os.ReadFile(filepath.Join(out, "result.json"))
	require.NoError(t, err)
	var again eval.Result
	require.NoError(t, json.Unmarshal(written, &again))
	require.Equal(t, res.Summary, again.Summary)
	svg, err := os.ReadFile(filepath.Join(out, "result.svg"))
	require.NoError(t, err)
	require.Contains(t, string(svg), "pass@1 25.0% (1/4)")
	require.Equal(t, 4, strings.Count(string(svg), "<rect x="), "a bar per task")
}
