package workflow_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/capsule"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

// t3Tests is the example's main_test.go, which the test writer writes
// before t3's code.
func t3Tests(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(exampleDir, "tasks/t3/tests/main_test.go"))
	require.NoError(t, err)
	return string(b)
}

// lintyTests are t3's tests with a value that is never used: they compile
// and pass, so the task's quick validation passes, but staticcheck (which
// only the capsule's full validation runs) reports SA4006 at
// main_test.go:11.
func lintyTests(t *testing.T, addr string) string {
	t.Helper()
	s := strings.Replace(t3Tests(t), "\tsrv := newServer(\":0\", \"http://sho.rt\")\n\tif srv.Addr",
		"\tsrv := newServer(\""+addr+"\", \"http://sho.rt\")\n\tsrv = newServer(\":0\", \"http://sho.rt\")\n\tif srv.Addr", 1)
	require.NotEqual(t, t3Tests(t), s)
	return s
}

func testsAnswer(content string) string {
	return llmtest.JSON(map[string]any{"summary": "tests of newServer", "files": []map[string]string{{"path": "main_test.go", "content": content}}})
}

// withT3 replaces the test writer's answer for t3 and adds t3's fixer.
func withT3(t *testing.T, tests string, fixer ...llmtest.Reply) []llmtest.Rule {
	_, rules := exampleRules(t)
	for i := range rules {
		if rules[i].TaskID == "t3" && rules[i].Role == "test_writer" {
			rules[i].Replies = []llmtest.Reply{{Content: testsAnswer(tests)}}
		}
	}
	if len(fixer) > 0 {
		rules = append(rules, llmtest.Rule{Role: "fixer", TaskID: "t3", Replies: fixer})
	}
	return rules
}

func capsuleFile(t *testing.T, h *harness, capsuleID, path string) string {
	t.Helper()
	v, err := h.store.GetCapsuleVersion(t.Context(), "acme", capsuleID, 0)
	require.NoError(t, err)
	for _, f := range v.Files {
		if f.Path == path {
			return string(f.Content)
		}
	}
	t.Fatalf("capsule %s has no %s", capsuleID, path)
	return ""
}

// Issue 21, acceptance (a): the test writer's tests pass the task's quick
// validation but fail a lint check only the capsule's full validation
// runs. The finding goes back to t3's fixer (the tests were written first:
// it is told to change a test only when it is wrong), the capsule is
// validated again, and the job completes after one capsule-level repair,
// recorded as such.
func TestCapsuleFindingGoesBackToItsTaskAndTheJobCompletes(t *testing.T) {
	request, _ := exampleRules(t)
	rules := withT3(t, lintyTests(t, ":1"), llmtest.Reply{Content: llmtest.JSON(map[string]any{
		"summary": "main_test.go: removed the unused first server (SA4006); what the test checks is unchanged",
		"files":   []map[string]string{{"path": "main_test.go", "content": t3Tests(t)}}})})
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	if h.acts.Validator == nil {
		t.Skip("needs the sandbox (bwrap)")
	}
	h.newJob(t, "crep-1", request, "")
	h.run("crep-1")
	require.NoError(t, h.env.GetWorkflowError())

	job, err := h.store.GetJob(t.Context(), "acme", "crep-1")
	require.NoError(t, err)
	require.Equal(t, store.JobCompleted, job.Status)
	require.Empty(t, job.Error)

	fixer := h.srv.CallsFor("fixer")
	require.Len(t, fixer, 1, "one capsule-level repair")
	prompt := fixer[0].Prompt()
	require.Contains(t, prompt, "What the assembled project's full validation found in your files")
	require.Contains(t, prompt, "main_test.go:11:")
	require.Contains(t, prompt, "SA4006")
	require.Contains(t, prompt, "These tests were written first, by the test writer")
	require.Contains(t, prompt, "Change a test only when the test itself is wrong")

	attempts, err := h.store.ListAttempts(t.Context(), "crep-1", "t3")
	require.NoError(t, err)
	require.Len(t, attempts, 2)
	require.Equal(t, store.PhaseTask, attempts[0].Phase)
	require.Equal(t, "test_writer+coder", attempts[0].Role)
	require.Equal(t, store.AttemptPassed, attempts[0].Status, "the quick validation passed")
	require.Equal(t, store.PhaseCapsule, attempts[1].Phase, "the repair is recorded as a capsule-level attempt")
	require.Equal(t, "fixer", attempts[1].Role)
	require.Equal(t, store.AttemptPassed, attempts[1].Status)
	for _, id := range []string{"t1", "t2"} {
		other, err := h.store.ListAttempts(t.Context(), "crep-1", id)
		require.NoError(t, err)
		require.Len(t, other, 1, "only the task that owns the file is repaired")
	}

	first, err := h.store.GetCapsuleCheck(t.Context(), "crep-1", 1)
	require.NoError(t, err)
	require.Equal(t, "failed", first.Status)
	require.NotEmpty(t, first.Findings)
	for _, f := range first.Findings {
		require.Equal(t, "t3", f.TaskID)
	}
	require.Equal(t, "staticcheck", first.Findings[0].Check)
	require.Equal(t, "SA4006", first.Findings[0].RuleID)
	second, err := h.store.GetCapsuleCheck(t.Context(), "crep-1", 2)
	require.NoError(t, err)
	require.NotEqual(t, "failed", second.Status, second.Summary)

	require.Equal(t, t3Tests(t), capsuleFile(t, h, job.CapsuleID, "main_test.go"), "the capsule holds the repaired tests")
	v, err := h.store.GetCapsuleVersion(t.Context(), "acme", job.CapsuleID, 0)
	require.NoError(t, err)
	var m capsule.Manifest
	require.NoError(t, json.Unmarshal(v.Manifest, &m))
	require.Contains(t, []string{"passed", "warning"}, m.Validation.Status, m.Validation.Summary)

	var sawRepair, sawFailedRound bool
	for _, e := range h.events(t, "crep-1") {
		var data map[string]any
		_ = json.Unmarshal(e.Data, &data)
		sawRepair = sawRepair || e.Type == progress.TaskAttempt && e.TaskID == "t3" && data["phase"] == store.PhaseCapsule
		sawFailedRound = sawFailedRound || e.Type == progress.CapsuleValidated && data["status"] == "failed" && strings.Contains(e.Message, "SA4006")
	}
	require.True(t, sawRepair, "the capsule-level attempt is visible in progress")
	require.True(t, sawFailedRound, "the failed round names its findings in progress")
}

// Issue 21, acceptance (b): a finding the fixer cannot fix within the
// attempts fails the job, and its error carries the finding's file, line,
// rule and message; the capsule is kept as evidence.
func TestCapsuleFindingThatCannotBeFixedFailsTheJobWithItsPlace(t *testing.T) {
	request, _ := exampleRules(t)
	// The fixer moves the problem instead of removing it: another address,
	// the same unused value.
	rules := withT3(t, lintyTests(t, ":1"), llmtest.Reply{Content: llmtest.JSON(map[string]any{
		"summary": "used another address",
		"files":   []map[string]string{{"path": "main_test.go", "content": lintyTests(t, ":2")}}})})
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	if h.acts.Validator == nil {
		t.Skip("needs the sandbox (bwrap)")
	}
	h.newJob(t, "crep-2", request, "")
	h.env.ExecuteWorkflow(wf.WorkflowName, wf.Input{RequestID: "crep-2", TenantID: "acme", MaxAttempts: 3, EscalateAfter: 2})
	err := h.env.GetWorkflowError()
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "the capsule failed validation (staticcheck)")
	require.Contains(t, msg, "main_test.go:11:2: staticcheck SA4006: this value of srv is never used", "file, line, rule and message")
	require.Contains(t, msg, "task t3 is stuck", "the repair left exactly the same finding")

	job, err := h.store.GetJob(t.Context(), "acme", "crep-2")
	require.NoError(t, err)
	require.Equal(t, store.JobFailed, job.Status)
	require.Contains(t, job.Error, "main_test.go:11:2: staticcheck SA4006: this value of srv is never used")
	require.Equal(t, wf.CapsuleID("crep-2"), job.CapsuleID, "the failing capsule is kept as evidence")
	require.Contains(t, capsuleFile(t, h, job.CapsuleID, "main_test.go"), `newServer(":2"`, "with the last repair's files")

	attempts, err := h.store.ListAttempts(t.Context(), "crep-2", "t3")
	require.NoError(t, err)
	require.Len(t, attempts, 2)
	require.Equal(t, store.PhaseCapsule, attempts[1].Phase)

	ev := h.events(t, "crep-2")
	last := ev[len(ev)-1]
	require.Equal(t, progress.WorkflowFailed, last.Type)
	require.Contains(t, last.Message, "main_test.go:11:2: staticcheck SA4006")
	var data struct {
		Findings []store.CapsuleFinding `json:"findings"`
	}
	require.NoError(t, json.Unmarshal(last.Data, &data))
	require.NotEmpty(t, data.Findings, "the progress stream carries the findings")
	require.Equal(t, store.CapsuleFinding{TaskID: "t3", Check: "staticcheck", Tool: "staticcheck", File: "main_test.go", Line: 11, Column: 2,
		RuleID: "SA4006", Severity: data.Findings[0].Severity, Message: "this value of srv is never used"}, data.Findings[0])
}

// Issue 21.2: with task_validation full, the task's own validation runs
// what the capsule runs, so the finding is fixed inside the task's loop
// and the capsule passes on its first validation.
func TestFullTaskValidationFixesTheFindingInTheTask(t *testing.T) {
	request, _ := exampleRules(t)
	rules := withT3(t, lintyTests(t, ":1"), llmtest.Reply{Content: llmtest.JSON(map[string]any{
		"summary": "removed the unused value", "files": []map[string]string{{"path": "main_test.go", "content": t3Tests(t)}}})})
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	if h.acts.Validator == nil {
		t.Skip("needs the sandbox (bwrap)")
	}
	h.newJob(t, "crep-3", request, "")
	h.env.ExecuteWorkflow(wf.WorkflowName, wf.Input{RequestID: "crep-3", TenantID: "acme", TaskValidation: wf.TaskValidationFull})
	require.NoError(t, h.env.GetWorkflowError())
	attempts, err := h.store.ListAttempts(t.Context(), "crep-3", "t3")
	require.NoError(t, err)
	require.Len(t, attempts, 2)
	require.Equal(t, store.AttemptFailed, attempts[0].Status)
	require.Contains(t, attempts[0].Failures, "SA4006", "the task's own validation ran staticcheck")
	require.Equal(t, store.PhaseTask, attempts[1].Phase)
	require.Equal(t, store.AttemptPassed, attempts[1].Status)
	c, err := h.store.LatestCapsuleCheck(t.Context(), "crep-3")
	require.NoError(t, err)
	require.Equal(t, 1, c.Round, "the capsule passed its first validation")
	require.NotEqual(t, "failed", c.Status)
}
