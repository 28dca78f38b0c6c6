package workflow_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

// t1Files are the example's t1 answer with store.go replaced.
func t1Answer(t *testing.T, storeGo string) string {
	t.Helper()
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(exampleDir, "tasks/t1/files", p))
		require.NoError(t, err)
		return string(b)
	}
	return llmtest.JSON(map[string]any{"summary": "the store", "files": []map[string]string{
		{"path": "go.mod", "content": read("go.mod")},
		{"path": "shortener/store.go", "content": storeGo},
		{"path": "shortener/store_test.go", "content": read("shortener/store_test.go")},
	}})
}

func correctStore(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(exampleDir, "tasks/t1/files/shortener/store.go"))
	require.NoError(t, err)
	return string(b)
}

// buggyStore accepts any scheme: the example's TestValidate catches it.
func buggyStore(t *testing.T, variant string) string {
	s := strings.Replace(correctStore(t), `(u.Scheme != "http" && u.Scheme != "https")`, `u.Scheme == ""`, 1)
	require.NotEqual(t, correctStore(t), s)
	return s + variant
}

func withT1(rules []llmtest.Rule, coder []llmtest.Reply, fixer []llmtest.Reply) []llmtest.Rule {
	out := []llmtest.Rule{}
	for _, r := range rules {
		if r.TaskID == "t1" && r.Role == "coder" {
			r.Replies = coder
		}
		out = append(out, r)
	}
	if fixer != nil {
		out = append(out, llmtest.Rule{Role: "fixer", TaskID: "t1", Replies: fixer})
	}
	return out
}

// (a) The first attempt fails its tests; the fixer receives the failing
// test's output; the second attempt passes, and so does the capsule.
func TestFixerReceivesTheFailingTestAndTheSecondAttemptPasses(t *testing.T) {
	request, rules := exampleRules(t)
	rules = withT1(rules, []llmtest.Reply{{Content: t1Answer(t, buggyStore(t, ""))}},
		[]llmtest.Reply{{Content: llmtest.JSON(map[string]any{"summary": "only http and https are valid",
			"files": []map[string]string{{"path": "shortener/store.go", "content": correctStore(t)}}})}})
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	if h.acts.Validator == nil {
		t.Skip("needs the sandbox (bwrap)")
	}
	h.newJob(t, "fix-1", request, "")
	h.run("fix-1")
	require.NoError(t, h.env.GetWorkflowError())

	fixer := h.srv.CallsFor("fixer")
	require.Len(t, fixer, 1)
	prompt := fixer[0].Prompt()
	require.Contains(t, prompt, "### What failed")
	require.Contains(t, prompt, "TestValidate", "the failing test is named")
	require.Contains(t, prompt, `Validate("ftp://example.com/file") = <nil>, want ok=false`, "with its own output")
	require.Contains(t, prompt, `u.Scheme == ""`, "the fixer sees the files as they are")

	attempts, err := h.store.ListAttempts(t.Context(), "fix-1", "t1")
	require.NoError(t, err)
	require.Len(t, attempts, 2)
	require.Equal(t, store.AttemptFailed, attempts[0].Status)
	require.Equal(t, "coder", attempts[0].Role)
	require.Equal(t, "coder.v2", attempts[0].PromptVersion)
	require.Contains(t, attempts[0].Failures, "TestValidate")
	require.Equal(t, store.AttemptPassed, attempts[1].Status)
	require.Equal(t, "fixer", attempts[1].Role)
	require.Positive(t, attempts[1].OutputTokens)

	job, err := h.store.GetJob(t.Context(), "acme", "fix-1")
	require.NoError(t, err)
	require.Equal(t, store.JobCompleted, job.Status)
	v, err := h.store.GetCapsuleVersion(t.Context(), "acme", job.CapsuleID, 0)
	require.NoError(t, err)
	var storeGo string
	for _, f := range v.Files {
		if f.Path == "shortener/store.go" {
			storeGo = string(f.Content)
		}
	}
	require.Equal(t, correctStore(t), storeGo, "the capsule holds the fixed file")
	require.NotContains(t, string(v.Manifest), `"status": "failed"`)
	require.Contains(t, string(v.Manifest), `"requires_human_review": false`, "the fixed capsule validates")
	var sawAttempt bool
	for _, e := range h.events(t, "fix-1") {
		sawAttempt = sawAttempt || e.Type == progress.TaskAttempt && e.TaskID == "t1"
	}
	require.True(t, sawAttempt, "the second attempt is visible in progress")
}

// (b) A model that never gets it right: the task fails after N attempts
// with every attempt's reason, the tier escalates after repeated failure,
// the job ends failed and no capsule is presented.
func TestTaskFailsAfterNAttemptsWithEveryReason(t *testing.T) {
	request, rules := exampleRules(t)
	// Each attempt fails differently (another failure each time is not
	// "stuck"): a wrong scheme check, then codes one character short,
	// then code that does not compile.
	short := strings.Replace(correctStore(t), "b := make([]byte, CodeLength)", "b := make([]byte, CodeLength-1)", 1)
	require.NotEqual(t, correctStore(t), short)
	rules = withT1(rules, []llmtest.Reply{{Content: t1Answer(t, buggyStore(t, ""))}}, []llmtest.Reply{
		{Content: llmtest.JSON(map[string]any{"files": []map[string]string{{"path": "shortener/store.go", "content": short}}})},
		{Content: llmtest.JSON(map[string]any{"files": []map[string]string{{"path": "shortener/extra.go", "content": "package shortener\n\nfunc broken() int { return \"x\" }\n"}}})},
	})
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	if h.acts.Validator == nil {
		t.Skip("needs the sandbox (bwrap)")
	}
	h.newJob(t, "fix-2", request, "")
	h.env.ExecuteWorkflow(wf.WorkflowName, wf.Input{RequestID: "fix-2", TenantID: "acme", MaxAttempts: 3, EscalateAfter: 2})
	err := h.env.GetWorkflowError()
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "task t1 failed after 3 attempt(s)")
	require.Contains(t, msg, "attempt 1 (T0 gpt-4o-mini): tests: 1 of 3 tests failed; shortener/store_test.go:25")
	require.Contains(t, msg, "attempt 2 (T0 gpt-4o-mini): tests: 1 of 3 tests failed; shortener/store_test.go:37")
	require.Contains(t, msg, "attempt 3 (T1 gpt-4.1-mini): go-build: go build failed; shortener/extra.go:3:28", "escalated to T1 after two failures on T0")

	task, err := h.store.GetTask(t.Context(), "fix-2", "t1")
	require.NoError(t, err)
	require.Equal(t, store.TaskFailed, task.Status)
	require.Contains(t, task.TierReason, "escalated from T0 to T1 after 2 failed attempts on T0")
	job, err := h.store.GetJob(t.Context(), "acme", "fix-2")
	require.NoError(t, err)
	require.Equal(t, store.JobFailed, job.Status)
	require.Empty(t, job.CapsuleID, "no capsule is presented as good")
	fixers := h.srv.CallsFor("fixer")
	require.Len(t, fixers, 2)
	require.Equal(t, "gpt-4.1-mini", fixers[1].Model)
	require.Empty(t, h.srv.CallsFor("coder")[1:], "t2 and t3 never ran")
}

// (d) A 429 with Retry-After: 2 is retried after at least 2 s.
func TestRateLimitedCallIsRetriedAfterRetryAfter(t *testing.T) {
	request, rules := exampleRules(t)
	for i := range rules {
		if rules[i].TaskID == "t1" && rules[i].Role == "coder" {
			rules[i].Replies = append([]llmtest.Reply{{Status: 429, Header: map[string]string{"Retry-After": "2"},
				Body: `{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}`}}, rules[i].Replies...)
		}
	}
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	h.newJob(t, "rl-1", request, "")
	h.run("rl-1")
	require.NoError(t, h.env.GetWorkflowError())
	var t1 []llmtest.Call
	for _, c := range h.srv.CallsFor("coder") {
		if c.TaskID == "t1" {
			t1 = append(t1, c)
		}
	}
	require.Len(t, t1, 2, "refused once, then answered")
	require.GreaterOrEqual(t, t1[1].At.Sub(t1[0].At), 2*time.Second, "Retry-After is honoured")
}

// (e) A first attempt writes a stray file with another package clause, so
// the build fails ("found packages shortener and other"). Overwriting can
// not fix that; the fixer deletes the file. Its first answer deletes a file
// the task does not have and is re-asked with the exact problem; the
// second deletes the stray file, the job completes, and neither the task
// nor the capsule holds it.
func TestFixerDeletesAStrayFile(t *testing.T) {
	request, rules := exampleRules(t)
	var first map[string]any
	require.NoError(t, json.Unmarshal([]byte(t1Answer(t, correctStore(t))), &first))
	first["files"] = append(first["files"].([]any), map[string]any{"path": "shortener/stray.go", "content": "package other\n\nfunc Stray() {}\n"})
	rules = withT1(rules, []llmtest.Reply{{Content: llmtest.JSON(first)}}, []llmtest.Reply{
		{Content: llmtest.JSON(map[string]any{"summary": "remove the stray file", "files": []map[string]any{{"path": "shortener/missing.go", "delete": true}}})},
		{Content: llmtest.JSON(map[string]any{"summary": "remove the stray file", "files": []map[string]any{{"path": "shortener/stray.go", "delete": true}}})},
	})
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	if h.acts.Validator == nil {
		t.Skip("needs the sandbox (bwrap)")
	}
	h.newJob(t, "del-1", request, "")
	h.run("del-1")
	require.NoError(t, h.env.GetWorkflowError())

	attempts, err := h.store.ListAttempts(t.Context(), "del-1", "t1")
	require.NoError(t, err)
	require.Len(t, attempts, 2)
	require.Equal(t, store.AttemptFailed, attempts[0].Status)
	require.Contains(t, attempts[0].Failures, "found packages")
	require.Contains(t, attempts[0].Failures, "stray.go")
	require.Equal(t, "fixer", attempts[1].Role)
	require.Equal(t, "fixer.v4", attempts[1].PromptVersion)
	require.Equal(t, store.AttemptPassed, attempts[1].Status)
	require.Equal(t, []string{"shortener/stray.go"}, attempts[1].Deleted, "the deletion is recorded in the attempt")
	for _, f := range attempts[1].Files {
		require.NotEqual(t, "shortener/stray.go", f.Path)
	}

	fixer := h.srv.CallsFor("fixer")
	require.Len(t, fixer, 2, "the unusable deletion is asked again")
	require.Contains(t, fixer[0].Prompt(), `{"path":"relative/path/of/a/file/to/remove","delete":true}`, "the fixer is told how to delete")
	require.Contains(t, fixer[1].Prompt(), "cannot delete shortener/missing.go: it is not one of this task's files")

	task, err := h.store.GetTask(t.Context(), "del-1", "t1")
	require.NoError(t, err)
	require.Equal(t, []string{"go.mod", "shortener/store.go", "shortener/store_test.go"}, filePaths(task.Files))
	job, err := h.store.GetJob(t.Context(), "acme", "del-1")
	require.NoError(t, err)
	require.Equal(t, store.JobCompleted, job.Status)
	v, err := h.store.GetCapsuleVersion(t.Context(), "acme", job.CapsuleID, 0)
	require.NoError(t, err)
	for _, f := range v.Files {
		require.NotEqual(t, "shortener/stray.go", f.Path, "the capsule never holds the deleted file")
	}
	require.NotContains(t, string(v.Manifest), "stray.go")
	var sawDeletion bool
	for _, e := range h.events(t, "del-1") {
		if e.Type == progress.TaskGenerated && e.TaskID == "t1" {
			sawDeletion = sawDeletion || strings.Contains(string(e.Data), `"deleted":["shortener/stray.go"]`)
		}
	}
	require.True(t, sawDeletion, "the deletion is visible in progress")
}

func filePaths(fs []store.File) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Path
	}
	return out
}
