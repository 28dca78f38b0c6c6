package llm_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/openai"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/pricing"
)

func TestMetricsCountCallsTokensCostAndErrors(t *testing.T) {
	n := 0
	srv := llmtest.New(func(llmtest.Call) llmtest.Reply {
		n++
		if n == 2 {
			return llmtest.Reply{Status: http.StatusTooManyRequests, Body: `{"error":{"message":"slow down","type":"requests"}}`}
		}
		return llmtest.Reply{Content: "ok", Usage: &llm.Usage{InputTokens: 1000, CachedInputTokens: 400, OutputTokens: 200}}
	})
	defer srv.Close()
	reg := prometheus.NewRegistry()
	m, err := llm.NewMetrics(reg)
	require.NoError(t, err)
	prices, _ := pricing.Builtin()
	metered, err := llm.NewMetered(openai.New(openai.Config{BaseURL: srv.URL}), prices, &sink{}, logx.Discard(), "gpt-4o-mini")
	require.NoError(t, err)
	p := m.Instrument(metered)
	req := llm.Request{Model: "gpt-4o-mini", MaxTokens: 10, Messages: []llm.Message{{Role: "user", Content: "x"}}, Meta: llm.Meta{TenantID: "acme", Tier: "T1"}}
	_, err = p.Chat(t.Context(), req)
	require.NoError(t, err)
	_, err = p.Stream(t.Context(), req, nil)
	require.ErrorIs(t, err, llm.ErrRateLimited)
	m.CacheLookup("openai", true)
	m.CacheLookup("openai", false)
	m.CacheLookup("openai", false)
	m.CacheLookup("openai", false)
	m.BreakerChanged("openai", llm.BreakerOpen)
	m.Retried("openai", llm.KindRateLimit, time.Second)
	m.FellBack("T1", "openai/gpt-4o-mini", "anthropic/claude-haiku-4-5-20251001")
	m.Throttled("openai", 2*time.Second)

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP qlp_llm_calls_total Model calls by provider, model, tier and outcome (ok, or the error kind).
# TYPE qlp_llm_calls_total counter
qlp_llm_calls_total{model="gpt-4o-mini",outcome="ok",provider="openai",tier="T1"} 1
qlp_llm_calls_total{model="gpt-4o-mini",outcome="rate_limited",provider="openai",tier="T1"} 1
# HELP qlp_llm_tokens_total Tokens of answered calls by direction: input (including cached_input and cache_write_input), cached_input, cache_write_input (counted once a call writes to the prompt cache), output.
# TYPE qlp_llm_tokens_total counter
qlp_llm_tokens_total{direction="cached_input",model="gpt-4o-mini",provider="openai",tier="T1"} 400
qlp_llm_tokens_total{direction="input",model="gpt-4o-mini",provider="openai",tier="T1"} 1000
qlp_llm_tokens_total{direction="output",model="gpt-4o-mini",provider="openai",tier="T1"} 200
# HELP qlp_llm_cache_hit_ratio Share of cacheable requests answered from the response cache since start.
# TYPE qlp_llm_cache_hit_ratio gauge
qlp_llm_cache_hit_ratio 0.25
# HELP qlp_llm_breaker_state Circuit breaker state per provider: 0 closed, 1 half-open, 2 open.
# TYPE qlp_llm_breaker_state gauge
qlp_llm_breaker_state{provider="openai"} 2
`), "qlp_llm_calls_total", "qlp_llm_tokens_total", "qlp_llm_cache_hit_ratio", "qlp_llm_breaker_state"))
	// 600 fresh × 0.15 + 400 cached × 0.075 + 200 × 0.60 per million tokens.
	require.InDelta(t, (600*0.15+400*0.075+200*0.60)/1e6, testutil.ToFloat64(m.CostCounter("openai", "gpt-4o-mini", "T1")), 1e-12)
	require.Equal(t, 1.0, testutil.ToFloat64(m.ErrorCounter("openai", "gpt-4o-mini", "T1", "rate_limited")))
	_, err = llm.NewMetrics(reg)
	require.Error(t, err, "registering twice on one registry fails loudly")
}
