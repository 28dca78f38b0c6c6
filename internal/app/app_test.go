package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/budget"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/costs"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/store"
)

// The Agent Factory on its own: authenticated POST /execute answered by
// the configured tier's model, unauthenticated probes, and the LLM metrics
// on its /metrics (and not on the orchestrator's, so that a Prometheus
// scraping both counts each call once).
func TestAgentsService(t *testing.T) {
	model := llmtest.New(llmtest.NewScript(llmtest.Rule{Role: "agent", Replies: []llmtest.Reply{{Content: `{"summary":"hello",` +
		`"files":[{"path":"hello.py","content":"print('hello')\n"},{"path":"test_hello.py","content":"def test_hello():\n    assert True\n"}]}`}}}).Handle)
	defer model.Close()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Store.Driver, cfg.Store.DatabaseURL = "sqlite", ""
	cfg.LLM.Provider, cfg.LLM.BaseURL = "openai", model.URL
	cfg.LLM.Models = [4]string{"gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1", "gpt-4o"}
	p, err := app.Open(t.Context(), cfg, logx.Discard(), app.Options{NoEngine: true, Run: []string{app.Agents}, Version: "test"})
	require.NoError(t, err)
	defer p.Close()
	_, err = p.Store.EnsureTenant(t.Context(), "acme", "acme")
	require.NoError(t, err)
	key, digest, err := auth.NewKey()
	require.NoError(t, err)
	require.NoError(t, p.Store.CreateAPIKey(t.Context(), store.APIKey{ID: "k1", TenantID: "acme", Prefix: auth.DisplayPrefix(key.Reveal()), Digest: digest}))

	agentsHandler, err := p.Handler(app.Agents)
	require.NoError(t, err)
	agents := httptest.NewServer(agentsHandler)
	defer agents.Close()
	api := httptest.NewServer(p.APIHandler())
	defer api.Close()

	do := func(base, method, path, key, body string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	body := `{"task":{"id":"hello","description":"print hello in Python"},"tier":"T2"}`

	tests := []struct {
		name, method, path, key, body string
		status                        int
		contains                      string
	}{
		{"no credential", http.MethodPost, "/execute", "", body, 401, "unauthorized"},
		{"wrong credential", http.MethodPost, "/execute", "qlp_wrong", body, 401, "unauthorized"},
		{"health without credential", http.MethodGet, "/healthz", "", "", 200, "ok"},
		{"ready without credential", http.MethodGet, "/readyz", "", "", 200, "store"},
		{"execute", http.MethodPost, "/execute", key.Reveal(), body, 200, `"agent_tier_used":"T2"`},
		{"unknown route", http.MethodGet, "/nope", key.Reveal(), "", 404, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out := do(agents.URL, tc.method, tc.path, tc.key, tc.body)
			require.Equal(t, tc.status, status, out)
			require.Contains(t, out, tc.contains)
		})
	}
	require.Equal(t, "gpt-4.1", model.Calls()[0].Model, "T2's model answered")

	_, metrics := do(agents.URL, http.MethodGet, "/metrics", "", "")
	require.True(t, strings.Contains(metrics, `qlp_llm_calls_total{model="gpt-4.1",outcome="ok",provider="openai",tier="T2"} 1`),
		"the call is counted on the agents' /metrics")
	require.True(t, strings.Contains(metrics, `qlp_http_requests_total{endpoint="POST /execute",method="POST",status="200"} 1`),
		"requests are labelled with their route")
	_, apiMetrics := do(api.URL, http.MethodGet, "/metrics", "", "")
	require.False(t, strings.Contains(apiMetrics, "qlp_llm_calls_total"), "and only there")

	rows, err := p.Store.ListUsage(t.Context(), store.UsageFilter{TenantID: "acme"})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, "agent", rows[0].Role)
	require.Positive(t, rows[0].CostPUSD)
	require.False(t, bytes.Contains([]byte(metrics), []byte(key.Reveal())), "no secret in metrics")

	// A call that would not fit the tenant's daily budget is refused before
	// it is made.
	before := len(model.Calls())
	u, err := budget.ParseUpdate([]byte(`{"tenant_daily_usd": "0.000001"}`))
	require.NoError(t, err)
	_, err = p.Budget.Update(t.Context(), "acme", u, "test")
	require.NoError(t, err)
	status, out := do(agents.URL, http.MethodPost, "/execute", key.Reveal(), body)
	require.Equal(t, http.StatusPaymentRequired, status, out)
	require.Contains(t, out, "budget_exceeded")
	require.Len(t, model.Calls(), before, "no model call was made")
}

// A provider named alone (the README's `export QLP_LLM_PROVIDER=openai`)
// uses its pack's models: the platform starts, and cost estimates price
// those models, with a QLP_LLM_MODEL_T* override where one is set.
func TestProviderAloneUsesItsPacksModels(t *testing.T) {
	for _, tc := range []struct {
		name   string
		models [4]string
		t0     string
	}{
		{name: "pack defaults", t0: "gpt-4.1-nano"},
		{name: "one override", models: [4]string{"gpt-4o-mini"}, t0: "gpt-4o-mini"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Defaults()
			cfg.DataDir = t.TempDir()
			cfg.Store.Driver, cfg.Store.DatabaseURL = "sqlite", ""
			cfg.LLM.Provider, cfg.LLM.APIKey, cfg.LLM.Models = "openai", "sk-test", tc.models
			p, err := app.Open(t.Context(), cfg, logx.Discard(), app.Options{NoEngine: true, Version: "test"})
			require.NoError(t, err)
			defer p.Close()
			est, err := p.Costs.Estimate(t.Context(), costs.EstimateQuery{Complexity: "medium"})
			require.NoError(t, err)
			require.NotEmpty(t, est.EstimatedCosts)
			require.Equal(t, "T0", est.EstimatedCosts[0].Tier)
			require.Equal(t, tc.t0, est.EstimatedCosts[0].Model)
		})
	}
}

// TestOpenTargets: Open starts what a target needs before it (the
// validation mesh on a sandbox of its own, or on the one a URL names), and
// Handler serves only what is open here.
func TestOpenTargets(t *testing.T) {
	base := func(t *testing.T) config.Config {
		cfg := config.Defaults()
		cfg.DataDir = t.TempDir()
		cfg.Store.Driver, cfg.Store.DatabaseURL = "sqlite", ""
		cfg.Services.SandboxURL, cfg.Services.ValidationURL, cfg.Services.MemoryURL = "", "", ""
		return cfg
	}
	t.Run("validation opens its sandbox first", func(t *testing.T) {
		p, err := app.Open(t.Context(), base(t), logx.Discard(), app.Options{NoEngine: true, Run: []string{app.Validation}, Version: "test"})
		require.NoError(t, err)
		defer p.Close()
		require.Equal(t, []string{app.Sandbox, app.Validation}, p.Plan.Local)
		require.NotNil(t, p.Sandbox)
		require.NotNil(t, p.Validation)
		_, err = p.Handler(app.Validation)
		require.NoError(t, err)
		_, err = p.Handler(app.Worker)
		require.ErrorContains(t, err, "worker does not run in this process")
		_, err = p.Handler(app.Marketing)
		require.ErrorContains(t, err, "marketing does not run in this process")
		_, err = p.Handler("billing")
		require.ErrorContains(t, err, `unknown target "billing"`)
	})
	t.Run("a service named by URL is not opened, nor what it needs", func(t *testing.T) {
		cfg := base(t)
		cfg.Services.ValidationURL = "http://127.0.0.1:1"
		p, err := app.Open(t.Context(), cfg, logx.Discard(), app.Options{NoEngine: true, Use: []string{app.Validation}, Version: "test"})
		require.NoError(t, err)
		defer p.Close()
		require.Equal(t, []string{app.Validation}, p.Plan.Remote)
		require.Empty(t, p.Plan.Local)
		require.Nil(t, p.Validation)
		require.Nil(t, p.Sandbox)
		_, err = p.Handler(app.Validation)
		require.ErrorContains(t, err, "validation does not run in this process")
	})
	t.Run("a worker needs the engine", func(t *testing.T) {
		cfg := base(t)
		cfg.LLM.Provider, cfg.LLM.APIKey = "openai", "sk-test"
		_, err := app.Open(t.Context(), cfg, logx.Discard(), app.Options{NoEngine: true, Run: []string{app.Worker}, Version: "test"})
		require.ErrorContains(t, err, "the worker needs the workflow engine")
		_, err = app.Open(t.Context(), cfg, logx.Discard(), app.Options{NoEngine: true, Run: []string{app.Marketing}, Version: "test"})
		require.ErrorContains(t, err, "the marketing needs the workflow engine")
	})
	t.Run("unknown target", func(t *testing.T) {
		_, err := app.Open(t.Context(), base(t), logx.Discard(), app.Options{NoEngine: true, Run: []string{"billing"}, Version: "test"})
		require.ErrorContains(t, err, `unknown target "billing" (want orchestrator, agents, memory, sandbox, validation, worker, marketing)`)
	})
}

// TestBlobReadiness: the orchestrator opens the blob store `qlp up`
// configures by default (a directory under the data directory) and its
// /readyz reports it; a blob store it cannot reach makes it not ready,
// naming the store.
func TestBlobReadiness(t *testing.T) {
	tests := []struct {
		name   string
		blob   func(c *config.Config)
		status int
		check  string
	}{
		{name: "default local directory", blob: func(*config.Config) {}, status: 200, check: "ok"},
		{name: "unreachable s3", blob: func(c *config.Config) {
			c.Blob.Backend, c.Blob.Bucket, c.Blob.Region = "s3", "qlp", "us-east-1"
			c.Blob.Endpoint, c.Blob.PathStyle = "http://127.0.0.1:1", true
			c.Blob.AccessKeyID, c.Blob.SecretAccessKey = "AKIDEXAMPLE", "s3-secret-key"
		}, status: 503, check: `blob: s3 bucket "qlp" at http://127.0.0.1:1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Defaults()
			cfg.DataDir = t.TempDir()
			cfg.Store.Driver, cfg.Store.DatabaseURL = "sqlite", ""
			tt.blob(&cfg)
			p, err := app.Open(t.Context(), cfg, logx.Discard(), app.Options{NoEngine: true, Version: "test"})
			require.NoError(t, err)
			defer p.Close()
			if cfg.Blob.Backend == "local" {
				require.Equal(t, "local directory "+filepath.Join(cfg.DataDir, "blobs"), p.Blobs.String())
			}
			rec := httptest.NewRecorder()
			p.APIHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			var body struct{ Checks map[string]string }
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
			require.Contains(t, body.Checks["blob"], tt.check)
			require.NotContains(t, rec.Body.String(), "s3-secret-key")
		})
	}
}

// `qlp up` without a model configured starts: the targets that need a
// model open, and their router refuses every target with the error that
// says what to set (the job that asks fails with it).
func TestOpenWithoutAModel(t *testing.T) {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Store.Driver, cfg.Store.DatabaseURL = "sqlite", ""
	require.False(t, cfg.LLM.Configured())
	p, err := app.Open(t.Context(), cfg, logx.Discard(), app.Options{NoEngine: true, Run: []string{app.Agents}, Version: "test"})
	require.NoError(t, err)
	defer p.Close()
	require.NotNil(t, p.Router)
	_, err = p.Router.TargetFor(t.Context(), "acme", "T1")
	require.ErrorContains(t, err, "no model is configured")
	require.ErrorContains(t, err, "QLP_LLM_PROVIDER")
}
