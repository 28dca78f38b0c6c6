// Package e2e drives the whole platform the way users do: HTTP calls to the
// orchestrator API of a real platform (embedded Temporal server, real
// worker, real store) whose model is an OpenAI-compatible test server
// answering from a script.
package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/logx/logtest"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/store"
)

const exampleDir = "../../examples/url-shortener"

// exampleScript answers as the scripted example does.
func exampleScript(t testing.TB) (string, []llmtest.Rule) {
	t.Helper()
	ex, err := llmtest.LoadExample(exampleDir)
	require.NoError(t, err)
	return ex.Request, ex.Rules
}

// testConfig is a platform configuration on a temp data dir, a store (SQLite
// unless pgURL is set) and the scripted model at modelURL.
func testConfig(t testing.TB, pgURL, modelURL string) config.Config {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Store.DatabaseURL = pgURL
	cfg.Temporal.Port = 0
	cfg.LLM.Provider, cfg.LLM.BaseURL = "openai", modelURL
	cfg.LLM.Models = [4]string{"gpt-4o-mini", "gpt-4.1-mini", "gpt-4.1", "gpt-4o"}
	// Canary secrets: the log scan after make test proves none is logged.
	cfg.LLM.APIKey, cfg.Budget.WebhookSecret, cfg.ServiceToken = logtest.CanaryLLMKey, logtest.CanaryWebhookSecret, logtest.CanaryServiceToken
	cfg.Forge.GitHubWebhookSecret, cfg.Forge.GitLabWebhookToken = logtest.CanaryWebhookSecret, logtest.CanaryWebhookSecret
	cfg.Workflow.HeartbeatTimeout = 3 * time.Second
	cfg.API.MaxBodyBytes = 64 << 10
	if url := validationURL(t); url != "" {
		cfg.Services.ValidationURL, cfg.ServiceToken = url, meshToken
	}
	return cfg
}

type platform struct {
	t     testing.TB
	p     *app.Platform
	srv   *httptest.Server
	model *llmtest.Server
	keys  map[string]string // tenant → API key
}

func startPlatform(t testing.TB, pgURL string, handler llmtest.Handler) *platform {
	t.Helper()
	return startPlatformWith(t, pgURL, handler, nil)
}

// startPlatformWith is startPlatform with the configuration and the
// options changed by tune first.
func startPlatformWith(t testing.TB, pgURL string, handler llmtest.Handler, tune func(*config.Config, *app.Options)) *platform {
	t.Helper()
	model := llmtest.New(handler)
	t.Cleanup(model.Close)
	cfg, opts := testConfig(t, pgURL, model.URL), app.Options{Run: []string{app.Worker}, Version: "test"}
	if tune != nil {
		tune(&cfg, &opts)
	}
	p, err := app.Open(t.Context(), cfg, logtest.Logger(t), opts)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	srv := httptest.NewServer(p.APIHandler())
	t.Cleanup(srv.Close)
	pl := &platform{t: t, p: p, srv: srv, model: model, keys: map[string]string{}}
	for _, tenant := range []string{"acme", "globex"} {
		pl.keys[tenant] = pl.newKey(tenant)
	}
	return pl
}

func (pl *platform) newKey(tenant string) string {
	_, err := pl.p.Store.EnsureTenant(pl.t.Context(), tenant, tenant)
	require.NoError(pl.t, err)
	key, digest, err := auth.NewKey()
	require.NoError(pl.t, err)
	require.NoError(pl.t, pl.p.Store.CreateAPIKey(pl.t.Context(), store.APIKey{ID: tenant + "-key", TenantID: tenant, Prefix: auth.DisplayPrefix(key.Reveal()), Digest: digest}))
	return key.Reveal()
}

func (pl *platform) client(tenant string) *orchestrator.Client {
	return orchestrator.NewClient(pl.srv.URL, auth.Secret(pl.keys[tenant]), nil)
}

// call makes a raw HTTP request and returns status and body.
func (pl *platform) call(method, path, key string, body []byte, hdr map[string]string) (int, []byte, http.Header) {
	pl.t.Helper()
	req, err := http.NewRequestWithContext(pl.t.Context(), method, pl.srv.URL+path, bytes.NewReader(body))
	require.NoError(pl.t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(pl.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(pl.t, err)
	return resp.StatusCode, b, resp.Header
}

// waitTerminal follows the job's progress stream to its end and returns the
// events seen.
func (pl *platform) waitTerminal(tenant, workflowID string) []orchestrator.ProgressEvent {
	pl.t.Helper()
	var events []orchestrator.ProgressEvent
	require.NoError(pl.t, pl.client(tenant).Follow(pl.t.Context(), workflowID, 0, func(e orchestrator.ProgressEvent) error {
		events = append(events, e)
		return nil
	}))
	return events
}

func mustJSON(t testing.TB, b []byte, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(b, v), string(b))
}
