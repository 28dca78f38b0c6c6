// Package tiers builds the model behind each agent tier (T0 cheapest … T3
// strongest) from configuration: the provider, its endpoint and key, the
// model per tier, and the wrappers every call goes through (cassette
// recording, metering).
package tiers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/quantumlayer/qlp/internal/auth"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/openai"
	"github.com/quantumlayer/qlp/internal/llm/replay"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/settings"
)

// Names lists the tiers, cheapest first.
var Names = [4]string{"T0", "T1", "T2", "T3"}

// Config selects the provider and the model of each tier.
type Config struct {
	Provider    string // openai | ollama | replay
	BaseURL     string
	APIKey      string
	Models      [4]string
	Cassette    string // replay: the cassette to answer from
	Record      string // write every exchange to this cassette
	Timeout     time.Duration
	MaxTokens   int
	Temperature float64
	PricingFile string
}

// Defaults are OpenAI models by tier; override with QLP_LLM_MODEL_T0…T3.
func Defaults() Config {
	return Config{
		Models:      [4]string{"gpt-4.1-nano", "gpt-4.1-mini", "gpt-4.1", "o3"},
		Timeout:     5 * time.Minute,
		MaxTokens:   8192,
		Temperature: 0.2,
	}
}

// Settings binds QLP_LLM_* variables.
func (c *Config) Settings() []settings.Setting {
	s := []settings.Setting{
		{Key: "llm.provider", Env: "QLP_LLM_PROVIDER", Help: "openai (any OpenAI-compatible server: OpenAI, vLLM, llama.cpp), ollama (OpenAI-compatible, free), or replay (answers from a cassette)", Value: settings.String(&c.Provider)},
		{Key: "llm.base_url", Env: "QLP_LLM_BASE_URL", Help: "base URL of the OpenAI-compatible API, e.g. http://localhost:11434/v1", Value: settings.String(&c.BaseURL)},
		{Key: "llm.api_key", Env: "QLP_LLM_API_KEY", Help: "API key of the provider", Secret: true, Value: settings.String(&c.APIKey)},
		{Key: "llm.cassette", Env: "QLP_LLM_CASSETTE", Help: "replay: the cassette (JSONL) to answer from", Value: settings.String(&c.Cassette)},
		{Key: "llm.record", Env: "QLP_LLM_RECORD", Help: "write every model exchange to this cassette file", Value: settings.String(&c.Record)},
		{Key: "llm.timeout", Env: "QLP_LLM_TIMEOUT", Help: "timeout of one model call", Value: settings.Duration(&c.Timeout)},
		{Key: "llm.max_tokens", Env: "QLP_LLM_MAX_TOKENS", Help: "maximum output tokens of one call", Value: settings.Int(&c.MaxTokens)},
		{Key: "llm.temperature", Env: "QLP_LLM_TEMPERATURE", Help: "sampling temperature", Value: settings.Float(&c.Temperature)},
		{Key: "pricing.file", Env: "QLP_PRICING_FILE", Help: "YAML file of extra or overriding model prices (see docs/costs.md)", Value: settings.String(&c.PricingFile)},
	}
	for i, t := range Names {
		s = append(s, settings.Setting{Key: "llm.model_" + strings.ToLower(t), Env: "QLP_LLM_MODEL_" + t,
			Help: "model of tier " + t, Value: settings.String(&c.Models[i])})
	}
	return s
}

// Validate checks the provider and what it needs. It does not look up
// prices: Build does, so that a missing price fails start-up.
func (c *Config) Validate() error {
	switch c.Provider {
	case "":
		return errors.New("llm.provider (QLP_LLM_PROVIDER): not set: QLP embeds no model; set openai (with QLP_LLM_BASE_URL/QLP_LLM_API_KEY), ollama, or replay with QLP_LLM_CASSETTE")
	case "openai", "ollama":
		if c.BaseURL != "" {
			u, err := url.Parse(c.BaseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("llm.base_url (QLP_LLM_BASE_URL): %q is not an http(s) URL", c.BaseURL)
			}
		}
		if c.Provider == "ollama" && c.BaseURL == "" {
			c.BaseURL = "http://127.0.0.1:11434/v1"
		}
	case "replay":
		if c.Cassette == "" {
			return errors.New("llm.cassette (QLP_LLM_CASSETTE): required with provider replay")
		}
	default:
		return fmt.Errorf("llm.provider (QLP_LLM_PROVIDER): unknown provider %q (want openai, ollama or replay)", c.Provider)
	}
	for i, m := range c.Models {
		if strings.TrimSpace(m) == "" {
			return fmt.Errorf("llm.model_%s (QLP_LLM_MODEL_%s): empty", strings.ToLower(Names[i]), Names[i])
		}
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("llm.timeout (QLP_LLM_TIMEOUT): must be positive")
	}
	if c.MaxTokens <= 0 {
		return fmt.Errorf("llm.max_tokens (QLP_LLM_MAX_TOKENS): must be positive")
	}
	if c.Temperature < 0 || c.Temperature > 2 {
		return fmt.Errorf("llm.temperature (QLP_LLM_TEMPERATURE): %v is outside 0..2", c.Temperature)
	}
	return nil
}

// ParseFlag applies a --llm PROVIDER[:ARG] flag: "replay:FILE" sets the
// cassette, "openai:URL" and "ollama:URL" set the base URL.
func (c *Config) ParseFlag(v string) error {
	p, arg, _ := strings.Cut(v, ":")
	switch p {
	case "replay":
		c.Provider, c.Cassette = p, arg
	case "openai", "ollama":
		c.Provider = p
		if arg != "" {
			c.BaseURL = arg
		}
	default:
		return fmt.Errorf("--llm %s: unknown provider %q (want openai[:URL], ollama[:URL] or replay:CASSETTE)", v, p)
	}
	return nil
}

// Target is the model that answers for one tier.
type Target struct {
	Tier     string
	Provider llm.Provider
	Model    string
}

// Router gives each tier its target.
type Router struct {
	targets     map[string]Target
	MaxTokens   int
	Temperature float64
	// Provider is the configured provider's name.
	Provider string
	// Scripted is true when answers come from a scripted cassette: no model
	// runs, and capsules say so.
	Scripted bool
	closers  []func() error
}

// Target returns the target of tier ("T0".."T3").
func (r *Router) Target(tier string) (Target, error) {
	t, ok := r.targets[tier]
	if !ok {
		return Target{}, fmt.Errorf("tiers: unknown tier %q", tier)
	}
	return t, nil
}

// Models returns the model of each tier.
func (r *Router) Models() map[string]string {
	out := make(map[string]string, len(r.targets))
	for t, tg := range r.targets {
		out[t] = tg.Model
	}
	return out
}

// Wrap replaces the provider of every tier with what wrap returns for it.
// wrap sees every target, cheapest tier first, so that a wrapper (the budget
// guard) can send a call to a cheaper tier; it returns one target per tier.
func (r *Router) Wrap(wrap func(targets []Target) ([]Target, error)) error {
	ts := make([]Target, len(Names))
	for i, n := range Names {
		ts[i] = r.targets[n]
	}
	out, err := wrap(ts)
	if err != nil {
		return err
	}
	if len(out) != len(ts) {
		return fmt.Errorf("tiers: wrap returned %d targets for %d tiers", len(out), len(ts))
	}
	for i, t := range out {
		r.targets[Names[i]] = t
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

// Build constructs the router: the provider, optionally wrapped in a
// cassette recorder, then in metering. Every tier's model must have a price.
func Build(c Config, sink llm.UsageSink, logger *slog.Logger) (*Router, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	prices, err := pricing.Load(c.PricingFile)
	if err != nil {
		return nil, err
	}
	var p llm.Provider
	scripted := false
	switch c.Provider {
	case "replay":
		rp, err := replay.Open(c.Cassette)
		if err != nil {
			return nil, fmt.Errorf("llm.cassette (QLP_LLM_CASSETTE): %w", err)
		}
		// Every tier is answered by the cassette, whatever model it names:
		// record that, not a model that never ran.
		c.Models = [4]string{"replay", "replay", "replay", "replay"}
		if rp.Header().Kind == "scripted" {
			scripted = true
			logger.Info("answering from a scripted cassette: no model runs", "cassette", c.Cassette, "description", rp.Header().Description)
		}
		p = rp
	default:
		p = openai.New(openai.Config{Name: c.Provider, BaseURL: c.BaseURL, APIKey: auth.Secret(c.APIKey),
			HTTPClient: &http.Client{Timeout: c.Timeout}})
	}
	r := &Router{targets: map[string]Target{}, MaxTokens: c.MaxTokens, Temperature: c.Temperature, Provider: c.Provider, Scripted: scripted}
	if c.Record != "" {
		rec, err := replay.NewRecorder(p, c.Record, replay.Header{Kind: "recorded", Description: "recorded by qlp from provider " + c.Provider})
		if err != nil {
			return nil, fmt.Errorf("llm.record (QLP_LLM_RECORD): %w", err)
		}
		p = rec
		r.closers = append(r.closers, rec.Close)
	}
	m, err := llm.NewMetered(p, prices, sink, logger, c.Models[:]...)
	if err != nil {
		return nil, fmt.Errorf("llm.model_* (QLP_LLM_MODEL_T0..T3): %w", err)
	}
	for i, t := range Names {
		r.targets[t] = Target{Tier: t, Provider: m, Model: c.Models[i]}
	}
	return r, nil
}
