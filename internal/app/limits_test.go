package app_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/config"
	"github.com/quantumlayer/qlp/internal/httpx"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/orchestrator"
	"github.com/quantumlayer/qlp/internal/redisx/redistest"
	"github.com/quantumlayer/qlp/internal/store"
)

// Two orchestrator replicas (two platforms) configured with one Redis
// share one tenant budget: with limits.tenant_requests_per_minute = n, the
// (n+1)th request, on the other replica, is a 429 naming the limit. The
// health probes stay open to a tenant that ran out.
func TestReplicasShareRateLimitsThroughRedis(t *testing.T) {
	redistest.Client(t) // skips without the test Redis
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.Store.Driver, cfg.Store.DatabaseURL = "sqlite", ""
	cfg.Redis.URL = os.Getenv("QLP_TEST_REDIS_URL")
	const n = 3
	cfg.Limits = orchestrator.Limits{KeyRPM: 100, TenantRPM: n}
	var replicas []*httptest.Server
	var a *app.Platform
	for i := range 2 {
		p, err := app.Open(t.Context(), cfg, logx.Discard(), app.Options{NoEngine: true, Version: "test"})
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		if i == 0 {
			a = p
		}
		srv := httptest.NewServer(p.APIHandler())
		t.Cleanup(srv.Close)
		replicas = append(replicas, srv)
	}
	// A tenant of its own, so that buckets left in the shared Redis by
	// an earlier run do not count.
	tenant := "t-" + uuid.NewString()[:8]
	_, err := a.Store.EnsureTenant(t.Context(), tenant, tenant)
	require.NoError(t, err)
	key, digest, err := auth.NewKey()
	require.NoError(t, err)
	require.NoError(t, a.Store.CreateAPIKey(t.Context(), store.APIKey{ID: tenant + "-k", TenantID: tenant, Prefix: auth.DisplayPrefix(key.Reveal()), Digest: digest}))

	get := func(srv *httptest.Server, path string) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), "GET", srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key.Reveal())
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for i := range n {
		resp := get(replicas[i%2], "/api/capsules")
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d", i)
	}
	resp := get(replicas[n%2], "/api/capsules")
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	var body httpx.ErrorBody
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Equal(t, orchestrator.LimitTenantRequests, body.Limit)
	require.EqualValues(t, n, body.LimitValue)
	require.Equal(t, "rate_limited", body.Code)
	require.Equal(t, http.StatusTooManyRequests, get(replicas[(n+1)%2], "/api/capsules").StatusCode, "and on the first replica too")

	for _, path := range []string{"/healthz", "/health"} {
		for _, srv := range replicas {
			require.Equal(t, http.StatusOK, get(srv, path).StatusCode, "%s is never limited", path)
		}
	}
}
