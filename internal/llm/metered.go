package llm

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/quantumlayer/qlp/internal/domain"
	"github.com/quantumlayer/qlp/internal/pricing"
)

// UsageSink receives one row per call. store.Store satisfies it.
type UsageSink interface {
	RecordUsage(ctx context.Context, u domain.Usage) error
}

// Metered wraps a provider so that every successful call writes a usage row
// priced from the catalogue. The price is looked up when the wrapper is
// built, so an unpriced model fails at configuration time, not mid-job.
type Metered struct {
	inner  Provider
	prices *pricing.Catalogue
	sink   UsageSink
	logger *slog.Logger
	now    func() time.Time
}

var _ Provider = (*Metered)(nil)

// NewMetered checks that every model in models has a price and returns the
// wrapper.
func NewMetered(inner Provider, prices *pricing.Catalogue, sink UsageSink, logger *slog.Logger, models ...string) (*Metered, error) {
	for _, m := range models {
		if _, err := prices.Lookup(inner.Name(), m); err != nil {
			return nil, fmt.Errorf("llm: %w", err)
		}
	}
	return &Metered{inner: inner, prices: prices, sink: sink, logger: logger, now: time.Now}, nil
}

// Name implements Provider.
func (m *Metered) Name() string { return m.inner.Name() }

// Chat implements Provider.
func (m *Metered) Chat(ctx context.Context, req Request) (*Response, error) {
	resp, err := m.inner.Chat(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp, m.record(ctx, req, resp)
}

// Stream implements Provider.
func (m *Metered) Stream(ctx context.Context, req Request, fn func(Chunk) error) (*Response, error) {
	resp, err := m.inner.Stream(ctx, req, fn)
	if err != nil {
		return nil, err
	}
	return resp, m.record(ctx, req, resp)
}

// record prices the call by the model that was asked for: a provider may
// answer with a dated alias ("gpt-4o-2024-08-06") of the same model.
func (m *Metered) record(ctx context.Context, req Request, resp *Response) error {
	model := req.Model
	price, err := m.prices.Lookup(m.inner.Name(), model)
	if err != nil {
		return fmt.Errorf("llm: price call: %w", err)
	}
	if resp.Cached {
		resp.CostPUSD = 0
	} else {
		resp.CostPUSD = price.CostOf(pricing.Tokens{Input: resp.Usage.InputTokens, CacheRead: resp.Usage.CachedInputTokens,
			CacheWrite: resp.Usage.CacheWriteInputTokens, Output: resp.Usage.OutputTokens})
	}
	u := domain.Usage{
		TenantID: req.Meta.TenantID, JobID: req.Meta.JobID, TaskID: req.Meta.TaskID, Attempt: req.Meta.Attempt,
		Tier: req.Meta.Tier, Role: req.Meta.Role, Provider: m.inner.Name(), Model: model,
		InputTokens: resp.Usage.InputTokens, CachedInputTokens: resp.Usage.CachedInputTokens, OutputTokens: resp.Usage.OutputTokens,
		CostPUSD: resp.CostPUSD, Cached: resp.Cached, LatencyMS: resp.Latency.Milliseconds(), CreatedAt: m.now(),
	}
	if u.TenantID == "" {
		return fmt.Errorf("llm: refusing an unattributed call (no tenant) to %s/%s", u.Provider, u.Model)
	}
	// The call happened and was paid for: losing its row would make the
	// ledger lie, so a failed write fails the call.
	if err := m.sink.RecordUsage(context.WithoutCancel(ctx), u); err != nil {
		return fmt.Errorf("llm: record usage: %w", err)
	}
	if resp.Usage.Estimated {
		m.logger.Warn("provider reported no token usage; recorded an estimate", "provider", u.Provider, "model", u.Model)
	}
	return nil
}
