package tiers_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/tiers"
	"github.com/quantumlayer/qlp/internal/logx"
)

type nopSink struct{}

func (nopSink) RecordUsage(context.Context, domain.Usage) error { return nil }

type named struct {
	llm.Provider
	tier string
}

func TestWrapSeesEveryTierCheapestFirst(t *testing.T) {
	cfg := tiers.Defaults()
	cfg.Provider, cfg.BaseURL = "openai", "http://127.0.0.1:1/v1"
	r, err := tiers.Build(cfg, nopSink{}, logx.Discard())
	require.NoError(t, err)
	var seen []string
	require.NoError(t, r.Wrap(func(ts []tiers.Target) ([]tiers.Target, error) {
		for i, tg := range ts {
			seen = append(seen, tg.Tier+" "+tg.Model)
			ts[i].Provider = named{Provider: tg.Provider, tier: tg.Tier}
		}
		return ts, nil
	}))
	require.Equal(t, []string{"T0 gpt-4.1-nano", "T1 gpt-4.1-mini", "T2 gpt-4.1", "T3 o3"}, seen)
	tg, err := r.Target("T2")
	require.NoError(t, err)
	require.Equal(t, "T2", tg.Provider.(named).tier)
	require.Equal(t, "gpt-4.1", tg.Model)

	require.Error(t, r.Wrap(func(ts []tiers.Target) ([]tiers.Target, error) { return ts[:2], nil }), "one target per tier")
}
