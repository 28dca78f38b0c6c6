package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/store/storetest"
)

// backends runs fn on a platform over SQLite and one over PostgreSQL.
func backends(t *testing.T, handler func(t *testing.T) llmtest.Handler, fn func(t *testing.T, pl *platform)) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			pg := ""
			if backend == "postgres" {
				pg = storetest.PostgresURL(t)
			}
			pl := startPlatform(t, pg, handler(t))
			require.Equal(t, backend, pl.p.Store.Driver())
			fn(t, pl)
		})
	}
}

func scripted(t *testing.T) llmtest.Handler {
	_, rules := exampleScript(t)
	return llmtest.NewScript(rules...).Handle
}

// Python jobs of one task, quick to validate, so that they run to
// completion on a busy machine (the Go example's builds in the sandbox may
// not). The second one's module has a line flake8 finds too long: a
// finding that gates nothing but keeps its confidence below 1, so that it
// waits for a review under review_threshold 1.
const (
	pyRequest     = "Build tenancy-py: a Python module value.py whose value() returns 42, with a pytest test."
	reviewRequest = "Build tenancy-review: a Python module value.py whose value() returns 42, with a pytest test."
)

// pythonModel answers those jobs: a one-task plan to the decomposer, and
// the module and its test to every other role.
func pythonModel(*testing.T) llmtest.Handler {
	plan := func(name string) string {
		return `{"project":{"name":"` + name + `","language":"python","commands":{"test":"python3 -m pytest -q","run":"python3 -m pytest -q"}},` +
			`"tasks":[{"id":"t1","type":"code_generation","description":"value.py: value() returns 42, and its pytest test","complexity":"simple","dependencies":[]}]}`
	}
	answer := func(extra string) string {
		return llmtest.JSON(map[string]any{"summary": "value() returns 42", "files": []map[string]string{
			{"path": "value.py", "content": "\"\"\"The value.\"\"\"\n" + extra + "\n\ndef value() -> int:\n    \"\"\"Return 42.\"\"\"\n    return 42\n"},
			{"path": "test_value.py", "content": "from value import value\n\n\ndef test_value() -> None:\n    assert value() == 42\n"}}})
	}
	long := "# " + strings.Repeat("a long line ", 10) + "\n"
	return func(c llmtest.Call) llmtest.Reply {
		// Memory may quote the first job in the second's prompts, never
		// the reverse: it runs first.
		name, extra := "tenancy-py", ""
		if strings.Contains(c.Prompt(), "tenancy-review") {
			name, extra = "tenancy-review", long
		}
		if c.Role == "decomposer" {
			return llmtest.Reply{Content: plan(name)}
		}
		return llmtest.Reply{Content: answer(extra)}
	}
}

// TestNULCharactersAreA400OnBothStores: PostgreSQL refuses a NUL in a text
// column ("invalid byte sequence 0x00"), SQLite keeps it. Every body the API
// takes is refused with a 400 naming the field instead, on both, and so are
// ids and query parameters holding one.
func TestNULCharactersAreA400OnBothStores(t *testing.T) {
	backends(t, scripted, func(t *testing.T, pl *platform) {
		acme, admin := pl.keys["acme"], pl.adminKey("acme")
		tests := []struct {
			name, method, path, key, body, field string
		}{
			{"description", "POST", "/execute", acme, `{"description":"build\u0000 a shortener"}`, "description"},
			{"requirements", "POST", "/execute", acme, `{"description":"build a shortener","requirements":"\u0000"}`, "requirements"},
			{"request id", "POST", "/execute", acme, `{"description":"build a shortener","id":"a\u0000"}`, "id"},
			{"user id", "POST", "/execute", acme, `{"description":"build a shortener","user_id":"ada\u0000"}`, "user_id"},
			{"framework", "POST", "/execute", acme, `{"description":"build a shortener","constraints":{"framework":"\u0000"}}`, "constraints.framework"},
			{"metadata", "POST", "/execute", acme, `{"description":"build a shortener","metadata":{"note":"x\u0000"}}`, "metadata.note"},
			{"v2 description", "POST", "/v2/execute", acme, `{"description":"\u0000"}`, "description"},
			{"v2 options", "POST", "/v2/execute", acme, `{"description":"build a shortener","options":{"metadata":{"k":["\u0000"]}}}`, "options.metadata.k[0]"},
			{"review comment", "POST", "/hitl/respond/rv-x", acme, `{"decision":"request_changes","comment":"\u0000"}`, "comment"},
			{"review policy", "PUT", "/api/v2/review-policy", admin, `{"on_timeout":"wait\u0000"}`, "on_timeout"},
			{"budgets", "PUT", "/api/v2/budgets", admin, `{"policy":"stop\u0000"}`, "policy"},
			{"a job id", "GET", "/v2/workflows/qlp-execution-a%00b", acme, "", "path"},
			{"a capsule id", "GET", "/api/capsules/a%00b", acme, "", "path"},
			{"a query", "GET", "/api/v2/costs?workflow_id=a%00b", acme, "", "workflow_id"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var body []byte
				if tt.body != "" {
					body = []byte(tt.body)
				}
				code, resp, _ := pl.call(tt.method, tt.path, tt.key, body, nil)
				require.Equal(t, http.StatusBadRequest, code, string(resp))
				var eb httpx.ErrorBody
				mustJSON(t, resp, &eb)
				require.Equal(t, tt.field, eb.Field, eb.Error)
				require.Contains(t, eb.Error, "NUL character")
			})
		}
		jobs, err := pl.p.Store.ListJobs(t.Context(), "acme", 10, 0)
		require.NoError(t, err)
		require.Empty(t, jobs, "nothing was recorded")
	})
}

// TestRequestIDsArePerTenant: two tenants submit jobs with the same request
// id. Before, the second got "409 already exists" (telling it another
// tenant used the id, and letting a tenant squat ids). Now each gets its
// own job, under its own Temporal workflow id, and every route that takes
// an id — status, result, cancel, progress stream, the costs of one job,
// capsules and reviews — answers each tenant about its own job under that
// id, and about the other's exactly like a missing one.
func TestRequestIDsArePerTenant(t *testing.T) {
	backends(t, pythonModel, func(t *testing.T, pl *platform) {
		ctx := t.Context()
		tenants := []string{"acme", "globex"}
		other := map[string]string{"acme": "globex", "globex": "acme"}
		clients := map[string]*orchestrator.Client{"acme": pl.client("acme"), "globex": pl.client("globex")}
		notFound := func(tenant, method, path string) {
			t.Helper()
			code, body, _ := pl.call(method, path, pl.keys[tenant], nil, nil)
			require.Equal(t, http.StatusNotFound, code, "%s %s as %s: %s", method, path, tenant, body)
			var eb httpx.ErrorBody
			mustJSON(t, body, &eb)
			require.Equal(t, "not_found", eb.Code)
		}

		// The same request id in two tenants: two jobs, two workflows. The
		// jobs run one after the other (acme's id is in use when globex
		// takes it), which spares a busy machine two validations at once.
		subs := map[string]orchestrator.ExecuteResponse{}
		events := map[string][]orchestrator.ProgressEvent{}
		for _, tenant := range tenants {
			sub, err := clients[tenant].Execute(ctx, orchestrator.ExecuteRequest{ID: "build-1", Description: pyRequest}, "")
			require.NoError(t, err, "%s may use build-1 whoever used it before", tenant)
			require.Equal(t, "build-1", sub.RequestID)
			subs[tenant] = sub
			_, err = pl.p.Engine.Client.DescribeWorkflowExecution(ctx, sub.WorkflowID, "")
			require.NoError(t, err, "%s's workflow runs under %s", tenant, sub.WorkflowID)
			events[tenant] = pl.waitTerminal(tenant, "build-1")
			last := events[tenant][len(events[tenant])-1]
			require.Equal(t, "workflow_completed", last.Type, "%s's job: %s", tenant, last.Message)
		}
		require.NotEqual(t, subs["acme"].WorkflowID, subs["globex"].WorkflowID, "Temporal workflow ids stay unique")
		_, err := clients["acme"].Execute(ctx, orchestrator.ExecuteRequest{ID: "build-1", Description: pyRequest}, "")
		ae := requireAPIError(t, err, http.StatusConflict)
		require.Contains(t, ae.Error(), "build-1", "a tenant's own id twice is still a conflict")

		capsules := map[string]string{}
		for _, tenant := range tenants {
			for _, e := range events[tenant] {
				require.Equal(t, "build-1", e.RequestID, "the stream names the tenant's request id")
				require.Equal(t, subs[tenant].WorkflowID, e.WorkflowID)
				require.Equal(t, tenant, e.TenantID)
			}
			// The request id, the workflow id returned and the earlier
			// clients' qlp-execution-{request id} all name the tenant's job.
			for _, id := range []string{"build-1", subs[tenant].WorkflowID, "qlp-execution-build-1"} {
				st, err := clients[tenant].Status(ctx, id)
				require.NoError(t, err, id)
				require.Equal(t, "build-1", st.RequestID)
				require.Equal(t, subs[tenant].WorkflowID, st.WorkflowID)
				require.Equal(t, "completed", st.Status)
				require.Equal(t, "build-1", st.Result.RequestID)
				capsules[tenant] = st.Result.CapsuleID
				code, body, _ := pl.call("GET", "/v2/workflows/"+id, pl.keys[tenant], nil, nil)
				require.Equal(t, http.StatusOK, code, string(body))
				var v2 orchestrator.LegacyWorkflowStatus
				mustJSON(t, body, &v2)
				require.Equal(t, subs[tenant].WorkflowID, v2.WorkflowID)
			}
			code, body, _ := pl.call("GET", "/v2/workflows/build-1/result", pl.keys[tenant], nil, nil)
			require.Equal(t, http.StatusOK, code, string(body))
			var res orchestrator.LegacyResult
			mustJSON(t, body, &res)
			require.NotNil(t, res.CapsuleID)
			require.Equal(t, capsules[tenant], *res.CapsuleID)
			require.Equal(t, "build-1", res.RequestID)

			rep, err := clients[tenant].Costs(ctx, orchestrator.CostQuery{WorkflowID: "build-1"})
			require.NoError(t, err)
			require.Equal(t, "build-1", rep.RequestID)
			job, err := pl.p.Store.FindJob(ctx, tenant, subs[tenant].WorkflowID, "")
			require.NoError(t, err)
			tot, err := pl.p.Store.SumUsage(ctx, store.UsageFilter{JobID: job.ID})
			require.NoError(t, err)
			require.Equal(t, tot.Calls, rep.TotalCalls, "the costs of the tenant's own job")
			require.Equal(t, tenant, job.TenantID)

			list, err := clients[tenant].Capsules(ctx, 10, 0)
			require.NoError(t, err)
			require.Equal(t, 1, list.Total)
			require.Equal(t, capsules[tenant], list.Capsules[0].ID)
			require.Equal(t, "build-1", list.Capsules[0].RequestID)
			detail, err := clients[tenant].Capsule(ctx, capsules[tenant], 0)
			require.NoError(t, err)
			require.Equal(t, "build-1", detail.RequestID)
			var manifest struct {
				RequestID string `json:"request_id"`
			}
			mustJSON(t, detail.Manifest, &manifest)
			require.Equal(t, "build-1", manifest.RequestID, "the signed manifest names the tenant's request id")
		}
		require.NotEqual(t, capsules["acme"], capsules["globex"], "two jobs, two capsules")

		// Another tenant's workflow id, capsule or job answers like a
		// missing one on every route.
		for _, tenant := range tenants {
			wf, capID := subs[other[tenant]].WorkflowID, capsules[other[tenant]]
			for _, p := range []struct{ method, path string }{
				{"GET", "/workflow/status/" + wf},
				{"GET", "/v2/workflows/" + wf},
				{"GET", "/v2/workflows/" + wf + "/result"},
				{"POST", "/v2/workflows/" + wf + "/cancel"},
				{"GET", "/progress/stream/" + wf},
				{"GET", "/api/v2/costs?workflow_id=" + wf},
				{"GET", "/api/capsules/" + capID},
				{"GET", "/api/capsules/" + capID + "/download"},
				{"GET", "/api/capsules/" + capID + "/files/manifest.json"},
				{"GET", "/workflow/status/never-used"},
				{"GET", "/v2/workflows/qlp-execution-never-used"},
			} {
				notFound(tenant, p.method, p.path)
			}
		}

		// Reviews: the same request id, a review in each tenant, each
		// seeing its own only. Then both jobs are cancelled by the id the
		// earlier clients build.
		reviewSubs := map[string]orchestrator.ExecuteResponse{}
		for _, tenant := range tenants {
			sub, err := clients[tenant].Execute(ctx, orchestrator.ExecuteRequest{ID: "review-1", Description: reviewRequest,
				Metadata: map[string]any{"review_threshold": 1}}, "")
			require.NoError(t, err)
			reviewSubs[tenant] = sub
		}
		reviews := map[string]orchestrator.ReviewInfo{}
		for _, tenant := range tenants {
			deadline := time.Now().Add(4 * time.Minute)
			for reviews[tenant].ID == "" {
				require.True(t, time.Now().Before(deadline), "%s's job never asked for a review", tenant)
				st, err := clients[tenant].Status(ctx, "review-1")
				require.NoError(t, err)
				require.False(t, st.Status == "completed" || st.Status == "failed", "%s's job ended %s without a review: %s", tenant, st.Status, st.Error)
				list, err := clients[tenant].PendingReviews(ctx)
				require.NoError(t, err)
				for _, r := range list.Reviews {
					require.Equal(t, "review-1", r.RequestID, "only the tenant's own reviews")
					require.Equal(t, reviewSubs[tenant].WorkflowID, r.WorkflowID)
					reviews[tenant] = r
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		require.NotEqual(t, reviews["acme"].ID, reviews["globex"].ID)
		for _, tenant := range tenants {
			rv := reviews[other[tenant]]
			_, err := clients[tenant].Review(ctx, rv.ID)
			requireAPIError(t, err, http.StatusNotFound)
			_, err = clients[tenant].RespondReview(ctx, rv.ID, orchestrator.ReviewResponse{Decision: "approve"})
			requireAPIError(t, err, http.StatusNotFound)
			got, err := clients[tenant].Review(ctx, reviews[tenant].ID)
			require.NoError(t, err)
			require.Equal(t, "pending", got.Status)
			require.Equal(t, "review-1", got.RequestID)
		}
		for _, tenant := range tenants {
			notFound(tenant, "POST", "/v2/workflows/"+reviewSubs[other[tenant]].WorkflowID+"/cancel")
			c, err := clients[tenant].Cancel(ctx, "qlp-execution-review-1")
			require.NoError(t, err)
			require.Equal(t, reviewSubs[tenant].WorkflowID, c.WorkflowID)
		}
		for _, tenant := range tenants {
			events := pl.waitTerminal(tenant, "review-1")
			require.Equal(t, "workflow_cancelled", events[len(events)-1].Type)
			st, err := clients[tenant].Status(ctx, "review-1")
			require.NoError(t, err)
			require.Equal(t, "cancelled", st.Status)
		}
		st, err := clients["acme"].Status(ctx, "build-1")
		require.NoError(t, err)
		require.Equal(t, "completed", st.Status, "cancelling one job never touches another")
	})
}
