package e2e

import (
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
)

func (pl *platform) adminKey(tenant string) string {
	key, digest, err := auth.NewKey()
	require.NoError(pl.t, err)
	require.NoError(pl.t, pl.p.Store.CreateAPIKey(pl.t.Context(), store.APIKey{ID: tenant + "-admin", TenantID: tenant,
		Prefix: auth.DisplayPrefix(key.Reveal()), Digest: digest, Scopes: []string{auth.ScopeAdmin}}))
	return key.Reveal()
}

// TestCostsAndBudgetsThroughTheAPI runs the example job, reads its costs
// back through the API, changes the tenant's budget as an administrator, and
// sees the next job stop before its first model call.
func TestCostsAndBudgetsThroughTheAPI(t *testing.T) {
	request, rules := exampleScript(t)
	pl := startPlatform(t, "", llmtest.NewScript(rules...).Handle)
	acme, globex, admin := pl.keys["acme"], pl.keys["globex"], pl.adminKey("acme")
	c := pl.client("acme")
	sub, err := c.Execute(t.Context(), orchestrator.ExecuteRequest{Description: request}, "")
	require.NoError(t, err)
	events := pl.waitTerminal("acme", sub.WorkflowID)
	require.Equal(t, "workflow_completed", events[len(events)-1].Type, "the example fits the default $0.10 request budget")
	tot, err := pl.p.Store.SumUsage(t.Context(), store.UsageFilter{TenantID: "acme"})
	require.NoError(t, err)

	get := func(path, key string, out any) int {
		t.Helper()
		code, body, _ := pl.call("GET", path, key, nil, nil)
		if out != nil && code == http.StatusOK {
			mustJSON(t, body, out)
		}
		return code
	}

	t.Run("tenant costs", func(t *testing.T) {
		var rep costs.Report
		require.Equal(t, http.StatusOK, get("/api/v2/costs?period_days=7", acme, &rep))
		require.Equal(t, "acme", rep.TenantID)
		require.Equal(t, tot.Calls, rep.TotalCalls, "four model calls and memory's embedding calls")
		require.Equal(t, pricing.USD(tot.CostPUSD), rep.TotalCostUSD)
		require.Len(t, rep.DailyBreakdown, 1)
		require.Equal(t, rep.TotalCostUSD, rep.DailyBreakdown[0].CostUSD)
		tiers := map[string]int{}
		for _, l := range rep.ByTier {
			if l.Tier != "" { // embedding calls have no tier
				tiers[l.Tier] = l.Calls
			}
		}
		require.Equal(t, map[string]int{"T0": 3, "T1": 1, "T2": 1}, tiers, "t1, t3 simple (t3's tests and code); t2 medium; the plan on T2")
		require.NotEmpty(t, rep.ProjectedMonthlyCostUSD)
		require.Contains(t, rep.Projection, "not measurements")

		var job costs.Report
		require.Equal(t, http.StatusOK, get("/api/v2/costs?workflow_id="+sub.WorkflowID, acme, &job))
		require.Equal(t, sub.RequestID, job.RequestID)
		require.Equal(t, rep.TotalCostUSD, job.TotalCostUSD)
		chat := 0
		for _, l := range job.ByTask {
			if !strings.HasPrefix(l.Role, "embedder:") {
				chat++
			}
		}
		require.Equal(t, 5, chat, "the plan, three tasks and t3's tests, by attempt (besides memory's embedding calls)")

		var other costs.Report
		require.Equal(t, http.StatusOK, get("/api/v2/costs", globex, &other))
		require.Equal(t, "0.000000", other.TotalCostUSD, "a tenant sees only its own costs")
		require.Equal(t, http.StatusNotFound, get("/api/v2/costs?workflow_id="+sub.WorkflowID, globex, nil))
		require.Equal(t, http.StatusForbidden, get("/api/v2/costs?scope=all", acme, nil))
		var all costs.Report
		require.Equal(t, http.StatusOK, get("/api/v2/costs?scope=all", admin, &all))
		require.Len(t, all.ByTenant, 1)
	})

	t.Run("estimate", func(t *testing.T) {
		var e costs.Estimate
		require.Equal(t, http.StatusOK, get("/api/v2/costs/estimate?complexity=simple&tech_stack=go,sqlite", acme, &e))
		require.Equal(t, "observed", e.Basis, "two T0 tasks were observed")
		require.Equal(t, "T0", e.RecommendedTier)
		require.Equal(t, "gpt-4o-mini", e.RecommendedModel)
		require.Len(t, e.EstimatedCosts, 4)
	})

	t.Run("runway", func(t *testing.T) {
		require.Equal(t, http.StatusForbidden, get("/api/v2/costs/runway", acme, nil))
		var rw costs.Runway
		require.Equal(t, http.StatusOK, get("/api/v2/costs/runway", admin, &rw))
		require.Equal(t, "300.000000", rw.InfraMonthlyUSD, "the built-in plan: the strategy's infrastructure table")
		require.Equal(t, "300.000000", rw.Uncovered.InfraMonthlyUSD, "no pools: paid in cash")
		code, body, hdr := pl.call("GET", "/api/v2/costs/runway?format=svg", admin, nil, nil)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "image/svg+xml", hdr.Get("Content-Type"))
		require.True(t, strings.HasPrefix(string(body), "<svg"))
		code, body, hdr = pl.call("GET", "/api/v2/costs/runway?format=png", admin, nil, nil)
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "image/png", hdr.Get("Content-Type"))
		img, err := png.DecodeConfig(bytes.NewReader(body))
		require.NoError(t, err)
		require.Equal(t, [2]int{1040, 560}, [2]int{img.Width, img.Height})
		code, _, _ = pl.call("GET", "/api/v2/costs/runway?format=gif", admin, nil, nil)
		require.Equal(t, http.StatusBadRequest, code)
	})

	t.Run("budgets", func(t *testing.T) {
		require.Equal(t, http.StatusForbidden, get("/api/v2/budgets", acme, nil), "budgets need the admin scope")
		code, _, _ := pl.call("PUT", "/api/v2/budgets", acme, []byte(`{"request_usd": "1"}`), nil)
		require.Equal(t, http.StatusForbidden, code)

		var st budget.Status
		require.Equal(t, http.StatusOK, get("/api/v2/budgets", admin, &st))
		require.Equal(t, "0.100000", *st.Limits["request"].LimitUSD)
		require.Equal(t, "default", st.Limits["request"].Source)
		require.Equal(t, pricing.USD(tot.CostPUSD), st.Limits["tenant_daily"].SpentUSD)

		for body, field := range map[string]string{
			`{"request_usd": -1}`:        "request_usd",
			`{"tenant_daily_usd": "-5"}`: "tenant_daily_usd",
			`{"policy": "pray"}`:         "policy",
			`{"currency": "EUR"}`:        "currency",
			`{"request_usd": 0.1234567}`: "request_usd",
		} {
			code, resp, _ := pl.call("PUT", "/api/v2/budgets", admin, []byte(body), nil)
			require.Equal(t, http.StatusBadRequest, code, body)
			var eb httpx.ErrorBody
			mustJSON(t, resp, &eb)
			require.Equal(t, field, eb.Field, body)
		}

		// A budget no call can fit: the next job stops before its first call.
		code, resp, _ := pl.call("PUT", "/api/v2/budgets", admin, []byte(`{"request_usd": "0.000001", "tenant_monthly_usd": "50", "policy": "stop"}`), nil)
		require.Equal(t, http.StatusOK, code, string(resp))
		mustJSON(t, resp, &st)
		require.Equal(t, "0.000001", *st.Limits["request"].LimitUSD)
		require.Equal(t, "tenant", st.Limits["request"].Source)
		require.Equal(t, "50.000000", *st.Limits["tenant_monthly"].LimitUSD)
		require.Equal(t, "acme-admin", st.UpdatedBy)

		calls := len(pl.model.Calls())
		sub2, err := c.Execute(t.Context(), orchestrator.ExecuteRequest{Description: request}, "")
		require.NoError(t, err)
		evs := pl.waitTerminal("acme", sub2.WorkflowID)
		last := evs[len(evs)-1]
		require.Equal(t, "workflow_failed", last.Type)
		require.Contains(t, last.Message, "budget exceeded: the request budget of job "+sub2.RequestID+" is $0.000001 and $0.000000 is spent")
		require.Len(t, pl.model.Calls(), calls, "no model call was made")
		var alert *orchestrator.ProgressEvent
		for i := range evs {
			if evs[i].Type == "budget_alert" {
				alert = &evs[i]
			}
		}
		require.NotNil(t, alert, "the refusal is on the job's progress stream")
		var data map[string]any
		require.NoError(t, json.Unmarshal(alert.Data, &data))
		require.Equal(t, "exceeded", data["kind"])
		st2, err := c.Status(t.Context(), sub2.WorkflowID)
		require.NoError(t, err)
		require.Equal(t, "failed", st2.Status)
		require.Equal(t, "0.000000", st2.Result.Cost.USD)

		// The guard's decisions are counted where it runs: the worker.
		workerHandler, err := pl.p.Handler(app.Worker)
		require.NoError(t, err)
		worker := httptest.NewServer(workerHandler)
		defer worker.Close()
		resp2, err := http.Get(worker.URL + "/metrics")
		require.NoError(t, err)
		metrics, err := io.ReadAll(resp2.Body)
		resp2.Body.Close()
		require.NoError(t, err)
		require.True(t, strings.Contains(string(metrics), `qlp_budget_decisions_total{decision="refused",scope="request"} 1`),
			"the refusal is counted on the worker's /metrics")
		require.True(t, strings.Contains(string(metrics), `qlp_jobs_total{status="failed"}`), "with the job outcomes")
		_, apiMetrics, _ := pl.call("GET", "/metrics", "", nil, nil)
		require.False(t, strings.Contains(string(apiMetrics), "qlp_budget_decisions_total"), "and only there")

		// null returns the request budget to the configured default.
		code, resp, _ = pl.call("PUT", "/api/v2/budgets", admin, []byte(`{"request_usd": null}`), nil)
		require.Equal(t, http.StatusOK, code)
		mustJSON(t, resp, &st)
		require.Equal(t, "0.100000", *st.Limits["request"].LimitUSD)
		require.Equal(t, "default", st.Limits["request"].Source)
		require.Equal(t, "tenant", st.Limits["tenant_monthly"].Source, "other fields are unchanged")
	})
}
