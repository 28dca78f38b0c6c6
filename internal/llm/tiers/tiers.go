// Package tiers builds the model behind each agent tier (T0 cheapest … T3
// strongest) from configuration: a model pack names a provider and model
// per tier, each provider gets its client and the wrappers every call goes
// through (rate limits, circuit breaker, retries, response cache, cassette
// recording, metering, metrics), and a tier may fall back to the same tier
// of another pack when its provider is down.
package tiers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/anthropic"
	"github.com/quantumlayer/qlp/internal/llm/azure"
	"github.com/quantumlayer/qlp/internal/llm/bedrock"
	"github.com/quantumlayer/qlp/internal/llm/ollama"
	"github.com/quantumlayer/qlp/internal/llm/openai"
	"github.com/quantumlayer/qlp/internal/llm/replay"
	"github.com/quantumlayer/qlp/internal/llm/resilience"
	"github.com/quantumlayer/qlp/internal/llm/respcache"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/settings"
	"github.com/quantumlayer/qlp/internal/vocab"
)

// AzureConfig configures Azure OpenAI.
type AzureConfig struct {
	Endpoint    string
	APIKey      string
	APIVersion  string
	Deployments string // model=deployment,...
}

// AnthropicConfig configures the Anthropic Messages API.
type AnthropicConfig struct {
	APIKey  string
	BaseURL string
	Version string
}

// BedrockConfig configures AWS Bedrock; credentials come from the AWS SDK's
// chain (AWS_ACCESS_KEY_ID…, the profile, an instance or pod role).
type BedrockConfig struct {
	Region   string
	Profile  string
	Endpoint string
}

// OllamaConfig configures a native Ollama.
type OllamaConfig struct {
	URL        string
	MinContext int
	MaxContext int
	KeepAlive  string
}

// RetryConfig configures in-process retries.
type RetryConfig struct {
	MaxAttempts   int
	BaseDelay     time.Duration
	MaxDelay      time.Duration
	MaxRetryAfter time.Duration
}

// BreakerConfig configures the circuit breaker of each provider.
type BreakerConfig struct {
	Failures int
	OpenFor  time.Duration
}

// CacheConfig configures the response cache.
type CacheConfig struct {
	Enabled        bool
	MaxTemperature float64
	TTL            time.Duration
	Entries        int
	// SharedAcrossTenants lets one tenant's cached answers serve another
	// tenant's identical request (off: each tenant has its own entries).
	SharedAcrossTenants bool
}

// Config selects the packs, the providers' endpoints and the wrappers.
type Config struct {
	// Provider names the default pack when Pack is empty (openai, azure,
	// anthropic, bedrock, ollama), or is replay.
	Provider string
	// Pack is the default model pack.
	Pack string
	// TenantPacks are further packs a tenant may be assigned.
	TenantPacks []string
	// FallbackPack answers a tier whose provider is down.
	FallbackPack string
	// Models override the default pack's model per tier: "model" or
	// "provider:model".
	Models [4]string
	// BaseURL and APIKey are the OpenAI (or OpenAI-compatible) endpoint's.
	BaseURL     string
	APIKey      string
	Azure       AzureConfig
	Anthropic   AnthropicConfig
	Bedrock     BedrockConfig
	Ollama      OllamaConfig
	Cassette    string // replay: the cassette to answer from
	Record      string // write every exchange to this cassette
	Timeout     time.Duration
	MaxTokens   int
	Temperature float64
	PricingFile string
	Retry       RetryConfig
	Breaker     BreakerConfig
	// RateLimits is "provider=RPM/TPM,…" (0 for no limit).
	RateLimits       string
	RateLimitMaxWait time.Duration
	Cache            CacheConfig
}

// Defaults: no provider (QLP embeds no model), in-process resilience and
// cache on.
func Defaults() Config {
	return Config{
		Timeout:     5 * time.Minute,
		MaxTokens:   8192,
		Temperature: 0.2,
		Ollama:      OllamaConfig{URL: ollama.DefaultBaseURL, MinContext: ollama.DefaultMinContext, MaxContext: ollama.DefaultMaxContext},
		Retry: RetryConfig{MaxAttempts: resilience.DefaultMaxAttempts, BaseDelay: resilience.DefaultBaseDelay,
			MaxDelay: resilience.DefaultMaxDelay, MaxRetryAfter: resilience.DefaultMaxRetryAfter},
		Breaker:          BreakerConfig{Failures: resilience.DefaultBreakerFailures, OpenFor: resilience.DefaultBreakerOpenFor},
		RateLimitMaxWait: resilience.DefaultMaxWait,
		Cache:            CacheConfig{Enabled: true, MaxTemperature: respcache.DefaultMaxTemperature, TTL: respcache.DefaultTTL, Entries: respcache.DefaultEntries},
	}
}

// Settings binds QLP_LLM_* variables.
func (c *Config) Settings() []settings.Setting {
	s := []settings.Setting{
		{Key: "llm.provider", Env: "QLP_LLM_PROVIDER", Help: "openai, azure, anthropic, bedrock, ollama (each selects its own model pack), or replay (answers from a cassette)", Value: settings.String(&c.Provider)},
		{Key: "llm.pack", Env: "QLP_LLM_PACK", Help: "model pack mapping T0..T3 to provider and model: openai, azure, anthropic, bedrock, ollama-local, hybrid, hybrid-anthropic (default: the provider's)", Value: settings.String(&c.Pack)},
		{Key: "llm.tenant_packs", Env: "QLP_LLM_TENANT_PACKS", Help: "further packs tenants may be assigned (comma-separated); their providers must be configured", Value: settings.List(&c.TenantPacks)},
		{Key: "llm.fallback_pack", Env: "QLP_LLM_FALLBACK_PACK", Help: "pack whose same tier answers when a tier's provider is down", Value: settings.String(&c.FallbackPack)},
		{Key: "llm.base_url", Env: "QLP_LLM_BASE_URL", Help: "base URL of the OpenAI(-compatible) API, e.g. http://localhost:8000/v1 for vLLM", Value: settings.String(&c.BaseURL)},
		{Key: "llm.api_key", Env: "QLP_LLM_API_KEY", Help: "API key of the OpenAI(-compatible) API", Secret: true, Value: settings.String(&c.APIKey)},
		{Key: "llm.azure.endpoint", Env: "QLP_LLM_AZURE_ENDPOINT", Help: "Azure OpenAI resource endpoint, https://NAME.openai.azure.com", Value: settings.String(&c.Azure.Endpoint)},
		{Key: "llm.azure.api_key", Env: "QLP_LLM_AZURE_API_KEY", Help: "Azure OpenAI key (api-key header)", Secret: true, Value: settings.String(&c.Azure.APIKey)},
		{Key: "llm.azure.api_version", Env: "QLP_LLM_AZURE_API_VERSION", Help: "Azure OpenAI data-plane api-version (default " + azure.DefaultAPIVersion + ")", Value: settings.String(&c.Azure.APIVersion)},
		{Key: "llm.azure.deployments", Env: "QLP_LLM_AZURE_DEPLOYMENTS", Help: "model=deployment pairs, comma-separated; unmapped models use a deployment of their own name", Value: settings.String(&c.Azure.Deployments)},
		{Key: "llm.anthropic.api_key", Env: "QLP_LLM_ANTHROPIC_API_KEY", Help: "Anthropic API key (x-api-key header)", Secret: true, Value: settings.String(&c.Anthropic.APIKey)},
		{Key: "llm.anthropic.base_url", Env: "QLP_LLM_ANTHROPIC_BASE_URL", Help: "Anthropic API base URL (default " + anthropic.DefaultBaseURL + ")", Value: settings.String(&c.Anthropic.BaseURL)},
		{Key: "llm.anthropic.version", Env: "QLP_LLM_ANTHROPIC_VERSION", Help: "anthropic-version header (default " + anthropic.DefaultVersion + ")", Value: settings.String(&c.Anthropic.Version)},
		{Key: "llm.bedrock.region", Env: "QLP_LLM_AWS_REGION", Help: "AWS region of Bedrock, e.g. us-east-1", Value: settings.String(&c.Bedrock.Region)},
		{Key: "llm.bedrock.profile", Env: "QLP_LLM_AWS_PROFILE", Help: "AWS shared-config profile for Bedrock credentials (default: the SDK's chain)", Value: settings.String(&c.Bedrock.Profile)},
		{Key: "llm.bedrock.endpoint", Env: "QLP_LLM_BEDROCK_ENDPOINT", Help: "Bedrock runtime endpoint override (VPC endpoint)", Value: settings.String(&c.Bedrock.Endpoint)},
		{Key: "llm.ollama.url", Env: "QLP_LLM_OLLAMA_URL", Help: "native Ollama API (default " + ollama.DefaultBaseURL + ")", Value: settings.String(&c.Ollama.URL)},
		{Key: "llm.ollama.min_context", Env: "QLP_LLM_OLLAMA_MIN_CONTEXT", Help: "smallest num_ctx sent to Ollama; windows grow in powers of two to fit each prompt", Value: settings.Int(&c.Ollama.MinContext)},
		{Key: "llm.ollama.max_context", Env: "QLP_LLM_OLLAMA_MAX_CONTEXT", Help: "largest num_ctx QLP asks Ollama for; a prompt that cannot fit fails instead of being truncated", Value: settings.Int(&c.Ollama.MaxContext)},
		{Key: "llm.ollama.keep_alive", Env: "QLP_LLM_OLLAMA_KEEP_ALIVE", Help: "how long Ollama keeps a model loaded after a call (e.g. 30m; empty: Ollama's default)", Value: settings.String(&c.Ollama.KeepAlive)},
		{Key: "llm.cassette", Env: "QLP_LLM_CASSETTE", Help: "replay: the cassette (JSONL) to answer from", Value: settings.String(&c.Cassette)},
		{Key: "llm.record", Env: "QLP_LLM_RECORD", Help: "write every model exchange to this cassette file", Value: settings.String(&c.Record)},
		{Key: "llm.timeout", Env: "QLP_LLM_TIMEOUT", Help: "timeout of one model call", Value: settings.Duration(&c.Timeout)},
		{Key: "llm.max_tokens", Env: "QLP_LLM_MAX_TOKENS", Help: "maximum output tokens of one call", Value: settings.Int(&c.MaxTokens)},
		{Key: "llm.temperature", Env: "QLP_LLM_TEMPERATURE", Help: "sampling temperature", Value: settings.Float(&c.Temperature)},
		{Key: "llm.retry.max_attempts", Env: "QLP_LLM_RETRY_MAX_ATTEMPTS", Help: "tries of one call in process, the first included (1: no in-process retries)", Value: settings.Int(&c.Retry.MaxAttempts)},
		{Key: "llm.retry.base_delay", Env: "QLP_LLM_RETRY_BASE_DELAY", Help: "backoff before the first retry; doubles per retry, with jitter", Value: settings.Duration(&c.Retry.BaseDelay)},
		{Key: "llm.retry.max_delay", Env: "QLP_LLM_RETRY_MAX_DELAY", Help: "longest backoff between retries", Value: settings.Duration(&c.Retry.MaxDelay)},
		{Key: "llm.retry.max_retry_after", Env: "QLP_LLM_RETRY_MAX_RETRY_AFTER", Help: "longest provider Retry-After waited in process; longer ones go to the workflow's retry policy", Value: settings.Duration(&c.Retry.MaxRetryAfter)},
		{Key: "llm.breaker.failures", Env: "QLP_LLM_BREAKER_FAILURES", Help: "consecutive provider failures (unavailable, timeout) that open its circuit breaker", Value: settings.Int(&c.Breaker.Failures)},
		{Key: "llm.breaker.open_for", Env: "QLP_LLM_BREAKER_OPEN_FOR", Help: "how long an open breaker fails calls at once before one trial call", Value: settings.Duration(&c.Breaker.OpenFor)},
		{Key: "llm.rate_limits", Env: "QLP_LLM_RATE_LIMITS", Help: "per-provider limits as provider=RPM/TPM, comma-separated (e.g. openai=500/200000,anthropic=50/40000); shared through Redis when QLP_REDIS_URL is set", Value: settings.String(&c.RateLimits)},
		{Key: "llm.rate_limit_max_wait", Env: "QLP_LLM_RATE_LIMIT_MAX_WAIT", Help: "longest a call waits for its rate limit before failing as rate limited", Value: settings.Duration(&c.RateLimitMaxWait)},
		{Key: "llm.cache.enabled", Env: "QLP_LLM_CACHE", Help: "serve identical low-temperature requests from the response cache (Redis when QLP_REDIS_URL is set, else in process)", Value: settings.Bool(&c.Cache.Enabled)},
		{Key: "llm.cache.max_temperature", Env: "QLP_LLM_CACHE_MAX_TEMPERATURE", Help: "requests above this temperature are never cached", Value: settings.Float(&c.Cache.MaxTemperature)},
		{Key: "llm.cache.ttl", Env: "QLP_LLM_CACHE_TTL", Help: "how long a cached answer is served", Value: settings.Duration(&c.Cache.TTL)},
		{Key: "llm.cache.entries", Env: "QLP_LLM_CACHE_ENTRIES", Help: "answers kept by the in-process cache", Value: settings.Int(&c.Cache.Entries)},
		{Key: "llm.cache.shared_across_tenants", Env: "QLP_LLM_CACHE_SHARED_ACROSS_TENANTS", Help: "serve one tenant's cached answer to another tenant's identical request (off: entries are kept per tenant; on tells a tenant what another asked and uses calls another paid for: only for tenants that trust each other)", Value: settings.Bool(&c.Cache.SharedAcrossTenants)},
		{Key: "pricing.file", Env: "QLP_PRICING_FILE", Help: "YAML file of extra or overriding model prices (see docs/costs.md)", Value: settings.String(&c.PricingFile)},
	}
	for i, t := range vocab.Tiers() {
		s = append(s, settings.Setting{Key: "llm.model_" + strings.ToLower(t), Env: "QLP_LLM_MODEL_" + t,
			Help: "model of tier " + t + " in the default pack: MODEL, or PROVIDER:MODEL", Value: settings.String(&c.Models[i])})
	}
	return s
}

// invalid names a bad setting the one way every package does
// (settings.Invalid): "key (ENV): message".
func (c *Config) invalid(key, format string, args ...any) error {
	return settings.Invalid(c.Settings(), key, format, args...)
}

// Configured reports whether a model is configured: a provider, or a
// pack. Without one the platform still starts (New builds a router whose
// every target is refused with NoModel's error), so that a first
// `qlp up` works and each job that needs a model fails saying what to set.
func (c *Config) Configured() bool { return c.Provider != "" || c.Pack != "" }

// NoModel is the error of a platform without a model: what to set.
func (c *Config) NoModel() error {
	return c.invalid("llm.provider", "not set: QLP embeds no model; set openai, azure, anthropic, bedrock or ollama (or a pack with QLP_LLM_PACK), or replay with QLP_LLM_CASSETTE (for example QLP_LLM_PROVIDER=replay QLP_LLM_CASSETTE=examples/url-shortener/cassette.jsonl), and start qlp again")
}

// Validate checks the packs and what their providers need. It does not
// look up prices: Build does, so that a missing price fails start-up.
// Without a model configured it returns NoModel's error.
func (c *Config) Validate() error {
	if !c.Configured() {
		return c.NoModel()
	}
	if c.Provider == "ollama" && c.BaseURL != "" && (c.Ollama.URL == "" || c.Ollama.URL == ollama.DefaultBaseURL) {
		// Earlier QLP reached Ollama through its OpenAI-compatible /v1.
		c.Ollama.URL = strings.TrimSuffix(strings.TrimRight(c.BaseURL, "/"), "/v1")
	}
	if c.Provider == "replay" {
		if c.Cassette == "" {
			return c.invalid("llm.cassette", "required with provider replay")
		}
	} else {
		if c.Provider != "" && !knownProvider(c.Provider) {
			return c.invalid("llm.provider", "unknown provider %q (want %s or replay)", c.Provider, strings.Join(Providers, ", "))
		}
		packs, err := c.packs()
		if err != nil {
			return err
		}
		used := map[string]bool{}
		for _, p := range packs {
			for _, s := range p.Tiers {
				used[s.Provider] = true
			}
		}
		for _, p := range Providers {
			if used[p] {
				if err := c.validateProvider(p); err != nil {
					return err
				}
			}
		}
		if _, err := c.rateLimits(); err != nil {
			return err
		}
	}
	if c.Timeout <= 0 {
		return c.invalid("llm.timeout", "must be positive")
	}
	if c.MaxTokens <= 0 {
		return c.invalid("llm.max_tokens", "must be positive")
	}
	if c.Temperature < 0 || c.Temperature > 2 {
		return c.invalid("llm.temperature", "%v is outside 0..2", c.Temperature)
	}
	switch {
	case c.Retry.MaxAttempts < 1 || c.Retry.MaxAttempts > 20:
		return c.invalid("llm.retry.max_attempts", "%d is outside 1..20", c.Retry.MaxAttempts)
	case c.Retry.BaseDelay <= 0:
		return c.invalid("llm.retry.base_delay", "must be positive")
	case c.Retry.MaxDelay < c.Retry.BaseDelay:
		return c.invalid("llm.retry.max_delay", "shorter than llm.retry.base_delay")
	case c.Retry.MaxRetryAfter < 0:
		return c.invalid("llm.retry.max_retry_after", "must not be negative")
	case c.Breaker.Failures < 1:
		return c.invalid("llm.breaker.failures", "must be at least 1")
	case c.Breaker.OpenFor <= 0:
		return c.invalid("llm.breaker.open_for", "must be positive")
	case c.RateLimitMaxWait < 0:
		return c.invalid("llm.rate_limit_max_wait", "must not be negative")
	case c.Cache.MaxTemperature < 0 || c.Cache.MaxTemperature > 2:
		return c.invalid("llm.cache.max_temperature", "%v is outside 0..2", c.Cache.MaxTemperature)
	case c.Cache.Enabled && c.Cache.TTL <= 0:
		return c.invalid("llm.cache.ttl", "must be positive")
	case c.Cache.Enabled && c.Cache.Entries < 1:
		return c.invalid("llm.cache.entries", "must be at least 1")
	}
	return nil
}

func httpURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (c *Config) validateProvider(p string) error {
	switch p {
	case "openai":
		if c.BaseURL != "" && !httpURL(c.BaseURL) {
			return c.invalid("llm.base_url", "%q is not an http(s) URL", c.BaseURL)
		}
		if c.BaseURL == "" && c.APIKey == "" {
			return c.invalid("llm.api_key", "required for OpenAI's API (set QLP_LLM_BASE_URL for a self-hosted OpenAI-compatible server)")
		}
	case "azure":
		if c.Azure.Endpoint == "" {
			return c.invalid("llm.azure.endpoint", "required by a pack that uses azure")
		}
		if !httpURL(c.Azure.Endpoint) {
			return c.invalid("llm.azure.endpoint", "%q is not an http(s) URL", c.Azure.Endpoint)
		}
		if c.Azure.APIKey == "" {
			return c.invalid("llm.azure.api_key", "required by a pack that uses azure")
		}
		if _, err := azure.ParseDeployments(c.Azure.Deployments); err != nil {
			return c.invalid("llm.azure.deployments", "%w", err)
		}
	case "anthropic":
		if c.Anthropic.BaseURL != "" && !httpURL(c.Anthropic.BaseURL) {
			return c.invalid("llm.anthropic.base_url", "%q is not an http(s) URL", c.Anthropic.BaseURL)
		}
		if c.Anthropic.APIKey == "" && c.Anthropic.BaseURL == "" {
			return c.invalid("llm.anthropic.api_key", "required by a pack that uses anthropic")
		}
	case "bedrock":
		if c.Bedrock.Region == "" {
			return c.invalid("llm.bedrock.region", "required by a pack that uses bedrock")
		}
		if c.Bedrock.Endpoint != "" && !httpURL(c.Bedrock.Endpoint) {
			return c.invalid("llm.bedrock.endpoint", "%q is not an http(s) URL", c.Bedrock.Endpoint)
		}
	case "ollama":
		if c.Ollama.URL != "" && !httpURL(c.Ollama.URL) {
			return c.invalid("llm.ollama.url", "%q is not an http(s) URL", c.Ollama.URL)
		}
		if c.Ollama.MinContext < 512 {
			return c.invalid("llm.ollama.min_context", "%d is below 512", c.Ollama.MinContext)
		}
		if c.Ollama.MaxContext < c.Ollama.MinContext {
			return c.invalid("llm.ollama.max_context", "%d is below llm.ollama.min_context %d", c.Ollama.MaxContext, c.Ollama.MinContext)
		}
		if c.Ollama.MaxContext <= c.MaxTokens {
			return c.invalid("llm.ollama.max_context", "%d leaves no room for a prompt beside llm.max_tokens %d", c.Ollama.MaxContext, c.MaxTokens)
		}
	}
	return nil
}

// DefaultTiers returns the provider and model of each tier of the default
// pack (QLP_LLM_PACK, else the provider's), with the QLP_LLM_MODEL_T0..T3
// overrides applied: the models a tenant without a pack of its own gets.
func (c *Config) DefaultTiers() ([4]Slot, error) {
	ps, err := c.packs()
	if err != nil {
		return [4]Slot{}, err
	}
	return ps[0].Tiers, nil
}

// defaultPackName is the pack tenants without one of their own get.
func (c *Config) defaultPackName() string {
	if c.Pack != "" {
		return c.Pack
	}
	return defaultPack(c.Provider)
}

// packs resolves the default pack (with the tier overrides), the tenant
// packs and the fallback pack, in that order.
func (c *Config) packs() ([]Pack, error) {
	def, err := LookupPack(c.defaultPackName())
	if err != nil {
		if c.Pack != "" {
			return nil, c.invalid("llm.pack", "%w", err)
		}
		return nil, c.invalid("llm.provider", "%w", err)
	}
	for i, m := range c.Models {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		def.Tiers[i] = parseSlot(m, def.Tiers[i].Provider)
	}
	if reg := c.Bedrock.Region; reg != "" {
		for i, s := range def.Tiers {
			if prefix, _, ok := strings.Cut(s.Model, "."); ok && s.Provider == "bedrock" && (prefix == "us" || prefix == "eu" || prefix == "apac") &&
				!strings.HasPrefix(reg, prefix+"-") && !(prefix == "apac" && strings.HasPrefix(reg, "ap-")) {
				return nil, c.invalid("llm.model_"+strings.ToLower(vocab.Tiers()[i]), "%s is a %s inference profile, not callable from region %s (%s); name the model for your region",
					s.Model, prefix, reg, settings.Lookup(c.Settings(), "llm.bedrock.region").Env)
			}
		}
	}
	out := []Pack{def}
	for _, name := range c.TenantPacks {
		name = strings.TrimSpace(name)
		if name == "" || name == def.Name {
			continue
		}
		p, err := LookupPack(name)
		if err != nil {
			return nil, c.invalid("llm.tenant_packs", "%w", err)
		}
		out = append(out, p)
	}
	if c.FallbackPack != "" {
		p, err := LookupPack(c.FallbackPack)
		if err != nil {
			return nil, c.invalid("llm.fallback_pack", "%w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// rateLimits parses RateLimits.
func (c *Config) rateLimits() (map[string]resilience.Limit, error) {
	out := map[string]resilience.Limit{}
	for _, part := range strings.Split(c.RateLimits, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, v, ok := strings.Cut(part, "=")
		rpm, tpm, ok2 := strings.Cut(v, "/")
		r, err1 := strconv.Atoi(strings.TrimSpace(rpm))
		t, err2 := strconv.Atoi(strings.TrimSpace(tpm))
		p = strings.TrimSpace(p)
		if !ok || !ok2 || err1 != nil || err2 != nil || r < 0 || t < 0 {
			return nil, c.invalid("llm.rate_limits", "%q is not provider=RPM/TPM", part)
		}
		if !knownProvider(p) {
			return nil, c.invalid("llm.rate_limits", "unknown provider %q (want %s)", p, strings.Join(Providers, ", "))
		}
		out[p] = resilience.Limit{RPM: r, TPM: t}
	}
	return out, nil
}

// ParseFlag applies a --llm PROVIDER[:ARG] flag: "replay:FILE" sets the
// cassette; "openai:URL" the OpenAI-compatible base URL; "ollama:URL",
// "anthropic:URL" and "azure:ENDPOINT" their endpoints; "bedrock:REGION"
// the AWS region; "pack:NAME" the model pack.
func (c *Config) ParseFlag(v string) error {
	p, arg, _ := strings.Cut(v, ":")
	switch p {
	case "replay":
		c.Provider, c.Cassette = p, arg
	case "openai", "ollama", "anthropic", "azure", "bedrock":
		c.Provider = p
		if arg == "" {
			break
		}
		switch p {
		case "openai":
			c.BaseURL = arg
		case "ollama":
			c.Ollama.URL = strings.TrimSuffix(strings.TrimRight(arg, "/"), "/v1")
		case "anthropic":
			c.Anthropic.BaseURL = arg
		case "azure":
			c.Azure.Endpoint = arg
		case "bedrock":
			c.Bedrock.Region = arg
		}
	case "pack":
		if _, err := LookupPack(arg); err != nil {
			return fmt.Errorf("--llm %s: %w", v, err)
		}
		c.Pack = arg
	default:
		return fmt.Errorf("--llm %s: unknown provider %q (want openai[:URL], azure[:ENDPOINT], anthropic[:URL], bedrock[:REGION], ollama[:URL], pack:NAME or replay:CASSETTE)", v, p)
	}
	return nil
}

// Target is the model that answers for one tier.
type Target struct {
	Tier     string
	Pack     string
	Provider llm.Provider
	Model    string
	// Fallback describes the fallback route ("anthropic/claude-…"), if any.
	Fallback string
}

// PackResolver says which pack a tenant uses; the store implements it
// once packs are stored per tenant. An empty name means the default pack.
type PackResolver interface {
	PackFor(ctx context.Context, tenantID string) (string, error)
}

// Router gives each tier its target.
type Router struct {
	packs       map[string]map[string]Target
	defaultPack string
	resolver    PackResolver
	MaxTokens   int
	Temperature float64
	// Provider describes the default pack's providers: one name, or the
	// pack's name when it mixes providers.
	Provider string
	// Scripted is true when answers come from a scripted cassette: no model
	// runs, and capsules say so.
	Scripted bool
	// Metrics is nil unless Deps.Registerer was given.
	Metrics *llm.Metrics
	closers []func() error
	// noModel, when set, is why every target is refused: no model is
	// configured (Config.Configured).
	noModel error
}

// NoModel is the reason this router refuses every target (no model is
// configured), or nil.
func (r *Router) NoModel() error { return r.noModel }

// Target returns the default pack's target of tier ("T0".."T3").
func (r *Router) Target(tier string) (Target, error) {
	return r.target(r.defaultPack, tier)
}

// Models gives the model target of a tier in a tenant's model pack. It is
// what the job's agents (package workflow) and the Agent Factory (package
// agents) need of the router, and what tests replace.
type Models interface {
	TargetFor(ctx context.Context, tenantID, tier string) (Target, error)
}

var _ Models = (*Router)(nil)

// TargetFor returns the target of tier in the pack of tenantID.
func (r *Router) TargetFor(ctx context.Context, tenantID, tier string) (Target, error) {
	if r.noModel != nil {
		return r.target("", tier)
	}
	pack := ""
	if r.resolver != nil && tenantID != "" {
		var err error
		if pack, err = r.resolver.PackFor(ctx, tenantID); err != nil {
			return Target{}, fmt.Errorf("tiers: model pack of tenant %s: %w", tenantID, err)
		}
	}
	if pack == "" {
		pack = r.defaultPack
	}
	if _, ok := r.packs[pack]; !ok {
		return Target{}, fmt.Errorf("tiers: tenant %s is assigned model pack %q, which this server does not offer (offered: %s; add it to QLP_LLM_TENANT_PACKS)",
			tenantID, pack, strings.Join(r.PackNames(), ", "))
	}
	return r.target(pack, tier)
}

func (r *Router) target(pack, tier string) (Target, error) {
	if r.noModel != nil {
		return Target{}, fmt.Errorf("no model is configured, so nothing can answer tier %s: %w", tier, r.noModel)
	}
	t, ok := r.packs[pack][tier]
	if !ok {
		return Target{}, fmt.Errorf("tiers: unknown tier %q", tier)
	}
	return t, nil
}

// PackNames lists the packs this router offers, sorted.
func (r *Router) PackNames() []string {
	out := make([]string, 0, len(r.packs))
	for n := range r.packs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// DefaultPack names the default pack.
func (r *Router) DefaultPack() string { return r.defaultPack }

// Models returns the model of each tier of the default pack.
func (r *Router) Models() map[string]string {
	out := map[string]string{}
	for t, tg := range r.packs[r.defaultPack] {
		out[t] = tg.Model
	}
	return out
}

// Wrap replaces the provider of every tier, in every pack, with what wrap
// returns for it. wrap sees one pack's targets at a time, cheapest tier
// first, so that a wrapper (the budget guard) can send a call to a cheaper
// tier of the same pack; it returns one target per tier.
func (r *Router) Wrap(wrap func(targets []Target) ([]Target, error)) error {
	for _, name := range r.PackNames() {
		pack := r.packs[name]
		names := vocab.Tiers()
		ts := make([]Target, len(names))
		for i, n := range names {
			ts[i] = pack[n]
		}
		out, err := wrap(ts)
		if err != nil {
			return err
		}
		if len(out) != len(ts) {
			return fmt.Errorf("tiers: wrap returned %d targets for %d tiers", len(out), len(ts))
		}
		for i, t := range out {
			pack[names[i]] = t
		}
	}
	return nil
}

// Close flushes recorders.
func (r *Router) Close() error {
	var errs []error
	for _, c := range r.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

// Deps are what Build needs besides configuration.
type Deps struct {
	Sink   llm.UsageSink
	Logger *slog.Logger
	// Redis, when set, holds the rate-limit buckets and the response
	// cache, shared by every process using it; nil keeps both in process.
	Redis redis.UniversalClient
	// Registerer receives the LLM metrics; nil registers none.
	Registerer prometheus.Registerer
	// Packs resolves tenants' packs; nil gives everyone the default pack.
	Packs PackResolver
	// Wrap, when set, wraps each tier's provider last (outermost): the
	// place for a budget guard that must see every call before it is made.
	Wrap func(tier string, p llm.Provider) llm.Provider
	// TracePromptText puts prompts and answers on the model calls' spans
	// (otel.record_prompts; debugging only).
	TracePromptText bool
}

// Build constructs the router with in-process state and no metrics.
func Build(c Config, sink llm.UsageSink, logger *slog.Logger) (*Router, error) {
	return New(c, Deps{Sink: sink, Logger: logger})
}

// New constructs the router. Every provider used by a pack gets, inside
// out: its client, the cassette recorder (QLP_LLM_RECORD), its rate
// limiter, its circuit breaker, retries, the response cache, metering and
// metrics; each tier's route falls back to the fallback pack's route.
// Every model must have a price.
//
// Without a model configured (Config.Configured) the router is built
// without providers and refuses every target with NoModel's error.
func New(c Config, d Deps) (*Router, error) {
	if !c.Configured() {
		r := &Router{packs: map[string]map[string]Target{}, MaxTokens: c.MaxTokens, Temperature: c.Temperature, noModel: c.NoModel()}
		if d.Registerer != nil {
			var err error
			if r.Metrics, err = llm.NewMetrics(d.Registerer); err != nil {
				return nil, fmt.Errorf("tiers: register LLM metrics: %w", err)
			}
		}
		return r, nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	prices, err := pricing.Load(c.PricingFile)
	if err != nil {
		return nil, err
	}
	r := &Router{packs: map[string]map[string]Target{}, MaxTokens: c.MaxTokens, Temperature: c.Temperature, resolver: d.Packs}
	if d.Registerer != nil {
		if r.Metrics, err = llm.NewMetrics(d.Registerer); err != nil {
			return nil, fmt.Errorf("tiers: register LLM metrics: %w", err)
		}
	}
	var rec *replay.Recorder
	if c.Record != "" {
		if rec, err = replay.NewTape(c.Record, replay.Header{Kind: "recorded", Description: "recorded by qlp from " + c.defaultPackName()}); err != nil {
			return nil, c.invalid("llm.record", "%w", err)
		}
		r.closers = append(r.closers, rec.Close)
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if c.Provider == "replay" {
		if err = r.buildReplay(c, d, prices, rec); err != nil {
			return nil, err
		}
		return r, nil
	}
	packs, err := c.packs()
	if err != nil {
		return nil, err
	}
	b := &builder{c: c, d: d, prices: prices, rec: rec, r: r, chains: map[string]llm.Provider{}}
	models := map[string][]string{}
	for _, p := range packs {
		for _, s := range p.Tiers {
			models[s.Provider] = append(models[s.Provider], s.Model)
		}
	}
	for _, name := range Providers {
		if len(models[name]) == 0 {
			continue
		}
		if err = b.chain(name, models[name]); err != nil {
			return nil, err
		}
	}
	var fallback *Pack
	if c.FallbackPack != "" {
		fallback = &packs[len(packs)-1]
	}
	build := packs
	if fallback != nil {
		build = packs[:len(packs)-1]
	}
	for _, p := range build {
		r.packs[p.Name] = b.targets(p, fallback)
	}
	r.defaultPack = packs[0].Name
	r.Provider = packs[0].Name
	if ps := packs[0].Providers(); len(ps) == 1 {
		r.Provider = ps[0]
	}
	return r, nil
}

func (r *Router) buildReplay(c Config, d Deps, prices *pricing.Catalogue, rec *replay.Recorder) error {
	rp, err := replay.Open(c.Cassette)
	if err != nil {
		return c.invalid("llm.cassette", "%w", err)
	}
	if rp.Header().Kind == "scripted" {
		r.Scripted = true
		d.Logger.Info("answering from a scripted cassette: no model runs", "cassette", c.Cassette, "description", rp.Header().Description)
	}
	var p llm.Provider = rp
	if rec != nil {
		p = rec.Wrap(p)
	}
	// Every tier is answered by the cassette, whatever model it names:
	// record that, not a model that never ran.
	m, err := llm.NewMetered(p, prices, d.Sink, d.Logger, "replay")
	if err != nil {
		return err
	}
	p = m.TracePromptText(d.TracePromptText)
	if r.Metrics != nil {
		p = r.Metrics.Instrument(p)
	}
	targets := map[string]Target{}
	for _, t := range vocab.Tiers() {
		tp := p
		if d.Wrap != nil {
			tp = d.Wrap(t, tp)
		}
		targets[t] = Target{Tier: t, Pack: "replay", Provider: tp, Model: "replay"}
	}
	r.packs["replay"] = targets
	r.defaultPack, r.Provider = "replay", "replay"
	return nil
}

type builder struct {
	c      Config
	d      Deps
	prices *pricing.Catalogue
	rec    *replay.Recorder
	r      *Router
	chains map[string]llm.Provider
}

func (b *builder) observer() resilience.Observer {
	if b.r.Metrics == nil {
		return nil
	}
	return b.r.Metrics
}

// client returns the bare client of a provider.
func (b *builder) client(name string) (llm.Provider, error) {
	c := b.c
	hc := &http.Client{Timeout: c.Timeout}
	switch name {
	case "openai":
		return openai.New(openai.Config{BaseURL: c.BaseURL, APIKey: auth.Secret(c.APIKey), HTTPClient: hc}), nil
	case "azure":
		deps, _ := azure.ParseDeployments(c.Azure.Deployments)
		return azure.New(azure.Config{Endpoint: c.Azure.Endpoint, APIKey: auth.Secret(c.Azure.APIKey), APIVersion: c.Azure.APIVersion,
			Deployments: deps, HTTPClient: hc}), nil
	case "anthropic":
		return anthropic.New(anthropic.Config{BaseURL: c.Anthropic.BaseURL, APIKey: auth.Secret(c.Anthropic.APIKey), Version: c.Anthropic.Version, HTTPClient: hc}), nil
	case "bedrock":
		p, err := bedrock.New(context.Background(), bedrock.Config{Region: c.Bedrock.Region, Profile: c.Bedrock.Profile, Endpoint: c.Bedrock.Endpoint, Timeout: c.Timeout})
		if err != nil {
			return nil, fmt.Errorf("llm.bedrock (QLP_LLM_AWS_REGION, QLP_LLM_AWS_PROFILE): %w", err)
		}
		return p, nil
	case "ollama":
		return ollama.New(ollama.Config{BaseURL: c.Ollama.URL, MinContext: c.Ollama.MinContext, MaxContext: c.Ollama.MaxContext,
			KeepAlive: c.Ollama.KeepAlive, HTTPClient: hc}), nil
	}
	return nil, fmt.Errorf("tiers: no client for provider %q", name)
}

// chain builds a provider's wrapped client, shared by every tier and pack
// that uses it.
func (b *builder) chain(name string, models []string) error {
	p, err := b.client(name)
	if err != nil {
		return err
	}
	if b.rec != nil {
		p = b.rec.Wrap(p)
	}
	limits, _ := b.c.rateLimits()
	obs := b.observer()
	if l, ok := limits[name]; ok && (l.RPM > 0 || l.TPM > 0) {
		var buckets resilience.Buckets = resilience.NewMemoryBuckets(nil)
		if b.d.Redis != nil {
			buckets = resilience.NewRedisBuckets(b.d.Redis, "")
		}
		p = resilience.NewLimiter(p, resilience.LimiterConfig{Limit: l, MaxWait: b.c.RateLimitMaxWait}, buckets, obs)
	}
	p = resilience.NewBreaker(p, resilience.BreakerConfig{Failures: b.c.Breaker.Failures, OpenFor: b.c.Breaker.OpenFor}, obs)
	p = resilience.NewRetry(p, resilience.RetryConfig{MaxAttempts: b.c.Retry.MaxAttempts, BaseDelay: b.c.Retry.BaseDelay,
		MaxDelay: b.c.Retry.MaxDelay, MaxRetryAfter: b.c.Retry.MaxRetryAfter}, obs)
	if b.c.Cache.Enabled {
		var store respcache.Store = respcache.NewMemory(b.c.Cache.Entries, b.c.Cache.TTL)
		if b.d.Redis != nil {
			store = respcache.NewRedis(b.d.Redis, "")
		}
		var cobs respcache.Observer
		if b.r.Metrics != nil {
			cobs = b.r.Metrics
		}
		p = respcache.New(p, store, respcache.Config{MaxTemperature: b.c.Cache.MaxTemperature, TTL: b.c.Cache.TTL,
			SharedAcrossTenants: b.c.Cache.SharedAcrossTenants}, cobs, b.d.Logger)
	}
	m, err := llm.NewMetered(p, b.prices, b.d.Sink, b.d.Logger, models...)
	if err != nil {
		return fmt.Errorf("llm.pack (QLP_LLM_PACK, QLP_LLM_MODEL_T0..T3): %w", err)
	}
	p = m.TracePromptText(b.d.TracePromptText)
	if b.r.Metrics != nil {
		p = b.r.Metrics.Instrument(p)
	}
	b.chains[name] = p
	return nil
}

// targets builds a pack's tiers, each falling back to the same tier of
// fallback when that is another route.
func (b *builder) targets(p Pack, fallback *Pack) map[string]Target {
	out := map[string]Target{}
	for i, t := range vocab.Tiers() {
		s := p.Tiers[i]
		tg := Target{Tier: t, Pack: p.Name, Provider: b.chains[s.Provider], Model: s.Model}
		if fallback != nil && fallback.Tiers[i] != s {
			fs := fallback.Tiers[i]
			tg.Provider = resilience.NewFallback(t, resilience.Route{Provider: tg.Provider, Model: s.Model},
				resilience.Route{Provider: b.chains[fs.Provider], Model: fs.Model}, b.observer())
			tg.Fallback = fs.String()
		}
		if b.d.Wrap != nil {
			tg.Provider = b.d.Wrap(t, tg.Provider)
		}
		out[t] = tg
	}
	return out
}
