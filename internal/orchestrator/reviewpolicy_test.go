package orchestrator

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/store"
	"github.com/quantumlayer/qlp/internal/vocab"
	"github.com/quantumlayer/qlp/internal/workflow"
)

func ptr[T any](v T) *T { return &v }

// TestReviewPolicyLayers lays the tenant's own policy over the server's and
// a job's metadata over both.
func TestReviewPolicyLayers(t *testing.T) {
	server := workflow.ReviewPolicy{Threshold: 0.7, Timeout: 24 * time.Hour, OnTimeout: vocab.OnTimeoutWait}
	allDefault := ReviewPolicySources{Threshold: SourceDefault, Timeout: SourceDefault, OnTimeout: SourceDefault, AITL: SourceDefault}
	for _, tc := range []struct {
		name     string
		server   workflow.ReviewPolicy
		tenant   store.ReviewPolicy
		meta     map[string]any
		want     workflow.ReviewPolicy
		sources  ReviewPolicySources
		badField string
	}{
		{name: "server only", server: server, want: server, sources: allDefault},
		{name: "empty server policy waits", want: workflow.ReviewPolicy{OnTimeout: vocab.OnTimeoutWait}, sources: allDefault},
		{name: "tenant sets every field", server: server,
			tenant:  store.ReviewPolicy{Threshold: ptr(0.9), Timeout: ptr(30 * time.Minute), OnTimeout: ptr("reject"), AITL: ptr(true)},
			want:    workflow.ReviewPolicy{Threshold: 0.9, Timeout: 30 * time.Minute, OnTimeout: vocab.OnTimeoutReject, AITL: true},
			sources: ReviewPolicySources{Threshold: SourceTenant, Timeout: SourceTenant, OnTimeout: SourceTenant, AITL: SourceTenant}},
		{name: "tenant sets some fields", server: server, tenant: store.ReviewPolicy{OnTimeout: ptr("approve")},
			want:    workflow.ReviewPolicy{Threshold: 0.7, Timeout: 24 * time.Hour, OnTimeout: vocab.OnTimeoutApprove},
			sources: ReviewPolicySources{Threshold: SourceDefault, Timeout: SourceDefault, OnTimeout: SourceTenant, AITL: SourceDefault}},
		{name: "tenant turns reviews off", server: server, tenant: store.ReviewPolicy{Threshold: ptr(0.0), AITL: ptr(false)},
			want:    workflow.ReviewPolicy{Timeout: 24 * time.Hour, OnTimeout: vocab.OnTimeoutWait},
			sources: ReviewPolicySources{Threshold: SourceTenant, Timeout: SourceDefault, OnTimeout: SourceDefault, AITL: SourceTenant}},
		{name: "metadata over tenant", server: server, tenant: store.ReviewPolicy{Threshold: ptr(0.9), OnTimeout: ptr("reject"), Timeout: ptr(time.Hour)},
			meta:    map[string]any{"review_threshold": 0.5, "review_on_timeout": "approve"},
			want:    workflow.ReviewPolicy{Threshold: 0.5, Timeout: time.Hour, OnTimeout: vocab.OnTimeoutApprove},
			sources: ReviewPolicySources{Threshold: SourceTenant, Timeout: SourceTenant, OnTimeout: SourceTenant, AITL: SourceDefault}},
		{name: "metadata keeps the tenant's other fields", server: server, tenant: store.ReviewPolicy{AITL: ptr(true)},
			meta:    map[string]any{"review_timeout": "2h"},
			want:    workflow.ReviewPolicy{Threshold: 0.7, Timeout: 2 * time.Hour, OnTimeout: vocab.OnTimeoutWait, AITL: true},
			sources: ReviewPolicySources{Threshold: SourceDefault, Timeout: SourceDefault, OnTimeout: SourceDefault, AITL: SourceTenant}},
		{name: "tenant timeout lets metadata reject", tenant: store.ReviewPolicy{Timeout: ptr(time.Minute)},
			meta:    map[string]any{"review_threshold": 1.0, "review_on_timeout": "reject"},
			want:    workflow.ReviewPolicy{Threshold: 1, Timeout: time.Minute, OnTimeout: vocab.OnTimeoutReject},
			sources: ReviewPolicySources{Threshold: SourceDefault, Timeout: SourceTenant, OnTimeout: SourceDefault, AITL: SourceDefault}},
		{name: "metadata still validated", server: server, tenant: store.ReviewPolicy{Threshold: ptr(0.9)},
			meta: map[string]any{"review_threshold": 1.5}, badField: "metadata.review_threshold", sources: ReviewPolicySources{Threshold: SourceTenant, Timeout: SourceDefault, OnTimeout: SourceDefault, AITL: SourceDefault}},
		{name: "tenant approves without any timeout", tenant: store.ReviewPolicy{Threshold: ptr(0.9), OnTimeout: ptr("approve")},
			badField: "review_policy.timeout", sources: ReviewPolicySources{Threshold: SourceTenant, Timeout: SourceDefault, OnTimeout: SourceTenant, AITL: SourceDefault}},
		{name: "metadata mends the tenant's missing timeout", tenant: store.ReviewPolicy{Threshold: ptr(0.9), OnTimeout: ptr("approve")},
			meta:    map[string]any{"review_timeout": "1h"},
			want:    workflow.ReviewPolicy{Threshold: 0.9, Timeout: time.Hour, OnTimeout: vocab.OnTimeoutApprove},
			sources: ReviewPolicySources{Threshold: SourceTenant, Timeout: SourceDefault, OnTimeout: SourceTenant, AITL: SourceDefault}},
		{name: "metadata reject without any timeout", tenant: store.ReviewPolicy{Threshold: ptr(0.9)},
			meta: map[string]any{"review_on_timeout": "reject"}, badField: "metadata.review_timeout", sources: ReviewPolicySources{Threshold: SourceTenant, Timeout: SourceDefault, OnTimeout: SourceDefault, AITL: SourceDefault}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, src := layerTenant(tc.server, tc.tenant)
			require.Equal(t, tc.sources, src)
			got, err := layerMetadata(base, tc.meta)
			if tc.badField != "" {
				he := httpx.AsError(err)
				require.NotNil(t, he, "%v", err)
				require.Equal(t, tc.badField, he.Field)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestParseReviewPolicyUpdate reads the body of PUT /api/v2/review-policy.
func TestParseReviewPolicyUpdate(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       ReviewPolicyUpdate
		badField   string
	}{
		{name: "every field", body: `{"threshold": 0.8, "timeout": "2h", "on_timeout": "approve", "aitl": true}`, want: ReviewPolicyUpdate{
			Threshold: Change[float64]{true, ptr(0.8)}, Timeout: Change[time.Duration]{true, ptr(2 * time.Hour)},
			OnTimeout: Change[string]{true, ptr("approve")}, AITL: Change[bool]{true, ptr(true)}}},
		{name: "left out is unchanged", body: `{"threshold": 1}`, want: ReviewPolicyUpdate{Threshold: Change[float64]{true, ptr(1.0)}}},
		{name: "empty", body: `{}`},
		{name: "null resets", body: `{"threshold": null, "timeout": null, "on_timeout": null, "aitl": null}`, want: ReviewPolicyUpdate{
			Threshold: Change[float64]{Set: true}, Timeout: Change[time.Duration]{Set: true}, OnTimeout: Change[string]{Set: true}, AITL: Change[bool]{Set: true}}},
		{name: "zero threshold and false aitl are values", body: `{"threshold": 0, "aitl": false}`, want: ReviewPolicyUpdate{
			Threshold: Change[float64]{true, ptr(0.0)}, AITL: Change[bool]{true, ptr(false)}}},
		{name: "on_timeout case", body: `{"on_timeout": " Reject "}`, want: ReviewPolicyUpdate{OnTimeout: Change[string]{true, ptr("reject")}}},
		{name: "threshold above 1", body: `{"threshold": 1.2}`, badField: "threshold"},
		{name: "threshold below 0", body: `{"threshold": -0.1}`, badField: "threshold"},
		{name: "threshold as text", body: `{"threshold": "high"}`, badField: "threshold"},
		{name: "bad duration", body: `{"timeout": "soon"}`, badField: "timeout"},
		{name: "negative duration", body: `{"timeout": "-5m"}`, badField: "timeout"},
		{name: "zero duration", body: `{"timeout": "0s"}`, badField: "timeout"},
		{name: "part of a second", body: `{"timeout": "1500ms"}`, badField: "timeout"},
		{name: "duration as number", body: `{"timeout": 60}`, badField: "timeout"},
		{name: "unknown timeout policy", body: `{"on_timeout": "ignore"}`, badField: "on_timeout"},
		{name: "timeout policy as bool", body: `{"on_timeout": true}`, badField: "on_timeout"},
		{name: "aitl as text", body: `{"aitl": "yes"}`, badField: "aitl"},
		{name: "unknown field", body: `{"threshold": 0.5, "reviewers": 2}`, badField: "reviewers"},
		{name: "not an object", body: `[1]`, badField: "body"},
		{name: "null body", body: `null`, badField: "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseReviewPolicyUpdate([]byte(tc.body))
			if tc.badField != "" {
				he := httpx.AsError(err)
				require.NotNil(t, he, "%v", err)
				require.Equal(t, 400, he.Status)
				require.Equal(t, tc.badField, he.Field)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, u)
		})
	}
}

// TestSetReviewPolicy changes a tenant's policy field by field on a real
// store and reads back the policy in force and where each field comes from.
func TestSetReviewPolicy(t *testing.T) {
	st, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "qlp.db"))
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	for _, id := range []string{"acme", "globex"} {
		_, err := st.EnsureTenant(t.Context(), id, id)
		require.NoError(t, err)
	}
	server := workflow.ReviewPolicy{Threshold: 0.6, Timeout: 24 * time.Hour, OnTimeout: vocab.OnTimeoutWait}
	s := New(Config{Workflow: workflow.Config{Review: server}}, Deps{Store: st, Logger: logx.Discard()})
	set := func(body string) (ReviewPolicyView, error) {
		t.Helper()
		u, err := ParseReviewPolicyUpdate([]byte(body))
		require.NoError(t, err)
		return s.SetReviewPolicy(t.Context(), "acme", u, "k1")
	}

	v, err := s.ReviewPolicy(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, ReviewPolicyView{TenantID: "acme", Threshold: 0.6, Timeout: "24h", TimeoutSeconds: 86400, OnTimeout: "wait",
		Sources: ReviewPolicySources{SourceDefault, SourceDefault, SourceDefault, SourceDefault}}, v)

	v, err = set(`{"threshold": 1, "timeout": "90s", "on_timeout": "reject"}`)
	require.NoError(t, err)
	require.Equal(t, 1.0, v.Threshold)
	require.Equal(t, "1m30s", v.Timeout)
	require.Equal(t, int64(90), v.TimeoutSeconds)
	require.Equal(t, "reject", v.OnTimeout)
	require.Equal(t, ReviewPolicySources{SourceTenant, SourceTenant, SourceTenant, SourceDefault}, v.Sources)
	require.Equal(t, "k1", v.UpdatedBy)
	require.NotNil(t, v.UpdatedAt)
	p, err := s.jobPolicy(t.Context(), "acme", nil)
	require.NoError(t, err)
	require.Equal(t, workflow.ReviewPolicy{Threshold: 1, Timeout: 90 * time.Second, OnTimeout: vocab.OnTimeoutReject}, p, "jobs start with it")
	p, err = s.jobPolicy(t.Context(), "globex", nil)
	require.NoError(t, err)
	require.Equal(t, server, p, "another tenant keeps the server's")

	v, err = set(`{"aitl": true}`)
	require.NoError(t, err)
	require.Equal(t, 1.0, v.Threshold, "fields left out are unchanged")
	require.True(t, v.AITL)
	require.Equal(t, SourceTenant, v.Sources.AITL)

	v, err = set(`{"timeout": null}`)
	require.NoError(t, err)
	require.Equal(t, "24h", v.Timeout, "null returns to the server's setting")
	require.Equal(t, SourceDefault, v.Sources.Timeout)
	require.Equal(t, "reject", v.OnTimeout)

	// Without a timeout anywhere, approve and reject are refused.
	s.cfg.Workflow.Review.Timeout = 0
	_, err = set(`{"on_timeout": "approve"}`)
	require.Equal(t, "on_timeout", httpx.AsError(err).Field)
	_, err = set(`{"on_timeout": "wait"}`)
	require.NoError(t, err)
	_, err = set(`{"timeout": "10m", "on_timeout": "approve"}`)
	require.NoError(t, err)
	_, err = set(`{"timeout": null}`)
	require.Equal(t, "timeout", httpx.AsError(err).Field)
	v, err = s.ReviewPolicy(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, "10m", v.Timeout, "a refused update changes nothing")

	v, err = set(`{"threshold": null, "timeout": null, "on_timeout": null, "aitl": null}`)
	require.NoError(t, err)
	require.Equal(t, ReviewPolicySources{SourceDefault, SourceDefault, SourceDefault, SourceDefault}, v.Sources)
	require.Equal(t, 0.6, v.Threshold)
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "", 2 * time.Hour: "2h", 90 * time.Minute: "1h30m", 30 * time.Minute: "30m",
		45 * time.Second: "45s", 90 * time.Second: "1m30s", time.Hour + time.Second: "1h0m1s"} {
		require.Equal(t, want, FormatDuration(d), d.String())
	}
}
