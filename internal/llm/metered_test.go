package llm_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/llm"
	"github.com/quantumlayer/qlp/internal/llm/anthropic"
	"github.com/quantumlayer/qlp/internal/llm/llmtest"
	"github.com/quantumlayer/qlp/internal/llm/openai"
	"github.com/quantumlayer/qlp/internal/logx"
	"github.com/quantumlayer/qlp/internal/pricing"
	"github.com/quantumlayer/qlp/internal/store"
)

type sink struct{ rows []domain.Usage }

func (s *sink) RecordUsage(_ context.Context, u domain.Usage) error {
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
	require.Equal(t, domain.Usage{TenantID: "acme", JobID: "j1", TaskID: "t1", Attempt: 2, Tier: "T0", Role: "coder", Provider: "openai",
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

// TestMeteredPricesAnthropicCacheWrites: a call whose prompt Anthropic
// wrote to its cache (cache_creation_input_tokens) is priced at the
// catalogue's cache-write rate, not as plain input.
func TestMeteredPricesAnthropicCacheWrites(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
			"content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,
			"usage":{"input_tokens":12,"cache_creation_input_tokens":2000,"cache_read_input_tokens":800,"output_tokens":5}}`)
	}))
	defer srv.Close()
	prices, err := pricing.Builtin()
	require.NoError(t, err)
	s := &sink{}
	m, err := llm.NewMetered(anthropic.New(anthropic.Config{BaseURL: srv.URL, APIKey: "sk-ant-test"}), prices, s, logx.Discard(), "claude-sonnet-4-5-20250929")
	require.NoError(t, err)
	resp, err := m.Chat(t.Context(), llm.Request{Model: "claude-sonnet-4-5-20250929", MaxTokens: 100,
		Messages: []llm.Message{{Role: "user", Content: "x"}}, Meta: llm.Meta{TenantID: "acme"}})
	require.NoError(t, err)
	// Per million tokens: 12 fresh at $3, 800 read at $0.30, 2000 written at $3.75, 5 out at $15.
	want := int64(12*3_000_000 + 800*300_000 + 2000*3_750_000 + 5*15_000_000)
	require.Equal(t, want, resp.CostPUSD)
	require.Len(t, s.rows, 1)
	require.Equal(t, want, s.rows[0].CostPUSD)
	require.Equal(t, 2812, s.rows[0].InputTokens)
}

// The store is the usage sink the platform wires in.
var _ llm.UsageSink = store.Store(nil)
