package orchestrator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// A failed job's status names its cause completely: every attempt of each
// task (unusable answers and capsule-level repairs included, with their
// phase and reason), the planning attempts, and every finding of the
// capsule's last validation with its place (issues 11.1 and 21.3).
func TestStatusOfAFailedJobListsAttemptsAndFindings(t *testing.T) {
	ctx := t.Context()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "qlp.db"))
	require.NoError(t, err)
	defer st.Close()
	_, err = st.EnsureTenant(ctx, "acme", "Acme")
	require.NoError(t, err)
	_, _, err = st.CreateJob(ctx, store.Job{ID: "j1", TenantID: "acme", WorkflowID: workflow.WorkflowID("j1"), Description: "d",
		Constraints: json.RawMessage(`{}`)})
	require.NoError(t, err)
	require.NoError(t, st.PutTasks(ctx, "j1", []store.Task{{ID: "t3", Seq: 1, Type: "code_generation", Description: "main", Complexity: "simple"}}))
	why := "the capsule failed validation (staticcheck): 1 finding(s): main_test.go:11:2: staticcheck SA4006: this value of srv is never used"
	failed := store.JobFailed
	require.NoError(t, st.UpdateJob(ctx, "j1", store.JobUpdate{Status: &failed, Error: &why}))
	for _, a := range []store.Attempt{
		{JobID: "j1", TaskID: workflow.PlanTaskID, Attempt: 1, Phase: store.PhasePlan, Role: "decomposer", Tier: "T2", Status: store.AttemptFailed,
			ValidationStatus: workflow.ValidationUnusable, Failures: "the model returned an invalid task graph twice: tasks: missing"},
		{JobID: "j1", TaskID: workflow.PlanTaskID, Attempt: 2, Phase: store.PhasePlan, Role: "decomposer", Tier: "T3", Status: store.AttemptPassed},
		{JobID: "j1", TaskID: "t3", Attempt: 1, Role: "test_writer+coder", Tier: "T0", Status: store.AttemptFailed,
			ValidationStatus: workflow.ValidationUnusable, Failures: "the coder's answer was unusable twice: the answer contains no files"},
		{JobID: "j1", TaskID: "t3", Attempt: 2, Role: "test_writer+coder", Tier: "T1", Status: store.AttemptPassed, ValidationStatus: "passed"},
		{JobID: "j1", TaskID: "t3", Attempt: 3, Phase: store.PhaseCapsule, Role: "fixer", Tier: "T1", Status: store.AttemptPassed, ValidationStatus: "passed"},
	} {
		require.NoError(t, st.PutAttempt(ctx, a))
	}
	require.NoError(t, st.PutCapsuleCheck(ctx, store.CapsuleCheck{JobID: "j1", Round: 2, Status: "failed",
		Findings: []store.CapsuleFinding{{TaskID: "t3", Check: "staticcheck", Tool: "staticcheck", File: "main_test.go", Line: 11, Column: 2,
			RuleID: "SA4006", Severity: "high", Message: "this value of srv is never used"}}}))

	s := New(Config{}, Deps{Store: st, Logger: logx.Discard()})
	mux := http.NewServeMux()
	s.Mount(mux, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(auth.WithPrincipal(r.Context(), auth.Principal{TenantID: "acme"})))
		})
	})
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/workflow/status/j1", nil))
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var resp StatusResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &resp))
	require.Equal(t, "failed", resp.Status)
	require.Equal(t, why, resp.Error)
	r := resp.Result
	require.NotNil(t, r)
	require.Len(t, r.PlanAttempts, 2)
	require.Equal(t, "plan", r.PlanAttempts[0].Phase)
	require.Equal(t, "unusable", r.PlanAttempts[0].Validation)
	require.Contains(t, r.PlanAttempts[0].Reason, "invalid task graph twice")
	require.Len(t, r.Outputs, 1)
	log := r.Outputs[0].AttemptLog
	require.Len(t, log, 3)
	require.Equal(t, AttemptOutput{Attempt: 1, Phase: "task", Role: "test_writer+coder", Tier: "T0", Status: "failed", Validation: "unusable",
		Reason: "the coder's answer was unusable twice: the answer contains no files", CostUSD: "0.000000"}, log[0])
	require.Equal(t, "capsule", log[2].Phase)
	require.Empty(t, log[2].Reason, "a passed attempt has no failure")
	require.Equal(t, []Finding{{TaskID: "t3", Check: "staticcheck", File: "main_test.go", Line: 11, Column: 2, Rule: "SA4006", Severity: "high",
		Message: "this value of srv is never used"}}, r.Findings)

	// /v2 says the same cause in its progress message, where the earlier
	// SDKs read it.
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v2/workflows/j1", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var v2 LegacyWorkflowStatus
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v2))
	require.Equal(t, "FAILED", v2.Status)
	require.Equal(t, why, v2.Progress.Message)
}
