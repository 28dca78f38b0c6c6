package tiers_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/logx"
)

// The tier models README.md's configuration table gives as defaults are
// the models the code applies to QLP_LLM_PROVIDER=openai without any
// QLP_LLM_MODEL_T* (priced, so the router builds).
func TestREADMETierDefaultsAreTheCodes(t *testing.T) {
	b, err := os.ReadFile("../../../README.md")
	require.NoError(t, err)
	var row string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "| `QLP_LLM_MODEL_T0`") {
			row = l
		}
	}
	require.NotEmpty(t, row, "README.md's configuration table has no QLP_LLM_MODEL_T0 row")
	cells := strings.Split(row, "|")
	require.GreaterOrEqual(t, len(cells), 4, row)
	var documented []string
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cells[2], -1) {
		documented = append(documented, m[1])
	}
	require.Len(t, documented, 4, "README.md should list one default model per tier: %s", row)

	c := tiers.Defaults()
	c.Provider, c.APIKey = "openai", "sk-test"
	r, err := tiers.Build(c, nil, logx.Discard())
	require.NoError(t, err, "the documented defaults must build (every model priced)")
	defer r.Close()
	models := r.Models()
	require.Equal(t, documented, []string{models["T0"], models["T1"], models["T2"], models["T3"]})
}

// Without a model configured the router builds, and every target is
// refused with the error that says what to set.
func TestNoModelConfigured(t *testing.T) {
	r, err := tiers.New(tiers.Defaults(), tiers.Deps{Logger: logx.Discard()})
	require.NoError(t, err)
	defer r.Close()
	require.Error(t, r.NoModel())
	for _, tier := range []string{"T0", "T3"} {
		_, err := r.TargetFor(t.Context(), "acme", tier)
		require.ErrorContains(t, err, "no model is configured")
		require.ErrorContains(t, err, "QLP_LLM_PROVIDER")
	}
	c := tiers.Defaults()
	require.False(t, c.Configured())
	require.ErrorContains(t, c.Validate(), "QLP_LLM_PROVIDER", "Validate still says a model is missing")
}
