package tiers_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/replay"
	"github.com/quantumlayer/qlp/internal/llm/respcache"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/redisx/redistest"
	"github.com/quantumlayer/qlp/internal/vocab"
)

type sink struct {
	mu   sync.Mutex
	rows []domain.Usage
}

func (s *sink) RecordUsage(_ context.Context, u domain.Usage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rows = append(s.rows, u)
	return nil
}

func (s *sink) all() []domain.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]domain.Usage(nil), s.rows...)
}

func TestEveryBuiltinPackModelIsPriced(t *testing.T) {
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	for _, p := range tiers.Packs() {
		for i, s := range p.Tiers {
			_, err := prices.Lookup(s.Provider, s.Model)
			require.NoError(t, err, "pack %s tier T%d", p.Name, i)
			require.Contains(t, tiers.Providers, s.Provider)
		}
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	tests := []struct {
		name string
		edit func(c *tiers.Config)
		want string // "" = valid
	}{
		{"no provider", func(c *tiers.Config) {}, "QLP_LLM_PROVIDER"},
		{"openai with key", func(c *tiers.Config) { c.Provider, c.APIKey = "openai", "sk" }, ""},
		{"openai without key or URL", func(c *tiers.Config) { c.Provider = "openai" }, "QLP_LLM_API_KEY"},
		{"openai-compatible server without key", func(c *tiers.Config) { c.Provider, c.BaseURL = "openai", "http://127.0.0.1:8000/v1" }, ""},
		{"bad base URL", func(c *tiers.Config) { c.Provider, c.BaseURL = "openai", "localhost:8000" }, "QLP_LLM_BASE_URL"},
		{"unknown provider", func(c *tiers.Config) { c.Provider = "gemini" }, "QLP_LLM_PROVIDER"},
		{"unknown pack", func(c *tiers.Config) { c.Pack = "best" }, "QLP_LLM_PACK"},
		{"azure without endpoint", func(c *tiers.Config) { c.Provider, c.Azure.APIKey = "azure", "k" }, "QLP_LLM_AZURE_ENDPOINT"},
		{"azure without key", func(c *tiers.Config) { c.Provider, c.Azure.Endpoint = "azure", "https://x.openai.azure.com" }, "QLP_LLM_AZURE_API_KEY"},
		{"azure bad deployments", func(c *tiers.Config) {
			c.Provider, c.Azure.Endpoint, c.Azure.APIKey, c.Azure.Deployments = "azure", "https://x.openai.azure.com", "k", "gpt-4.1"
		}, "QLP_LLM_AZURE_DEPLOYMENTS"},
		{"anthropic without key", func(c *tiers.Config) { c.Provider = "anthropic" }, "QLP_LLM_ANTHROPIC_API_KEY"},
		{"bedrock without region", func(c *tiers.Config) { c.Provider = "bedrock" }, "QLP_LLM_AWS_REGION"},
		{"bedrock US profiles from Europe", func(c *tiers.Config) { c.Provider, c.Bedrock.Region = "bedrock", "eu-west-1" }, "QLP_LLM_MODEL_T1"},
		{"bedrock Europe with own models", func(c *tiers.Config) {
			c.Provider, c.Bedrock.Region = "bedrock", "eu-west-1"
			c.Models = [4]string{"", "eu.anthropic.claude-3-5-haiku", "eu.anthropic.claude-sonnet", "eu.anthropic.claude-opus"}
		}, ""},
		{"ollama needs nothing", func(c *tiers.Config) { c.Provider = "ollama" }, ""},
		{"ollama window smaller than the answer", func(c *tiers.Config) { c.Provider, c.Ollama.MaxContext = "ollama", 8192 }, "QLP_LLM_OLLAMA_MAX_CONTEXT"},
		{"hybrid needs the OpenAI key too", func(c *tiers.Config) { c.Pack = "hybrid" }, "QLP_LLM_API_KEY"},
		{"tenant pack whose provider is not configured", func(c *tiers.Config) {
			c.Provider, c.Anthropic.APIKey, c.TenantPacks = "anthropic", "k", []string{"azure"}
		}, "QLP_LLM_AZURE_ENDPOINT"},
		{"unknown fallback pack", func(c *tiers.Config) { c.Provider, c.APIKey, c.FallbackPack = "openai", "k", "nope" }, "QLP_LLM_FALLBACK_PACK"},
		{"rate limits", func(c *tiers.Config) {
			c.Provider, c.APIKey, c.RateLimits = "openai", "k", "openai=500/200000, ollama=0/0"
		}, ""},
		{"bad rate limits", func(c *tiers.Config) { c.Provider, c.APIKey, c.RateLimits = "openai", "k", "openai=500" }, "QLP_LLM_RATE_LIMITS"},
		{"rate limit of an unknown provider", func(c *tiers.Config) { c.Provider, c.APIKey, c.RateLimits = "openai", "k", "groq=1/1" }, "QLP_LLM_RATE_LIMITS"},
		{"replay without cassette", func(c *tiers.Config) { c.Provider = "replay" }, "QLP_LLM_CASSETTE"},
		{"retries", func(c *tiers.Config) { c.Provider, c.APIKey, c.Retry.MaxAttempts = "openai", "k", 0 }, "QLP_LLM_RETRY_MAX_ATTEMPTS"},
		{"breaker", func(c *tiers.Config) { c.Provider, c.APIKey, c.Breaker.Failures = "openai", "k", 0 }, "QLP_LLM_BREAKER_FAILURES"},
		{"cache temperature", func(c *tiers.Config) { c.Provider, c.APIKey, c.Cache.MaxTemperature = "openai", "k", 3 }, "QLP_LLM_CACHE_MAX_TEMPERATURE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tiers.Defaults()
			tt.edit(&c)
			err := c.Validate()
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestParseFlag(t *testing.T) {
	tests := []struct {
		flag  string
		check func(t *testing.T, c tiers.Config)
		err   bool
	}{
		{"replay:x.jsonl", func(t *testing.T, c tiers.Config) { require.Equal(t, "x.jsonl", c.Cassette) }, false},
		{"openai:http://h/v1", func(t *testing.T, c tiers.Config) { require.Equal(t, "http://h/v1", c.BaseURL) }, false},
		{"ollama:http://h:11434/v1", func(t *testing.T, c tiers.Config) { require.Equal(t, "http://h:11434", c.Ollama.URL) }, false},
		{"azure:https://r.openai.azure.com", func(t *testing.T, c tiers.Config) { require.Equal(t, "https://r.openai.azure.com", c.Azure.Endpoint) }, false},
		{"anthropic", func(t *testing.T, c tiers.Config) { require.Equal(t, "anthropic", c.Provider) }, false},
		{"bedrock:eu-central-1", func(t *testing.T, c tiers.Config) { require.Equal(t, "eu-central-1", c.Bedrock.Region) }, false},
		{"pack:hybrid", func(t *testing.T, c tiers.Config) { require.Equal(t, "hybrid", c.Pack) }, false},
		{"pack:nope", nil, true},
		{"gemini", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			c := tiers.Defaults()
			err := c.ParseFlag(tt.flag)
			if tt.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

// ollamaServer speaks Ollama's native /api/chat.
func ollamaServer(t *testing.T, answer string, calls *atomic.Int32) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		require.Equal(t, "/api/chat", r.URL.Path)
		var body map[string]any
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		require.NotZero(t, body["options"].(map[string]any)["num_ctx"])
		io.WriteString(w, `{"model":"`+body["model"].(string)+`","message":{"role":"assistant","content":"`+answer+`"},"done":true,"done_reason":"stop","prompt_eval_count":10,"eval_count":2}`+"\n")
	}))
}

func TestHybridPackRoutesTiersToTheirProviders(t *testing.T) {
	var localCalls atomic.Int32
	local := ollamaServer(t, "local", &localCalls)
	defer local.Close()
	hosted := llmtest.New(func(llmtest.Call) llmtest.Reply { return llmtest.Reply{Content: "hosted"} })
	defer hosted.Close()
	c := tiers.Defaults()
	c.Pack, c.BaseURL, c.Ollama.URL = "hybrid", hosted.URL, local.URL
	rows := &sink{}
	reg := prometheus.NewRegistry()
	r, err := tiers.New(c, tiers.Deps{Sink: rows, Logger: logx.Discard(), Registerer: reg})
	require.NoError(t, err)
	defer r.Close()
	require.Equal(t, "hybrid", r.Provider)
	require.Equal(t, map[string]string{"T0": "qwen2.5-coder:7b", "T1": "gpt-4.1-mini", "T2": "gpt-4.1", "T3": "o3"}, r.Models())
	for _, tier := range vocab.Tiers() {
		tg, err := r.Target(tier)
		require.NoError(t, err)
		resp, err := tg.Provider.Stream(t.Context(), llm.Request{Model: tg.Model, MaxTokens: 100, Temperature: 0.9,
			Messages: []llm.Message{{Role: "user", Content: "hi " + tier}}, Meta: llm.Meta{TenantID: "acme", Tier: tier}}, nil)
		require.NoError(t, err)
		if tier == "T0" {
			require.Equal(t, "local", resp.Content)
		} else {
			require.Equal(t, "hosted", resp.Content)
		}
	}
	require.EqualValues(t, 1, localCalls.Load())
	require.Len(t, hosted.Calls(), 3)
	got := rows.all()
	require.Len(t, got, 4)
	require.Equal(t, "ollama", got[0].Provider)
	require.Zero(t, got[0].CostPUSD, "local models are free")
	require.Equal(t, "openai", got[1].Provider)
	require.Positive(t, got[1].CostPUSD)
	n, err := testutil.GatherAndCount(reg, "qlp_llm_calls_total")
	require.NoError(t, err)
	require.Equal(t, 4, n)
}

func TestFallbackPackAnswersWhenTheProviderIsDown(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":{"message":"overloaded","type":"server_error"}}`)
	}))
	defer down.Close()
	var localCalls atomic.Int32
	local := ollamaServer(t, "from the fallback", &localCalls)
	defer local.Close()
	c := tiers.Defaults()
	c.Provider, c.BaseURL, c.FallbackPack, c.Ollama.URL = "openai", down.URL, "ollama-local", local.URL
	c.Retry.MaxAttempts, c.Breaker.Failures, c.Breaker.OpenFor = 1, 2, time.Hour
	rows := &sink{}
	r, err := tiers.New(c, tiers.Deps{Sink: rows, Logger: logx.Discard(), Registerer: prometheus.NewRegistry()})
	require.NoError(t, err)
	tg, err := r.Target("T2")
	require.NoError(t, err)
	require.Equal(t, "ollama/qwen2.5-coder:32b", tg.Fallback)
	for range 3 {
		resp, err := tg.Provider.Chat(t.Context(), llm.Request{Model: tg.Model, MaxTokens: 100, Temperature: 0.9,
			Messages: []llm.Message{{Role: "user", Content: "hi"}}, Meta: llm.Meta{TenantID: "acme", Tier: "T2"}})
		require.NoError(t, err)
		require.Equal(t, "from the fallback", resp.Content)
		require.Equal(t, "ollama", resp.Provider)
	}
	require.EqualValues(t, 3, localCalls.Load())
	for _, u := range rows.all() {
		require.Equal(t, "ollama", u.Provider)
		require.Equal(t, "qwen2.5-coder:32b", u.Model, "the row names the model that answered")
	}
}

type packs map[string]string

func (p packs) PackFor(_ context.Context, tenant string) (string, error) {
	if tenant == "broken" {
		return "", errors.New("store down")
	}
	return p[tenant], nil
}

func TestTenantPacks(t *testing.T) {
	hosted := llmtest.New(func(llmtest.Call) llmtest.Reply { return llmtest.Reply{Content: "x"} })
	defer hosted.Close()
	c := tiers.Defaults()
	c.Provider, c.BaseURL, c.TenantPacks = "openai", hosted.URL, []string{"ollama-local"}
	c.Models[3] = "gpt-4.1"
	r, err := tiers.New(c, tiers.Deps{Sink: &sink{}, Logger: logx.Discard(),
		Packs: packs{"acme": "ollama-local", "globex": "", "initech": "anthropic"}})
	require.NoError(t, err)
	require.Equal(t, []string{"ollama-local", "openai"}, r.PackNames())
	tests := []struct {
		tenant, tier  string
		pack, model   string
		provider, err string
	}{
		{"acme", "T1", "ollama-local", "qwen2.5-coder:14b", "ollama", ""},
		{"globex", "T3", "openai", "gpt-4.1", "openai", ""},
		{"", "T0", "openai", "gpt-4.1-nano", "openai", ""},
		{"initech", "T0", "", "", "", "QLP_LLM_TENANT_PACKS"},
		{"broken", "T0", "", "", "", "store down"},
		{"acme", "T9", "", "", "", "unknown tier"},
	}
	for _, tt := range tests {
		t.Run(tt.tenant+"/"+tt.tier, func(t *testing.T) {
			tg, err := r.TargetFor(t.Context(), tt.tenant, tt.tier)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.pack, tg.Pack)
			require.Equal(t, tt.model, tg.Model)
			require.Equal(t, tt.provider, tg.Provider.Name())
		})
	}
}

func TestUnpricedModelFailsStartUp(t *testing.T) {
	c := tiers.Defaults()
	c.Provider, c.APIKey = "openai", "k"
	c.Models[2] = "gpt-9-ultra"
	_, err := tiers.New(c, tiers.Deps{Sink: &sink{}, Logger: logx.Discard()})
	require.ErrorIs(t, err, pricing.ErrUnknownModel)
	require.ErrorContains(t, err, "QLP_LLM_MODEL_T0..T3")
}

func TestOverrideNamesAnotherProvider(t *testing.T) {
	var localCalls atomic.Int32
	local := ollamaServer(t, "local", &localCalls)
	defer local.Close()
	c := tiers.Defaults()
	c.Provider, c.APIKey, c.Ollama.URL = "openai", "k", local.URL
	c.Models[0] = "ollama:llama3.1:8b"
	r, err := tiers.New(c, tiers.Deps{Sink: &sink{}, Logger: logx.Discard()})
	require.NoError(t, err)
	tg, err := r.Target("T0")
	require.NoError(t, err)
	require.Equal(t, "ollama", tg.Provider.Name())
	require.Equal(t, "llama3.1:8b", tg.Model)
	require.Equal(t, "openai", r.Provider, "the pack is still openai's")
}

func TestRecordingSeveralProvidersIntoOneCassette(t *testing.T) {
	var localCalls atomic.Int32
	local := ollamaServer(t, "local", &localCalls)
	defer local.Close()
	hosted := llmtest.New(func(llmtest.Call) llmtest.Reply { return llmtest.Reply{Content: "hosted"} })
	defer hosted.Close()
	c := tiers.Defaults()
	c.Pack, c.BaseURL, c.Ollama.URL = "hybrid", hosted.URL, local.URL
	c.Record = filepath.Join(t.TempDir(), "rec.jsonl")
	r, err := tiers.New(c, tiers.Deps{Sink: &sink{}, Logger: logx.Discard()})
	require.NoError(t, err)
	for i, tier := range []string{"T0", "T2"} {
		tg, _ := r.Target(tier)
		_, err := tg.Provider.Chat(t.Context(), llm.Request{Model: tg.Model, MaxTokens: 10,
			Messages: []llm.Message{{Role: "user", Content: strings.Repeat("q", i+1)}}, Meta: llm.Meta{TenantID: "acme"}})
		require.NoError(t, err)
	}
	require.NoError(t, r.Close())
	rp, err := replay.Open(c.Record)
	require.NoError(t, err)
	for i, want := range []string{"local", "hosted"} {
		resp, err := rp.Chat(t.Context(), llm.Request{Messages: []llm.Message{{Role: "user", Content: strings.Repeat("q", i+1)}}})
		require.NoError(t, err)
		require.Equal(t, want, resp.Content)
	}
}

func TestSharedRedisState(t *testing.T) {
	rdb := redistest.Client(t)
	rdb.Del(t.Context(), "qlp:llm:ratelimit:{openai}:rpm")
	hosted := llmtest.New(func(llmtest.Call) llmtest.Reply { return llmtest.Reply{Content: "same"} })
	defer hosted.Close()
	c := tiers.Defaults()
	c.Provider, c.BaseURL, c.RateLimits = "openai", hosted.URL, "openai=600/0"
	build := func() *tiers.Router {
		r, err := tiers.New(c, tiers.Deps{Sink: &sink{}, Logger: logx.Discard(), Redis: rdb})
		require.NoError(t, err)
		return r
	}
	a, b := build(), build()                              // two worker processes
	prompt := "hi " + time.Now().Format(time.RFC3339Nano) // no answer cached by an earlier run
	req := llm.Request{Model: "gpt-4.1-mini", MaxTokens: 10, Temperature: 0.2, Messages: []llm.Message{{Role: "user", Content: prompt}},
		Meta: llm.Meta{TenantID: "acme", Attempt: 1}}
	ta, _ := a.Target("T1")
	tb, _ := b.Target("T1")
	_, err := ta.Provider.Chat(t.Context(), req)
	require.NoError(t, err)
	resp, err := tb.Provider.Chat(t.Context(), req)
	require.NoError(t, err)
	require.True(t, resp.Cached, "the other process's answer is served from Redis")
	require.Len(t, hosted.Calls(), 1)
	keys, err := rdb.Keys(t.Context(), "qlp:llm:ratelimit:{openai}:*").Result()
	require.NoError(t, err)
	require.Equal(t, []string{"qlp:llm:ratelimit:{openai}:rpm"}, keys)
	rdb.Del(context.Background(), "qlp:llm:ratelimit:{openai}:rpm", "qlp:llm:cache:"+respcache.Key("openai", "acme", req))
}

func TestEverySettingIsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/llm.md")
	require.NoError(t, err)
	c := tiers.Defaults()
	for _, s := range c.Settings() {
		require.True(t, strings.Contains(string(doc), "`"+s.Env+"`"), "docs/llm.md does not list %s", s.Env)
	}
	for _, p := range tiers.Packs() {
		require.True(t, strings.Contains(string(doc), "| `"+p.Name+"` |"), "docs/llm.md does not list pack %s", p.Name)
	}
}

// TestHostedPacksCallTheirProviders builds each hosted pack against a
// server speaking that provider's format and checks the priced usage row.
func TestHostedPacksCallTheirProviders(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	tests := []struct {
		pack      string
		configure func(c *tiers.Config, url string)
		path      string
		body      string
		model     string
	}{
		{"azure", func(c *tiers.Config, url string) {
			c.Azure.Endpoint, c.Azure.APIKey, c.Azure.Deployments = url, "k", "gpt-4.1=prod-41"
		}, "/openai/deployments/prod-41/chat/completions",
			`{"model":"gpt-4.1","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1000,"completion_tokens":100}}`,
			"gpt-4.1"},
		{"anthropic", func(c *tiers.Config, url string) { c.Anthropic.BaseURL, c.Anthropic.APIKey = url, "k" }, "/v1/messages",
			`{"type":"message","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":1000,"output_tokens":100}}`,
			"claude-sonnet-4-5-20250929"},
		{"bedrock", func(c *tiers.Config, url string) { c.Bedrock.Region, c.Bedrock.Endpoint = "us-east-1", url },
			"/model/us.anthropic.claude-sonnet-4-20250514-v1:0/converse",
			`{"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},"stopReason":"end_turn","usage":{"inputTokens":1000,"outputTokens":100,"totalTokens":1100}}`,
			"us.anthropic.claude-sonnet-4-20250514-v1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.pack, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				require.Equal(t, tt.path, r.URL.Path)
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c := tiers.Defaults()
			c.Provider = tt.pack
			tt.configure(&c, srv.URL)
			rows := &sink{}
			r, err := tiers.New(c, tiers.Deps{Sink: rows, Logger: logx.Discard()})
			require.NoError(t, err)
			tg, err := r.Target("T2")
			require.NoError(t, err)
			require.Equal(t, tt.model, tg.Model)
			resp, err := tg.Provider.Chat(t.Context(), llm.Request{Model: tg.Model, MaxTokens: 100, Temperature: 0.2,
				Messages: []llm.Message{{Role: "user", Content: "hi"}}, Meta: llm.Meta{TenantID: "acme", Tier: "T2"}})
			require.NoError(t, err)
			require.Equal(t, "ok", resp.Content)
			require.Len(t, rows.all(), 1)
			u := rows.all()[0]
			require.Equal(t, tt.pack, u.Provider)
			require.Equal(t, tt.model, u.Model)
			require.Equal(t, 1000, u.InputTokens)
			require.Positive(t, u.CostPUSD)
		})
	}
}

// TestResponseCacheIsPerTenant: through the router every process builds, a
// tenant sending exactly another tenant's request calls the provider (and
// pays for it: not a cached row); the same tenant again is served from the
// cache. With llm.cache.shared_across_tenants the second tenant is served
// the first one's answer.
func TestResponseCacheIsPerTenant(t *testing.T) {
	for _, shared := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "shared across tenants"}[shared], func(t *testing.T) {
			hosted := llmtest.New(func(llmtest.Call) llmtest.Reply { return llmtest.Reply{Content: "the answer"} })
			defer hosted.Close()
			c := tiers.Defaults()
			c.Provider, c.BaseURL = "openai", hosted.URL
			c.Cache.SharedAcrossTenants = shared
			rows := &sink{}
			r, err := tiers.New(c, tiers.Deps{Sink: rows, Logger: logx.Discard()})
			require.NoError(t, err)
			target, err := r.Target("T1")
			require.NoError(t, err)
			ask := func(tenant string) *llm.Response {
				t.Helper()
				resp, err := target.Provider.Chat(t.Context(), llm.Request{Model: target.Model, MaxTokens: 10, Temperature: 0.2,
					Messages: []llm.Message{{Role: "user", Content: "what did acme ask?"}}, Meta: llm.Meta{TenantID: tenant, Attempt: 1}})
				require.NoError(t, err)
				return resp
			}
			require.False(t, ask("acme").Cached)
			require.Len(t, hosted.Calls(), 1)
			second := ask("globex")
			if shared {
				require.True(t, second.Cached, "the opt-in shares answers")
				require.Len(t, hosted.Calls(), 1)
			} else {
				require.False(t, second.Cached, "another tenant's identical request is not answered from acme's call")
				require.Len(t, hosted.Calls(), 2, "the provider answered globex")
				require.True(t, ask("globex").Cached, "globex's repeat is cached")
				require.Len(t, hosted.Calls(), 2)
			}
			require.True(t, ask("acme").Cached, "acme's repeat is cached")
			var globexPaid int64
			for _, u := range rows.all() {
				if u.TenantID == "globex" {
					globexPaid += u.CostPUSD
				}
			}
			if shared {
				require.Zero(t, globexPaid)
			} else {
				require.Positive(t, globexPaid, "globex paid for its own first answer")
			}
		})
	}
}

// TestOfferedPacks: a tenant may be assigned the default pack (with the
// tier overrides) or a tenant pack, never the fallback pack.
func TestOfferedPacks(t *testing.T) {
	c := tiers.Defaults()
	c.Provider, c.TenantPacks, c.FallbackPack = "openai", []string{"ollama-local", " "}, "anthropic"
	c.Models[0] = "gpt-4o-mini"
	packs, err := c.Offered()
	require.NoError(t, err)
	var names []string
	for _, p := range packs {
		names = append(names, p.Name)
	}
	require.Equal(t, []string{"openai", "ollama-local"}, names)
	require.Equal(t, "gpt-4o-mini", packs[0].Tiers[0].Model, "the default pack with its tier overrides")
	c.TenantPacks = []string{"nope"}
	_, err = c.Offered()
	require.ErrorContains(t, err, "llm.tenant_packs")
}
