package llm_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/openai"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
)

type sink struct{ rows []store.Usage }

func (s *sink) RecordUsage(_ context.Context, u store.Usage) error {
	s.rows = append(s.rows, u)
	return nil
}

func TestMeteredWritesAPricedUsageRowPerCall(t *testing.T) {
	srv := llmtest.New(func(llmtest.Call) llmtest.Reply {
		return llmtest.Reply{Content: "ok", Usage: &llm.Usage{InputTokens: 1234, CachedInputTokens: 1000, OutputTokens: 567}}
	})
	defer srv.Close()
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	s := &sink{}
	m, err := llm.NewMetered(openai.New(openai.Config{BaseURL: srv.URL}), prices, s, logx.Discard(), "gpt-4o-mini")
	require.NoError(t, err)
	meta := llm.Meta{TenantID: "acme", JobID: "j1", TaskID: "t1", Attempt: 2, Tier: "T0", Role: "coder"}
	resp, err := m.Chat(t.Context(), llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: "user", Content: "x"}}, Meta: meta})
	require.NoError(t, err)
	_, err = m.Stream(t.Context(), llm.Request{Model: "gpt-4o-mini", Messages: []llm.Message{{Role: "user", Content: "x"}}, Meta: meta}, nil)
	require.NoError(t, err)
	want := int64(234*150_000 + 1000*75_000 + 567*600_000)
	require.Equal(t, want, resp.CostPUSD)
	require.Len(t, s.rows, 2)
	u := s.rows[0]
	require.Equal(t, store.Usage{TenantID: "acme", JobID: "j1", TaskID: "t1", Attempt: 2, Tier: "T0", Role: "coder", Provider: "openai",
		Model: "gpt-4o-mini", InputTokens: 1234, CachedInputTokens: 1000, OutputTokens: 567, CostPUSD: want, LatencyMS: u.LatencyMS, CreatedAt: u.CreatedAt}, u)
}

func TestMeteredRefusesUnpricedModelsAtConstruction(t *testing.T) {
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	_, err = llm.NewMetered(openai.New(openai.Config{}), prices, &sink{}, logx.Discard(), "gpt-4o-mini", "gpt-9-ultra")
	require.ErrorIs(t, err, pricing.ErrUnknownModel)
}

func TestMeteredRefusesUnattributedCalls(t *testing.T) {
	srv := llmtest.New(func(llmtest.Call) llmtest.Reply { return llmtest.Reply{Content: "ok"} })
	defer srv.Close()
	prices, _ := pricing.Builtin()
	m, err := llm.NewMetered(openai.New(openai.Config{BaseURL: srv.URL}), prices, &sink{}, logx.Discard())
	require.NoError(t, err)
	_, err = m.Chat(t.Context(), llm.Request{Model: "gpt-4o-mini"})
	require.ErrorContains(t, err, "unattributed")
}
