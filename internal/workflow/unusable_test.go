package workflow_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/store"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

// proseBelow answers every call to the cheap tiers' models (T0
// gpt-4o-mini, T1 gpt-4.1-mini) with prose, and every other call from the
// script: a cheap model that cannot follow the answer format.
func proseBelow(script *llmtest.Script) llmtest.Handler {
	return func(c llmtest.Call) llmtest.Reply {
		if c.Role != "decomposer" && (c.Model == "gpt-4o-mini" || c.Model == "gpt-4.1-mini") {
			return llmtest.Reply{Content: "Happy to help! First you would create a module, then write a store with a map and a mutex, and finally add some tests."}
		}
		return script.Handle(c)
	}
}

// Issue 11.1: an unusable answer from a cheap tier is a failed attempt like
// a failed validation: it counts toward the attempts, escalates the tier,
// and the task passes once a stronger tier answers well.
func TestUnusableAnswersEscalateUntilAStrongerTierAnswers(t *testing.T) {
	request, rules := exampleRules(t)
	h := newHarness(t, proseBelow(llmtest.NewScript(rules...)))
	// What is tested is the loop's accounting of unusable answers, not the
	// validation of the usable one.
	h.acts.Validator = nil
	h.newJob(t, "unusable-1", request, "")
	h.env.ExecuteWorkflow(wf.WorkflowName, wf.Input{RequestID: "unusable-1", TenantID: "acme", MaxAttempts: 3, EscalateAfter: 1})
	require.NoError(t, h.env.GetWorkflowError())

	job, err := h.store.GetJob(t.Context(), "acme", "unusable-1")
	require.NoError(t, err)
	require.Equal(t, store.JobCompleted, job.Status)

	// t1 is simple (T0): T0 prose, T1 prose, T2 good.
	attempts, err := h.store.ListAttempts(t.Context(), "unusable-1", "t1")
	require.NoError(t, err)
	require.Len(t, attempts, 3)
	for i, tier := range []string{"T0", "T1"} {
		a := attempts[i]
		require.Equal(t, store.AttemptFailed, a.Status, "attempt %d", a.Attempt)
		require.Equal(t, wf.ValidationUnusable, a.ValidationStatus)
		require.Equal(t, tier, a.Tier)
		require.Equal(t, "coder", a.Role)
		require.Contains(t, a.Failures, "the coder's answer was unusable twice")
		require.Positive(t, a.OutputTokens, "the unusable answers were paid for and are counted")
		require.Empty(t, a.Files)
	}
	require.Equal(t, store.AttemptPassed, attempts[2].Status)
	require.Equal(t, "T2", attempts[2].Tier)
	require.Equal(t, "coder", attempts[2].Role, "no usable files yet: a fresh first attempt, not a fixer")
	task, err := h.store.GetTask(t.Context(), "unusable-1", "t1")
	require.NoError(t, err)
	require.Equal(t, "T2", task.Tier)
	require.Contains(t, task.TierReason, "escalated from T1 to T2")
	require.Equal(t, 3, task.Attempts)
}

// With attempts left only on the cheap tiers the task fails when its
// attempts are spent, naming every attempt's reason.
func TestUnusableAnswersFailTheTaskOnlyWhenTheAttemptsAreSpent(t *testing.T) {
	request, rules := exampleRules(t)
	h := newHarness(t, proseBelow(llmtest.NewScript(rules...)))
	h.acts.Validator = nil
	h.newJob(t, "unusable-2", request, "")
	h.env.ExecuteWorkflow(wf.WorkflowName, wf.Input{RequestID: "unusable-2", TenantID: "acme", MaxAttempts: 3, EscalateAfter: 2})
	err := h.env.GetWorkflowError()
	require.Error(t, err)
	msg := err.Error()
	require.Contains(t, msg, "task t1 failed after 3 attempt(s)")
	require.Contains(t, msg, "attempt 1 (T0 gpt-4o-mini): the coder's answer was unusable twice")
	require.Contains(t, msg, "attempt 2 (T0 gpt-4o-mini): the coder's answer was unusable twice")
	require.Contains(t, msg, "attempt 3 (T1 gpt-4.1-mini): the coder's answer was unusable twice")
	require.Equal(t, 3, strings.Count(msg, "unusable twice"))
	var t1 []llmtest.Call
	for _, c := range h.srv.CallsFor("coder") {
		if c.TaskID == "t1" {
			t1 = append(t1, c)
		}
	}
	require.Len(t, t1, 6, "an answer and a re-ask in each attempt: the second attempt on T0 is not answered from the cache")
	require.Contains(t, t1[2].Prompt(), "This is attempt 2. The answer of attempt 1 could not be used: the coder's answer was unusable twice")

	attempts, err := h.store.ListAttempts(t.Context(), "unusable-2", "t1")
	require.NoError(t, err)
	require.Len(t, attempts, 3, "every unusable attempt is a row")
	for _, a := range attempts {
		require.Equal(t, store.AttemptFailed, a.Status)
		require.NotEmpty(t, a.Failures)
	}
	job, err := h.store.GetJob(t.Context(), "acme", "unusable-2")
	require.NoError(t, err)
	require.Equal(t, store.JobFailed, job.Status)
	require.Contains(t, job.Error, "attempt 3 (T1 gpt-4.1-mini)")
}

// The decomposer's malformed plan moves planning to a stronger tier before
// the job fails.
func TestMalformedPlanIsTriedOnAStrongerTier(t *testing.T) {
	request, rules := exampleRules(t)
	var plan string
	for _, r := range rules {
		if r.Role == "decomposer" {
			plan = r.Replies[0].Content
		}
	}
	script := llmtest.NewScript(rules...)
	h := newHarness(t, func(c llmtest.Call) llmtest.Reply {
		if c.Role == "decomposer" && c.Model == "gpt-4.1" { // T2, the decomposer's tier
			return llmtest.Reply{Content: "The plan: first the store, then the server, then main."}
		}
		if c.Role == "decomposer" {
			return llmtest.Reply{Content: plan}
		}
		return script.Handle(c)
	})
	h.acts.Validator = nil // planning is what is tested
	h.newJob(t, "plan-esc", request, "")
	h.run("plan-esc")
	require.NoError(t, h.env.GetWorkflowError())
	calls := h.srv.CallsFor("decomposer")
	require.Len(t, calls, 3, "asked and re-asked on T2, then T3")
	require.Equal(t, "gpt-4o", calls[2].Model)
	plans, err := h.store.ListAttempts(t.Context(), "plan-esc", wf.PlanTaskID)
	require.NoError(t, err)
	require.Len(t, plans, 2)
	require.Equal(t, store.AttemptFailed, plans[0].Status)
	require.Equal(t, store.PhasePlan, plans[0].Phase)
	require.Equal(t, "T2", plans[0].Tier)
	require.Contains(t, plans[0].Failures, "invalid task graph twice")
	require.Equal(t, store.AttemptPassed, plans[1].Status)
	require.Equal(t, "T3", plans[1].Tier)
}
