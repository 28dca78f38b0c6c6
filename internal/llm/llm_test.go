package llm_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm"
)

func TestContinuationAndExtend(t *testing.T) {
	conv := []llm.Message{{Role: llm.RoleUser, Content: "write it"}}
	first := &llm.Response{Content: `{"files":[{"pa`, FinishReason: llm.FinishLength, Usage: llm.Usage{InputTokens: 10, OutputTokens: 100}, CostPUSD: 7, Tier: "T1"}
	require.True(t, first.Truncated())

	next := llm.Continuation(conv, first)
	require.Len(t, next, 3)
	require.Equal(t, llm.Message{Role: llm.RoleAssistant, Content: first.Content}, next[1], "the partial answer is quoted back")
	require.Equal(t, llm.RoleUser, next[2].Role)
	require.Contains(t, next[2].Content, "Continue exactly where it stopped")

	tests := []struct {
		name     string
		more     *llm.Response
		wantTier string
	}{
		{name: "same tier", more: &llm.Response{Content: `th":"a"}]}`, FinishReason: llm.FinishStop, Usage: llm.Usage{InputTokens: 120, CachedInputTokens: 8, OutputTokens: 5}, CostPUSD: 3},
			wantTier: "T1"},
		{name: "a wrapper changed the tier", more: &llm.Response{Content: `th":"a"}]}`, FinishReason: llm.FinishStop, Usage: llm.Usage{InputTokens: 120, CachedInputTokens: 8, OutputTokens: 5}, CostPUSD: 3, Tier: "T0"},
			wantTier: "T0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := *first
			r.Extend(tc.more)
			require.Equal(t, `{"files":[{"path":"a"}]}`, r.Content)
			require.False(t, r.Truncated())
			require.Equal(t, llm.Usage{InputTokens: 130, CachedInputTokens: 8, OutputTokens: 105}, r.Usage)
			require.Equal(t, int64(10), r.CostPUSD)
			require.Equal(t, tc.wantTier, r.Tier)
		})
	}
}
