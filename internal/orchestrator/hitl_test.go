package orchestrator

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/vocab"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// TestReviewResponseBodies reads the body of POST /hitl/respond/{id}, in
// its own fields and in the earlier QLP's HITLResponse.
func TestReviewResponseBodies(t *testing.T) {
	for _, tc := range []struct {
		name, body                  string
		decision, comment, reviewer string
		badField                    string
	}{
		{name: "approve", body: `{"decision":"approve","reviewer":"alice"}`, decision: workflow.DecisionApprove, reviewer: "alice"},
		{name: "case and space", body: `{"decision":" Reject ","comment":"no"}`, decision: workflow.DecisionReject, comment: "no"},
		{name: "changes", body: `{"decision":"request_changes","comment":"use constant-time compare"}`, decision: workflow.DecisionRequestChanges, comment: "use constant-time compare"},
		{name: "changes without comment", body: `{"decision":"request_changes"}`, badField: "comment"},
		{name: "unknown decision", body: `{"decision":"maybe"}`, badField: "decision"},
		{name: "no decision", body: `{}`, badField: "decision"},
		{name: "legacy approved", body: `{"request_id":"x","user_id":"bob","response":{"approved":true,"comments":"ok"}}`, decision: workflow.DecisionApprove, comment: "ok", reviewer: "bob"},
		{name: "legacy modifications", body: `{"user_id":"bob","response":{"approved":false,"modifications":"validate the host"}}`, decision: workflow.DecisionRequestChanges, comment: "validate the host", reviewer: "bob"},
		{name: "legacy comments only", body: `{"response":{"approved":false,"comments":"tighten the checks"}}`, decision: workflow.DecisionRequestChanges, comment: "tighten the checks"},
		{name: "legacy plain no", body: `{"response":{"approved":false}}`, decision: workflow.DecisionReject},
		{name: "legacy word", body: `{"response":"approved"}`, decision: workflow.DecisionApprove},
		{name: "legacy feedback text", body: `{"response":"please add logging"}`, decision: workflow.DecisionRequestChanges, comment: "please add logging"},
		{name: "legacy bad shape", body: `{"response":[1,2]}`, badField: "response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b ReviewResponse
			require.NoError(t, json.Unmarshal([]byte(tc.body), &b))
			decision, comment, reviewer, err := b.normalize()
			if tc.badField != "" {
				he := httpx.AsError(err)
				require.NotNil(t, he, "%v", err)
				require.Equal(t, 400, he.Status)
				require.Equal(t, tc.badField, he.Field)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.decision, decision)
			require.Equal(t, tc.comment, comment)
			require.Equal(t, tc.reviewer, reviewer)
		})
	}
}

// TestReviewPolicyFromMetadata lays a job's metadata over the server's
// review policy.
func TestReviewPolicyFromMetadata(t *testing.T) {
	base := workflow.ReviewPolicy{Threshold: 0.7, Timeout: 24 * 3600e9, OnTimeout: vocab.OnTimeoutWait}
	p, err := reviewPolicy(base, map[string]any{"review_threshold": 0.9, "review_timeout": "30m", "review_on_timeout": "reject", "review_aitl": true})
	require.NoError(t, err)
	require.Equal(t, workflow.ReviewPolicy{Threshold: 0.9, Timeout: 30 * 60e9, OnTimeout: vocab.OnTimeoutReject, AITL: true}, p)
	p, err = reviewPolicy(base, nil)
	require.NoError(t, err)
	require.Equal(t, base, p)
	for field, meta := range map[string]map[string]any{
		"metadata.review_threshold":  {"review_threshold": 2.0},
		"metadata.review_timeout":    {"review_timeout": "soon"},
		"metadata.review_on_timeout": {"review_on_timeout": "ignore"},
		"metadata.review_aitl":       {"review_aitl": "yes"},
	} {
		_, err := reviewPolicy(base, meta)
		he := httpx.AsError(err)
		require.NotNil(t, he, field)
		require.Equal(t, field, he.Field)
	}
	_, err = reviewPolicy(workflow.ReviewPolicy{}, map[string]any{"review_threshold": 0.5, "review_on_timeout": "approve"})
	require.Error(t, err, "a timeout policy needs a timeout")
}

// TestJobBudgetIsChecked: metadata.budget_usd is a positive number of
// dollars the ledger can hold exactly; anything else is refused naming it.
func TestJobBudgetIsChecked(t *testing.T) {
	tests := []struct {
		budget any
		ok     bool
	}{
		{0.5, true},
		{12.25, true},
		{0.000001, true},
		{0.0, false},
		{-1.0, false},
		{2e6, false},
		{"5", false},
		{true, false},
		{0.0000001, false}, // below a micro-dollar: not exact in the ledger
	}
	for _, tc := range tests {
		r := SubmitRequest{Description: "a thing", Metadata: map[string]any{"budget_usd": tc.budget}}
		err := r.validate()
		if tc.ok {
			require.NoError(t, err, "%v", tc.budget)
			continue
		}
		var he *httpx.Error
		require.ErrorAs(t, err, &he, "%v", tc.budget)
		require.Equal(t, "metadata.budget_usd", he.Field)
	}
}
