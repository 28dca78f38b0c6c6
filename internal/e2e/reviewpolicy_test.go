package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// startInput reads the input a job's workflow started with.
func startInput(t *testing.T, pl *platform, workflowID string) workflow.Input {
	t.Helper()
	it := pl.p.Engine.Client.GetWorkflowHistory(t.Context(), workflowID, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	ev, err := it.Next()
	require.NoError(t, err)
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	require.NotNil(t, attrs, "the first event starts the workflow")
	var in workflow.Input
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), &in))
	return in
}

// TestTenantReviewPolicy sets one tenant's review policy through the API
// (every task waits for a review; an unanswered review is rejected after
// two seconds) and submits a job for it and one for another tenant: the
// first job starts with that policy, its review opens with it and is
// rejected at its timeout; the other job starts with the server's policy.
func TestTenantReviewPolicy(t *testing.T) {
	request, rules := exampleScript(t)
	pl := startPlatform(t, "", llmtest.NewScript(rules...).Handle)
	acme, admin := pl.keys["acme"], pl.adminKey("acme")
	put := func(key, body string) (int, orchestrator.ReviewPolicyView, httpx.ErrorBody) {
		t.Helper()
		code, resp, _ := pl.call("PUT", "/api/v2/review-policy", key, []byte(body), nil)
		var v orchestrator.ReviewPolicyView
		var eb httpx.ErrorBody
		if code == http.StatusOK {
			mustJSON(t, resp, &v)
		} else {
			mustJSON(t, resp, &eb)
		}
		return code, v, eb
	}

	// Any key of the tenant reads the policy; only an administrator's
	// changes it.
	v, err := pl.client("acme").ReviewPolicy(t.Context())
	require.NoError(t, err)
	require.Equal(t, orchestrator.ReviewPolicyView{TenantID: "acme", Timeout: "24h", TimeoutSeconds: 86400, OnTimeout: "wait",
		Sources: orchestrator.ReviewPolicySources{Threshold: "default", Timeout: "default", OnTimeout: "default", AITL: "default"}}, v)
	code, _, _ := put(acme, `{"threshold": 1}`)
	require.Equal(t, http.StatusForbidden, code, "changing the policy needs the admin scope")
	for body, field := range map[string]string{
		`{"threshold": 1.5}`:         "threshold",
		`{"timeout": "soon"}`:        "timeout",
		`{"on_timeout": "shrug"}`:    "on_timeout",
		`{"aitl": "yes"}`:            "aitl",
		`{"reviewers": ["ada"]}`:     "reviewers",
		`{"timeout": "500ms"}`:       "timeout",
		`{"threshold": "0.5"}`:       "threshold",
		`{"on_timeout": ["reject"]}`: "on_timeout",
	} {
		code, _, eb := put(admin, body)
		require.Equal(t, http.StatusBadRequest, code, body)
		require.Equal(t, field, eb.Field, body)
	}

	code, v, _ = put(admin, `{"threshold": 1, "timeout": "2s", "on_timeout": "reject"}`)
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, 1.0, v.Threshold)
	require.Equal(t, "2s", v.Timeout)
	require.Equal(t, "reject", v.OnTimeout)
	require.Equal(t, orchestrator.ReviewPolicySources{Threshold: "tenant", Timeout: "tenant", OnTimeout: "tenant", AITL: "default"}, v.Sources)
	require.Equal(t, "acme-admin", v.UpdatedBy)
	other, err := pl.client("globex").ReviewPolicy(t.Context())
	require.NoError(t, err)
	require.Equal(t, "default", other.Sources.Threshold, "another tenant keeps the server's policy")

	subA, err := pl.client("acme").Execute(t.Context(), orchestrator.ExecuteRequest{Description: request}, "")
	require.NoError(t, err)
	subB, err := pl.client("globex").Execute(t.Context(), orchestrator.ExecuteRequest{Description: request}, "")
	require.NoError(t, err)

	// The other tenant's job starts with the server's policy: no reviews.
	// It need not run on for that to show.
	inB := startInput(t, pl, subB.WorkflowID)
	require.Equal(t, workflow.ReviewPolicy{Timeout: 24 * time.Hour, OnTimeout: "wait"}, inB.Review, "the other tenant's job never waits")
	_, err = pl.client("globex").Cancel(t.Context(), subB.WorkflowID)
	require.NoError(t, err)
	inA := startInput(t, pl, subA.WorkflowID)
	require.Equal(t, workflow.ReviewPolicy{Threshold: 1, Timeout: 2 * time.Second, OnTimeout: "reject"}, inA.Review)

	events := pl.waitTerminal("acme", subA.WorkflowID)
	require.Equal(t, "workflow_failed", events[len(events)-1].Type)
	var requested, decided *orchestrator.ProgressEvent
	for i := range events {
		switch e := &events[i]; e.Type {
		case "review_requested":
			if requested == nil {
				requested = e
			}
		case "review_decided":
			if decided == nil {
				decided = e
			}
		}
	}
	require.NotNil(t, requested, "the job of the tenant with threshold 1 waits for a review")
	var data map[string]any
	require.NoError(t, json.Unmarshal(requested.Data, &data))
	require.Equal(t, 1.0, data["threshold"])
	require.Equal(t, "reject", data["on_timeout"])
	require.NotEmpty(t, data["timeout_at"])
	require.NotNil(t, decided)
	require.Contains(t, decided.Message, "nobody decided in time; the timeout policy reject applies")
	reviews, err := pl.p.Store.ListReviews(t.Context(), "acme", "")
	require.NoError(t, err)
	require.NotEmpty(t, reviews)
	for _, r := range reviews {
		require.Equal(t, store.ReviewExpired, r.Status)
		require.Equal(t, "reject", r.TimeoutPolicy)
		require.NotNil(t, r.TimeoutAt)
		require.InDelta(t, 2.0, r.TimeoutAt.Sub(r.CreatedAt).Seconds(), 0.01)
	}
	st, err := pl.client("acme").Status(t.Context(), subA.WorkflowID)
	require.NoError(t, err)
	require.Equal(t, "failed", st.Status)
	require.Contains(t, st.Error, "task t1 rejected by reviewer timeout: no decision within 2s; the timeout policy is reject")
}
