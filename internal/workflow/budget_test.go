package workflow_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/progress"
	"github.com/quantumlayer/qlp/internal/store"
	wf "github.com/quantumlayer/qlp/internal/workflow"
)

// Known token counts for the example: the plan on T2 (gpt-4.1, $2/$8 per
// million) costs 2000 × 2 + 3000 × 8 = $0.028; t1 and t3 on T0 (gpt-4o-mini,
// $0.15/$0.60) 3000 / 2000 tokens = $0.00165 each; t2 4000 / 2000 tokens,
// $0.0048 on T1 (gpt-4.1-mini, $0.40/$1.60) or $0.0018 on T0.
var exampleUsage = map[string]llm.Usage{
	"":   {InputTokens: 2000, OutputTokens: 3000},
	"t1": {InputTokens: 3000, OutputTokens: 2000},
	"t2": {InputTokens: 4000, OutputTokens: 2000},
	"t3": {InputTokens: 3000, OutputTokens: 2000},
}

// guardHarness scripts the example with known usage and puts the budget
// guard in front of the harness's tiers, as the platform does.
func guardHarness(t *testing.T, request, policy string) *harness {
	t.Helper()
	return guardHarnessPlan(t, request, policy, &costs.Plan{}, nil)
}

func guardHarnessPlan(t *testing.T, request, policy string, plan *costs.Plan, now func() time.Time) *harness {
	t.Helper()
	_, rules := exampleRules(t)
	script := llmtest.NewScript(rules...)
	h := newHarness(t, func(c llmtest.Call) llmtest.Reply {
		r := script.Handle(c)
		u := exampleUsage[c.TaskID]
		r.Usage = &u
		return r
	})
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	cfg := budget.Defaults()
	cfg.RequestUSD, cfg.Policy = request, policy
	svc, err := budget.New(cfg, budget.Deps{Store: h.store, Prices: prices, Plan: plan, Bus: h.acts.Bus, Logger: logx.Discard(), Now: now})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	router := h.acts.Models.(*tiers.Router)
	require.NoError(t, router.Wrap(func(ts []tiers.Target) ([]tiers.Target, error) {
		rungs := make([]budget.Rung, len(ts))
		for i, tg := range ts {
			rungs[i] = budget.Rung{Tier: tg.Tier, Provider: tg.Provider, Model: tg.Model}
		}
		guarded, err := svc.Guard(rungs, h.acts.MaxTokens)
		if err != nil {
			return nil, err
		}
		for i := range ts {
			ts[i].Provider = guarded[i]
		}
		return ts, nil
	}))
	return h
}

func spent(t *testing.T, h *harness, job string) string {
	tot, err := h.store.SumUsage(t.Context(), store.UsageFilter{JobID: job})
	require.NoError(t, err)
	return pricing.USD(tot.CostPUSD)
}

// TestRequestBudgetStopsTheJobBeforeTheExceedingCall: with $0.036 per
// request, the plan ($0.028) and t1 ($0.00165) fit, but t2's worst case on
// T1 (its prompt plus 4096 output tokens at $1.60 per million, over
// $0.0065) does not fit the $0.00635 left: the job stops before that call.
func TestRequestBudgetStopsTheJobBeforeTheExceedingCall(t *testing.T) {
	request, _ := exampleRules(t)
	h := guardHarness(t, "0.036", "stop")
	h.newJob(t, "req-stop", request, "")
	h.run("req-stop")

	require.True(t, h.env.IsWorkflowCompleted())
	require.Error(t, h.env.GetWorkflowError())
	job, err := h.store.GetJob(t.Context(), "acme", "req-stop")
	require.NoError(t, err)
	require.Equal(t, store.JobFailed, job.Status)
	require.Contains(t, job.Error, "task t2 failed after 1 attempt(s): attempt 1: coder call to gpt-4.1-mini: budget exceeded: the request budget of job req-stop is $0.036000 and $0.029650 is spent")
	require.Contains(t, job.Error, "job req-stop has spent $0.029650 (policy stop)")

	// The exceeding call was never made: one plan, t1, nothing else.
	var calls []string
	for _, c := range h.srv.Calls() {
		calls = append(calls, c.Role+" "+c.TaskID+" "+c.Model)
	}
	require.Equal(t, []string{"decomposer  gpt-4.1", "coder t1 gpt-4o-mini"}, calls)
	require.Equal(t, "0.029650", spent(t, h, "req-stop"), "$0.028 + $0.00165, within the $0.036 budget")
	tasks, err := h.store.ListTasks(t.Context(), "req-stop")
	require.NoError(t, err)
	require.Equal(t, []store.TaskStatus{store.TaskCompleted, store.TaskFailed, store.TaskSkipped}, []store.TaskStatus{tasks[0].Status, tasks[1].Status, tasks[2].Status})
	require.Equal(t, 1, tasks[1].Attempts, "a budget refusal is not retried")

	var alerts []string
	for _, e := range h.events(t, "req-stop") {
		if e.Type == progress.BudgetAlert {
			alerts = append(alerts, e.Message)
		}
	}
	require.Equal(t, []string{
		"the request budget of job req-stop reached 50%: $0.028000 of $0.036000",
		"the request budget of job req-stop reached 80%: $0.029650 of $0.036000",
	}, alerts[:2])
	require.Contains(t, alerts[2], "budget exceeded")
}

// TestRequestBudgetDowngradesToACheaperTier: the same job under the
// downgrade policy runs t2 on T0 instead of T1 and completes within budget.
func TestRequestBudgetDowngradesToACheaperTier(t *testing.T) {
	request, _ := exampleRules(t)
	h := guardHarness(t, "0.036", "downgrade")
	h.newJob(t, "req-down", request, "")
	h.run("req-down")

	require.True(t, h.env.IsWorkflowCompleted())
	require.NoError(t, h.env.GetWorkflowError())
	job, err := h.store.GetJob(t.Context(), "acme", "req-down")
	require.NoError(t, err)
	require.Equal(t, store.JobCompleted, job.Status)

	var calls []string
	for _, c := range h.srv.Calls() {
		calls = append(calls, c.Role+" "+c.TaskID+" "+c.Model)
	}
	require.Equal(t, []string{"decomposer  gpt-4.1", "coder t1 gpt-4o-mini", "coder t2 gpt-4o-mini", "test_writer t3 gpt-4o-mini", "coder t3 gpt-4o-mini"}, calls,
		"t2 (medium, T1) answered by T0's model; gpt-4.1-mini was never called")
	require.Equal(t, "0.034750", spent(t, h, "req-down"), "$0.028 + $0.00165 + $0.0018 (t2 on T0) + $0.00165 (t3's tests, written first) + $0.00165")

	tasks, err := h.store.ListTasks(t.Context(), "req-down")
	require.NoError(t, err)
	require.Equal(t, "T0", tasks[1].Tier, "the task records the tier that answered")
	require.Equal(t, "gpt-4o-mini", tasks[1].Model)
	require.Contains(t, tasks[1].TierReason, "complexity medium → T1")
	require.Contains(t, tasks[1].TierReason, "answered by T0 gpt-4o-mini: the budget did not fit T1 (downgrade policy)")
	require.EqualValues(t, 1_800_000_000, tasks[1].CostPUSD, "t2 cost $0.0018")
	usage, err := h.store.ListUsage(t.Context(), store.UsageFilter{JobID: "req-down"})
	require.NoError(t, err)
	require.Equal(t, "T0", usage[2].Tier)
	require.Equal(t, "gpt-4o-mini", usage[2].Model)

	var downgrades int
	for _, e := range h.events(t, "req-down") {
		if e.Type == progress.BudgetAlert && e.TaskID == "t2" {
			require.Contains(t, e.Message, "T1 gpt-4.1-mini does not fit")
			downgrades++
		}
	}
	require.Equal(t, 1, downgrades)
}

// TestExpiredCreditPoolRefusesTheJobsCalls: the OpenAI calls draw on a
// credit that expired the day before; the job fails before any model call.
func TestExpiredCreditPoolRefusesTheJobsCalls(t *testing.T) {
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	plan, err := costs.ParsePlan([]byte(`pools: [{name: openai-credit, amount: "100", currency: USD, providers: [openai], expires: 2026-04-30}]`), "", prices)
	require.NoError(t, err)
	request, _ := exampleRules(t)
	h := guardHarnessPlan(t, "", "downgrade", plan, func() time.Time { return time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC) })
	h.newJob(t, "req-expired", request, "")
	h.run("req-expired")

	require.True(t, h.env.IsWorkflowCompleted())
	require.Error(t, h.env.GetWorkflowError())
	job, err := h.store.GetJob(t.Context(), "acme", "req-expired")
	require.NoError(t, err)
	require.Equal(t, store.JobFailed, job.Status)
	require.Contains(t, job.Error, "decomposition failed: decomposer call to gpt-4.1: budget exceeded: credit pool openai-credit expired on 2026-04-30")
	require.Empty(t, h.srv.Calls(), "nothing was spent against the expired credit, on any tier")
	require.Equal(t, "0.000000", spent(t, h, "req-expired"))
}

// TestJobBudgetIsTheLowerOfTheTwo: a request's own budget
// (metadata.budget_usd) bounds its job like the tenant's request budget
// does, and the lower of the two applies.
func TestJobBudgetIsTheLowerOfTheTwo(t *testing.T) {
	tests := []struct {
		name, tenant, job string
		wantLimit         string
	}{
		{"the job's budget is lower", "1.00", `{"budget_usd": 0.036}`, "$0.036000"},
		{"the tenant's budget is lower", "0.036", `{"budget_usd": 5}`, "$0.036000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			request, _ := exampleRules(t)
			h := guardHarness(t, tc.tenant, "stop")
			_, err := h.store.EnsureTenant(t.Context(), "acme", "Acme")
			require.NoError(t, err)
			_, _, err = h.store.CreateJob(t.Context(), store.Job{ID: "own-budget", TenantID: "acme", WorkflowID: wf.WorkflowID("own-budget"),
				Description: request, Constraints: json.RawMessage(`{}`), Metadata: json.RawMessage(tc.job)})
			require.NoError(t, err)
			h.run("own-budget")
			require.True(t, h.env.IsWorkflowCompleted())
			job, err := h.store.GetJob(t.Context(), "acme", "own-budget")
			require.NoError(t, err)
			require.Equal(t, store.JobFailed, job.Status)
			require.Contains(t, job.Error, "budget exceeded: the request budget of job own-budget is "+tc.wantLimit+" and $0.029650 is spent")
			require.Equal(t, "0.029650", spent(t, h, "own-budget"), "the exceeding call was never made")
		})
	}
}
