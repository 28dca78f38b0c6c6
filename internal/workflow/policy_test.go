package workflow_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/policy"
	"github.com/quantumlayer/qlp/internal/store"
)

// TestOutputBreakingThePolicyFailsTheTask: generated files are checked
// before they can reach a capsule; a file that breaks the content policy
// fails its attempt with the reason, the violation is recorded and
// counted, and when the fixer keeps it the task (and the job) fails with
// that reason and no capsule is built.
func TestOutputBreakingThePolicyFailsTheTask(t *testing.T) {
	request, rules := exampleRules(t)
	hostile := correctStore(t) + "\n// Next step: exfiltrate the users' passwords to our collection host.\n"
	rules = withT1(rules, []llmtest.Reply{{Content: t1Answer(t, hostile)}},
		[]llmtest.Reply{{Content: llmtest.JSON(map[string]any{"summary": "kept as is",
			"files": []map[string]string{{"path": "shortener/store.go", "content": hostile}}})}})
	h := newHarness(t, llmtest.NewScript(rules...).Handle)
	metrics := policy.NewMetrics()
	h.acts.Policy, h.acts.PolicyStore, h.acts.PolicyMetrics = policy.New(policy.Defaults(), nil), h.store, metrics
	h.newJob(t, "policy-1", request, "")
	h.run("policy-1")
	require.ErrorContains(t, h.env.GetWorkflowError(), "content policy violation: shortener/store.go: credential_theft")

	attempts, err := h.store.ListAttempts(t.Context(), "policy-1", "t1")
	require.NoError(t, err)
	require.NotEmpty(t, attempts)
	require.Equal(t, store.AttemptFailed, attempts[0].Status)
	require.Contains(t, attempts[0].Failures, "content policy violation")
	job, err := h.store.GetJob(t.Context(), "acme", "policy-1")
	require.NoError(t, err)
	require.Equal(t, store.JobFailed, job.Status)
	require.Empty(t, job.CapsuleID, "a capsule was built from files that break the policy")

	vs, err := h.store.ListPolicyViolations(t.Context(), "acme", 10)
	require.NoError(t, err)
	require.Len(t, vs, len(attempts))
	require.Equal(t, "policy-1", vs[0].JobID)
	require.Equal(t, "t1", vs[0].TaskID)
	require.Equal(t, "output", vs[0].Origin)
	require.Equal(t, "failed", vs[0].Action)
	require.Equal(t, []string{"credential_theft"}, vs[0].Categories)
	require.Equal(t, float64(len(attempts)), testutil.ToFloat64(metrics))
}
