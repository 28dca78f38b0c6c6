package pricing_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

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
