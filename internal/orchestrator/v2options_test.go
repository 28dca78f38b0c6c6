package orchestrator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/workflow"
)

// TestV2OptionsResolve: every option of POST /v2/execute either changes
// what the job does or is refused, naming it.
func TestV2OptionsResolve(t *testing.T) {
	quick, full := workflow.ChecksQuick, workflow.ChecksFull
	exec := func(tasks, capsule string, strict bool) workflow.ExecutionOptions {
		return workflow.ExecutionOptions{TaskChecks: tasks, CapsuleChecks: capsule, Strict: strict}
	}
	for _, tc := range []struct {
		name     string
		opts     string
		want     workflow.ExecutionOptions
		format   string
		badField string
		status   int
	}{
		{name: "defaults", opts: `{}`, want: exec(quick, full, false)},
		{name: "complete", opts: `{"mode":"complete"}`, want: exec(quick, full, false)},
		{name: "basic validates the capsule quickly", opts: `{"mode":"basic"}`, want: exec(quick, quick, false)},
		{name: "robust validates everything in full, strictly", opts: `{"mode":"robust"}`, want: exec(full, full, true)},
		{name: "robust, not strict", opts: `{"mode":"robust","validation":{"strict":false}}`, want: exec(full, full, false)},
		{name: "strict", opts: `{"validation":{"strict":true}}`, want: exec(quick, full, true)},
		{name: "security on is what happens", opts: `{"validation":{"security":true,"performance":false}}`, want: exec(quick, full, false)},
		{name: "null is the default", opts: `{"validation":{"strict":null},"delivery":{"format":null}}`, want: exec(quick, full, false)},
		{name: "delivery format", opts: `{"delivery":{"format":"targz","method":"download","stream":false}}`, want: exec(quick, full, false), format: "tar.gz"},
		{name: "delivery tar", opts: `{"delivery":{"format":"tar"}}`, want: exec(quick, full, false), format: "tar"},
		{name: "unknown mode", opts: `{"mode":"turbo"}`, badField: "options.mode", status: 400},
		{name: "security off", opts: `{"validation":{"security":false}}`, badField: "options.validation.security", status: 400},
		{name: "performance", opts: `{"validation":{"performance":true}}`, badField: "options.validation.performance", status: 501},
		{name: "strict not a boolean", opts: `{"validation":{"strict":"yes"}}`, badField: "options.validation.strict", status: 400},
		{name: "unknown validation option", opts: `{"validation":{"fuzz":true}}`, badField: "options.validation.fuzz", status: 400},
		{name: "unknown format", opts: `{"delivery":{"format":"rar"}}`, badField: "options.delivery.format", status: 400},
		{name: "email delivery", opts: `{"delivery":{"method":"email"}}`, badField: "options.delivery.method", status: 501},
		{name: "s3 delivery", opts: `{"delivery":{"method":"s3"}}`, badField: "options.delivery.method", status: 501},
		{name: "streamed delivery", opts: `{"delivery":{"stream":true}}`, badField: "options.delivery.stream", status: 501},
		{name: "unknown delivery option", opts: `{"delivery":{"webhook":"x"}}`, badField: "options.delivery.webhook", status: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o V2Options
			require.NoError(t, json.Unmarshal([]byte(tc.opts), &o))
			plan, err := resolveV2(o)
			if tc.badField != "" {
				he := httpx.AsError(err)
				require.NotNil(t, he, "%v", err)
				require.Equal(t, tc.badField, he.Field)
				require.Equal(t, tc.status, he.Status)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, plan.Execution)
			format := tc.format
			if format == "" {
				format = "zip"
			}
			require.Equal(t, Delivery{Method: "download", Format: format}, plan.Delivery)
		})
	}
}

// TestV2FeaturesFollowTheSettings: the features a v2 answer lists come from
// the job's options and the server's settings, not from a fixed list.
func TestV2FeaturesFollowTheSettings(t *testing.T) {
	basic, err := resolveV2(V2Options{Mode: ModeBasic})
	require.NoError(t, err)
	robust, err := resolveV2(V2Options{Mode: ModeRobust, Delivery: map[string]any{"format": "tar"}})
	require.NoError(t, err)
	s := &Service{cfg: Config{Workflow: workflow.Config{MaxAttempts: 3, EscalateAfter: 2}}}
	require.Equal(t, []string{"task_validation:quick", "capsule_validation:quick", "repair_loop:3_attempts", "tier_escalation:after_2",
		"signed_capsule", "delivery:download:zip"}, s.features(basic, "", workflow.ReviewPolicy{}, false))
	require.Equal(t, []string{"task_validation:full", "capsule_validation:full", "strict_validation", "repair_loop:3_attempts", "tier_override:T2",
		"tier_escalation:after_2", "human_review:below_0.8", "automated_review", "reuse", "signed_capsule", "delivery:download:tar"},
		s.features(robust, "T2", workflow.ReviewPolicy{Threshold: 0.8, AITL: true}, true))
	one := &Service{cfg: Config{Workflow: workflow.Config{MaxAttempts: 1, EscalateAfter: 2}}}
	require.Equal(t, []string{"task_validation:quick", "capsule_validation:quick", "signed_capsule", "delivery:download:zip"},
		one.features(basic, "", workflow.ReviewPolicy{}, false), "no repair loop, no escalation with one attempt")
}

// TestV2ExecuteRefusesWhatItCannotDo: an option this build cannot honour
// is refused before anything is recorded or started, naming the option.
func TestV2ExecuteRefusesWhatItCannotDo(t *testing.T) {
	api := newCompatAPI(t)
	for _, tc := range []struct {
		options, field string
		status         int
	}{
		{`{"validation":{"performance":true}}`, "options.validation.performance", http.StatusNotImplemented},
		{`{"validation":{"security":false}}`, "options.validation.security", http.StatusBadRequest},
		{`{"delivery":{"method":"email"}}`, "options.delivery.method", http.StatusNotImplemented},
		{`{"delivery":{"stream":true}}`, "options.delivery.stream", http.StatusNotImplemented},
		{`{"delivery":{"format":"rar"}}`, "options.delivery.format", http.StatusBadRequest},
		{`{"mode":"turbo"}`, "options.mode", http.StatusBadRequest},
		{`{"metadata":{"qlp_execution":{"strict":false}}}`, "metadata.qlp_execution", http.StatusBadRequest},
	} {
		t.Run(tc.field, func(t *testing.T) {
			body := []byte(`{"description":"a URL shortener in Go","options":` + tc.options + `}`)
			req, err := http.NewRequestWithContext(t.Context(), "POST", api.srv.URL+"/v2/execute", bytes.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			require.Equal(t, tc.status, resp.StatusCode, string(raw))
			var eb httpx.ErrorBody
			require.NoError(t, json.Unmarshal(raw, &eb))
			require.Equal(t, tc.field, eb.Field)
			jobs, err := api.store.ListJobs(t.Context(), "acme", 100, 0)
			require.NoError(t, err)
			require.Len(t, jobs, len(api.jobs), "nothing was recorded")
		})
	}
}
