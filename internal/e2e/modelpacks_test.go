package e2e

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/app"
	"github.com/quantumlayer/qlp/internal/config"
)

// TestTenantModelPacks: an administrator assigns the tenant one of the
// packs the server offers (llm.tenant_packs), and the model router then
// answers that tenant's tiers from it while other tenants keep the
// default; a pack not offered is refused naming those that are, a key
// without the admin scope is refused, and an empty pack resets.
func TestTenantModelPacks(t *testing.T) {
	pl := startPlatformWith(t, "", pythonModel(t), func(c *config.Config, _ *app.Options) {
		c.LLM.TenantPacks = []string{"ollama-local"}
	})
	ctx := t.Context()
	code, body, _ := pl.call("GET", "/api/v2/model-packs", pl.keys["acme"], nil, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"default":"openai","tenant_pack":"","active":"openai"`)
	require.Contains(t, string(body), `"name":"ollama-local"`)
	require.Contains(t, string(body), `{"tier":"T0","provider":"openai","model":"gpt-4o-mini"}`, "the default pack with the server's tier overrides")

	code, body, _ = pl.call("PUT", "/api/v2/model-packs", pl.keys["acme"], []byte(`{"pack":"ollama-local"}`), nil)
	require.Equal(t, http.StatusForbidden, code, "a key without the admin scope: %s", body)
	admin := pl.adminKey("acme")
	code, body, _ = pl.call("PUT", "/api/v2/model-packs", admin, []byte(`{"pack":"anthropic"}`), nil)
	require.Equal(t, http.StatusBadRequest, code, string(body))
	require.Contains(t, string(body), `offered: openai, ollama-local`)

	code, body, _ = pl.call("PUT", "/api/v2/model-packs", admin, []byte(`{"pack":"ollama-local"}`), nil)
	require.Equal(t, http.StatusOK, code, string(body))
	require.Contains(t, string(body), `"tenant_pack":"ollama-local","active":"ollama-local"`)
	tg, err := pl.p.Router.TargetFor(ctx, "acme", "T0")
	require.NoError(t, err)
	require.Equal(t, []string{"ollama-local", "qwen2.5-coder:7b"}, []string{tg.Pack, tg.Model}, "acme's calls go to its pack")
	tg, err = pl.p.Router.TargetFor(ctx, "globex", "T0")
	require.NoError(t, err)
	require.Equal(t, []string{"openai", "gpt-4o-mini"}, []string{tg.Pack, tg.Model}, "another tenant keeps the default")

	code, body, _ = pl.call("PUT", "/api/v2/model-packs", admin, []byte(`{"pack":""}`), nil)
	require.Equal(t, http.StatusOK, code, string(body))
	tg, err = pl.p.Router.TargetFor(ctx, "acme", "T0")
	require.NoError(t, err)
	require.Equal(t, "openai", tg.Pack, "reset to the default")
}
