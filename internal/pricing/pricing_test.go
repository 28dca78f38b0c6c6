package pricing_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/pricing"
)

func TestCostIsExact(t *testing.T) {
	c, err := pricing.Builtin()
	require.NoError(t, err)
	tests := []struct {
		provider, model string
		in, cached, out int
		wantPUSD        int64
		wantUSD         string
	}{
		// 1,000,000 input tokens at $2.50 + 1,000,000 output at $10 = $12.50
		{"openai", "gpt-4o", 1_000_000, 0, 1_000_000, 12_500_000_000_000, "12.500000"},
		// 1234 in of which 1000 cached at $0.075/M, 234 fresh at $0.15/M, 567 out at $0.60/M
		{"openai", "gpt-4o-mini", 1234, 1000, 567, 234*150_000 + 1000*75_000 + 567*600_000, "0.000450"},
		{"openai", "gpt-4.1", 3, 0, 0, 6_000_000, "0.000006"},
		{"azure", "gpt-4.1-mini", 1000, 0, 1000, 1000*400_000 + 1000*1_600_000, "0.002000"},
		{"anthropic", "claude-3-5-haiku-20241022", 10_000, 2_000, 1_000, 8_000*800_000 + 2_000*80_000 + 1_000*4_000_000, "0.010560"},
		{"ollama", "qwen2.5-coder:7b", 1_000_000, 0, 1_000_000, 0, "0.000000"},
		{"replay", "anything", 5, 0, 5, 0, "0.000000"},
	}
	for _, tt := range tests {
		t.Run(tt.provider+"/"+tt.model, func(t *testing.T) {
			p, err := c.Lookup(tt.provider, tt.model)
			require.NoError(t, err)
			got := p.Cost(tt.in, tt.cached, tt.out)
			require.Equal(t, tt.wantPUSD, got)
			require.Equal(t, tt.wantUSD, pricing.USD(got))
		})
	}
}

func TestUnknownModelIsAnErrorNeverAGuess(t *testing.T) {
	c, err := pricing.Builtin()
	require.NoError(t, err)
	for _, m := range []string{"gpt-4.1-turbo-preview", "gpt-4o-mini-2099", "claude-3-5-sonnet"} {
		_, err := c.Lookup("openai", m)
		require.True(t, errors.Is(err, pricing.ErrUnknownModel), m)
		require.Contains(t, err.Error(), "QLP_PRICING_FILE")
	}
}

func TestOverrideFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prices.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`version: local-1
models:
  - {provider: openai, model: my-vllm-model, input: "0", output: "0"}
  - {provider: openai, model: gpt-4o, input: "2.00", output: "8.00"}
`), 0o600))
	c, err := pricing.Load(path)
	require.NoError(t, err)
	require.Equal(t, "local-1", c.Version)
	p, err := c.Lookup("openai", "my-vllm-model")
	require.NoError(t, err)
	require.Zero(t, p.Cost(100, 0, 100))
	p, err = c.Lookup("openai", "gpt-4o")
	require.NoError(t, err)
	require.EqualValues(t, 2_000_000, p.Input)

	for name, body := range map[string]string{
		"negative":  `models: [{provider: openai, model: x, input: "-1", output: "1"}]`,
		"too fine":  `models: [{provider: openai, model: x, input: "0.0000001", output: "1"}]`,
		"not money": `models: [{provider: openai, model: x, input: "cheap", output: "1"}]`,
		"no model":  `models: [{provider: openai, input: "1", output: "1"}]`,
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
			_, err := pricing.Load(path)
			require.Error(t, err)
			require.Contains(t, err.Error(), "QLP_PRICING_FILE")
		})
	}
}

func TestUSDRounding(t *testing.T) {
	require.Equal(t, "0.000001", pricing.USD(500_000))
	require.Equal(t, "0.000000", pricing.USD(499_999))
	require.Equal(t, "1.000000", pricing.USD(1_000_000_000_000))
	require.Equal(t, "-0.000002", pricing.USD(-2_000_000))
}

func TestPriceVersionsByEffectiveDate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prices.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`version: local-2
models:
  - {provider: openai, model: gpt-4o, input: "2.00", output: "8.00", effective: 2027-01-01}
  - {provider: openai, model: gpt-4o, input: "1.00", output: "4.00", effective: 2027-06-01}
  - {provider: openai, model: gpt-4.1, input: "1.00", output: "1.00"}
`), 0o600))
	c, err := pricing.Load(path)
	require.NoError(t, err)
	day := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		require.NoError(t, err)
		return d
	}
	tests := []struct {
		model string
		at    string
		input int64
	}{
		{"gpt-4o", "2026-12-31", 2_500_000}, // the built-in price until the first override takes effect
		{"gpt-4o", "2027-01-01", 2_000_000},
		{"gpt-4o", "2027-05-31", 2_000_000},
		{"gpt-4o", "2027-06-01", 1_000_000},
		{"gpt-4o", "2030-01-01", 1_000_000},
		{"gpt-4o", "2001-01-01", 2_500_000},  // the oldest known price covers earlier dates
		{"gpt-4.1", "2001-01-01", 1_000_000}, // an undated override replaces the whole history
		{"gpt-4.1", "2030-01-01", 1_000_000},
	}
	for _, tt := range tests {
		t.Run(tt.model+"@"+tt.at, func(t *testing.T) {
			p, err := c.LookupAt("openai", tt.model, day(tt.at))
			require.NoError(t, err)
			require.Equal(t, tt.input, p.Input)
		})
	}
	require.Len(t, c.History("openai", "gpt-4o"), 3)
	require.Len(t, c.History("openai", "gpt-4.1"), 1)
}

func TestEmbeddingModelsArePricedByInputOnly(t *testing.T) {
	c, err := pricing.Builtin()
	require.NoError(t, err)
	n := 0
	for _, p := range c.Models() {
		if p.Kind != pricing.KindEmbedding {
			require.Equal(t, pricing.KindChat, p.Kind, p.Model)
			require.Positive(t, p.Output, "%s/%s: a chat model has an output price", p.Provider, p.Model)
			continue
		}
		n++
		require.Positive(t, p.Input, p.Model)
		require.Zero(t, p.Output, p.Model)
	}
	require.GreaterOrEqual(t, n, 7)
	for _, m := range []string{"text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"} {
		p, err := c.Lookup("azure", m)
		require.NoError(t, err, "Azure embeddings bill by OpenAI ids")
		require.Equal(t, pricing.KindEmbedding, p.Kind)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`models: [{provider: openai, model: e, kind: embedding, input: "0.1", output: "1"}]`), 0o600))
	_, err = pricing.Load(bad)
	require.ErrorContains(t, err, "embedding model has no output")
	require.NoError(t, os.WriteFile(bad, []byte(`models: [{provider: openai, model: e, kind: image, input: "0.1"}]`), 0o600))
	_, err = pricing.Load(bad)
	require.ErrorContains(t, err, "kind")
	require.NoError(t, os.WriteFile(bad, []byte(`models: [{provider: openai, model: e, input: "0.1", output: "1", effective: "next week"}]`), 0o600))
	_, err = pricing.Load(bad)
	require.ErrorContains(t, err, "effective")
}

func TestCurrencies(t *testing.T) {
	for in, want := range map[string]pricing.Currency{"": pricing.USDCurrency, "usd": pricing.USDCurrency, " GBP ": pricing.GBPCurrency} {
		got, err := pricing.ParseCurrency(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"EUR", "£", "dollars"} {
		_, err := pricing.ParseCurrency(bad)
		require.ErrorIs(t, err, pricing.ErrUnknownCurrency)
		require.ErrorContains(t, err, "want USD or GBP")
	}

	r, err := pricing.NewRates("1.25")
	require.NoError(t, err)
	m, err := pricing.ParseAmount("4000")
	require.NoError(t, err)
	got, err := r.PUSD(m, pricing.GBPCurrency)
	require.NoError(t, err)
	require.Equal(t, "5000.000000", pricing.USD(got))
	r2, err := pricing.NewRates("1.2634")
	require.NoError(t, err)
	got, err = r2.PUSD(950_000_000, pricing.GBPCurrency) // £950
	require.NoError(t, err)
	require.EqualValues(t, 1_200_230_000_000_000, got)
	got, err = r2.PUSD(1, pricing.GBPCurrency) // a millionth of a pound, rounded half up
	require.NoError(t, err)
	require.EqualValues(t, 1_263_400, got)

	_, err = pricing.Rates{}.PUSD(1, pricing.GBPCurrency)
	require.ErrorContains(t, err, "QLP_COSTS_GBP_USD_RATE")
	_, err = pricing.Rates{}.PUSD(1, "EUR")
	require.ErrorIs(t, err, pricing.ErrUnknownCurrency)
	for _, bad := range []string{"-1.2", "0", "1/3", "1e2", "abc"} {
		_, err := pricing.NewRates(bad)
		require.ErrorContains(t, err, "QLP_COSTS_GBP_USD_RATE", bad)
	}
	for _, bad := range []string{"-5", "1.0000001", "1e3", "ten"} {
		_, err := pricing.ParseAmount(bad)
		require.Error(t, err, bad)
	}
	require.Equal(t, "906.45", pricing.FormatMicros(906_450_000))
	require.Equal(t, "4000.00", pricing.FormatMicros(4_000_000_000))
	require.Equal(t, "0.075", pricing.FormatMicros(75_000))
}

// TestCacheWritesArePricedAtTheCacheWriteRate: a prompt written to the
// provider's cache costs the catalogue's cache_write price (1.25× input for
// Anthropic), read from it the cached price, the rest the input price; a
// model without a cache_write price bills writes as plain input.
func TestCacheWritesArePricedAtTheCacheWriteRate(t *testing.T) {
	c, err := pricing.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		provider, model string
		tokens          pricing.Tokens
		want            int64 // pico-USD
	}{
		// 12 fresh at $3, 800 read at $0.30, 100 written at $3.75, 5 out at $15 (per million).
		{"anthropic", "claude-sonnet-4-5-20250929", pricing.Tokens{Input: 912, CacheRead: 800, CacheWrite: 100, Output: 5},
			12*3_000_000 + 800*300_000 + 100*3_750_000 + 5*15_000_000},
		{"anthropic", "claude-opus-4-1-20250805", pricing.Tokens{Input: 1000, CacheWrite: 1000}, 1000 * 18_750_000},
		{"bedrock", "us.anthropic.claude-sonnet-4-20250514-v1:0", pricing.Tokens{Input: 10, CacheWrite: 10}, 10 * 3_750_000},
		{"openai", "gpt-4o-mini", pricing.Tokens{Input: 10, CacheWrite: 10}, 10 * 150_000},
	}
	for _, tt := range tests {
		p, err := c.Lookup(tt.provider, tt.model)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.CostOf(tt.tokens); got != tt.want {
			t.Errorf("%s/%s %+v: %d pico-USD, want %d", tt.provider, tt.model, tt.tokens, got, tt.want)
		}
	}
	// Every model with a prompt-cache read price and a write premium says so.
	for _, p := range c.Models() {
		if (p.Provider == "anthropic" || strings.Contains(p.Model, "anthropic.claude")) && p.CachedInput != p.Input && p.CacheWrite <= p.Input {
			t.Errorf("%s/%s: cache_write %d is not above input %d", p.Provider, p.Model, p.CacheWrite, p.Input)
		}
	}
}
